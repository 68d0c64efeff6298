"""The tracking rewriter's scanner checked against a real HTML5 tokenizer (html5lib).

The rewriter (gateway/tracking/rewrite.py) finds links with its own scanner over the raw text so
that no byte outside a rewritten `href` changes. Here html5lib, a WHATWG parser, says which links
there are: the `<a>` and `<area>` start tags its tokenizer emits, as driven by its tree builder
(which switches the tokenizer to RAWTEXT, RCDATA, script data, PLAINTEXT, or CDATA in SVG and
MathML, as a browser does with scripting off, as mail clients run). `compare()` rewrites one HTML
document with every trackable link replaced by a numbered marker, and reports:

- the URLs that html5lib and the rewriter each found to track, in document order;
- the bytes that changed outside the `href` values the rewriter replaced (none expected).

`HTML` generates hostile documents for it: links with every attribute form and URL encoding,
among comments, CDATA, raw text elements, `<template>`, `<noscript>`, `<base>`, SVG and MathML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import html5lib
from html5lib._tokenizer import HTMLTokenizer
from html5lib.constants import tokenTypes
from hypothesis import strategies as st

from gateway.tracking.rewrite import SKIP_ATTRIBUTE, Rewrite, rewrite

__all__ = ["HTML", "Comparison", "compare", "html5_links"]

_MARKER = "https://t.example/m/{}"
_MARKED = re.compile(r'"?https://t\.example/m/(\d+)"?')
_UNQUOTED_END = re.compile(r"[\t\n\f\r >]|$")
_URL_SPACE = "".join(map(chr, range(0x21)))
_TRACKABLE = re.compile(r"https?://", re.IGNORECASE)
_HEAD = (
    b"From: news@example.com\r\nTo: reader@example.org\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: binary\r\n\r\n"
)


class _RecordingTokenizer(HTMLTokenizer):  # type: ignore[misc]
    """html5lib's tokenizer, noting the attributes of each `<a>` and `<area>` start tag."""

    links: list[dict[str, str]]

    def emitCurrentToken(self) -> None:
        token = self.currentToken
        super().emitCurrentToken()
        if token["type"] == tokenTypes["StartTag"] and token["name"] in ("a", "area"):
            self.links.append(dict(token["data"]))  # first of duplicate attributes wins


class _Parser(html5lib.HTMLParser):  # type: ignore[misc]
    links: list[dict[str, str]]

    def mainLoop(self) -> None:
        # _parse() has just made the tokenizer: give it the recording class before it runs.
        self.tokenizer.__class__ = _RecordingTokenizer
        self.tokenizer.links = self.links = []
        super().mainLoop()


def html5_links(text: str) -> list[str]:
    """The URLs of the links to track, as html5lib reads `text`: each `<a>`/`<area>` with an
    `href` that is an absolute http(s) URL once parsed (C0 controls and spaces around it trimmed,
    tabs and line breaks in it removed, as the URL parser does), without `SKIP_ATTRIBUTE`."""
    parser = _Parser(namespaceHTMLElements=False)
    parser.parse(text)
    urls = []
    for attributes in parser.links:
        href = attributes.get("href")
        if href is None or SKIP_ATTRIBUTE in attributes:
            continue
        url = re.sub(r"[\t\n\r]", "", href.strip(_URL_SPACE))
        if _TRACKABLE.match(url):
            urls.append(url)
    return urls


@dataclass(frozen=True)
class Comparison:
    expected: list[str]
    """The links html5lib found to track."""
    found: list[str]
    """The URLs the rewriter handed to its link callback."""
    changed_outside: list[str]
    """Descriptions of changes outside the replaced `href` values."""
    skipped: str | None = None
    """Why the rewriter left the HTML alone (`Rewritten.skipped`), e.g. an inline PGP block."""

    @property
    def same(self) -> bool:
        return self.expected == self.found and not self.changed_outside


def compare(text: str) -> Comparison:
    """Rewrite `text` (as the body of a binary text/html part) and compare with html5lib."""
    found: list[str] = []

    def link(url: str) -> str:
        found.append(url)
        return _MARKER.format(len(found) - 1)

    data = _HEAD + text.encode("utf-8", "surrogatepass")
    result = rewrite(data, Rewrite(None, link, None))
    output = result.data[len(_HEAD) :].decode("utf-8", "surrogatepass")
    changes = _changes_outside(text, output, len(found))
    return Comparison(html5_links(text), found, changes, result.skipped)


def _changes_outside(original: str, output: str, links: int) -> list[str]:
    """Walk the output: outside the markers it must be the original, byte for byte, and each
    marker must stand where one attribute value stood (quoted, or unquoted and now quoted)."""
    markers = list(_MARKED.finditer(output))
    if len(markers) != links:
        return [f"{links} links rewritten but {len(markers)} markers in the output"]
    position = copied = 0
    for marker in markers:
        piece = output[copied : marker.start()]
        if not original.startswith(piece, position):
            return [f"the output differs before link {marker[1]}: ...{piece[-80:]!r}"]
        position += len(piece)
        if original.startswith('"', position):  # "value": the marker kept the quotes
            end = original.find('"', position + 1) + 1
        elif marker[0].startswith('"'):  # value, unquoted: the rewriter added the quotes
            end = _UNQUOTED_END.search(original, position).start()  # type: ignore[union-attr]
        else:  # 'value': the quotes are in the pieces around the marker
            end = original.find("'", position)
        if end <= position:
            return [f"link {marker[1]} is not where an attribute value was"]
        position, copied = end, marker.end()
    if original[position:] != output[copied:]:
        return [f"the output differs after the last link: {output[copied:][:80]!r}"]
    return []


# -- generated HTML ------------------------------------------------------------------------------

URLS = st.sampled_from(
    [
        "https://example.com/a?b=1&amp;c=2",
        "HTTP://EXAMPLE.COM/",
        " https://example.com/spaced ",
        "https://example.com/\ttab\nline",
        "https&#58;//example.com/colon",
        "https&colon;//example.com/named",
        "&#104;ttps://example.com/numeric",
        "https://example.com/?a=1&copy=2&amp",
        "https://example.com/'quote",
        'https://example.com/"dq',
        "https://example.com/>gt",
        "javascript:alert(1)",
        "/relative",
        "mailto:a@example.com",
        "",
    ]
)
NAMES = st.sampled_from(["href", "HREF", "title", "data-x", SKIP_ATTRIBUTE, "/", "=x", "a'b"])
GAPS = st.sampled_from([" ", "\t", "\n", "\r\n", "\x0c", " / ", "  "])


@st.composite
def attribute(draw: st.DrawFn) -> str:
    name = draw(NAMES)
    value = draw(URLS)
    form = draw(st.sampled_from(["double", "single", "unquoted", "none"]))
    if form == "none":
        return name
    equals = draw(st.sampled_from(["=", " = ", "\n=\t"]))
    if form == "double":
        return f'{name}{equals}"{value.replace(chr(34), "")}"'
    if form == "single":
        return f"{name}{equals}'{value.replace(chr(39), '')}'"
    return name + equals + "".join(c for c in value if c not in " \t\n\r\x0c>") or "x"


@st.composite
def start_tag(draw: st.DrawFn) -> str:
    name = draw(
        st.sampled_from(["a", "A", "area", "svg", "math", "p", "font", "img", "base", "abbr"])
    )
    attributes = draw(st.lists(attribute(), max_size=3))
    gaps = draw(st.lists(GAPS, min_size=len(attributes), max_size=len(attributes)))
    end = draw(st.sampled_from([">", "/>", " >", ""]))
    return f"<{name}" + "".join(g + a for g, a in zip(gaps, attributes, strict=True)) + end


PIECES = st.one_of(
    start_tag(),
    st.sampled_from(
        [
            "</a>",
            "text & more",
            "<!-- c -->",
            "<!--",
            "-->",
            "<!-->",
            "--!>",
            "<![CDATA[",
            "]]>",
            "<!DOCTYPE html>",
            "<?xml x?>",
            "</ x>",
            "</>",
            "<",
            ">",
            "'",
            '"',
            "<script>",
            "</script>",
            "<script><!--",
            "<style>",
            "</style>",
            "<textarea>",
            "</textarea>",
            "<title>",
            "</title>",
            "<xmp>",
            "</xmp>",
            "<noscript>",
            "</noscript>",
            "<template>",
            "</template>",
            "<iframe>",
            "</iframe>",
            "<noembed>",
            "<noframes>",
            "<plaintext>",
            "<svg>",
            "</svg>",
            "<math>",
            "</math>",
            "<foreignObject>",
            "<p>",
            "<table><tr><td>",
            "<base href='https://base.example/'>",
            "&amp;",
            "&lt;a href='https://x.example/'&gt;",
        ]
    ),
)


HTML = st.lists(PIECES, max_size=25).map("".join)
"""Documents of up to 25 pieces: tags, text, and the pieces of comments and raw text elements."""
