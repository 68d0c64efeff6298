"""Tenants' templates: a subject, an HTML part and a text part with variables, rendered with one
contact's fields.

The syntax is ours and tiny, so that nothing in a template can run: `{{name}}` is the contact's
field `name`, and `{{name | default("there")}}` (or single quotes) gives a fallback. Anything
else between `{{` and `}}` is refused when the template is saved, with its line. There are no
attributes, calls, loops or filters to sandbox, because the grammar has none: rendering is
joining literal text with field values (which also makes it fast enough for campaigns of
100,000 recipients: a template is parsed once).

Values (and fallbacks) are HTML-escaped in the HTML part, written as they are in the subject
(line breaks and other control characters made spaces: a header field is one line) and in the
text part. In the HTML part a `{{...}}` is HTML text, so its entities are read first:
`default(&quot;there&quot;)`, as an editor writes quotes, is `default("there")`.

A variable without a value (absent, or only blanks) and without a fallback is never rendered as
a blank: `render` raises `MissingVariables`, and `count_missing` tells a campaign, before it
starts, how many of its contacts lack each variable.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from gateway.compose.htmltext import html_to_text
from gateway.core.exceptions import InvalidInputError, MissingVariables

Fields = Mapping[str, str]
"""A contact's fields: column name to value (its address under `email`)."""

NAME = r"[A-Za-z_][A-Za-z0-9_-]{0,63}"
"""A variable's name: a field (a CSV column) such as `name`, `first_name` or `company-name`."""

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_EXPRESSION = re.compile(
    rf"""\s*(?P<name>{NAME})\s*
    (?:\|\s*default\s*\(\s*(?:"(?P<double>[^"]*)"|'(?P<single>[^']*)')\s*\)\s*)?""",
    re.VERBOSE,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")
"""Line breaks and other control characters: never in a header field's value."""


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str | None
    """The fallback when the contact has no value; None: the value is required."""


@dataclass(frozen=True, slots=True)
class Part:
    """One parsed part (the subject, the HTML or the text): literal text and variables."""

    pieces: tuple[str | Variable, ...]

    @property
    def variables(self) -> tuple[Variable, ...]:
        return tuple(p for p in self.pieces if isinstance(p, Variable))


def parse(source: str, where: str, *, in_html: bool = False) -> Part:
    """`source` as a `Part`; `where` (subject, html, text) names it in errors."""
    pieces: list[str | Variable] = []
    start = 0
    for tag in _TAG.finditer(source):
        expression = html.unescape(tag[1]) if in_html else tag[1]
        matched = _EXPRESSION.fullmatch(expression)
        if matched is None:
            line = source.count("\n", 0, tag.start()) + 1
            raise InvalidInputError(
                f"{where}, line {line}: {tag[0][:80]} is not a variable: write {{{{name}}}} or "
                f'{{{{name | default("there")}}}}',
                where,
            )
        default = matched["double"] if matched["double"] is not None else matched["single"]
        pieces += [source[start : tag.start()], Variable(matched["name"], default)]
        start = tag.end()
    rest = source[start:]
    if "{{" in rest:
        line = source.count("\n", 0, start + rest.index("{{")) + 1
        raise InvalidInputError(f"{where}, line {line}: {{{{ without its }}}}", where)
    pieces.append(rest)
    return Part(tuple(p for p in pieces if p != ""))


def _value(fields: Fields, name: str) -> str | None:
    value = fields.get(name)
    return value if value is not None and value.strip() else None


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class Template:
    """A template parsed once, rendered for each contact."""

    subject: Part
    html: Part
    text: Part
    """The text written, or the one made from the HTML."""

    @cached_property
    def variables(self) -> tuple[str, ...]:
        """Every variable's name, in the order they first appear."""
        parts = (self.subject, self.html, self.text)
        return tuple(dict.fromkeys(v.name for p in parts for v in p.variables))

    @cached_property
    def required(self) -> tuple[str, ...]:
        """The variables used somewhere without a fallback: a contact must have them."""
        parts = (self.subject, self.html, self.text)
        names = (v.name for p in parts for v in p.variables if v.default is None)
        return tuple(dict.fromkeys(names))

    def missing(self, fields: Fields) -> list[str]:
        """The required variables that `fields` has no value for."""
        return [name for name in self.required if _value(fields, name) is None]

    def render(self, fields: Fields) -> Rendered:
        """The three parts for one contact; `MissingVariables` if it lacks a required one."""
        missing = self.missing(fields)
        if missing:
            raise MissingVariables(dict.fromkeys(missing, 1))
        subject = _fill(self.subject, fields, lambda v: _CONTROLS.sub(" ", v))
        return Rendered(
            subject.strip(),
            _fill(self.html, fields, lambda v: html.escape(v, quote=True)),
            _fill(self.text, fields, lambda v: v),
        )


def _fill(part: Part, fields: Fields, write: Callable[[str], str]) -> str:
    out: list[str] = []
    for piece in part.pieces:
        if isinstance(piece, str):
            out.append(piece)
        else:
            value = _value(fields, piece.name)
            out.append(write(value if value is not None else piece.default or ""))
    return "".join(out)


def compile_template(subject: str, html_source: str, text: str | None = None) -> Template:
    """Parse a template; `text` None or blank: the text part is made from the HTML."""
    if not subject.strip():
        raise InvalidInputError("a template needs a subject", "subject")
    if not html_source.strip():
        raise InvalidInputError("a template needs an HTML part", "html")
    written = text if text is not None and text.strip() else html_to_text(html_source)
    return Template(
        parse(subject, "subject"),
        parse(html_source, "html", in_html=True),
        parse(written, "text"),
    )


def count_missing(template: Template, contacts: Iterable[Fields]) -> tuple[dict[str, int], int]:
    """(each required variable some contacts lack: how many lack it, how many contacts were
    read). Reads `contacts` once, as a stream: a campaign passes its recipients' fields."""
    counts: Counter[str] = Counter()
    seen = 0
    for fields in contacts:
        seen += 1
        counts.update(template.missing(fields))
    return {name: counts[name] for name in template.required if counts[name]}, seen


def check_contacts(template: Template, contacts: Iterable[Fields]) -> int:
    """How many contacts were read; `MissingVariables` (naming each variable and how many of
    them lack it) if any lacks a required variable: what a launch calls first."""
    missing, seen = count_missing(template, contacts)
    if missing:
        raise MissingVariables(missing, seen)
    return seen
