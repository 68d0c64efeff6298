"""`secrets rotate`: every secret at rest encrypted again under the current `SECRET_KEY`, so that
the previous key is needed no more for them.

What is encrypted: BYODKIM private keys and webhook signing secrets (`crypto.encrypt`), AWS
accounts' secret access keys and external ids, and message content (`crypto.Sealer`: bodies,
header copies, subjects; the `reseal` task's round, run here to its end). Each row, or batch of
messages, is read, opened with whichever key opens it, and written back in a transaction of its
own only if unchanged meanwhile, so that at every moment each value is under the old key or the
new one, both of which open it: a rotation killed midway loses nothing, and runs again to finish.
Tracking links in mail already sent stay signed with the old key: keep it in
`PREVIOUS_SECRET_KEYS` while they may still be clicked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.core import crypto
from gateway.core.exceptions import DecryptionError
from gateway.runtime.housekeeping import reseal
from gateway.storage import awsaccounts, secrets
from gateway.storage.database import Database


@dataclass(slots=True)
class Rotated:
    """How many values were encrypted again, of each kind; and those no key opened."""

    dkim_keys: int = 0
    webhook_secrets: int = 0
    aws_accounts: int = 0
    message_content: int = 0
    unreadable: list[str] = field(default_factory=list)


async def rotate(db: Database, secret_key: bytes, previous: Sequence[bytes]) -> Rotated:
    """Encrypt again under `secret_key` every secret at rest that is under one of `previous`."""
    done = Rotated()
    for secret in await secrets.encrypted(db):
        try:
            crypto.decrypt(secret_key, secret.token)
            continue  # under the current key already
        except DecryptionError:
            pass
        try:
            clear = crypto.decrypt(secret_key, secret.token, previous)
        except DecryptionError:
            done.unreadable.append(str(secret))
            continue
        if await secrets.replace(db, secret, crypto.encrypt(secret_key, clear)):
            if secret.kind == "dkim":
                done.dkim_keys += 1
            else:
                done.webhook_secrets += 1
    sealer = crypto.Sealer(secret_key, previous)
    done.aws_accounts, unreadable = await awsaccounts.reseal(db, sealer)
    done.unreadable += [f"AWS account {name}'s secrets" for name in unreadable]
    done.message_content = await reseal(db, sealer, everything=True)
    return done
