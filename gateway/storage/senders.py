"""What storage says of a sender address for the sending policy: its sending domain (the
address's own, or the nearest parent registered), who owns it, and whether the address is listed.

`gateway.policy.senders` keeps these facts for a few seconds; `gateway.tracking.copies` and
`gateway.feedback.events` read them to find a sender's tenant.
"""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.core.types.tenants import SenderFacts
from gateway.storage.database import Database
from gateway.storage.models import Address, Domain


def _parents(domain: str) -> list[str]:
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


async def sender_facts(db: Database, address: str) -> SenderFacts:
    """The sending domain (the address's, or the nearest parent's) and listed address."""
    domain = address.rpartition("@")[2].lower()
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    Domain.id,
                    Domain.tenant_id,
                    Domain.name,
                    Domain.verified_for_sending,
                    Domain.restrict_to_addresses,
                ).where(Domain.name.in_(_parents(domain)))
            )
        ).all()
        if not rows:
            return SenderFacts(address)
        domain_id, owner, name, verified, restricted = max(rows, key=lambda r: len(r[2]))
        listed = (
            await conn.execute(
                select(Address.verified_for_sending).where(
                    Address.domain_id == domain_id,
                    func.lower(Address.address) == address.lower(),
                )
            )
        ).first()
    return SenderFacts(
        address,
        owner,
        name,
        verified,
        restricted,
        address_listed=listed is not None,
        address_verified=bool(listed and listed[0]),
    )
