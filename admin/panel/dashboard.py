"""The dashboard (`/`, the landing page): filters (a range, the tenant, a domain, a campaign), the
counts of the span with their rates, charts over time, the reputation rates against the
thresholds, the SES account or the tenant's daily usage, the queue; a "Getting started" list
until the first message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup
from starlette.responses import Response

from admin.ops import dashboard
from admin.panel.base import Page, Pages, field_errors
from admin.panel.charts import Kind, Line, chart
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.stats import Counts

pages = Pages()

COLORS = {
    "sent": "#2457c5",
    "delivered": "#1d7a45",
    "bounced": "#b3261e",
    "complained": "#8e24aa",
    "opened": "#00897b",
    "clicked": "#e07b00",
    "rejected": "#b3261e",
    "deferred": "#a86400",
}
CHARTS = (
    ("Delivery outcomes", ("sent", "delivered", "bounced", "complained"), Kind.LINES),
    ("Engagement", ("opened", "clicked"), Kind.LINES),
    ("Refused and delayed", ("rejected", "deferred"), Kind.BARS),
)
SHARE_OF = {
    "delivered": "sent",
    "bounced": "sent",
    "complained": "sent",
    "deferred": "sent",
    "opened": "delivered",
    "clicked": "delivered",
}
"""The count each card's rate is a share of."""
WHAT = {
    "sent": "recipients SES accepted in the range",
    "delivered": "SES delivery events",
    "bounced": "bounces, not counting transient ones (auto-replies, full mailboxes)",
    "complained": "SES complaint events",
    "opened": "opens, SES's and the gateway's tracking",
    "clicked": "clicks, SES's and the gateway's tracking",
    "rejected": "SMTP commands the gateway refused",
    "deferred": "SES delivery delays (SES keeps trying)",
}
"""What each card counts, in words beside it (`gateway.storage.stats`)."""
FILTERS = ("range", "since", "until", "tenant", "domain", "campaign")
RANGES = (("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"))


@dataclass(frozen=True, slots=True)
class Card:
    name: str
    value: int
    rate: str
    """`2.5% of sent`, or empty."""
    what: str
    """What it counts, in words."""


def cards(totals: Counts) -> list[Card]:
    found = []
    for name in COLORS:
        value, whole = getattr(totals, name), SHARE_OF.get(name)
        of = getattr(totals, whole) if whole else 0
        rate = f"{100 * value / of:.1f}% of {whole}" if of else ""
        found.append(Card(name, value, rate, WHAT[name]))
    return found


def charts(stats: dashboard.Stats) -> list[Markup]:
    starts = [point.start for point in stats.series]
    return [
        chart(
            title,
            starts,
            timedelta(seconds=stats.bucket),
            [
                Line(name, COLORS[name], [getattr(p.counts, name) for p in stats.series])
                for name in names
            ],
            kind,
        )
        for title, names, kind in CHARTS
    ]


def _span(page: Page, now: datetime) -> dashboard.Span:
    preset = page.query("range") or "24h"
    if preset != "custom":
        return dashboard.span(now, preset)
    since = page.moment("since")
    if since is None:
        raise InvalidInputError("give the first day of the range", "since")
    return dashboard.span(now, since=since, until=page.moment("until"))


@pages.page("/")
async def dashboard_page(page: Page) -> Response:
    now = datetime.now(UTC)
    errors: dict[str, str] = {}
    try:
        chosen = _span(page, now)
    except InvalidInputError as exc:
        errors, chosen = field_errors(exc, "range"), dashboard.span(now)
    tenant, domain = page.query("tenant") or None, page.query("domain") or None
    campaign = page.query("campaign")
    if campaign and not (campaign.isascii() and campaign.isdigit() and len(campaign) < 10):
        errors, campaign = {"campaign": "choose one of the campaigns"}, ""
    view = await dashboard.dashboard(page.ctx, chosen, tenant, domain, int(campaign or 0) or None)
    return page.render(
        "dashboard.html",
        400 if errors else 200,
        view=view,
        cards=cards(view.stats.totals),
        charts=charts(view.stats),
        ranges=RANGES,
        shown={name: page.query(name) for name in FILTERS},
        campaigns=[(str(i), name) for i, name in view.campaigns],
        campaign_name=dict(view.campaigns).get(view.stats.campaign or 0, view.stats.campaign),
        errors=errors,
    )
