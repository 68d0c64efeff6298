"""The header block of a message's raw bytes, read the way the next hop reads it: fields split
at CRLF (a bare CR or LF is refused or normalized first, so no field hides behind one), names
lowercased, values unfolded. Pure functions; the body is never parsed.

Shared by intake (the sender check, the relayed copy) and storage (`message show`'s headers), so
what the gateway shows is what it checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class Header:
    """A message read once: its header fields (with their folded lines), their lower-case
    names, and the rest (the blank line and the body), untouched."""

    fields: list[bytes]
    names: list[bytes]
    rest: bytes


def split_header(data: bytes) -> tuple[list[bytes], bytes]:
    """The header fields (each with its folded continuation lines) and the rest of the message."""
    fields: list[bytes] = []
    position = 0
    while position < len(data):
        end = data.find(b"\n", position)
        end = len(data) if end < 0 else end + 1
        line = data[position:end]
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif _FIELD_NAME.match(line):
            fields.append(line)
        else:
            break
        position = end
    return fields, data[position:]


def read_header(data: bytes) -> Header:
    fields, rest = split_header(data)
    return Header(fields, [_name(field) for field in fields], rest)


def _name(field: bytes) -> bytes:
    match = _FIELD_NAME.match(field)
    assert match is not None
    return match.group(1).lower()


def has_bare_newline(data: bytes) -> bool:
    """Whether `data` has a CR or an LF that is not part of a CRLF."""
    crlf = data.count(b"\r\n")
    return data.count(b"\r") != crlf or data.count(b"\n") != crlf


def normalize_newlines(data: bytes) -> bytes:
    """`data` with each bare CR and bare LF made a CRLF (a line end, as most readers take it)."""
    if not has_bare_newline(data):
        return data
    # Once every CRLF is an LF, every CR left is bare: both become LF, then every LF a CRLF.
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def header_fields(data: bytes) -> tuple[tuple[str, str], ...]:
    """The header fields at the start of `data`: (name, value unfolded), as written."""
    fields, _ = split_header(data)
    named = []
    for field in fields:
        name, _, value = field.partition(b":")
        text = unfold(value.decode("utf-8", "replace"))
        named.append((name.decode("ascii").rstrip(" \t"), text))
    return tuple(named)


def unfold(value: str) -> str:
    """A field's value on one line: folding (CRLF before white space) removed, ends stripped."""
    return _FOLDING.sub("", value).strip()
