"""What the reputation guard counts: a window of a tenant's (or every tenant's) latest sends, and
how many of them bounced for good or drew a complaint, as SES counts the account's rates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select

from gateway.core.types.events import EventKind
from gateway.core.types.messages import RecipientState
from gateway.storage.database import Database
from gateway.storage.events import ON_ACCOUNT_SUPPRESSION_LIST
from gateway.storage.models import Message, Recipient, RecipientEvent


def _not_on_account_list(column: Any) -> ColumnElement[bool]:
    return or_(column.is_(None), column != ON_ACCOUNT_SUPPRESSION_LIST)


async def reputation_counts(
    db: Database, tenant_id: int | None, since: datetime, max_sends: int
) -> tuple[int, int, int]:
    """(sends, bounced, complained) over the tenant's (None: every tenant's) last `max_sends`
    recipients sent since `since`. Bounced: recipients of those with a Permanent bounce;
    complained: with a complaint. Events about SES's account-level suppression list are left
    out, as SES leaves them out of the account's rates (SES never sent those messages)."""
    sent = select(Recipient.id).where(
        Recipient.state == RecipientState.SENT.value, Recipient.updated_at >= since
    )
    if tenant_id is not None:
        sent = sent.join(Message, Message.id == Recipient.message_id).where(
            Message.tenant_id == tenant_id
        )
    window = (
        sent.order_by(Recipient.updated_at.desc(), Recipient.id.desc())
        .limit(max_sends)
        .cte("reputation_window")
    )

    def affected(*conditions: ColumnElement[bool]) -> Select[Any]:
        return select(func.count(RecipientEvent.recipient_id.distinct())).where(
            RecipientEvent.recipient_id.in_(select(window.c.id)),
            _not_on_account_list(RecipientEvent.subtype),
            *conditions,
        )

    async with db.read() as conn:
        sends = (await conn.execute(select(func.count()).select_from(window))).scalar_one()
        bounced = (
            await conn.execute(
                affected(
                    RecipientEvent.kind == EventKind.BOUNCE.value,
                    RecipientEvent.bounce_type == "Permanent",
                )
            )
        ).scalar_one()
        complained = (
            await conn.execute(affected(RecipientEvent.kind == EventKind.COMPLAINT.value))
        ).scalar_one()
    return sends, bounced, complained
