"""The secrets at rest encrypted with `gateway.core.crypto.encrypt` (BYODKIM private keys,
webhook signing secrets), read and replaced a row at a time by `secrets rotate`.

A row is replaced only while it still holds the value it was read with, in a transaction of its
own: a rotation killed midway leaves each row encrypted under the old key or the new one, and a
change made meanwhile (a webhook removed, a domain's key replaced) is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from gateway.storage.database import Database
from gateway.storage.models import Domain, Webhook

_COLUMNS: dict[str, tuple[InstrumentedAttribute[int], InstrumentedAttribute[str | None]]] = {
    "dkim": (Domain.id, Domain.dkim_private_key),
    "webhook": (Webhook.id, Webhook.secret),
}


@dataclass(frozen=True, slots=True)
class Encrypted:
    kind: str
    """`dkim` (a domain's BYODKIM private key) or `webhook` (a webhook's signing secret)."""
    id: int
    token: str = ""

    def __str__(self) -> str:
        return (
            f"domain {self.id}'s DKIM key" if self.kind == "dkim" else f"webhook {self.id}'s secret"
        )


async def encrypted(db: Database) -> list[Encrypted]:
    """Every encrypted secret of these tables, by kind and id."""
    found = []
    async with db.read() as conn:
        for kind, (key, column) in _COLUMNS.items():
            rows = await conn.execute(select(key, column).where(column.is_not(None)).order_by(key))
            found += [Encrypted(kind, row_id, token) for row_id, token in rows if token]
    return found


async def replace(db: Database, secret: Encrypted, token: str) -> bool:
    """`token` in place of `secret`'s, if the row still holds that; False otherwise."""
    key, column = _COLUMNS[secret.kind]
    async with db.begin() as conn:
        changed = await conn.execute(
            update(key.class_)
            .where(key == secret.id, column == secret.token)
            .values({column.key: token})
        )
    return bool(changed.rowcount)
