"""The reputation guard: pause a tenant before its bounces or complaints endanger the SES account.

SES reviews an account whose bounce rate passes 5% or whose complaint rate passes 0.1%, and may
stop its sending: every tenant would stop with it. So each tenant is judged on its own sends:

- **the window**: its last `REPUTATION_WINDOW_SENDS` recipients in the state `sent` (accepted by
  SES), among those sent in the last `REPUTATION_WINDOW_DAYS`, whichever are fewer; and never
  the sends before the guard last paused it (its own activity `tenant.paused`), so that a tenant
  resumed by an operator starts afresh instead of being paused again by the next bounce. A
  person's pause (audited as `tenant.pause`, from any interface) says nothing of the sends and
  leaves the window as it is;
- **bounced**: the recipients of the window with a Permanent bounce; **complained**: with a
  complaint. Bounces and complaints about SES's account-level suppression list are left out,
  as SES leaves them out of the account's rates;
- **too few**: with fewer than `REPUTATION_MIN_SENDS` sends in the window nothing is judged;
- **warn** at `REPUTATION_BOUNCE_WARN` % or `REPUTATION_COMPLAINT_WARN` % (activity
  `reputation.warning`, at most once a day per tenant), **pause** at `REPUTATION_BOUNCE_PAUSE` %
  or `REPUTATION_COMPLAINT_PAUSE` % (activity `tenant.paused`; `ses-gateway tenant resume`
  lifts it); both are also raised as notifications. A tenant already paused, by an operator or
  the guard, is left as it is: the pause, its activity and its notification are one conditional
  transaction, so two processes judging the tenant at once pause it once.

`assess` is the pure judgment; `judge` gathers the counts (the dashboard shows its verdict);
`check_tenant` acts on the verdict. The events module runs it after each bounce or complaint of
a tenant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from config import Settings
from gateway.core.logs import log_event
from gateway.storage import activity, stats, tenants
from gateway.storage.database import Database

log = logging.getLogger("gateway.reputation")

WARNING = "reputation.warning"
PAUSED = "tenant.paused"
WARNING_INTERVAL = timedelta(days=1)
"""A tenant still over the warning level is warned again at most this often."""


class Level(StrEnum):
    TOO_FEW = "too_few"
    """Fewer sends in the window than the minimum: not judged."""
    OK = "ok"
    WARN = "warn"
    PAUSE = "pause"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Rates as fractions (0.05 is 5%)."""

    bounce_warn: float = 0.02
    bounce_pause: float = 0.05
    complaint_warn: float = 0.0005
    complaint_pause: float = 0.001
    min_sends: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            settings.reputation_bounce_warn / 100,
            settings.reputation_bounce_pause / 100,
            settings.reputation_complaint_warn / 100,
            settings.reputation_complaint_pause / 100,
            settings.reputation_min_sends,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    level: Level
    sends: int
    bounces: int
    complaints: int
    reason: str = ""
    """What crossed which level, for people: `bounce rate 5.3% over the last 1000 sends`."""

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sends if self.sends else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sends if self.sends else 0.0


def percent(rate: float) -> str:
    """`5.3%`, `0.12%`, `0%`: two significant decimals for small rates, one otherwise."""
    value = rate * 100
    text = f"{value:.1f}" if value >= 1 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".") + "%"


def assess(sends: int, bounces: int, complaints: int, thresholds: Thresholds) -> Verdict:
    """The verdict on a window of `sends` of which `bounces` bounced and `complaints`
    complained. A rate at a level counts as reaching it."""
    if sends < thresholds.min_sends:
        return Verdict(Level.TOO_FEW, sends, bounces, complaints)
    bounce_rate, complaint_rate = bounces / sends, complaints / sends
    for level, bounce_limit, complaint_limit in (
        (Level.PAUSE, thresholds.bounce_pause, thresholds.complaint_pause),
        (Level.WARN, thresholds.bounce_warn, thresholds.complaint_warn),
    ):
        crossed = []
        if bounce_rate >= bounce_limit:
            crossed.append(f"bounce rate {percent(bounce_rate)}")
        if complaint_rate >= complaint_limit:
            crossed.append(f"complaint rate {percent(complaint_rate)}")
        if crossed:
            reason = f"{' and '.join(crossed)} over the last {sends} sends"
            return Verdict(level, sends, bounces, complaints, reason)
    return Verdict(Level.OK, sends, bounces, complaints)


@dataclass(frozen=True, slots=True)
class Check:
    verdict: Verdict
    action: str | None = None
    """`warned` or `paused` when the guard recorded something this time."""


def _detail(verdict: Verdict, thresholds: Thresholds) -> str:
    return (
        f"{verdict.reason}: {verdict.bounces} bounced ({percent(verdict.bounce_rate)}), "
        f"{verdict.complaints} complained ({percent(verdict.complaint_rate)}); "
        f"warning at {percent(thresholds.bounce_warn)} bounces or "
        f"{percent(thresholds.complaint_warn)} complaints, pause at "
        f"{percent(thresholds.bounce_pause)} or {percent(thresholds.complaint_pause)}"
    )


async def judge(
    db: Database, settings: Settings, tenant_id: int | None, tenant: str | None, now: datetime
) -> tuple[datetime, Verdict]:
    """The window's start and the verdict on it as of `now`: of a tenant (its id and name), or
    (None) of every tenant's sends together, which no pause restarts."""
    since = now - timedelta(days=settings.reputation_window_days)
    if tenant is not None:
        pauses = await activity.list_activity(db, tenant, [PAUSED], limit=1)
        if pauses and pauses[0].created_at > since:
            since = pauses[0].created_at
    rates = await stats.rates(db, tenant_id, since, settings.reputation_window_sends)
    thresholds = Thresholds.from_settings(settings)
    return since, assess(rates.sends, rates.bounced, rates.complained, thresholds)


async def check_tenant(db: Database, settings: Settings, tenant_id: int, now: datetime) -> Check:
    """Judge the tenant's window as of `now`, and warn or pause it as the verdict says."""
    thresholds = Thresholds.from_settings(settings)
    state = await tenants.tenant_state(db, tenant_id)
    if state is None:
        return Check(Verdict(Level.TOO_FEW, 0, 0, 0))
    name, paused_reason = state
    _, verdict = await judge(db, settings, tenant_id, name, now)
    if verdict.level not in (Level.WARN, Level.PAUSE) or paused_reason is not None:
        return Check(verdict)
    detail = _detail(verdict, thresholds)
    if verdict.level is Level.PAUSE:
        paused = await tenants.pause_tenant(
            db, tenant_id, verdict.reason, PAUSED, name, detail, now
        )
        if not paused:
            return Check(verdict)  # paused meanwhile, by an operator or another process
        log_event(log, PAUSED, level=logging.WARNING, tenant=name, reason=verdict.reason)
        return Check(verdict, "paused")
    if not await activity.notify_once(db, tenant_id, WARNING, name, detail, now, WARNING_INTERVAL):
        return Check(verdict)  # warned within the interval already (maybe by another process)
    log_event(log, WARNING, level=logging.WARNING, tenant=name, reason=verdict.reason)
    return Check(verdict, "warned")
