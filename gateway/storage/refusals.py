"""Refused commands, recorded for the admin panel and API to list and count, and the recipients
refused in the transaction that gave a message (`refused_in`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.types.history import RefusedRecipient
from gateway.core.types.tenants import RefusalRecord
from gateway.storage.database import Database
from gateway.storage.models import Message, Refusal, Tenant

TRANSACTION_WINDOW = timedelta(minutes=15)
"""How long before a message's acceptance a refusal may belong to its transaction, at most."""


async def record_refusals(db: Database, refusals: Sequence[RefusalRecord]) -> None:
    async with db.begin() as conn:
        await conn.execute(
            insert(Refusal),
            [
                {
                    "tenant_id": r.tenant_id,
                    "credential_id": r.credential_id,
                    "rule": r.rule,
                    "sender": r.sender,
                    "recipient": r.recipient,
                    "client_address": r.client_address,
                    "reply": r.reply,
                    "created_at": r.created_at,
                }
                for r in refusals
            ],
        )


async def count_refusals(
    db: Database, tenant: str | None = None, since: datetime | None = None
) -> dict[str, int]:
    """Refusals per rule."""
    query = select(Refusal.rule, func.count()).group_by(Refusal.rule)
    if tenant is not None:
        query = query.join(Tenant, Tenant.id == Refusal.tenant_id).where(Tenant.name == tenant)
    if since is not None:
        query = query.where(Refusal.created_at >= since)
    async with db.read() as conn:
        return {str(rule): int(count) for rule, count in await conn.execute(query)}


async def refused_in(conn: AsyncConnection, queue_id: str) -> tuple[RefusedRecipient, ...]:
    """The recipients refused at `RCPT TO` in the transaction that gave message `queue_id`, as
    the log tells them: a refusal is written before there is a message, so it names no queue
    id, and those of the same tenant, credential, client address and envelope sender count,
    from the client's previous message with that sender (at most `TRANSACTION_WINDOW` back)
    until the message was accepted. Its accepted recipients are left out."""
    message = (
        await conn.execute(
            select(
                Message.tenant_id,
                Message.credential_id,
                Message.client_address,
                Message.mail_from,
                Message.created_at,
            ).where(Message.id == queue_id)
        )
    ).one_or_none()
    if message is None:
        return ()
    same_client = (
        Message.tenant_id == message.tenant_id,
        Message.credential_id.is_(None)
        if message.credential_id is None
        else Message.credential_id == message.credential_id,
        Message.client_address == message.client_address,
        Message.mail_from == message.mail_from,
    )
    previous = (
        await conn.execute(
            select(func.max(Message.created_at)).where(
                *same_client,
                Message.created_at < message.created_at,
                Message.created_at >= message.created_at - TRANSACTION_WINDOW,
            )
        )
    ).scalar_one_or_none()
    start = previous or message.created_at - TRANSACTION_WINDOW
    rows = await conn.execute(
        select(Refusal.recipient, Refusal.rule, Refusal.reply, Refusal.created_at)
        .where(
            Refusal.tenant_id == message.tenant_id,
            Refusal.credential_id.is_(None)
            if message.credential_id is None
            else Refusal.credential_id == message.credential_id,
            Refusal.client_address == message.client_address,
            Refusal.sender == message.mail_from,
            Refusal.recipient.is_not(None),
            Refusal.created_at > start,
            Refusal.created_at <= message.created_at,
        )
        .order_by(Refusal.created_at, Refusal.id)
    )
    return tuple(
        RefusedRecipient(str(recipient), str(rule), str(reply), at)
        for recipient, rule, reply, at in rows
    )
