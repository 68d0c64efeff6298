"""A campaign's and a list's figures written as CSV and as a workbook (read back with openpyxl):
one layout for both, the parts (a campaign's lists, a list's campaigns) last with their rates,
and every name or link a spreadsheet would run as a formula written inert."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from gateway.campaigns.export import XLSX, Export, report_csv, report_workbook, written
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.campaigns import Report, Share

FORMULA = '=HYPERLINK("http://evil.example/","open me")'
LINK = "https://shop.example.net/sale"


def _report(sent: int, opened: int, links: dict[str, tuple[int, int]] | None = None) -> Report:
    return Report(
        recipients=sent + 1,
        pending=0,
        skipped=1,
        refused=0,
        sent=sent,
        delivered=sent,
        bounced=0,
        complained=0,
        opened=opened,
        opens=opened * 2,
        clicked=1,
        clicks=3,
        unsubscribed=0,
        links=links or {},
    )


def _list_export() -> Export:
    """List 4, named like a formula, across two campaigns (one of them named like one too)."""
    spring, autumn = _report(3, 1, {LINK: (1, 2)}), _report(1, 1, {"-cmd": (1, 1)})
    total = _report(4, 2, {LINK: (1, 2), "-cmd": (1, 1)})
    return Export("list", 4, FORMULA, total, [Share(7, "spring", spring), Share(9, "+1", autumn)])


def _sections(text: str) -> list[list[list[str]]]:
    """The CSV's sections (blank lines between them), each a list of rows."""
    sections: list[list[list[str]]] = [[]]
    for row in csv.reader(io.StringIO(text)):
        if row:
            sections[-1].append(row)
        else:
            sections.append([])
    return sections


def _value(cell: object) -> object:
    """A cell of the CSV or the workbook, to compare: a number as a float (the workbook reads
    1.0 back as 1), an empty cell as ""."""
    if cell is None:
        return ""
    try:
        return float(str(cell))
    except ValueError:
        return cell


def test_a_lists_csv_has_its_figures_links_and_campaigns_with_formulas_inert() -> None:
    figures, links, parts = _sections(report_csv(_list_export()))
    assert figures[:3] == [
        ["list", "4", f"'{FORMULA}"],
        ["metric", "count", "rate"],
        ["recipients", "5", ""],
    ]
    assert ["sent", "4", ""] in figures
    assert ["opened", "2", "0.5"] in figures
    assert ["opens", "4", ""] in figures
    assert links == [["link", "clicked", "clicks"], [LINK, "1", "2"], ["'-cmd", "1", "1"]]
    assert parts[0] == [
        "campaign", "name", "recipients", "sent", "delivered", "bounced", "complained",
        "opened", "clicked", "unsubscribed", "opens", "clicks", "delivered rate",
        "bounced rate", "complained rate", "opened rate", "clicked rate", "unsubscribed rate",
    ]  # fmt: skip
    assert parts[1] == [
        "7", "spring", "4", "3", "3", "0", "0", "1", "1", "0", "2", "3",
        "1.0", "0.0", "0.0", "0.3333", "0.3333", "0.0",
    ]  # fmt: skip
    assert parts[2][:2] == ["9", "'+1"]


def test_a_lists_workbook_has_the_same_rows_on_three_sheets() -> None:
    export = _list_export()
    book = openpyxl.load_workbook(io.BytesIO(report_workbook(export)))
    assert book.sheetnames == ["figures", "links", "campaigns"]
    sheets = {title: list(book[title].iter_rows(values_only=True)) for title in book.sheetnames}
    assert sheets["figures"][0] == ("list", 4, f"'{FORMULA}")
    assert ("opened", 2, 0.5) in sheets["figures"]
    assert sheets["links"][1:] == [(LINK, 1, 2), ("'-cmd", 1, 1)]
    assert sheets["campaigns"][1][:4] == (7, "spring", 4, 3)
    assert sheets["campaigns"][2][:2] == (9, "'+1")
    # No cell is a formula ("f"): text is a string ("s"; an empty one "inlineStr"), or a number.
    kinds = {
        cell.data_type for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
    }
    assert kinds <= {"s", "inlineStr", "n"}
    csv_rows = [row for row in csv.reader(io.StringIO(report_csv(export))) if row]
    in_book = [row for rows in sheets.values() for row in rows]  # the CSV's rows, in order
    assert [[_value(v) for v in row] for row in in_book] == [
        [_value(v) for v in row] for row in csv_rows
    ]


def test_a_campaigns_parts_are_its_lists() -> None:
    export = Export("campaign", 7, "spring", _report(3, 1), [Share(4, "customers", _report(3, 1))])
    figures, links, parts = _sections(report_csv(export))
    assert figures[0] == ["campaign", "7", "spring"]
    assert links == [["link", "clicked", "clicks"]]
    assert [row[:3] for row in parts] == [["list", "name", "recipients"], ["4", "customers", "4"]]
    book = openpyxl.load_workbook(io.BytesIO(report_workbook(export)))
    assert book.sheetnames == ["figures", "links", "lists"]


def test_the_suffix_chooses_the_file() -> None:
    export = _list_export()
    assert written(export, "csv") == (report_csv(export), "text/csv")
    body, media = written(export, "xlsx")
    assert (body[:2], media) == (b"PK", XLSX)
    with pytest.raises(InvalidInputError, match=r"a \.csv or an \.xlsx file"):
        written(export, "pdf")
