"""Changes that make other processes' cached facts stale or give their workers something to do,
as `gateway.storage.changes` announces them and `gateway.runtime.changes` hands them out.

A change is a topic and a key (which tenant, credential or address; empty: any), small enough
to travel as a PostgreSQL notification's payload (`origin topic key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Topic(StrEnum):
    QUEUED = "queued"
    """Messages became due (stored, resumed, given back, brought forward): wake the workers."""
    WEBHOOK = "webhook"
    """Webhook deliveries became due (an event queued for a tenant's webhooks): wake dispatchers."""
    TENANT = "tenant"
    """A tenant's pause or limits; key: the tenant's id."""
    CREDENTIAL = "credential"
    """An SMTP credential made, revoked, paused or resumed; key: its id."""
    SUPPRESSION = "suppression"
    """A suppression entry added, changed or removed; key: the address as stored, empty: many."""
    SENDER = "sender"
    """A sending domain or address: added, verified, restricted, removed; key: the domain's name
    (punycode), whose subdomains' facts changed too."""
    NETWORK = "network"
    """A trusted network added or removed."""
    AWS_ACCOUNT = "aws_account"
    """An AWS account added, removed or its secret sealed again; key: the account's name. A
    tenant moved to another account announces `TENANT` (its id) too."""
    LOGIN = "login"
    """A failed login recorded (SMTP AUTH, the panel, an API key); key: the service (`smtp`,
    `web`, `api`), the client's address and the username given, separated by spaces."""
    RESET = "reset"
    """Never sent: the listener (re)connected, so changes may have been missed: all is stale."""


@dataclass(frozen=True, slots=True)
class Change:
    topic: Topic
    key: str = ""
    """Which one changed (a tenant's or credential's id, an address...); empty: any of the
    topic."""

    def payload(self, origin: str) -> str:
        """The notification's payload: the origin (the process that made the change), the topic,
        the key."""
        return f"{origin} {self.topic.value} {self.key}"

    @classmethod
    def parse(cls, payload: str) -> tuple[str, Change] | None:
        """(origin, change) from a payload; None when it is not one of ours."""
        origin, _, rest = payload.partition(" ")
        topic, _, key = rest.partition(" ")
        try:
            change = cls(Topic(topic), key)
        except ValueError:
            return None
        return None if change.topic is Topic.RESET else (origin, change)
