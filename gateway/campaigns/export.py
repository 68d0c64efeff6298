"""A campaign's figures as a document: the counts and rates the API and `campaign show --json`
give, and the same as CSV rows (`metric,count,rate`, then one row per link clicked), formula
cells made inert (`gateway.core.csvcells`), or as an Excel workbook (openpyxl, write-only) with
the same rows on a sheet `figures` and the links on a sheet `links`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from openpyxl import Workbook

from gateway.core import csvcells
from gateway.core.types.campaigns import CampaignInfo, Report

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
"""The media type of a workbook."""
COUNTS = ("sent", "delivered", "bounced", "complained", "opened", "clicked", "unsubscribed")
"""The counts with a rate (each a share of the messages sent)."""


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
        "rates": {name: report.rate(getattr(report, name)) for name in COUNTS[1:]},
        "links": [
            {"url": url, "clicked": unique, "clicks": total}
            for url, (unique, total) in report.links.items()
        ],
    }


def _rows(campaign: CampaignInfo, report: Report) -> Iterator[tuple[Any, ...]]:
    yield ("campaign", campaign.id, campaign.name)
    yield ("metric", "count", "rate")
    yield ("recipients", report.recipients, "")
    for name in ("pending", "skipped", "refused"):
        yield (name, getattr(report, name), "")
    for name in COUNTS:
        count = getattr(report, name)
        yield (name, count, "" if name == "sent" else report.rate(count))
    yield ("opens", report.opens, "")
    yield ("clicks", report.clicks, "")


def _links(report: Report) -> Iterator[tuple[Any, ...]]:
    yield ("link", "clicked", "clicks")
    for url, (unique, total) in report.links.items():
        yield (url, unique, total)


def report_csv(campaign: CampaignInfo, report: Report) -> str:
    out = io.StringIO()
    writer = csvcells.Writer(out)
    writer.writerows(_rows(campaign, report))
    writer.writerow(())
    writer.writerows(_links(report))
    return out.getvalue()


def report_workbook(campaign: CampaignInfo, report: Report) -> bytes:
    """The `.xlsx` file; text cells made inert as in the CSV (a link's URL is the clicker's
    choice of the sender's, never a formula)."""
    book = Workbook(write_only=True)
    for title, rows in (("figures", _rows(campaign, report)), ("links", _links(report))):
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append([csvcells.cell(v) if isinstance(v, str) else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
