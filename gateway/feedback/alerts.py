"""Notifications the gateway raises on its own, at most once a day each: a daily quota near its
limit (a tenant's `max_per_day`, the SES account's `Max24HourSend`) and a failing webhook.

A quota is near its limit at `NEAR_LIMIT` of it. `NearLimit` remembers in the process what it
raised today, so a busy tenant costs no database work after the first message past the mark;
`notify_once` keeps several processes to one notification a day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.domains.names import shown_url
from gateway.storage import tenants, webhooks
from gateway.storage.activity import notify_once
from gateway.storage.database import Database
from gateway.storage.webhooks import FAILED, Claim, NewAttempt

NEAR_LIMIT = 0.8
"""The share of a daily quota at which it is near its limit."""
TENANT_NEAR_LIMIT = "quota.near-limit"
ACCOUNT_NEAR_LIMIT = "ses.quota-near-limit"
WEBHOOK_FAILING = "webhook.failing"
WEBHOOK_DISABLED = "webhook.disabled"
FAILING_ATTEMPTS = 3
"""Failed attempts in a row of one delivery after which its webhook is failing."""


def near_limit(used: int, cap: int | None) -> bool:
    return cap is not None and cap > 0 and used >= cap * NEAR_LIMIT


def _today(now: datetime) -> timedelta:
    """The time since the start of `now`'s UTC day: notify once within it."""
    moment = now.astimezone(UTC)
    return moment - moment.replace(hour=0, minute=0, second=0, microsecond=0)


class NearLimit:
    """Raises "near its limit" once per UTC day per tenant (None: the SES account)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._day = ""
        self._raised: set[int | None] = set()

    async def check(
        self, tenant_id: int | None, subject: str, used: int, cap: int | None, now: datetime
    ) -> bool:
        """Notify when `used` of `cap` is near the limit, unless done today; whether it did."""
        if cap is None or not near_limit(used, cap):
            return False
        day = now.astimezone(UTC).date().isoformat()
        if day != self._day:
            self._day, self._raised = day, set()
        if tenant_id in self._raised:
            return False
        self._raised.add(tenant_id)
        what = "the SES account's Max24HourSend" if tenant_id is None else "the daily cap"
        detail = f"{used} of {cap} messages ({used * 100 // cap}% of {what})"
        kind = ACCOUNT_NEAR_LIMIT if tenant_id is None else TENANT_NEAR_LIMIT
        return await notify_once(self._db, tenant_id, kind, subject, detail, now, _today(now))


async def webhook_failing(
    db: Database, claim: Claim, attempt: NewAttempt, state: str, disabled: bool
) -> bool:
    """After a failed attempt: notify (once a day per webhook) that the webhook was disabled,
    or that it is failing once a delivery failed `FAILING_ATTEMPTS` times or was given up
    (`state` failed); whether it did."""
    if disabled:
        kind, said = WEBHOOK_DISABLED, f"disabled: {attempt.error}"
    elif claim.attempts >= FAILING_ATTEMPTS or state == FAILED:
        kind, said = WEBHOOK_FAILING, f"{claim.attempts} failed attempts, the last: {attempt.error}"
    else:
        return False
    now = attempt.attempted_at
    webhook = await webhooks.get_webhook(db, claim.webhook_id)
    tenant = await tenants.get_tenant(db, webhook.tenant)
    detail = f"{shown_url(claim.url)}: {said}"
    subject = f"webhook {claim.webhook_id}"
    return await notify_once(db, tenant.id, kind, subject, detail, now, _today(now))
