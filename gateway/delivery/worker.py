"""Delivery workers: claim due messages from the queue and relay them through SES.

One claim loop per process feeds up to `DELIVERY_CONCURRENCY` sends in flight over one shared
SES client. Each SES call's outcome is written back as soon as the call returns (group commit:
the calls that end together share one transaction), so that a worker killed at any moment has
sent twice only the calls in flight at SES and those whose outcome was being committed. The
worker renews the leases of the messages it is sending every `DELIVERY_LEASE /
HEARTBEATS_PER_LEASE` seconds, so that the lease can be short and the messages of a worker that
died are taken over within seconds. Transient errors are retried with
exponential backoff and jitter until `MAX_QUEUE_AGE`; permanent errors fail the recipients at once.
After transient failures (an SES outage), the first send that succeeds brings the deferred
messages forward, so that the queue drains at once rather than as each backoff runs out: those
of the tenants on the same AWS account only, since another account's SES may still be failing.
Each tenant's sends are paced by its account's governor; an account whose SES fails defers its
own tenants' mail and holds no other's.
A message whose sender's domain has tracking on goes as one copy per recipient, each with its
own links (`gateway.tracking.copies`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

from config import Settings
from gateway.aws.ses import MAX_RECIPIENTS_PER_CALL, Outgoing
from gateway.core import metrics
from gateway.core.batching import Batcher
from gateway.core.crypto import Sealer
from gateway.core.exceptions import (
    AccountPaced,
    DatabaseError,
    SesError,
    SesPermanentError,
    SesTransientError,
)
from gateway.core.logs import log_event
from gateway.core.types.aws import DEFAULT_ACCOUNT
from gateway.core.types.messages import (
    Job,
    JobRecipient,
    JobResult,
    RecipientOutcome,
    RecipientState,
)
from gateway.delivery.governor import Governors
from gateway.runtime.claims import ClaimLoop
from gateway.storage import content, queue
from gateway.storage.database import Database
from gateway.tracking.copies import Copier, Tracking

log = logging.getLogger("gateway.delivery")

Send = Callable[[str, Outgoing], Awaitable[str]]
Sent = Callable[[str, Outgoing, str], None]
"""Told of each send SES accepted: (tenant, what was sent, SES MessageId). Must not raise."""
CLAIM_BATCH = 100
HEARTBEATS_PER_LEASE = 5
"""Lease renewals per `DELIVERY_LEASE`: a worker keeps its messages through four missed ones
(a database that is slow to answer), and a dead worker's messages wait one lease at most."""
PURGE_INTERVAL = 3600.0
"""Seconds between two purges of old bodies (with `BODY_RETENTION_DAYS`)."""
T = TypeVar("T")


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before try number `attempt + 1`: doubling from `base`, at most `cap`, jittered."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(delay / 2, delay)


def batches(items: Sequence[T], size: int = MAX_RECIPIENTS_PER_CALL) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def settle(job: Job, error: SesError) -> tuple[RecipientState, str]:
    """What an error makes of a recipient: failed when permanent or past `MAX_QUEUE_AGE`,
    else deferred; and why."""
    if isinstance(error, SesPermanentError):
        return RecipientState.FAILED, str(error)
    if datetime.now(UTC) >= job.expires_at:
        return (
            RecipientState.FAILED,
            f"gave up after {job.attempts} attempts (MAX_QUEUE_AGE reached): {error}",
        )
    return RecipientState.DEFERRED, str(error)


async def purge_bodies(db: Database, settings: Settings) -> None:
    """With `BODY_RETENTION_DAYS`, bodies of finished messages go once they are that old."""
    keep = timedelta(days=settings.body_retention_days)
    purged = await queue.purge_bodies(db, datetime.now(UTC) - keep)
    if purged:
        log_event(log, "bodies-purged", count=purged)


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        send: Send,
        settings: Settings,
        owner: str,
        governors: Governors | None = None,
        on_sent: Sent | None = None,
    ) -> None:
        """`sealer` decrypts the bodies claimed. `governors` pace the sends under each AWS
        account's quota; None sends as fast as they come. `on_sent` is called after each send
        SES accepted."""
        self._db = db
        self._sealer = sealer
        self._send = send
        self._governors = governors
        self._on_sent = on_sent
        self._tracking = Tracking(db, settings)
        self._settings = settings
        self._owner = owner
        self._recorder: Batcher[JobResult] = Batcher(self._record)
        # Under load, claim once half of the slots are free rather than for every send that
        # ends: a claim is a transaction whatever it takes, and on SQLite it waits its turn
        # behind the spool's commits (a quarter: 8-14% fewer messages a second on SQLite,
        # docs/performance.md).
        concurrency = settings.delivery_concurrency
        self._claims: ClaimLoop[Job] = ClaimLoop(
            "deliver",
            self._claim,
            self._deliver,
            lambda job: job.id,
            concurrency=concurrency,
            batch=CLAIM_BATCH,
            enough=max(1, min(CLAIM_BATCH, concurrency // 2)),
            gather=0.005,
            poll_interval=settings.delivery_poll_interval,
            log=log,
        )
        self._failures: dict[str, int] = {}
        """Sends that failed transiently since the deferred messages were last brought forward,
        by AWS account."""
        self._next_catch_up: dict[str, float] = {}
        self._catching_up: dict[str, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """New messages are due: claim now rather than at the next poll."""
        self._claims.wake()

    async def _claim(self, limit: int) -> list[Job]:
        now = datetime.now(UTC)
        until = now + timedelta(seconds=self._settings.delivery_lease)
        with metrics.delivery_claim_seconds.time():
            return await queue.claim(self._db, self._sealer, self._owner, limit, now, until)

    async def _record(self, results: Sequence[JobResult]) -> None:
        await queue.record(self._db, results, keep_bodies=self._settings.body_retention_days > 0)

    async def run(self) -> None:
        """Deliver until `stop()` is called."""
        self._recorder.start()
        # Renewed while `stop()` lets the sends in flight finish, too.
        renewer = asyncio.create_task(self._renew_leases(), name="lease-renewer")
        try:
            await self._claims.run()
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)

    async def _renew_leases(self) -> None:
        period = self._settings.delivery_lease / HEARTBEATS_PER_LEASE
        while True:
            await asyncio.sleep(period)
            until = datetime.now(UTC) + timedelta(seconds=self._settings.delivery_lease)
            try:
                await queue.renew(self._db, self._owner, list(self._claims.inflight), until)
            except DatabaseError as exc:
                log.error("renewing delivery leases failed: %s", exc)
            except Exception:
                log.exception("renewing delivery leases failed")

    async def stop(self) -> None:
        """Stop claiming; let sends in flight finish (bounded), record them, give back leases."""
        await self._claims.stop(self._settings.shutdown_timeout)
        await asyncio.gather(*self._catching_up.values(), return_exceptions=True)
        await self._recorder.stop()
        await queue.release(self._db, self._owner)

    async def _deliver(self, job: Job) -> None:
        """Send the message, one SES call per `MAX_RECIPIENTS_PER_CALL` recipients (with
        tracking: one copy per recipient, each with its own links), and record each call's
        outcome as soon as it returns, before the next call: a crash part way through sends again
        only the call under way (or whose outcome was being committed), not those before it. The
        last call's outcome goes with the message's result."""
        outcomes: list[RecipientOutcome] = []  # recorded with the message's result
        deferred = False
        calls: list[Callable[[], Awaitable[list[RecipientOutcome]]]] = []
        if job.chunks:  # a large body: read now, not with the claim (SES takes it whole)
            try:
                await content.read_chunks(self._db, self._sealer, job)
            except DatabaseError as exc:
                job.unreadable = f"reading its body failed: {exc}"
        if job.unreadable:
            # Deferred, not failed: a key put back in PREVIOUS_SECRET_KEYS in time sends it.
            log_event(
                log, "body-unreadable", level=logging.ERROR, queue_id=job.id, error=job.unreadable
            )
            state, detail = settle(job, SesTransientError("DecryptionError", job.unreadable))
            outcomes = [RecipientOutcome(r.id, state, None, detail) for r in job.recipients]
            deferred = state is RecipientState.DEFERRED
        elif (copier := await self._copier(job)) is None:
            calls = [partial(self._send_batch, job, batch) for batch in batches(job.recipients)]
        else:
            calls = [partial(self._send_copy, job, copier, r) for r in job.recipients]
        paced: AccountPaced | None = None
        for number, call in enumerate(calls, 1):
            try:
                done = await call()
            except AccountPaced as exc:  # this call and the next ones wait, queued
                paced = exc
                break
            deferred |= any(o.state is RecipientState.DEFERRED for o in done)
            if number == len(calls):
                outcomes += done
                break
            result = JobResult(job.id, tuple(done), None, datetime.now(UTC), partial=True)
            try:
                await self._recorder.submit(result)
            except Exception:  # then it goes with the message's result
                log.exception("recording a recipient of %s failed", job.id)
                outcomes += done
        now = datetime.now(UTC)
        next_attempt = None
        if paced is not None:
            next_attempt = min(now + timedelta(seconds=paced.retry_after), job.expires_at)
        elif deferred:
            delay = backoff(
                job.attempts, self._settings.retry_base_delay, self._settings.retry_max_delay
            )
            next_attempt = min(now + timedelta(seconds=delay), job.expires_at)
        try:
            await self._recorder.submit(JobResult(job.id, tuple(outcomes), next_attempt, now))
        except DatabaseError as exc:
            # The lease runs out and the message is tried again: a duplicate, never a loss.
            log.error("recording the delivery of %s failed: %s", job.id, exc)
        except Exception:
            log.exception("recording the delivery of %s failed", job.id)

    async def _send_copy(
        self, job: Job, copier: Copier, recipient: JobRecipient
    ) -> list[RecipientOutcome]:
        """Tracking: the recipient's own copy, sent; its outcome."""
        try:
            copy = await copier.copy(recipient.id)
        except Exception as exc:
            log.exception("making the copy of %s for one recipient failed", job.id)
            state, detail = settle(job, SesTransientError("TrackingError", repr(exc)))
            return [RecipientOutcome(recipient.id, state, None, detail)]
        return await self._send_batch(job, [recipient], copy)

    def _note(self, account: str, error: SesError | None) -> None:
        """Count the account's transient failures; once a send through it succeeds after some,
        bring its tenants' deferred messages forward (at most once every `RETRY_BASE_DELAY`: a
        flapping SES does not make every success a sweep of the queue)."""
        if isinstance(error, SesTransientError):
            self._failures[account] = self._failures.get(account, 0) + 1
            return
        now = time.monotonic()
        failures = self._failures.get(account, 0)
        if error is not None or not failures or now < self._next_catch_up.get(account, 0.0):
            return
        running = self._catching_up.get(account)
        if running is not None and not running.done():
            return
        self._next_catch_up[account] = now + self._settings.retry_base_delay
        self._failures[account] = 0
        self._catching_up[account] = asyncio.create_task(
            self._catch_up(account, failures), name=f"catch-up-{account}"
        )

    async def _catch_up(self, account: str, failures: int) -> None:
        stored = None if account == DEFAULT_ACCOUNT else account
        try:
            count = await queue.bring_forward(self._db, datetime.now(UTC), stored)
        except Exception:
            log.exception("bringing the deferred messages forward failed")
            self._failures[account] = self._failures.get(account, 0) + failures  # next success
            return
        log_event(
            log, "delivery-resumed", aws_account=account, failures=failures, brought_forward=count
        )
        if count:
            self.wake()

    async def _copier(self, job: Job) -> Copier | None:
        try:
            return await self._tracking.copier(job)
        except Exception:
            log.exception("tracking the copies of %s failed; sending it untouched", job.id)
            return None

    def _max_wait(self, job: Job) -> float | None:
        """How long the call may wait for its account's turn (`Governors.max_wait`); any time
        once the message is about to expire (it then fails as any other would)."""
        if self._governors is None or datetime.now(UTC) >= job.expires_at:
            return None
        return self._governors.max_wait

    async def _send_batch(
        self, job: Job, recipients: list[JobRecipient], data: bytes | None = None
    ) -> list[RecipientOutcome]:
        """One SES call (one delivery attempt) and the outcome for each of its recipients;
        `data` is their copy when it is not the message as stored."""
        started = time.monotonic()
        outgoing = Outgoing(
            job.mail_from,
            [r.address for r in recipients],
            job.data if data is None else data,
            {"tenant": job.tenant_name, "queue_id": job.id},
        )
        ses_id: str | None = None
        error: SesError | None = None
        account = DEFAULT_ACCOUNT
        try:
            if self._governors is not None:
                governor = await self._governors.for_tenant(job.tenant_name)
                account = governor.account
                # At the daily quota this raises a transient error: the batch is deferred.
                await governor.acquire(len(recipients), self._max_wait(job))
                started = time.monotonic()  # `ms` is the SES call, not the wait for its turn
            ses_id = await self._send(job.tenant_name, outgoing)
        except AccountPaced:
            raise  # no attempt made: `_deliver` puts the message back until its turn
        except SesError as exc:
            error = exc
        except Exception as exc:
            log.exception("unexpected error sending %s", job.id)
            error = SesTransientError("InternalError", repr(exc))
        if ses_id is not None and self._on_sent is not None:
            self._on_sent(job.tenant_name, outgoing, ses_id)
        self._note(account, error)
        state, detail = (RecipientState.SENT, None) if error is None else settle(job, error)
        metrics.recipients_delivered.labels(state.value).inc(len(recipients))
        log_event(
            log,
            "delivery",
            level=logging.INFO if error is None else logging.WARNING,
            queue_id=job.id,
            tenant=job.tenant_name,
            aws_account=None if account == DEFAULT_ACCOUNT else account,
            attempt=job.attempts,
            recipients=len(recipients),
            result=state.value,
            ses_message_id=ses_id,
            error=detail,
            ms=round((time.monotonic() - started) * 1000),
        )
        return [RecipientOutcome(r.id, state, ses_id, detail) for r in recipients]
