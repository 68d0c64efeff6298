"""What `sns setup` made: configuration sets, the topics their events go to, the default one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from gateway.core.types.aws import SnsSetupRecord
from gateway.storage.database import Database
from gateway.storage.models import SnsSetup


async def save_topic(
    db: Database, configuration_set: str, topic_arn: str, endpoint: str, now: datetime
) -> None:
    """Record the topic of a configuration set (it is allowed at `/sns/ses` from now on)."""
    values = {"topic_arn": topic_arn, "endpoint": endpoint}
    async with db.begin() as conn:
        result = await conn.execute(
            update(SnsSetup).where(SnsSetup.configuration_set == configuration_set).values(values)
        )
        if not result.rowcount:
            await conn.execute(
                insert(SnsSetup).values(
                    configuration_set=configuration_set, created_at=now, **values
                )
            )


async def make_default(db: Database, configuration_set: str, now: datetime) -> bool:
    """Make a recorded configuration set the default for sending (and no other); False if it
    was already."""
    async with db.begin() as conn:
        if await conn.scalar(_DEFAULT) == configuration_set:
            return False
        await conn.execute(
            update(SnsSetup)
            .where(SnsSetup.configuration_set != configuration_set)
            .values(default_since=None)
        )
        await conn.execute(
            update(SnsSetup)
            .where(SnsSetup.configuration_set == configuration_set)
            .values(default_since=now)
        )
    return True


_DEFAULT = (
    select(SnsSetup.configuration_set)
    .where(SnsSetup.default_since.is_not(None))
    .order_by(SnsSetup.default_since.desc())
    .limit(1)
)


async def default_configuration_set(db: Database) -> str | None:
    async with db.read() as conn:
        name: str | None = await conn.scalar(_DEFAULT)
    return name


async def topic_arns(db: Database) -> frozenset[str]:
    async with db.read() as conn:
        return frozenset((await conn.scalars(select(SnsSetup.topic_arn))).all())


async def list_setups(db: Database) -> list[SnsSetupRecord]:
    query = select(
        SnsSetup.configuration_set,
        SnsSetup.topic_arn,
        SnsSetup.endpoint,
        SnsSetup.created_at,
        SnsSetup.default_since,
    ).order_by(SnsSetup.configuration_set)
    async with db.read() as conn:
        return [SnsSetupRecord(*row) for row in await conn.execute(query)]
