"""SES event documents built from the real samples in tests/data/ses-events/, for tests."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parents[1] / "data" / "ses-events"


def sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return document


def bounce(
    ses_message_id: str,
    address: str,
    bounce_type: str = "Permanent",
    subtype: str = "General",
    tags: dict[str, list[str]] | None = None,
    source: str = "app@example.com",
) -> str:
    document = sample("bounce_event_example_ses_body.json")
    document["mail"]["messageId"] = ses_message_id
    document["mail"]["source"] = source
    document["mail"]["destination"] = [address]
    document["mail"]["tags"] = tags or {}
    document["bounce"]["bounceType"] = bounce_type
    document["bounce"]["bounceSubType"] = subtype
    document["bounce"]["bouncedRecipients"][0]["emailAddress"] = address
    return json.dumps(document)


def complaint(ses_message_id: str, address: str) -> str:
    document = sample("complaint_event_example_ses_body.json")
    document["mail"]["messageId"] = ses_message_id
    document["mail"]["destination"] = [address]
    document["complaint"]["complainedRecipients"] = [{"emailAddress": address}]
    return json.dumps(document)


RECIPIENT_LISTS = {
    "delivery": ("recipients", lambda address: address),
    "deliveryDelay": ("delayedRecipients", lambda address: {"emailAddress": address}),
    "bounce": ("bouncedRecipients", lambda address: {"emailAddress": address}),
    "complaint": ("complainedRecipients", lambda address: {"emailAddress": address}),
}
"""Where an event section names its recipients (opens and clicks name none: the mail's)."""


def about(name: str, ses_message_id: str, address: str, at: datetime) -> str:
    """The sample `<name>_event_example_ses_body.json` (delivery, delivery_delay, open, click,
    bounce, complaint) about `address` of the message SES accepted as `ses_message_id`, at `at`."""
    document = sample(f"{name}_event_example_ses_body.json")
    document["mail"]["messageId"] = ses_message_id
    document["mail"]["destination"] = [address]
    document["mail"]["tags"] = {}
    [section] = [key for key in document if key not in ("eventType", "mail")]
    document[section]["timestamp"] = at.isoformat().replace("+00:00", "Z")
    if section in RECIPIENT_LISTS:
        key, entry = RECIPIENT_LISTS[section]
        document[section][key] = [entry(address)]
    return json.dumps(document)
