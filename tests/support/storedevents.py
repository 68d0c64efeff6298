"""SES events as the tests look them up: by id, and every id stored. The gateway itself finds an
event by its SNS message id (`gateway.storage.events.find_event`) and never lists them all, so
these lookups live with the tests, not in storage."""

from __future__ import annotations

from sqlalchemy import select

from gateway.core.types.events import SesEventInfo
from gateway.storage.database import Database
from gateway.storage.events import find_event
from gateway.storage.models import SesEvent


async def stored_event(db: Database, event_id: int) -> SesEventInfo | None:
    """The event stored with `event_id`, or None (purged, or never stored)."""
    async with db.read() as conn:
        found = select(SesEvent.sns_message_id).where(SesEvent.id == event_id)
        sns_message_id = (await conn.execute(found)).scalar_one_or_none()
    return None if sns_message_id is None else await find_event(db, sns_message_id)


async def stored_event_ids(db: Database) -> list[int]:
    """The ids of every stored event, newest first."""
    async with db.read() as conn:
        query = select(SesEvent.id).order_by(SesEvent.received_at.desc(), SesEvent.id.desc())
        return list((await conn.execute(query)).scalars())
