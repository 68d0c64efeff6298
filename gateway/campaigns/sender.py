"""The campaign sender: a periodic task (one process at a time, by its lease) that makes the
messages of the campaigns being sent, a batch per campaign per round.

Each round:

1. scheduled campaigns whose time has come start sending;
2. per sending campaign, recipients left `spooling` by a process that stopped are settled:
   a message stored under their queue id is theirs (`queued`); the others are made again
   under the same id (`gateway.storage.campaigns` says why nobody gets one twice);
3. up to `CAMPAIGN_BATCH` pending recipients are taken (and no more than the tenant's
   `max_per_second` allows in a round), but never so many that more of the tenant's campaign
   messages wait in the spool for SES than its AWS account's pace sends in
   `CAMPAIGN_QUEUE_SECONDS` (at least `QUEUE_FLOOR`, at most `CAMPAIGN_IN_FLIGHT`): the
   delivery worker claims the oldest first, so a transactional message waits behind that
   many seconds of campaign mail at most, and the SES quota paces both;
4. each recipient is checked again (unsubscribed from one of the campaign's lists, or
   suppressed now: `skipped`), its message made and submitted through the policy and the spool
   (`gateway.compose.submit`) under its queue id, together (one group commit); a refusal for
   a limit (the tenant's rate or daily cap, a paused tenant) or the sender (its domain no longer
   verified) puts the recipient back and ends the campaign's round: it goes on when the limit
   allows; any other refusal is the recipient's (`refused`, with the reply);
5. a campaign with no recipient left to make is `done`.

A round that made a whole `CAMPAIGN_BATCH` of a campaign whose tenant has no rate limit, and
left room in the spool, is `busy`: the next round comes at once, not a second later, so a large
campaign is spooled as fast as it can be made (when the spool is full, the SES quota paces it).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from config import Settings
from gateway.campaigns.message import Composer
from gateway.compose.mime import Draft
from gateway.compose.submit import Submitter
from gateway.compose.templates import compile_template
from gateway.core.exceptions import InvalidInputError
from gateway.core.logs import log_event
from gateway.core.types.campaigns import CampaignInfo, CampaignRecipient
from gateway.core.types.messages import Principal
from gateway.intake.spool import new_queue_id
from gateway.policy.limits import effective
from gateway.storage import campaigns as store
from gateway.storage.database import Database
from gateway.tracking.tokens import signing_keys

log = logging.getLogger("gateway.campaigns")

LEASE = "campaign-sender"
INTERVAL = 1.0
"""Seconds between rounds."""
LEASE_TTL = 10.0
"""Renewed every round (a round takes well under a second): after a crash another instance
takes over within this time."""
CLIENT = "campaign"
"""The client address of a campaign's messages (their `Received:` field and refusals)."""
WAIT_RULES = frozenset(
    {
        "rate",
        "daily-cap",
        "paused",
        "sender-unknown",
        "sender-not-owned",
        "sender-not-verified",
        "sender-not-listed",
    }
)
"""Refusals that are not the recipient's: it waits for a later round."""
SUBMIT_CHUNK = 50
"""Messages made and submitted together (one group commit of the spool). Between two chunks
the event loop serves the rest of the process: an SMTP session beside a campaign waits for no
more than one chunk's work, a few milliseconds."""

QUEUE_FLOOR = 20
"""The fewest campaign messages a tenant may keep waiting for SES whatever its pace: at a
sandbox's 1 a second, 2 seconds' worth would make rounds of one or two messages."""

Mark = tuple[int, str, str | None, str | None]
Pace = Callable[[str], Awaitable[float]]
"""Messages per second a tenant's mail is sent at (its AWS account's governor's pace)."""


def principal(campaign: CampaignInfo) -> Principal:
    return Principal(campaign.tenant_id, campaign.tenant, None, f"campaign:{campaign.id}")


class CampaignSender:
    """Makes campaigns' messages with its own `Submitter` (`start()`/`stop()` it), a round per
    `run()`."""

    def __init__(
        self, db: Database, settings: Settings, submitter: Submitter, pace: Pace | None = None
    ) -> None:
        """`pace`: the tenant's sending pace, which bounds its messages waiting for SES with
        `CAMPAIGN_QUEUE_SECONDS`; None (a sender without delivery beside it): only
        `CAMPAIGN_IN_FLIGHT` does."""
        self._db = db
        self._pace = pace
        self._settings = settings
        self.submitter = submitter
        self._key: bytes | None = None
        self._composers: dict[int, Composer] = {}
        self._busy = False

    def start(self) -> None:
        self.submitter.start()

    async def stop(self) -> None:
        await self.submitter.stop()

    async def run(self, now: datetime | None = None) -> int:
        """One round (see the module's docstring); how many messages it stored. `now`: the
        time the schedule is read at."""
        now = now or datetime.now(UTC)
        self._busy = False
        await store.start_due(self._db, now)
        made = 0
        for campaign in await store.list_campaigns(self._db, states=("sending",)):
            made += await self._round(campaign, now)
        return made

    def busy(self) -> bool:
        """Whether the last round made a whole batch and nothing paced it: more is waiting."""
        return self._busy

    async def _composer(self, campaign: CampaignInfo) -> Composer:
        found = self._composers.get(campaign.id)
        if found is None:
            if self._key is None:
                self._key = (await asyncio.to_thread(signing_keys, self._settings))[0]
            template = compile_template(campaign.subject or "", campaign.html or "", campaign.text)
            found = Composer(campaign, template, self._key, self._settings.base_url)
            self._composers[campaign.id] = found
        return found

    async def _round(self, campaign: CampaignInfo, now: datetime) -> int:
        composer = await self._composer(campaign)
        size = self._settings.campaign_batch
        left = await store.recipients(self._db, campaign.id, "spooling", size)
        if left:
            found = await store.stored(self._db, [r.queue_id for r in left if r.queue_id])
            stored = [r for r in left if r.queue_id in found]
            await store.mark(self._db, [(r.id, "queued", None, r.queue_id) for r in stored], now)
            again = [r for r in left if r.queue_id not in found]
            made, waiting = await self._make(campaign, composer, again, now)
            if waiting or len(left) == size:
                return made
        room = await self._spooled_at_most(campaign) - await store.in_flight(
            self._db, campaign.tenant_id
        )
        rate = await self._per_round(campaign)
        count = min(size, room, rate or size)
        if count <= 0:
            return 0
        ids = [new_queue_id() for _ in range(count)]
        taken = await store.take(self._db, campaign.id, count, ids, now)
        if not taken:
            if not left:
                await self._finish(campaign, now)
            return 0
        made, waiting = await self._make(campaign, composer, taken, now)
        if made == size < room and rate is None and not waiting:
            self._busy = True
        return made

    async def _spooled_at_most(self, campaign: CampaignInfo) -> int:
        """How many of the tenant's campaign messages may wait for SES (step 3)."""
        most = self._settings.campaign_in_flight
        if self._pace is None:
            return most
        seconds = self._settings.campaign_queue_seconds * await self._pace(campaign.tenant)
        return min(most, max(QUEUE_FLOOR, math.ceil(seconds)))

    async def _per_round(self, campaign: CampaignInfo) -> int | None:
        """The tenant's `max_per_second` for a round's interval (at least one): the policy's
        rate check then rarely refuses one of them; None: the tenant has no rate limit."""
        account = await self.submitter.directory.account(principal(campaign))
        rate = effective(account, self._settings).max_per_second
        return max(1, int(rate * INTERVAL)) if rate else None

    async def _finish(self, campaign: CampaignInfo, now: datetime) -> None:
        if await store.change_state(self._db, campaign.id, ("sending",), "done", finished_at=now):
            self._composers.pop(campaign.id, None)
            log_event(log, "campaign-done", campaign=campaign.id, tenant=campaign.tenant)

    async def _make(
        self,
        campaign: CampaignInfo,
        composer: Composer,
        rows: list[CampaignRecipient],
        now: datetime,
    ) -> tuple[int, bool]:
        """Check, make and submit the messages of `rows` (each `spooling` under its queue id),
        `SUBMIT_CHUNK` at a time; (how many were stored, whether a limit stopped some)."""
        addresses = [r.address for r in rows]
        unwanted = await store.unwanted(
            self._db, campaign.tenant_id, campaign.list_ids, addresses, now
        )
        marks: list[Mark] = []
        # The policy's facts of the account and the sender read once for the whole batch, and
        # the suppressions as `unwanted` just read them (submitted together, each message would
        # miss the cache and read them again).
        directory = self.submitter.directory
        await directory.account(principal(campaign))
        await directory.sender(composer.sender)
        wanted = [a for a in addresses if a not in unwanted]
        directory.not_suppressed(campaign.tenant_id, wanted)
        made = 0
        waiting = False
        for start in range(0, len(rows), SUBMIT_CHUNK):
            chunk = rows[start : start + SUBMIT_CHUNK]
            if waiting:  # a limit stopped the round: the rest wait for the next one
                marks += [(r.id, "pending", None, None) for r in chunk]
                continue
            sending: list[CampaignRecipient] = []
            drafts: list[tuple[Draft, str]] = []
            for row in chunk:
                if row.address in unwanted:
                    marks.append((row.id, "skipped", unwanted[row.address], None))
                    continue
                assert row.queue_id is not None
                try:
                    draft = composer.draft(row.address, row.fields, row.queue_id)
                except InvalidInputError as exc:
                    marks.append((row.id, "refused", str(exc), None))
                    continue
                sending.append(row)
                drafts.append((draft, row.queue_id))
            # Together: policed one by one, stored in one transaction (the spool's group commit).
            results = await self.submitter.submit_all(
                principal(campaign), drafts, CLIENT, via="campaign"
            )
            for row, result in zip(sending, results, strict=True):
                if isinstance(result, Exception):
                    # Left `spooling`: the next round finds whether it was stored.
                    log_event(
                        log,
                        "campaign-store-failed",
                        level=logging.WARNING,
                        campaign=campaign.id,
                        queue_id=row.queue_id,
                        error=str(result),
                    )
                elif result.queue_id is not None:
                    marks.append((row.id, "queued", None, result.queue_id))
                    made += 1
                elif result.refused[0].refusal.rule in WAIT_RULES:
                    marks.append((row.id, "pending", None, None))
                    waiting = True
                else:
                    marks.append((row.id, "refused", result.refused[0].refusal.reply, None))
        await store.mark(self._db, marks, now)
        return made, waiting
