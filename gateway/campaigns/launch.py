"""Launching a campaign: what must hold first, and its recipients materialised.

The recipients are the subscribed, unsuppressed contacts of each list in turn
(`gateway.audience.contacts.recipients`, in batches), one row per address: an address on two
lists is mailed once, with the fields of the first list that has it, and counts in that list's
figures (`store.list_report`). Then every address on the exclusion list (whatever its status
there) is dropped. A launch refuses when the template has a variable without a fallback that
some recipients lack (naming it and how many), and leaves no recipient behind then; a launch
stopped half-way (a crash) leaves the campaign a draft, and the next launch starts the
recipients over.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from urllib.parse import urlsplit

from config import Settings
from gateway.audience import contacts
from gateway.campaigns.message import given_fields
from gateway.compose.templates import Template, count_missing
from gateway.core.exceptions import InvalidInputError, MissingVariables
from gateway.core.types.campaigns import CampaignInfo
from gateway.storage import campaigns as store
from gateway.storage.database import Database

BATCH = 1000
"""Contacts read and recipients written per transaction."""


def check_public_url(settings: Settings) -> None:
    """`PUBLIC_URL` must be https: every message's unsubscribe link points there."""
    url = settings.public_url or ""
    if urlsplit(url).scheme != "https" or not urlsplit(url).netloc:
        raise InvalidInputError(
            "a campaign needs PUBLIC_URL set to an https:// address: its messages' "
            "unsubscribe links point there",
            "public_url",
        )


async def materialize(
    db: Database, campaign: CampaignInfo, template: Template, at: datetime
) -> int:
    """Write the campaign's recipients (see the module's docstring); how many there are."""
    await store.clear_recipients(db, campaign.id)
    for list_id in campaign.list_ids:
        async for batch in contacts.recipients(db, list_id, BATCH, at):
            rows = [(r.email, r.fields) for r in batch]
            await store.add_recipients(db, campaign.id, rows, at, list_id)
    if campaign.exclude_list_id is not None:
        await store.exclude(db, campaign.id, campaign.exclude_list_id)
    lacking: Counter[str] = Counter()
    seen = 0
    async for rows in store.recipient_fields(db, campaign.id, BATCH):
        missing, read = count_missing(template, (given_fields(a, f, "-") for a, f in rows))
        lacking.update(missing)
        seen += read
    if lacking:
        await store.clear_recipients(db, campaign.id)
        raise MissingVariables({n: lacking[n] for n in template.required if lacking[n]}, seen)
    return seen
