"""The SES account governors: every send of the process paced under its AWS account's
`MaxSendRate`, and held back at its `Max24HourSend`.

Each AWS account the gateway sends through (the process's own, `default`, and each one a tenant
is on) has its own governor (`Governors`), so one account's quota never paces another's mail. A
tenant's sends acquire from its account's governor. The quota of every account in use is read
(`SesAccount.quota`) at start and every `SES_QUOTA_REFRESH` seconds; an account that comes into
use is read at its first send. SES counts each recipient as one message, for the rate and for
the day: a call to N recipients takes N.

- Rate: one pacer per account and process, shared by every concurrent send. A call to N
  recipients may start once the previous one's N / rate seconds have passed, so in any second at
  most `rate` messages go, plus one call's worth. The rate is `MaxSendRate x SES_RATE_SHARE`:
  with several worker processes give each its share (e.g. 0.5 for two); nothing counts the
  other processes.
- Waiting: a send waits for its turn in one of the worker's `DELIVERY_CONCURRENCY` slots. With
  several accounts in use, a call whose turn is more than `MAX_PACE_WAIT` seconds away does not
  take a slot to wait in (a slowly paced account's backlog would hold every slot, and pace the
  others' mail at its own rate): `acquire` raises `AccountPaced` and the message waits in the
  queue, no attempt made, until about its turn (after the calls put back before it, at the
  account's pace).
- Day: when `SentLast24Hours` (as of the last refresh) plus what this process sent since then
  leaves no room for a call, `acquire` raises `DailyQuotaReached`, a transient error: the worker
  defers those recipients without calling SES, and they go once a refresh shows room again.
- Sandbox, sending disabled and an enforcement status other than `HEALTHY` are logged (WARNING or
  ERROR) whenever the account's state changes. When the quota cannot be read, the last one read
  stays in force, or else `SES_DEFAULT_MAX_SEND_RATE` with no daily cap (SES still enforces it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from config import Settings
from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesAccount
from gateway.core import metrics
from gateway.core.exceptions import AccountPaced, DailyQuotaReached, SesError
from gateway.core.logs import log_event
from gateway.core.types.aws import DEFAULT_ACCOUNT, AccountQuota
from gateway.feedback.alerts import NearLimit
from gateway.identity.tenancy import TenantAccounts
from gateway.runtime.tasks import Periodic

log = logging.getLogger("gateway.governor")

DAY = 86400.0
MAX_PACE_WAIT = 1.0
"""Seconds a send may wait for its account's turn in a worker slot, with several accounts."""


def pace(quota: AccountQuota | None, settings: Settings) -> float:
    """Messages per second one worker process sends at: `MaxSendRate` (else, unknown,
    `SES_DEFAULT_MAX_SEND_RATE`) times `SES_RATE_SHARE`."""
    known = quota.max_send_rate if quota is not None else 0.0
    return (known if known > 0 else settings.ses_default_max_send_rate) * settings.ses_rate_share


async def read_quota(account: SesAccount) -> tuple[AccountQuota | None, str | None]:
    """The account's quota, or (None, why) when SES did not answer it: as `ses-gateway status`
    and the dashboard show it."""
    try:
        return await account.quota(), None
    except SesError as exc:
        return None, str(exc)


class Pacer:
    """A token bucket that holds one call's tokens at most: a call to `n` recipients may start
    when the previous call's tokens have been earned back, and reserves its own `n`.

    Reservations are made in call order without awaiting in between, so concurrent sends share
    the pace fairly (first come, first served).
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._next = clock()
        self._back = self._next

    def wait(self) -> float:
        """Seconds before a call could start now."""
        return max(0.0, self._next - self._clock())

    def put_back(self, n: int) -> float:
        """Seconds before a call to `n` that does not wait now should be tried again: after the
        turns reserved, and after the calls put back before it, at the pace (nothing reserved:
        it reserves its turn when it comes back)."""
        now = self._clock()
        self._back = max(self._back, self._next, now) + n / self.rate
        return self._back - now

    def reserve(self, n: int) -> float:
        """Reserve `n` messages; the seconds to wait before sending them."""
        now = self._clock()
        start = max(now, self._next)
        self._next = start + n / self.rate
        return start - now


class Governor:
    """Paces and caps every SES send of the process in one AWS account: `await
    governor.acquire(n)` before each call to `n` recipients, while the `ses-governor` task
    (`refresh_round`) reads the quota."""

    def __init__(
        self,
        account: SesAccount,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        near_limit: NearLimit | None = None,
    ) -> None:
        """`near_limit` notifies when the account's day nears `Max24HourSend`."""
        self._account = account
        self._settings = settings
        self._clock = clock
        self._near_limit = near_limit
        self.quota: AccountQuota | None = None
        """The last quota read, None until one was."""
        self._read_at = 0.0
        self._sent_since_read = 0
        self._pacer = Pacer(self.rate, clock)
        self._error: str | None = None
        self._logged_state: tuple[object, ...] | None = None
        self._capped = False
        self._ready = asyncio.Event()
        self._scheduled = False

    @property
    def rate(self) -> float:
        """Messages (recipients) per second this process paces at."""
        return pace(self.quota, self._settings)

    @property
    def headroom(self) -> int | None:
        """Messages SES's daily quota still allows by this process's count; None: no cap known."""
        cap = self._cap()
        return None if cap is None else cap[1]

    def _cap(self) -> tuple[int, int] | None:
        """(Max24HourSend, headroom), or None when no daily cap is known."""
        quota = self.quota
        if quota is None or quota.max_24_hour_send is None:
            return None
        if self._clock() - self._read_at > DAY:
            return None  # read too long ago to say anything about the last 24 hours
        limit = quota.max_24_hour_send
        return limit, limit - quota.sent_last_24_hours - self._sent_since_read

    @property
    def account(self) -> str:
        return self._account.name

    def schedule(self) -> None:
        """A refresh round is coming: sends wait for the first one to end."""
        self._scheduled = True

    async def refresh_round(self) -> None:
        try:
            await self.refresh()
        finally:
            self._ready.set()

    def _export(self) -> None:
        """The account's quota and pace as `/metrics` shows them."""
        name, quota = self._account.name, self.quota
        metrics.governor_pace.labels(name).set(self.rate)
        metrics.ses_quota_readable.labels(name).set(1 if self._error is None else 0)
        if quota is not None:
            cap = quota.max_24_hour_send
            metrics.ses_quota_max_24_hour_send.labels(name).set(-1 if cap is None else cap)
            metrics.ses_quota_sent_last_24_hours.labels(name).set(quota.sent_last_24_hours)

    async def refresh(self) -> AccountQuota | None:
        """Read the quota now; None (logged) when SES did not say."""
        counted = self._sent_since_read
        try:
            quota = await self._account.quota()
        except SesError as exc:
            self._unavailable(str(exc))
            self._export()
            return None
        self.quota = quota
        self._read_at = self._clock()
        # SentLast24Hours includes what was sent before the read, not what went during it.
        self._sent_since_read -= counted
        self._pacer.rate = self.rate
        self._error = None
        self._log_state(quota)
        self._export()
        if self._near_limit is not None:
            subject = f"SES account in {self._account.region}"
            if self._account.name != DEFAULT_ACCOUNT:
                subject = f"SES of AWS account {self._account.name} in {self._account.region}"
            sent, cap = quota.sent_last_24_hours, quota.max_24_hour_send
            await self._near_limit.check(None, subject, sent, cap, datetime.now(UTC))
        headroom = self.headroom
        if self._capped and (headroom is None or headroom > 0):
            self._capped = False
            log_event(
                log, "ses-daily-quota-free", aws_account=self._account.name, headroom=headroom
            )
        return quota

    async def acquire(self, n: int, max_wait: float | None = None) -> None:
        """Wait for this process's turn to send to `n` recipients.

        Raises `DailyQuotaReached` (transient: the worker defers them) when the daily quota has
        no room for `n` more, and `AccountPaced` when the turn is more than `max_wait` seconds
        away (None: any wait). Before the first quota read has ended, waits for it.
        """
        if self._scheduled:
            await self._ready.wait()
        cap = self._cap()
        if cap is not None and n > cap[1]:
            limit, headroom = cap
            if not self._capped:
                self._capped = True
                log_event(
                    log,
                    "ses-daily-quota-reached",
                    level=logging.WARNING,
                    aws_account=self._account.name,
                    max_24_hour_send=limit,
                    headroom=headroom,
                    note="sends are deferred until SES reports room again",
                )
            raise DailyQuotaReached(limit)
        if max_wait is not None and self._pacer.wait() > max_wait:
            raise AccountPaced(self._account.name, self._pacer.put_back(n))
        self._sent_since_read += n
        delay = self._pacer.reserve(n)
        if delay > 0:
            await asyncio.sleep(delay)

    def _unavailable(self, error: str) -> None:
        if error != self._error:
            known = self.quota is not None
            log_event(
                log,
                "ses-quota-unavailable",
                level=logging.ERROR,
                aws_account=self._account.name,
                error=error,
                pace=self.rate,
                note="pacing at the last MaxSendRate read"
                if known
                else "pacing at SES_DEFAULT_MAX_SEND_RATE, no daily cap: allow ses:GetAccount",
            )
        self._error = error
        self._logged_state = None  # the next successful read says the state again

    def _log_state(self, quota: AccountQuota) -> None:
        state = (
            quota.production_access_enabled,
            quota.sending_enabled,
            quota.enforcement_status,
            quota.max_24_hour_send,
            quota.max_send_rate,
        )
        if state == self._logged_state:
            return
        self._logged_state = state
        level, problems = logging.INFO, []
        if quota.sending_enabled is False:
            level = logging.ERROR
            problems.append("sending is disabled for the account: SES refuses every send")
        if quota.enforcement_status not in (None, "HEALTHY"):
            level = max(
                level, logging.ERROR if quota.enforcement_status == "SHUTDOWN" else logging.WARNING
            )
            problems.append(f"enforcement status {quota.enforcement_status}")
        if quota.production_access_enabled is False:
            level = max(level, logging.WARNING)
            problems.append(
                "the account is in the SES sandbox: only verified recipients, "
                "200 messages a day, 1 a second"
            )
        log_event(
            log,
            "ses-account",
            level=level,
            aws_account=self._account.name,
            region=self._account.region,
            source=quota.source,
            sandbox=_negate(quota.production_access_enabled),
            sending_enabled=quota.sending_enabled,
            enforcement_status=quota.enforcement_status,
            max_24_hour_send=(
                "unlimited" if quota.max_24_hour_send is None else quota.max_24_hour_send
            ),
            sent_last_24_hours=quota.sent_last_24_hours,
            max_send_rate=quota.max_send_rate,
            pace=self.rate,
            problem="; ".join(problems) or None,
        )


class Governors:
    """One `Governor` per AWS account in use, made when the account first sends; the
    `ses-governor` task reads the quota of each."""

    def __init__(
        self,
        provider: SesClientProvider,
        accounts: TenantAccounts | None,
        settings: Settings,
        near_limit: NearLimit | None = None,
    ) -> None:
        """`accounts` says which account each tenant is on; None: all on the default one."""
        self._provider = provider
        self._accounts = accounts
        self._settings = settings
        self._near_limit = near_limit
        self._governors: dict[str, Governor] = {}
        self._scheduled = False
        self._first_reads: set[asyncio.Task[None]] = set()

    def __getitem__(self, account: str) -> Governor:
        """The account's governor, made now if it has none; once the task is scheduled, a new
        one's quota is read at once (its sends wait for that read)."""
        governor = self._governors.get(account)
        if governor is None:
            governor = Governor(
                SesAccount(self._provider, account), self._settings, near_limit=self._near_limit
            )
            self._governors[account] = governor
            if self._scheduled:
                governor.schedule()
                read = asyncio.ensure_future(governor.refresh_round())
                self._first_reads.add(read)
                read.add_done_callback(self._first_reads.discard)
        return governor

    @property
    def max_wait(self) -> float | None:
        """How long a send may wait for its turn in a worker slot: any time while one account
        sends (its mail waits for its pace wherever it waits), `MAX_PACE_WAIT` with several."""
        return MAX_PACE_WAIT if len(self._governors) > 1 else None

    def __iter__(self) -> Iterator[Governor]:
        return iter(list(self._governors.values()))

    async def for_tenant(self, tenant: str) -> Governor:
        account = DEFAULT_ACCOUNT
        if self._accounts is not None:
            account = await self._accounts.account_of(tenant)
        return self[account]

    async def pace(self, tenant: str) -> float:
        """Messages per second this process sends the tenant's mail at: its account's `rate`
        (what the campaign sender keeps its spooled messages to)."""
        return (await self.for_tenant(tenant)).rate

    def task(self) -> Periodic:
        """The `ses-governor` task: the quota of every account in use, read every
        `SES_QUOTA_REFRESH` seconds. Once it is scheduled, sends wait for their account's first
        read."""
        self._scheduled = True
        for governor in self._governors.values():
            governor.schedule()
        return Periodic(
            "ses-governor",
            self._refresh_round,
            self._settings.ses_quota_refresh,
            log,
            "reading the SES sending quota failed",
        )

    async def _refresh_round(self) -> None:
        """Every account in use at once (an account that does not answer costs its own timeout,
        not the others'); the governors of accounts no longer in use go."""
        in_use = {DEFAULT_ACCOUNT}
        if self._accounts is not None:
            in_use = await self._accounts.in_use()
        for account in set(self._governors) - in_use:
            del self._governors[account]
            metrics.forget_account(account)
        await asyncio.gather(*(self[account].refresh_round() for account in sorted(in_use)))


def _negate(value: bool | None) -> bool | None:
    return None if value is None else not value
