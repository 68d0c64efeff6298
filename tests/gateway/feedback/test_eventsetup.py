"""`gateway.feedback.eventsetup`: the public URL, updating an event destination that differs,
asking again for a pending subscription's confirmation, what is stored, and sending with the
default configuration set. SESv2 is the fake SES (moto has no event destinations), SNS is moto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import SNSBackend, sns_backends

from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import (
    EVENT_TYPES,
    PENDING_CONFIRMATION,
    Outgoing,
    SesEventPublishing,
    SesSender,
)
from gateway.core.exceptions import InvalidInputError
from gateway.feedback.eventsetup import (
    DESTINATION_NAME,
    Action,
    endpoint_url,
    set_up,
)
from gateway.feedback.storedsetup import StoredSnsSetup
from gateway.storage import snssetups
from gateway.storage.database import Database
from tests.conftest import make_settings
from tests.support.fakeses import FakeSes

URL = "https://gw.example.com"


@pytest.mark.parametrize(
    ("public_url", "endpoint"),
    [
        ("https://gw.example.com", "https://gw.example.com/sns/ses"),
        ("https://gw.example.com/", "https://gw.example.com/sns/ses"),
        ("https://example.com:8443/mail/", "https://example.com:8443/mail/sns/ses"),
        ("http://127.0.0.1:8025", "http://127.0.0.1:8025/sns/ses"),
        ("http://localhost:8025", "http://localhost:8025/sns/ses"),
        ("http://[::1]:8025", "http://[::1]:8025/sns/ses"),
    ],
)
def test_endpoint_url(public_url: str, endpoint: str) -> None:
    assert endpoint_url(public_url) == endpoint


@pytest.mark.parametrize(
    "public_url",
    [
        "http://gw.example.com",
        "ftp://gw.example.com",
        "gw.example.com",
        "https://gw.example.com/?x=1",
        "https://user@gw.example.com",
    ],
)
def test_endpoint_url_refuses(public_url: str) -> None:
    with pytest.raises(InvalidInputError):
        endpoint_url(public_url)


@pytest.fixture
async def publishing(
    aws_env: pytest.MonkeyPatch, moto_server: str, fake_ses: FakeSes, tmp_path: Path
) -> AsyncIterator[SesEventPublishing]:
    httpx.post(f"{moto_server}/moto-api/reset").raise_for_status()
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    aws_env.setenv("AWS_ENDPOINT_URL_SNS", moto_server)
    async with SesClientProvider(make_settings(tmp_path, "sqlite+aiosqlite://")) as provider:
        yield SesEventPublishing(provider)


@pytest.mark.parametrize(("configuration_set", "topic"), [("a b", None), ("ok", "x" * 257)])
async def test_bad_names_are_refused(
    db: Database, publishing: SesEventPublishing, tmp_path: Path, configuration_set: str, topic: Any
) -> None:
    settings = make_settings(tmp_path, db.url)
    with pytest.raises(InvalidInputError):
        await set_up(db, publishing, settings, URL, configuration_set, topic)


async def test_an_event_destination_that_differs_is_updated(
    db: Database, publishing: SesEventPublishing, fake_ses: FakeSes, tmp_path: Path
) -> None:
    sesv2 = boto3.client("sesv2", region_name="us-east-1", endpoint_url=fake_ses.url)
    sesv2.create_configuration_set(ConfigurationSetName="ses-gateway")
    sesv2.create_configuration_set_event_destination(
        ConfigurationSetName="ses-gateway",
        EventDestinationName=DESTINATION_NAME,
        EventDestination={
            "Enabled": False,
            "MatchingEventTypes": ["BOUNCE"],
            "SnsDestination": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:old"},
        },
    )

    report = await set_up(db, publishing, make_settings(tmp_path, db.url), URL)

    done = {step.resource: step.action for step in report.steps}
    assert done["configuration set"] == Action.REUSED
    assert done["event destination"] == Action.UPDATED
    destination = fake_ses.configuration_sets["ses-gateway"][DESTINATION_NAME]
    assert destination["Enabled"] is True
    assert destination["SnsDestination"]["TopicArn"] == report.topic_arn
    assert sorted(destination["MatchingEventTypes"]) == sorted(EVENT_TYPES)


async def test_a_subscription_pending_confirmation_is_subscribed_again(
    db: Database, publishing: SesEventPublishing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto confirms HTTPS subscriptions at once; SNS lists them as `PendingConfirmation` until
    the endpoint confirms. moto runs in this process: the test puts its subscription back to
    pending, and records the Subscribe calls that reach it."""
    settings = make_settings(tmp_path, db.url)
    report = await set_up(db, publishing, settings, URL)
    backend = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    [subscription] = backend.subscriptions.values()
    subscription.arn = PENDING_CONFIRMATION
    subscribed: list[tuple[str, str]] = []
    real_subscribe = SNSBackend.subscribe

    def subscribe(self: SNSBackend, topic_arn: str, endpoint: str, protocol: str) -> Any:
        subscribed.append((topic_arn, endpoint))
        return real_subscribe(self, topic_arn, endpoint, protocol)

    monkeypatch.setattr(SNSBackend, "subscribe", subscribe)

    async def subscription_step() -> tuple[Action, str]:
        report = await set_up(db, publishing, settings, URL)
        [step] = [step for step in report.steps if step.resource == "subscription"]
        return step.action, step.detail

    action, detail = await subscription_step()
    assert action == Action.CONFIRMATION_REQUESTED
    assert detail.startswith("it was pending confirmation")
    assert subscribed == [(report.topic_arn, report.endpoint)]

    subscription.arn = "arn:confirmed"
    assert await subscription_step() == (Action.REUSED, "confirmed: arn:confirmed")
    assert len(subscribed) == 1


async def test_the_last_configuration_set_made_default_is_the_only_default(db: Database) -> None:
    now = datetime.now(UTC)
    for name in ("one", "two"):
        await snssetups.save_topic(db, "default", name, f"arn:aws:sns:us-east-1:1:{name}", URL, now)

    assert await snssetups.default_configuration_sets(db) == {}
    assert await snssetups.make_default(db, "default", "one", now) is True
    assert await snssetups.make_default(db, "default", "one", now) is False
    assert await snssetups.make_default(db, "default", "two", now) is True

    assert await snssetups.default_configuration_sets(db) == {"default": "two"}
    defaults = {s.configuration_set: s.default_since for s in await snssetups.list_setups(db)}
    assert defaults == {"one": None, "two": now}
    assert await snssetups.topic_accounts(db) == {
        "arn:aws:sns:us-east-1:1:one": "default",
        "arn:aws:sns:us-east-1:1:two": "default",
    }


async def send_with(
    fake_ses: FakeSes, tmp_path: Path, db: Database, stored: StoredSnsSetup, **overrides: Any
) -> str | None:
    """The configuration set of one send through a fresh `SesSender` at the fake SES."""
    settings = make_settings(tmp_path, db.url, **overrides)
    outgoing = Outgoing("a@example.com", ["b@example.org"], b"Subject: s\r\n\r\nhi\r\n", {})
    async with SesClientProvider(settings) as provider:
        await SesSender(provider, settings, stored.configuration_set).send("acme", outgoing)
    return fake_ses.messages()[-1].configuration_set


async def test_sending_uses_the_default_configuration_set_unless_the_setting_names_one(
    db: Database, publishing: SesEventPublishing, fake_ses: FakeSes, tmp_path: Path
) -> None:
    stored = StoredSnsSetup(db, ttl=0)
    assert await send_with(fake_ses, tmp_path, db, stored) is None

    await set_up(db, publishing, make_settings(tmp_path, db.url), URL)
    assert await send_with(fake_ses, tmp_path, db, stored) == "ses-gateway"
    assert await send_with(fake_ses, tmp_path, db, stored, ses_send_api="v1") == "ses-gateway"

    chosen = await send_with(fake_ses, tmp_path, db, stored, configuration_set="hand-made")
    assert chosen == "hand-made"
