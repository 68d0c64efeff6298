"""A campaign's or a list's figures as a document: the counts and rates the API, `campaign show
--json` and `list figures --json` give, and the same as CSV or as an Excel workbook (openpyxl,
write-only), formula cells made inert (`gateway.core.csvcells`).

One layout serves both (`Export`): a campaign's figures broken down by its lists, and a list's
across the campaigns sent to it broken down by campaign. The CSV has three sections, a blank
line between them: the figures (a row naming whose, then `metric,count,rate`), the links clicked
(`link,clicked,clicks`), and the parts (`list` or `campaign`, `name`, `recipients`, the counts,
then their rates), one row per list or campaign; the workbook has them on the sheets `figures`,
`links`, and `lists` or `campaigns`."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from openpyxl import Workbook

from gateway.core import csvcells
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.campaigns import Report, Share

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
"""The media type of a workbook."""
COUNTS = ("sent", "delivered", "bounced", "complained", "opened", "clicked", "unsubscribed")
"""The counts with a rate (each a share of the messages sent)."""
RATED = COUNTS[1:]
"""The counts whose rate is given (`sent`'s would always be 1)."""


@dataclass(frozen=True, slots=True)
class Export:
    """Whose figures: a campaign's (its parts: its lists') or a list's (its parts: the
    campaigns sent to it)."""

    kind: Literal["campaign", "list"]
    id: int
    name: str
    report: Report
    parts: Sequence[Share] = ()

    @property
    def part_kind(self) -> str:
        return "list" if self.kind == "campaign" else "campaign"


def figures(report: Report) -> dict[str, Any]:
    """The counts, `opens` and `clicks` in all, `rates`, and `links` (each clicked URL's
    unique and total clicks)."""
    return {
        "recipients": report.recipients,
        "pending": report.pending,
        "skipped": report.skipped,
        "refused": report.refused,
        **{name: getattr(report, name) for name in COUNTS},
        "opens": report.opens,
        "clicks": report.clicks,
        "rates": {name: report.rate(getattr(report, name)) for name in RATED},
        "links": [
            {"url": url, "clicked": unique, "clicks": total}
            for url, (unique, total) in report.links.items()
        ],
    }


def _figures(export: Export) -> Iterator[tuple[Any, ...]]:
    report = export.report
    yield (export.kind, export.id, export.name)
    yield ("metric", "count", "rate")
    yield ("recipients", report.recipients, "")
    for name in ("pending", "skipped", "refused"):
        yield (name, getattr(report, name), "")
    for name in COUNTS:
        count = getattr(report, name)
        yield (name, count, report.rate(count) if name in RATED else "")
    yield ("opens", report.opens, "")
    yield ("clicks", report.clicks, "")


def _links(export: Export) -> Iterator[tuple[Any, ...]]:
    yield ("link", "clicked", "clicks")
    for url, (unique, total) in export.report.links.items():
        yield (url, unique, total)


def _parts(export: Export) -> Iterator[tuple[Any, ...]]:
    rates = tuple(f"{name} rate" for name in RATED)
    yield (export.part_kind, "name", "recipients", *COUNTS, "opens", "clicks", *rates)
    for part in export.parts:
        report = part.report
        counts = [getattr(report, name) for name in COUNTS]
        shares = [report.rate(getattr(report, name)) for name in RATED]
        yield (part.id, part.name, report.recipients, *counts, report.opens, report.clicks, *shares)


def _sections(export: Export) -> list[tuple[str, Iterator[tuple[Any, ...]]]]:
    """Each section's sheet title and rows."""
    return [
        ("figures", _figures(export)),
        ("links", _links(export)),
        (f"{export.part_kind}s", _parts(export)),
    ]


def report_csv(export: Export) -> str:
    out = io.StringIO()
    writer = csvcells.Writer(out)
    for number, (_, rows) in enumerate(_sections(export)):
        if number:
            writer.writerow(())
        writer.writerows(rows)
    return out.getvalue()


def report_workbook(export: Export) -> bytes:
    """The `.xlsx` file; text cells made inert as in the CSV (a link's URL is the clicker's
    choice of the sender's, a name the tenant's: never a formula)."""
    book = Workbook(write_only=True)
    for title, rows in _sections(export):
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append([csvcells.cell(v) if isinstance(v, str) else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


FORMATS: dict[str, tuple[str, Callable[[Export], str | bytes]]] = {
    "csv": ("text/csv", report_csv),
    "xlsx": (XLSX, report_workbook),
}
"""A file's suffix: its media type and what writes it."""


def written(export: Export, suffix: str) -> tuple[str | bytes, str]:
    """The file of that suffix (`csv`, `xlsx`) and its media type."""
    if suffix not in FORMATS:
        raise InvalidInputError("the figures are a .csv or an .xlsx file", "kind")
    media, write = FORMATS[suffix]
    return write(export), media
