"""What `sns setup` made, in each AWS account: configuration sets, the topics their events go
to, the default one of each account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, insert, or_, select, update

from gateway.core.types.aws import DEFAULT_ACCOUNT, SnsSetupRecord
from gateway.storage.database import Database
from gateway.storage.models import AwsAccount, SnsSetup


def _of(account: str, configuration_set: str) -> ColumnElement[bool]:
    return and_(SnsSetup.aws_account == account, SnsSetup.configuration_set == configuration_set)


async def save_topic(
    db: Database,
    account: str,
    configuration_set: str,
    topic_arn: str,
    endpoint: str,
    now: datetime,
) -> None:
    """Record the topic of a configuration set of `account` (it is allowed at `/sns/ses` for
    that account's tenants from now on)."""
    values = {"topic_arn": topic_arn, "endpoint": endpoint}
    async with db.begin() as conn:
        result = await conn.execute(
            update(SnsSetup).where(_of(account, configuration_set)).values(values)
        )
        if not result.rowcount:
            await conn.execute(
                insert(SnsSetup).values(
                    aws_account=account,
                    configuration_set=configuration_set,
                    created_at=now,
                    **values,
                )
            )


async def make_default(db: Database, account: str, configuration_set: str, now: datetime) -> bool:
    """Make a recorded configuration set the default for sending through `account` (and no
    other of that account); False if it was already."""
    async with db.begin() as conn:
        if await conn.scalar(_default(account)) == configuration_set:
            return False
        await conn.execute(
            update(SnsSetup)
            .where(SnsSetup.aws_account == account)
            .where(SnsSetup.configuration_set != configuration_set)
            .values(default_since=None)
        )
        await conn.execute(
            update(SnsSetup).where(_of(account, configuration_set)).values(default_since=now)
        )
    return True


def _default(account: str) -> Select[str]:
    return (
        select(SnsSetup.configuration_set)
        .where(SnsSetup.aws_account == account, SnsSetup.default_since.is_not(None))
        .order_by(SnsSetup.default_since.desc())
        .limit(1)
    )


async def default_configuration_sets(db: Database) -> dict[str, str]:
    """Account name -> the configuration set sending through it uses."""
    query = (
        select(SnsSetup.aws_account, SnsSetup.configuration_set)
        .where(SnsSetup.default_since.is_not(None))
        .order_by(SnsSetup.default_since)
    )
    async with db.read() as conn:
        return {a: name for a, name in await conn.execute(query)}  # noqa: C416 (last wins)


_LIVE = or_(
    SnsSetup.aws_account == DEFAULT_ACCOUNT,
    SnsSetup.aws_account.in_(select(AwsAccount.name)),
)
"""Set up in an account that is still there (a removed account's topics are not accepted)."""


async def topic_accounts(db: Database) -> dict[str, str]:
    """Topic ARN -> the account it was set up in, for the accounts still there."""
    query = select(SnsSetup.topic_arn, SnsSetup.aws_account).where(_LIVE)
    async with db.read() as conn:
        return {topic: account for topic, account in await conn.execute(query)}  # noqa: C416 (rows are not pairs to mypy)


async def list_setups(db: Database) -> list[SnsSetupRecord]:
    query = select(
        SnsSetup.configuration_set,
        SnsSetup.topic_arn,
        SnsSetup.endpoint,
        SnsSetup.created_at,
        SnsSetup.default_since,
        SnsSetup.aws_account,
    ).order_by(SnsSetup.aws_account, SnsSetup.configuration_set)
    async with db.read() as conn:
        return [SnsSetupRecord(*row) for row in await conn.execute(query)]
