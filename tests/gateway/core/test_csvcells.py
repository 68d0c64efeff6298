"""CSV cells that a spreadsheet would run as formulas are written inert, and read back."""

from __future__ import annotations

import csv
import io

import pytest

from gateway.core.csvcells import Writer, cell, uncell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        ("'quoted", "'quoted"),
        (None, ""),
        (3, "3"),
    ],
)
def test_formulas_are_written_inert_and_read_back(value: object, written: str) -> None:
    assert cell(value) == written
    assert uncell(written) == ("" if value is None else str(value))


def test_the_writer_writes_every_cell_inert() -> None:
    out = io.StringIO()
    writer = Writer(out)
    writer.writerow(["subject", "count"])
    writer.writerows([["=cmd|' /C calc'!A0", 1]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["subject", "count"],
        ["'=cmd|' /C calc'!A0", "1"],
    ]
