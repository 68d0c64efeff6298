"""A campaign's figures as a document: the counts and rates the API and `campaign show --json`
give, and the same as CSV rows (`metric,count,rate`, then one row per link clicked), formula
cells made inert (`gateway.core.csvcells`)."""

from __future__ import annotations

import io
from typing import Any

from gateway.core import csvcells
from gateway.core.types.campaigns import CampaignInfo, Report

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


def report_csv(campaign: CampaignInfo, report: Report) -> str:
    out = io.StringIO()
    writer = csvcells.Writer(out)
    writer.writerow(("campaign", campaign.id, campaign.name))
    writer.writerow(("metric", "count", "rate"))
    writer.writerow(("recipients", report.recipients, ""))
    for name in ("pending", "skipped", "refused"):
        writer.writerow((name, getattr(report, name), ""))
    for name in COUNTS:
        writer.writerow(
            (
                name,
                getattr(report, name),
                "" if name == "sent" else report.rate(getattr(report, name)),
            )
        )
    writer.writerow(("opens", report.opens, ""))
    writer.writerow(("clicks", report.clicks, ""))
    writer.writerow(())
    writer.writerow(("link", "clicked", "clicks"))
    for url, (unique, total) in report.links.items():
        writer.writerow((url, unique, total))
    return out.getvalue()
