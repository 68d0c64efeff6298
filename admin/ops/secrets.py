"""Secrets at rest encrypted again under the current `SECRET_KEY` (`secrets rotate`), with the
key it replaced given once (or already in `PREVIOUS_SECRET_KEYS`)."""

from __future__ import annotations

from admin.ops.context import Context
from gateway.core.crypto import previous_keys
from gateway.core.exceptions import DecryptionError, InvalidInputError
from gateway.runtime.rotation import Rotated, rotate


async def rotate_secrets(ctx: Context, old_key: str | None) -> Rotated:
    """Encrypt again every secret at rest under the current key, opening them with `old_key`
    (None: with `PREVIOUS_SECRET_KEYS` only). `DecryptionError` naming those no key opened,
    after every other one is done."""
    ctx.require_admin()
    current = ctx.services.secret_key
    given = () if old_key is None else (old_key.encode("utf-8"),)
    if current in given:
        raise InvalidInputError(
            "that is the current SECRET_KEY: give the key it replaced", "previous_key"
        )
    done = await rotate(ctx.db, current, (*given, *previous_keys(ctx.services.settings)))
    said = (
        f"{done.dkim_keys} DKIM keys, {done.webhook_secrets} webhook secrets, "
        f"{done.aws_accounts} AWS accounts, {done.message_content} message contents"
    )
    await ctx.audit("secrets.rotated", "SECRET_KEY", said)
    if done.unreadable:
        raise DecryptionError(
            f"encrypted again: {said}; not opened by the keys given, left as they are: "
            f"{', '.join(done.unreadable)}"
        )
    return done
