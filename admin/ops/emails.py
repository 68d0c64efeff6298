"""Sending mail by HTTP: a tenant's API key submits composed messages, through the same policy
and spool as SMTP (`gateway.compose.submit`), at most once per idempotency key.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from admin.ops.context import Context
from gateway.compose.mime import Draft
from gateway.compose.submit import Submitted, schedule
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


async def _principal(ctx: Context) -> Principal:
    ctx.require_write()
    tenant = await ctx.tenant()
    if tenant is None:
        raise AccessDenied("send with a tenant's API key: an admin key sends for no tenant")
    return Principal(tenant.id, tenant.name, None, ctx.actor.name[:64])


async def send(ctx: Context, email: Email) -> Submitted:
    """Police and spool one message for the actor's tenant."""
    principal = await _principal(ctx)
    submitter = ctx.services.submitter
    if submitter is None:
        raise DatabaseError("this process does not send: it has no web role")
    at = schedule(email.scheduled_at, datetime.now(UTC))
    return await submitter.submit(principal, email.draft, ctx.client_address or "unknown", at)


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
    tenant_id = (await _principal(ctx)).tenant_id
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
