"""Markers: named facts about the whole database, kept so that work done once is not done again
(the `reseal` round records the key it found every message's content sealed under, so that a
restart does not read a million bodies to learn it again)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from gateway.storage.database import Database
from gateway.storage.models import Marker


async def get(db: Database, name: str) -> str | None:
    async with db.read() as conn:
        return (
            await conn.execute(select(Marker.value).where(Marker.name == name))
        ).scalar_one_or_none()


async def put(db: Database, name: str, value: str, now: datetime) -> None:
    async with db.begin() as conn:
        changed = await conn.execute(
            update(Marker).where(Marker.name == name).values(value=value, updated_at=now)
        )
        if not changed.rowcount:
            await conn.execute(insert(Marker).values(name=name, value=value, updated_at=now))
