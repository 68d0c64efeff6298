"""`gateway.webhooks.schema`: the version 1 document and the event types a filter takes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gateway.core.exceptions import InvalidInputError
from gateway.webhooks import schema
from gateway.webhooks.schema import check_event_types
from tests.gateway.webhooks.conftest import (
    bounce,
)


def test_the_payload_has_every_field_of_version_1() -> None:
    event = bounce(1, "event-1")
    document = json.loads(schema.payload(event, "acme", datetime.now(UTC)))
    assert set(document) == {
        "version",
        "id",
        "type",
        "tenant",
        "occurred_at",
        "created_at",
        "message",
        "recipients",
    }
    assert (document["version"], document["id"], document["type"]) == (1, "event-1", "bounce")
    assert document["message"] == {"queue_id": None, "ses_message_id": "ses-1", "campaign_id": None}
    [recipient] = document["recipients"]
    assert recipient["address"] == "gone@example.org"
    assert (recipient["bounce_type"], recipient["status"]) == ("Permanent", "5.1.1")
    assert recipient["occurred_at"].endswith("Z")
    of_campaign = json.loads(schema.payload(event, "acme", datetime.now(UTC), campaign_id=7))
    assert of_campaign["message"]["campaign_id"] == 7


def test_event_types_are_checked() -> None:
    chosen = check_event_types(["bounce", " complaint", "bounce"])
    assert chosen == ("bounce", "complaint")
    assert check_event_types([""]) == ()
    with pytest.raises(InvalidInputError, match="unknown event type bounced"):
        check_event_types(["bounced"])
