"""Names people give to what they make (contact lists, templates): one rule everywhere, so that
every name shows on one line of a page, a table or a terminal."""

from __future__ import annotations

from gateway.core.exceptions import InvalidInputError


def given_name(value: str, what: str, longest: int) -> str:
    """`value` without its outer blanks: 1 to `longest` printable characters (no line breaks
    or other controls), else refused naming `what` ("a list") and the field `name`."""
    name = value.strip()
    if not name or len(name) > longest or not name.isprintable():
        raise InvalidInputError(
            f"{what}'s name is 1 to {longest} printable characters, not {value!r}", "name"
        )
    return name
