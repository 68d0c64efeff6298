"""The gateway's settings as an admin reads them: the SES region and endpoint, the SNS wiring of
SES events (what `sns setup` made and what SNS says of its subscriptions, and `set_up_sns`,
which makes it), retention, and the settings that shape sending, with their environment
variables. Never a secret: `SECRET_KEY`,
`PREVIOUS_SECRET_KEYS`, `METRICS_TOKEN` and `DATABASE_URL` (which may hold a password) are left
out."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import datetime

from admin.ops.context import Context
from config import Settings
from config.settings import ENV_PREFIX, Seconds
from gateway.aws.ses import SesEventPublishing
from gateway.core.times import spoken_duration
from gateway.core.types.aws import DEFAULT_ACCOUNT
from gateway.feedback.eventsetup import SetupReport, set_up, subscription_state
from gateway.storage import awsaccounts, snssetups

SHOWN = (
    ("public_url", "where SNS, tracked links and the panel reach the gateway"),
    ("hostname", "the name in SMTP greetings and Received: fields"),
    ("smtp_port", "SMTP with STARTTLS"),
    ("smtps_port", "SMTP with implicit TLS (0: off)"),
    ("http_port", "the panel, the API, /sns/ses and tracking"),
    ("ses_send_api", "the SES API that sends (v2 SendEmail or v1 SendRawEmail)"),
    ("configuration_set", "the configuration set of every send (default: the one of sns setup)"),
    ("sns_topic_arns", "SNS topics accepted at /sns/ses besides those of sns setup"),
    ("event_retention_days", "days events, activity and webhook deliveries are kept"),
    ("body_retention_days", "days message bodies are kept after delivery (0: deleted at once)"),
    ("max_queue_age", "how long a message is retried before it fails"),
    ("default_max_per_second", "a tenant's messages per second, unless its own limit says"),
    ("default_max_per_day", "a tenant's messages per day, unless its own limit says"),
    ("default_max_connections", "a tenant's SMTP connections, unless its own limit says"),
    ("max_recipients", "recipients per message"),
    ("max_message_size", "bytes per message (default: the SES API's limit)"),
    ("suppression_mode", "refuse or drop suppressed recipients"),
    ("reputation_bounce_pause", "bounce rate (%) that pauses a tenant"),
    ("reputation_complaint_pause", "complaint rate (%) that pauses a tenant"),
    ("ses_rate_share", "this process's share of SES's MaxSendRate"),
    ("webhook_max_age", "how long a webhook delivery is retried"),
    ("api_rate_limit", "API requests per second per key"),
    ("session_lifetime", "how long a panel session lasts"),
)
"""The settings shown (by field name), and what each is for."""


@dataclass(frozen=True, slots=True)
class Setting:
    env: str
    """The environment variable, e.g. `SES_GATEWAY_EVENT_RETENTION_DAYS`."""
    value: str | None
    """None: not set."""
    meaning: str
    shown: str | None = None
    """The value as people read it (`24 h` for 86400 seconds); None: not set."""


@dataclass(frozen=True, slots=True)
class SnsWiring:
    configuration_set: str
    topic_arn: str
    endpoint: str
    subscription: str
    """`confirmed`, `pending confirmation`, `missing: ...` or `unknown: ...` (SNS did not say)."""
    default_since: datetime | None
    aws_account: str
    """The AWS account it was set up in (`default`: the process's own credentials)."""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    region: str | None
    ses_endpoint: str
    configuration_set: str | None
    """The configuration set sends use; None: none (SES publishes no events)."""
    configuration_set_source: str | None
    """`CONFIGURATION_SET` or `sns setup`."""
    sns: list[SnsWiring]
    sns_todo: str | None
    """What to do to get SES events to the gateway; None: nothing."""
    simulator_topic: str | None
    """`serve --dev`: the mailbox simulator's topic; its SES events reach `/sns/ses` without
    SNS, so nothing is to do."""
    public_url: str | None
    event_retention_days: int
    body_retention_days: int
    settings: list[Setting]


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    return str(value)


DURATIONS = frozenset(
    name
    for name, kind in typing.get_type_hints(Settings, include_extras=True).items()
    if kind == Seconds
)
"""The settings that are lengths of time, in seconds: shown as `24 h`."""


def _setting(settings: Settings, name: str, meaning: str) -> Setting:
    value = getattr(settings, name)
    shown = spoken_duration(value) if name in DURATIONS else _text(value)
    return Setting(ENV_PREFIX + name.upper(), _text(value), meaning, shown)


def _todo(wiring: list[SnsWiring], public_url: str | None) -> str | None:
    if not wiring:
        return (
            f"run `ses-gateway sns setup --public-url {public_url or 'https://HOST'}`: until "
            "then no delivery, bounce or complaint reaches the gateway"
        )
    if any(w.subscription != "confirmed" for w in wiring):
        return (
            "a subscription is not confirmed: make sure SNS reaches its endpoint over HTTPS "
            "(PUBLIC_URL), then run `ses-gateway sns setup` again"
        )
    return None


async def get_settings(ctx: Context) -> GatewaySettings:
    """Admins only."""
    ctx.require_admin()
    settings = ctx.services.settings
    provider = ctx.services.provider
    wiring = [
        SnsWiring(
            setup.configuration_set,
            setup.topic_arn,
            setup.endpoint,
            await subscription_state(SesEventPublishing(provider, setup.aws_account), setup),
            setup.default_since,
            setup.aws_account,
        )
        for setup in await snssetups.list_setups(ctx.db)
    ]
    default = (await snssetups.default_configuration_sets(ctx.db)).get(DEFAULT_ACCOUNT)
    source = "CONFIGURATION_SET" if settings.configuration_set else "sns setup" if default else None
    return GatewaySettings(
        region=provider.region,
        ses_endpoint=provider.endpoint,
        configuration_set=settings.configuration_set or default,
        configuration_set_source=source,
        sns=wiring,
        sns_todo=None if ctx.services.simulator_topic else _todo(wiring, settings.public_url),
        simulator_topic=ctx.services.simulator_topic,
        public_url=settings.public_url,
        event_retention_days=settings.event_retention_days,
        body_retention_days=settings.body_retention_days,
        settings=[_setting(settings, name, meaning) for name, meaning in SHOWN],
    )


async def set_up_sns(
    ctx: Context,
    public_url: str,
    configuration_set: str,
    topic: str | None,
    aws_account: str = DEFAULT_ACCOUNT,
) -> SetupReport:
    """Create or reuse, in `aws_account` (`default`: the process's own credentials), the
    configuration set, SNS topic, event destination and subscription that bring SES events to
    `public_url` (admins only: it changes what every send through that account uses)."""
    ctx.require_admin()
    if aws_account != DEFAULT_ACCOUNT:
        await awsaccounts.get_account(ctx.db, aws_account)  # NotFoundError: say so, not SES
    publishing = SesEventPublishing(ctx.services.provider, aws_account)
    report = await set_up(
        ctx.db, publishing, ctx.services.settings, public_url, configuration_set, topic
    )
    said = "; ".join(f"{step.resource} {step.action}" for step in report.steps)
    where = "" if aws_account == DEFAULT_ACCOUNT else f" (AWS account {aws_account})"
    await ctx.audit("sns.setup", report.configuration_set, f"{report.topic_arn}{where}: {said}")
    return report
