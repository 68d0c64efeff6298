"""`/api/v1/stats`: counts over time, the reputation rates against the thresholds, the queue."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call, QueryTime
from admin.ops import dashboard
from admin.ops.context import Context

api = Api()


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: QueryTime | None = Field(
        default=None,
        description="start (ISO 8601; UTC without an offset); default: the last 24 hours, "
        "from the start of the hour 23 hours ago",
    )
    until: QueryTime | None = Field(default=None, description="end, excluded; default: now")
    bucket: str | None = Field(
        default=None,
        description="`hour`, `day` or seconds; default: an hour up to 2 days, else a day "
        "(at most 1000 buckets)",
    )
    tenant: str | None = Field(default=None, description="one tenant (admin keys)")
    domain: str | None = Field(
        default=None, description="mail whose envelope sender is at this domain of the scope"
    )
    campaign: int | None = Field(
        default=None,
        ge=1,
        lt=2**63,
        description="only this campaign's messages (the rates and the queue stay the scope's)",
    )


class Counts(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sent: int = Field(description="recipients SES accepted")
    delivered: int
    bounced: int = Field(description="bounces, but Transient ones")
    complained: int
    opened: int
    clicked: int
    rejected: int = Field(
        description="SMTP commands the gateway refused; with a campaign: its recipients the "
        "policy refused"
    )
    deferred: int = Field(description="SES delivery delays")


class Bucket(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    start: datetime = Field(description="the bucket is [start, start + bucket)")
    counts: Counts


class Thresholds(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    bounce_warn: float = Field(description="percent")
    bounce_pause: float
    complaint_warn: float
    complaint_pause: float
    min_sends: int = Field(description="fewer sends in the window are not judged")
    window_sends: int
    window_days: float


class Rates(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    verdict: str = Field(description="`too_few`, `ok`, `warning` or `paused`")
    reason: str = Field(description="what crossed which level; empty when nothing did")
    since: datetime = Field(description="where the reputation guard's window starts")
    sends: int
    bounced: int
    complained: int
    bounce_rate: float = Field(description="percent")
    complaint_rate: float = Field(description="percent")
    thresholds: Thresholds
    tenant_paused: str | None = Field(description="why the tenant is paused; null: it is not")


class QueueDepth(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    pending: int = Field(description="messages waiting for delivery")
    oldest: datetime | None
    oldest_age: int | None = Field(description="seconds since the oldest was accepted")


class Stats(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    since: datetime = Field(description="to the second")
    until: datetime
    bucket: int = Field(description="seconds")
    tenant: str | None = Field(description="null: every tenant")
    domain: str | None
    campaign: int | None = Field(description="null: every message of the scope")
    totals: Counts
    series: list[Bucket]
    rates: Rates = Field(description="the reputation guard's window, not the span")
    queue: QueueDepth


@api.endpoint(
    "GET",
    "/stats",
    summary="Counts over time, reputation rates and the queue",
    tag="stats",
    query=StatsQuery,
    response=Stats,
)
async def get_stats(ctx: Context, call: Call) -> object:
    query = call.query
    bucket = dashboard.parse_bucket(query.bucket) if query.bucket else None
    chosen = dashboard.span(datetime.now(UTC), "24h", query.since, query.until, bucket)
    return await dashboard.get_stats(ctx, chosen, query.tenant, query.domain, query.campaign)
