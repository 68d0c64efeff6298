"""Sending mail by the API (and `ses-gateway send`): messages composed from their parts for a
tenant, through the same policy and spool as SMTP (`gateway.compose.submit`), at most once per
idempotency key.

The idempotency protocol: the first request with a key takes it (`gateway.storage.idempotency`);
an answer that stored something (2xx) is kept, and any request with the same key within
a day (`KEPT_FOR`) gets it again without sending; an answer that stored nothing (a refusal, an
error) gives the key back, so that a corrected retry may use it. A repeat while the first is
still being answered waits for its answer, up to `WAIT_FOR_FIRST` seconds. The same key with
another request is refused (409). Keys are per tenant: another tenant's key never matches.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from admin.ops.context import Context
from gateway.compose.mime import Attachment, Draft, Mailbox, check_headers, check_tags, mailbox
from gateway.compose.submit import Submitted, schedule
from gateway.compose.templates import Rendered
from gateway.core.exceptions import AccessDenied, ConflictError, DatabaseError, InvalidInputError
from gateway.core.types.messages import Principal
from gateway.storage import idempotency

WAIT_FOR_FIRST = 10.0
"""Seconds a repeat waits for the answer of the first request with its key."""
_POLL = 0.05
_KEY = re.compile(r"^[!-~]{1,255}$")


@dataclass(frozen=True, slots=True)
class Email:
    """One message to send: its parts, and when (None: at once)."""

    draft: Draft
    scheduled_at: datetime | None = None


def draft(
    sender: str,
    to: Sequence[str] = (),
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    reply_to: Sequence[str] = (),
    subject: str | None = None,
    html: str | None = None,
    text: str | None = None,
    headers: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    attachments: Sequence[Attachment] = (),
    template: Rendered | None = None,
) -> Draft:
    """A message's parts as given (the API's members, the CLI's options), checked; the errors
    name the API's members. A `template` (rendered: `admin.ops.templates.rendered`) gives the
    subject, html and text instead."""
    if template is not None:
        if subject is not None or html is not None or text is not None:
            raise InvalidInputError(
                "template: give a template, or subject with html or text, not both", "template"
            )
        subject, html, text = template.subject, template.html, template.text
    if subject is None:
        raise InvalidInputError("subject: give the message's subject", "subject")
    if html is None and text is None:
        raise InvalidInputError("html: give html, text or both", "html")
    if not (to or cc or bcc):
        raise InvalidInputError("to: give at least one recipient in to, cc or bcc", "to")

    def read(name: str, given: Sequence[str]) -> tuple[Mailbox, ...]:
        return tuple(mailbox(a, f"{name}.{i}") for i, a in enumerate(given))

    return Draft(
        sender=mailbox(sender, "from"),
        to=read("to", to),
        cc=read("cc", cc),
        bcc=read("bcc", bcc),
        reply_to=read("reply_to", reply_to),
        subject=subject,
        html=html,
        text=text,
        headers=check_headers(dict(headers or {})),
        tags=check_tags(dict(tags or {})),
        attachments=tuple(attachments),
    )


async def principal(ctx: Context, tenant: str | None) -> Principal:
    """The tenant that sends: a tenant key's own; the one an admin names (the CLI)."""
    ctx.require_write()
    if ctx.actor.tenant is None and tenant is None:
        raise AccessDenied("send with a tenant's API key: an admin key sends for no tenant")
    found = await ctx.require_tenant(tenant)
    return Principal(found.id, found.name, None, ctx.actor.name[:64])


async def send(ctx: Context, email: Email, tenant: str | None = None) -> Submitted:
    """Police and spool one message for the actor's tenant (an admin names `tenant`)."""
    sender = await principal(ctx, tenant)
    submitter = ctx.services.submitter
    if submitter is None:
        raise DatabaseError("this process does not send: it has no web role")
    at = schedule(email.scheduled_at, datetime.now(UTC))
    return await submitter.submit(sender, email.draft, ctx.client_address or "unknown", at)


def fingerprint(*parts: str) -> str:
    """What makes two requests the same: their path and canonical body."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


async def once(
    ctx: Context, key: str, print_: str, answer: Callable[[], Awaitable[tuple[int, bytes]]]
) -> tuple[int, bytes, bool]:
    """`answer()` (an HTTP status and body) for the first request with `key`; the stored
    answer for a repeat. The flag says whether it was replayed."""
    if not _KEY.match(key):
        raise InvalidInputError(
            "Idempotency-Key: 1 to 255 visible ASCII characters", "Idempotency-Key"
        )
    tenant_id = (await principal(ctx, None)).tenant_id
    deadline = time.monotonic() + WAIT_FOR_FIRST
    while True:
        now = datetime.now(UTC)
        taken = await idempotency.take(
            ctx.db, tenant_id, key, print_, now, now - idempotency.KEPT_FOR
        )
        if taken is None:
            break
        if taken.fingerprint != print_:
            raise ConflictError(
                "Idempotency-Key: this key was used for another request in the last 24 hours"
            )
        if taken.status is not None and taken.answer is not None:
            return taken.status, taken.answer, True
        if time.monotonic() > deadline:
            raise ConflictError(
                "Idempotency-Key: the first request with this key is still being answered: "
                "try again shortly"
            )
        await asyncio.sleep(_POLL)
    try:
        status, body = await answer()
    except BaseException:
        await asyncio.shield(idempotency.give_back(ctx.db, tenant_id, key))
        raise
    if 200 <= status < 300:
        await idempotency.keep(ctx.db, tenant_id, key, status, body)
    else:
        await idempotency.give_back(ctx.db, tenant_id, key)
    return status, body, False
