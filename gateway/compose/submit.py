"""A message the gateway composed itself, policed as an SMTP session's would be (the tenant not
paused, a sender it may use, the recipient not suppressed, the daily cap) and committed to the
same spool: delivery, tracking and events then treat it like any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config import Settings
from gateway.compose.mime import build
from gateway.compose.templates import Rendered
from gateway.core.crypto import Sealer
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.messages import NewMessage, Principal
from gateway.intake.handler import valid_mailbox, valid_recipient
from gateway.intake.spool import new_queue_id
from gateway.policy.limits import effective
from gateway.policy.rules import (
    Refusal,
    check_account,
    check_daily,
    check_recipient_suppressed,
    check_sender,
)
from gateway.policy.senders import Directory
from gateway.storage import queue
from gateway.storage.database import Database


def _refused(refusal: Refusal, field: str) -> InvalidInputError:
    """The SMTP reply's sentence, without its codes, under the input it is about."""
    sentence = refusal.reply.split(" ", 2)[-1]
    return InvalidInputError(f"refused ({refusal.rule}): {sentence}", field)


async def submit_rendered(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    *,
    tenant_id: int,
    tenant: str,
    sender: str,
    recipient: str,
    rendered: Rendered,
    submitted_by: str,
    client_address: str | None,
) -> str:
    """Police and spool one message to one recipient: its queue id."""
    if not valid_mailbox(sender):
        raise InvalidInputError("the sender must be an address: local-part@domain", "from")
    if not valid_recipient(recipient):
        raise InvalidInputError("the recipient must be an address: local-part@domain", "to")
    directory = Directory(db)
    account = await directory.account(Principal(tenant_id, tenant))
    refusal = check_account(account) or check_sender(account, await directory.sender(sender))
    if refusal is not None:
        raise _refused(refusal, "from")
    suppressed = check_recipient_suppressed(await directory.suppressed(tenant_id, recipient))
    if isinstance(suppressed, Refusal):
        raise _refused(suppressed, "to")
    cap = effective(account, settings).max_per_day
    refusal = check_daily(await directory.usage(tenant_id), cap) if cap is not None else None
    if refusal is not None:
        raise _refused(refusal, "to")
    now = datetime.now(UTC)
    queue_id = new_queue_id()
    built = build(
        sender, recipient, rendered, queue_id=queue_id, hostname=settings.hostname, now=now
    )
    message = NewMessage(
        id=queue_id,
        tenant_id=tenant_id,
        credential_id=None,
        mail_from=sender,
        recipients=(recipient,),
        data=built.data,
        client_address=client_address or "localhost",
        client_helo="",
        tls=None,
        auth_username=submitted_by[:64],
        message_id_header=built.message_id,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.max_queue_age),
        subject=rendered.subject[:998],
        header_size=built.header_size,
    )
    await queue.insert_messages(db, sealer, [message])
    return queue_id
