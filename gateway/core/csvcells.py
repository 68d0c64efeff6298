"""CSV meant for spreadsheets. A cell that a spreadsheet would run as a formula (it starts with
`=`, `+`, `-`, `@`, a tab or a carriage return) is written after a `'`, as OWASP advises, so
that text a sender or a remote mail server chose (a subject, a bounce diagnostic) cannot run in
the operator's spreadsheet; reading takes the `'` off again, so exports import back as they
were."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA) else text


def uncell(text: str) -> str:
    """A cell as `cell` wrote it, back."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA) else text


class Writer:
    """`csv.writer` with every cell written by `cell`."""

    def __init__(self, out: TextIO) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
