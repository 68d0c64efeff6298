"""The record sets `domain publish` wrote to Route 53, per domain (`PublishedRecordSet`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select

from gateway.core.types.domains import PublishedRecord
from gateway.storage.database import Database
from gateway.storage.models import PublishedRecordSet


def _values(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


async def published_records(db: Database, domain_id: int) -> list[PublishedRecord]:
    query = select(PublishedRecordSet).where(PublishedRecordSet.domain_id == domain_id)
    async with db.read() as conn:
        rows = (await conn.execute(query.order_by(PublishedRecordSet.id))).all()
    return [
        PublishedRecord(r.name, r.type, r.zone_id, _values(r.record_values), _values(r.pending))
        for r in rows
    ]


async def save_published(
    db: Database, domain_id: int, records: Sequence[PublishedRecord], now: datetime
) -> None:
    """The domain's records as given, in one transaction (one with neither values nor pending
    is forgotten)."""
    rows = [
        {
            "domain_id": domain_id,
            "zone_id": r.zone_id,
            "name": r.name,
            "type": r.type,
            "record_values": None if r.values is None else list(r.values),
            "pending": None if r.pending is None else list(r.pending),
            "updated_at": now,
        }
        for r in records
        if r.values is not None or r.pending is not None
    ]
    async with db.begin() as conn:
        await conn.execute(
            delete(PublishedRecordSet).where(PublishedRecordSet.domain_id == domain_id)
        )
        if rows:
            await conn.execute(insert(PublishedRecordSet), rows)
