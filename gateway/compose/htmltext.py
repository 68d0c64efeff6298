"""The text part of a message made from its HTML, for clients that show no HTML (and for spam
filters, which frown on HTML alone).

The standard library's `html.parser` is enough: the HTML was sanitised when it was saved, and
the text needs only paragraphs, line breaks, list bullets and each link's address after its
words. (html2text, the usual library, is GPL; the permissive ones pull in lxml.) It runs on the
template, before rendering, so `{{variables}}` pass through as text and are filled without HTML
escaping.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
    ]
)
_PARAGRAPHS = frozenset(
    [
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ol",
        "p",
        "pre",
        "table",
        "ul",
    ]
)
"""Blocks set apart by a blank line, not only a line break."""
_HIDDEN = frozenset(["head", "script", "style", "template", "title"])
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0
        self.pre = 0
        self.lists: list[int] = []
        """Per open list: 0 for `ul`, else the next number of an `ol`."""
        self.links: list[str | None] = []
        self.pending = 0
        """Line breaks owed before the next text: the most any block boundary asked for."""

    def _break(self, lines: int) -> None:
        self.pending = max(self.pending, lines)

    def _write(self, text: str) -> None:
        if self.pending and self.out:
            self.out.append("\n" * self.pending)
        self.pending = 0
        self.out.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self._write("\n")
        elif tag == "img" and attributes.get("alt"):
            self._write(attributes["alt"] or "")
        elif tag == "a":
            self.links.append(attributes.get("href"))
        elif tag in ("td", "th"):
            self._write(" ")  # the cells of a row stay on one line
        elif tag in _BLOCKS:
            self._break(2 if tag in _PARAGRAPHS else 1)
            if tag == "pre":
                self.pre += 1
            elif tag in ("ul", "ol"):
                self.lists.append(0 if tag == "ul" else 1)
            elif tag == "li":
                self._write(self._bullet())
            elif tag == "hr":
                self._write("-" * 20)

    def _bullet(self) -> str:
        if not self.lists or self.lists[-1] == 0:
            return "- "
        number = self.lists[-1]
        self.lists[-1] += 1
        return f"{number}. "

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and not href.startswith(("#", "mailto:")):
                self._write(f" ({href})")
        elif tag in _BLOCKS:
            if tag == "pre":
                self.pre = max(self.pre - 1, 0)
            elif tag in ("ul", "ol") and self.lists:
                self.lists.pop()
            self._break(2 if tag in _PARAGRAPHS else 1)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        text = data if self.pre else _SPACES.sub(" ", data)
        if text.strip() or not self.pending:
            self._write(text)


def html_to_text(source: str) -> str:
    """Readable plain text of `source`: one line per block, a blank line between paragraphs."""
    parser = _Text()
    parser.feed(source)
    parser.close()
    lines = [line.strip(" ") for line in "".join(parser.out).replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
