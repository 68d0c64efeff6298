"""The dashboard: what happened to mail over a span of time (counts in total and per bucket), the
reputation rates against the guard's thresholds, the queue, and the sending limits in force.

Scope: an admin sees every tenant or the one named; anyone else only their own tenant. A domain
filter names one of the scope's domains, a campaign filter one of its campaigns (the counts are
then its messages'; the rates and the queue stay the scope's). The SES account (its quota,
sandbox, sending) is the whole AWS account's: only admins see it. A tenant's own daily usage
against its daily cap is shown whenever the scope is one tenant.

The rates are not those of the span: they are the reputation guard's window (the last
`REPUTATION_WINDOW_SENDS` sends within `REPUTATION_WINDOW_DAYS`, see `gateway.reputation`),
of the tenant or of every tenant together, whatever the domain."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from admin.ops import campaigns
from admin.ops.context import Context
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.core.types.aws import AccountQuota
from gateway.core.types.stats import Counts, SeriesPoint
from gateway.core.types.tenants import TenantInfo
from gateway.delivery.governor import read_quota
from gateway.feedback import reputation
from gateway.policy.limits import effective
from gateway.storage import domains, messages, queue, stats, tenants

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
PRESETS = {"24h": (24, HOUR), "7d": (7, DAY), "30d": (30, DAY)}
"""Each preset's number of buckets, and their size: the last bucket is the current one."""
BUCKETS = {"hour": HOUR, "day": DAY}
VERDICTS = {
    reputation.Level.TOO_FEW: "too_few",
    reputation.Level.OK: "ok",
    reputation.Level.WARN: "warning",
    reputation.Level.PAUSE: "paused",
}
"""The guard's levels as the dashboard says them (`paused`: at a level that pauses a tenant)."""


@dataclass(frozen=True, slots=True)
class Span:
    since: datetime
    until: datetime
    bucket: timedelta


MAX_BUCKET = 366 * 86400
"""The longest bucket, in seconds: a year."""


def parse_bucket(text: str) -> timedelta:
    """`hour`, `day`, or a whole number of seconds."""
    if text in BUCKETS:
        return BUCKETS[text]
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_BUCKET:
        raise InvalidInputError(
            f"give hour, day or a whole number of seconds up to {MAX_BUCKET}", "bucket"
        )
    return timedelta(seconds=int(text))


def _utc(moment: datetime) -> datetime:
    """A time without an offset is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def span(
    now: datetime,
    preset: str = "24h",
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: timedelta | None = None,
) -> Span:
    """A preset (the last 24 hours by the hour, the last 7 or 30 days by the day, each bucket
    starting on a whole hour or day, UTC), or, with `since`, the span from `since` until
    `until` (default now) in buckets of `bucket` (default an hour for up to 2 days, else a day,
    or as many days as keep the buckets within `stats.MAX_BUCKETS`)."""
    if since is None:
        if until is not None:
            raise InvalidInputError("give since too, or leave until out", "since")
        if preset not in PRESETS:
            raise InvalidInputError(f"choose one of {', '.join(PRESETS)}", "range")
        count, size = PRESETS[preset]
        start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if size == DAY:
            start = start.replace(hour=0)
        return Span(start - (count - 1) * size, now, bucket or size)
    since, until = _utc(since), _utc(until or now)
    if until <= since:
        raise InvalidInputError("until must be after since", "until")
    days = math.ceil((until - since) / DAY / stats.MAX_BUCKETS)
    chosen = bucket or (HOUR if until - since <= 2 * DAY else days * DAY)
    return Span(since, until, chosen)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The guard's levels, in percent (`REPUTATION_*`)."""

    bounce_warn: float
    bounce_pause: float
    complaint_warn: float
    complaint_pause: float
    min_sends: int
    window_sends: int
    window_days: float


@dataclass(frozen=True, slots=True)
class Reputation:
    verdict: str
    """`too_few` (fewer sends than `min_sends`: not judged), `ok`, `warning` or `paused`."""
    reason: str
    since: datetime
    """Where the window starts (a tenant's last pause by the guard, when later)."""
    sends: int
    bounced: int
    complained: int
    bounce_rate: float
    """Percent."""
    complaint_rate: float
    thresholds: Thresholds
    tenant_paused: str | None
    """The reason the tenant is paused now, by the guard or an operator."""


@dataclass(frozen=True, slots=True)
class QueueDepth:
    pending: int
    oldest: datetime | None
    oldest_age: int | None
    """Seconds since the oldest waiting message was accepted."""


@dataclass(frozen=True, slots=True)
class Stats:
    since: datetime
    until: datetime
    bucket: int
    """Seconds."""
    tenant: str | None
    domain: str | None
    campaign: int | None
    totals: Counts
    series: tuple[SeriesPoint, ...]
    rates: Reputation
    queue: QueueDepth


@dataclass(frozen=True, slots=True)
class SesAccountCard:
    region: str
    endpoint: str
    quota: AccountQuota | None
    error: str | None
    """Why SES did not say (then `quota` is None)."""
    mode: str
    """`production`, `sandbox` or `unknown`."""
    sending: str
    """`yes`, `no` or `unknown`."""
    used: float | None
    """Percent of `Max24HourSend` sent in the last 24 hours; None: unlimited or unknown."""
    note: str | None


@dataclass(frozen=True, slots=True)
class Usage:
    """The tenant's messages accepted today (UTC) against its daily cap (None: no cap)."""

    tenant: str
    used: int
    cap: int | None
    percent: float | None


@dataclass(frozen=True, slots=True)
class Step:
    label: str
    href: str
    done: bool


@dataclass(frozen=True, slots=True)
class Dashboard:
    stats: Stats
    account: SesAccountCard | None
    usage: Usage | None
    tenants: list[str]
    """The tenant filter's choices (admins)."""
    domains: list[str]
    """The domain filter's choices: the scope's domains."""
    campaigns: list[tuple[int, str]]
    """The campaign filter's choices: the scope's campaigns launched, (id, name), newest first."""
    getting_started: list[Step]
    """Empty once a domain, a credential and a message exist in the scope."""


async def _domain(ctx: Context, name: str | None) -> str | None:
    """The domain filter as stored (ASCII), if the actor's tenant has it."""
    if not name:
        return None
    try:
        found = await ctx.services.domains.get(name)
    except (NotFoundError, InvalidInputError):
        raise NotFoundError(f"no domain {name}") from None
    ctx.owns(found.tenant, f"domain {name}")
    return found.name


async def _reputation(ctx: Context, tenant: TenantInfo | None, now: datetime) -> Reputation:
    settings = ctx.services.settings
    tenant_id, name = (tenant.id, tenant.name) if tenant else (None, None)
    since, verdict = await reputation.judge(ctx.db, settings, tenant_id, name, now)
    return Reputation(
        VERDICTS[verdict.level],
        verdict.reason,
        since,
        verdict.sends,
        verdict.bounces,
        verdict.complaints,
        verdict.bounce_rate * 100,
        verdict.complaint_rate * 100,
        Thresholds(
            settings.reputation_bounce_warn,
            settings.reputation_bounce_pause,
            settings.reputation_complaint_warn,
            settings.reputation_complaint_pause,
            settings.reputation_min_sends,
            settings.reputation_window_sends,
            settings.reputation_window_days,
        ),
        tenant.paused_reason if tenant else None,
    )


async def get_stats(
    ctx: Context,
    chosen: Span,
    tenant: str | None = None,
    domain: str | None = None,
    campaign: int | None = None,
) -> Stats:
    """The counts of the span in total and per bucket, the rates and the queue, in scope; with
    a campaign (one of the actor's), the counts of its messages only."""
    scope = await ctx.tenant(tenant)
    tenant_id = scope.id if scope else None
    ascii_domain = await _domain(ctx, domain)
    campaign_id = (await campaigns.get_campaign(ctx, campaign)).id if campaign else None
    now = datetime.now(UTC)
    since, until = chosen.since, chosen.until
    series = await stats.series(
        ctx.db, tenant_id, ascii_domain, since, until, chosen.bucket, campaign_id
    )
    totals = await stats.totals(ctx.db, tenant_id, ascii_domain, since, until, campaign_id)
    pending, oldest = await queue.pending_summary(ctx.db, tenant_id)
    age = None if oldest is None else max(0, int((now - _utc(oldest)).total_seconds()))
    return Stats(
        series.since,
        chosen.until,
        int(chosen.bucket.total_seconds()),
        scope.name if scope else None,
        ascii_domain,
        campaign_id,
        totals,
        series.points,
        await _reputation(ctx, scope, now),
        QueueDepth(pending, oldest, age),
    )


async def ses_account(ctx: Context) -> SesAccountCard:
    """The SES account's quota and state (admins): what `ses-gateway status` says."""
    ctx.require_admin()
    account = ctx.services.ses_account
    quota, error = await read_quota(account)
    production = quota.production_access_enabled if quota else None
    enabled = quota.sending_enabled if quota else None
    daily = quota.max_24_hour_send if quota else None
    note = None
    if quota is not None and quota.source != "GetAccount":
        note = (
            f"SES answered {quota.source} only (not SESv2 GetAccount), which does not say "
            "whether the account is in the sandbox or may send"
        )
    return SesAccountCard(
        account.region,
        account.endpoint,
        quota,
        error,
        {None: "unknown", True: "production", False: "sandbox"}[production],
        {None: "unknown", True: "yes", False: "no"}[enabled],
        100 * quota.sent_last_24_hours / daily if quota and daily else None,
        note,
    )


async def usage(ctx: Context, tenant: TenantInfo) -> Usage:
    """The tenant's messages today against its daily cap (its own, else `DEFAULT_MAX_PER_DAY`)."""
    today = datetime.now(UTC).date().isoformat()
    used = await tenants.usage_today(ctx.db, tenant.id, today)
    account = await tenants.account(ctx.db, tenant.id, None)
    cap = effective(account, ctx.services.settings).max_per_day
    return Usage(tenant.name, used, cap, 100 * used / cap if cap else None)


async def _getting_started(ctx: Context, tenant: TenantInfo | None) -> list[Step]:
    name = tenant.name if tenant else None
    sent, _ = await messages.search_messages(
        ctx.db, ctx.services.sealer, tenant.id if tenant else None, limit=1
    )
    steps = [
        Step("Add a sending domain", "/domains", bool(await domains.list_domains(ctx.db, name))),
        Step(
            "Create SMTP credentials",
            "/credentials",
            bool(await tenants.list_credentials(ctx.db, name)),
        ),
        Step("Send a message and follow it", "/messages", bool(sent)),
    ]
    return [] if all(step.done for step in steps) else steps


async def dashboard(
    ctx: Context,
    chosen: Span,
    tenant: str | None = None,
    domain: str | None = None,
    campaign: int | None = None,
) -> Dashboard:
    """Everything the dashboard page shows."""
    scope = await ctx.tenant(tenant)
    found = await get_stats(ctx, chosen, tenant, domain, campaign)
    everyone = await tenants.list_tenants(ctx.db) if ctx.actor.is_admin else []
    in_scope = await domains.list_domains(ctx.db, scope.name if scope else None)
    launched = await campaigns.list_campaigns(ctx, scope.name if scope else None)
    return Dashboard(
        found,
        await ses_account(ctx) if ctx.actor.is_admin else None,
        await usage(ctx, scope) if scope else None,
        [t.name for t in everyone],
        [d.name for d in in_scope],
        [(c.id, c.name) for c in launched if c.launched_at is not None],
        await _getting_started(ctx, scope),
    )
