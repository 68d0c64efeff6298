"""`sns setup`: SES events to the gateway through SNS, each resource created or found in place.

The steps, in order: the SES configuration set; the SNS topic (recorded at once, so that
`/sns/ses` accepts it before SNS asks for confirmation); a statement in the topic's policy that lets
SES publish to it for that configuration set; the configuration set's event destination
for every event type to that topic; the topic's subscription of `<PUBLIC_URL>/sns/ses` (asked
again while pending confirmation); the configuration set made the default for sending. Running
it again creates nothing new. `subscription_state` is what SNS says of a setup's subscription
now; what long-lived processes read of a setup is `storedsetup.StoredSnsSetup`.

All of it is made in one AWS account (`publishing.account`: the process's own, or one stored by
`aws-account add`), and recorded with it: the configuration set becomes the default of sending
through that account, and events arriving by the topic are applied to that account's tenants.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from config import Settings
from gateway.aws.ses import EVENT_TYPES, PENDING_CONFIRMATION, SesEventPublishing
from gateway.core.exceptions import InvalidInputError, SesError
from gateway.core.types.aws import DEFAULT_ACCOUNT, SnsSetupRecord
from gateway.storage import snssetups
from gateway.storage.database import Database

DEFAULT_NAME: Final = "ses-gateway"
"""The configuration set's name, and the topic's, unless given."""
DESTINATION_NAME: Final = "ses-gateway-sns"
"""The name of the event destination in the configuration set."""
ENDPOINT_PATH: Final = "/sns/ses"

_CONFIGURATION_SET = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Action(StrEnum):
    CREATED = "created"
    REUSED = "reused"
    UPDATED = "updated"
    CONFIRMATION_REQUESTED = "confirmation requested again"
    """A subscription pending confirmation, subscribed again: SNS sends a new request."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one step found and did."""

    resource: str
    name: str
    action: Action
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SetupReport:
    configuration_set: str
    topic_arn: str
    endpoint: str
    steps: tuple[Step, ...]
    warnings: tuple[str, ...]
    aws_account: str = DEFAULT_ACCOUNT


def endpoint_url(public_url: str) -> str:
    """`<public_url>/sns/ses`. https, or http for a loopback host (a local SNS emulator): SNS
    would otherwise post SES events in the clear."""
    parts = urlsplit(public_url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInputError(
            f"the public URL {public_url!r} is not an https URL: give --public-url "
            "https://<the gateway's public host> (or set SES_GATEWAY_PUBLIC_URL)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInputError(
            f"the public URL {public_url!r} must have no user, query or fragment"
        )
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise InvalidInputError(
            f"the public URL {public_url!r} is http: SNS must reach the gateway over https "
            "(http is accepted for loopback hosts only)"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{ENDPOINT_PATH}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_names(configuration_set: str, topic: str) -> None:
    if not _CONFIGURATION_SET.fullmatch(configuration_set):
        raise InvalidInputError(
            f"configuration set name {configuration_set!r}: up to 64 letters, digits, - and _"
        )
    if not _TOPIC.fullmatch(topic):
        raise InvalidInputError(f"topic name {topic!r}: up to 256 letters, digits, - and _")


async def set_up(
    db: Database,
    publishing: SesEventPublishing,
    settings: Settings,
    public_url: str,
    configuration_set: str = DEFAULT_NAME,
    topic: str | None = None,
) -> SetupReport:
    """Create what is missing, reuse what is there; say which."""
    topic = topic or configuration_set
    _check_names(configuration_set, topic)
    endpoint = endpoint_url(public_url)
    steps: list[Step] = []

    found = await publishing.has_configuration_set(configuration_set)
    created = not found and await publishing.create_configuration_set(configuration_set)
    steps.append(Step("configuration set", configuration_set, _made(created)))

    topic_arn = await publishing.find_topic(topic)
    if topic_arn is None:
        topic_arn = await publishing.create_topic(topic)
        steps.append(Step("SNS topic", topic_arn, Action.CREATED))
    else:
        steps.append(Step("SNS topic", topic_arn, Action.REUSED))
    account = publishing.account
    now = datetime.now(UTC)
    await snssetups.save_topic(db, account, configuration_set, topic_arn, endpoint, now)

    steps.append(await _topic_policy(publishing, topic_arn, configuration_set))
    steps.append(await _event_destination(publishing, configuration_set, topic_arn))
    steps.append(await _subscription(publishing, topic_arn, endpoint))

    changed = await snssetups.make_default(db, account, configuration_set, datetime.now(UTC))
    detail = "sending uses it" if changed else "sending uses it already"
    if account != DEFAULT_ACCOUNT:
        detail = f"sending through AWS account {account} {detail.removeprefix('sending ')}"
    warnings: list[str] = []
    overridden = account == DEFAULT_ACCOUNT and settings.configuration_set
    if overridden and settings.configuration_set != configuration_set:
        detail = f"but CONFIGURATION_SET={settings.configuration_set} wins"
        warnings.append(
            f"CONFIGURATION_SET is set to {settings.configuration_set}, which wins: sending "
            f"uses it, not {configuration_set}. Unset it to send with {configuration_set}."
        )
    action = Action.UPDATED if changed else Action.REUSED
    steps.append(Step("default configuration set", configuration_set, action, detail))
    return SetupReport(
        configuration_set, topic_arn, endpoint, tuple(steps), tuple(warnings), account
    )


def _made(created: bool) -> Action:
    return Action.CREATED if created else Action.REUSED


def publish_statement(topic_arn: str, configuration_set: str) -> dict[str, Any]:
    """The topic policy statement that lets SES publish the configuration set's events."""
    partition, _, region, account = topic_arn.split(":")[1:5]
    source = f"arn:{partition}:ses:{region}:{account}:configuration-set/{configuration_set}"
    return {
        "Sid": f"SesGatewayPublish-{configuration_set}",
        "Effect": "Allow",
        "Principal": {"Service": "ses.amazonaws.com"},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
        "Condition": {"StringEquals": {"AWS:SourceAccount": account, "AWS:SourceArn": source}},
    }


async def _topic_policy(
    publishing: SesEventPublishing, topic_arn: str, configuration_set: str
) -> Step:
    wanted = publish_statement(topic_arn, configuration_set)
    policy = await publishing.topic_policy(topic_arn)
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    detail = f"SES may publish the events of {configuration_set} to the topic"
    if wanted in statements:
        return Step("topic policy", wanted["Sid"], Action.REUSED, detail)
    others = [s for s in statements if s.get("Sid") != wanted["Sid"]]
    await publishing.set_topic_policy(topic_arn, {**policy, "Statement": [*others, wanted]})
    action = Action.UPDATED if len(others) < len(statements) else Action.CREATED
    return Step("topic policy", wanted["Sid"], action, detail)


async def _event_destination(
    publishing: SesEventPublishing, configuration_set: str, topic_arn: str
) -> Step:
    wanted = f"every event type ({len(EVENT_TYPES)}) to {topic_arn}"
    existing = {d.name: d for d in await publishing.event_destinations(configuration_set)}
    current = existing.get(DESTINATION_NAME)
    if (
        current is not None
        and current.enabled
        and current.topic_arn == topic_arn
        and current.event_types == frozenset(EVENT_TYPES)
    ):
        return Step("event destination", DESTINATION_NAME, Action.REUSED, wanted)
    exists = current is not None
    await publishing.put_event_destination(
        configuration_set, DESTINATION_NAME, topic_arn, exists=exists
    )
    return Step(
        "event destination",
        DESTINATION_NAME,
        Action.UPDATED if exists else Action.CREATED,
        wanted,
    )


async def _subscription(publishing: SesEventPublishing, topic_arn: str, endpoint: str) -> Step:
    """Subscribe the endpoint unless SNS lists it as confirmed. Subscribing an endpoint that is
    pending confirmation again makes SNS send a new `SubscriptionConfirmation` (a pending
    subscription cannot be deleted; SNS drops it after 3 days)."""
    existing = (await publishing.subscriptions(topic_arn)).get(endpoint)
    if existing is not None and existing != PENDING_CONFIRMATION:
        return Step("subscription", endpoint, Action.REUSED, f"confirmed: {existing}")
    subscription = await publishing.subscribe(topic_arn, endpoint)
    asked = (
        "SNS now posts a SubscriptionConfirmation to it, which the gateway confirms (it must be "
        "running and reachable there)"
    )
    if existing is None:
        return Step("subscription", endpoint, Action.CREATED, f"{subscription}: {asked}")
    detail = f"it was pending confirmation: {asked}"
    return Step("subscription", endpoint, Action.CONFIRMATION_REQUESTED, detail)


async def subscription_state(publishing: SesEventPublishing, setup: SnsSetupRecord) -> str:
    """The state of the setup's subscription, as SNS says."""
    try:
        found = (await publishing.subscriptions(setup.topic_arn)).get(setup.endpoint)
    except SesError as exc:
        return f"unknown: {exc}"
    if found is None:
        return "missing: run `ses-gateway sns setup` again"
    return "pending confirmation" if found == PENDING_CONFIRMATION else "confirmed"
