"""`sns`: SES events to the gateway through Amazon SNS (`setup`), and what is set up (`status`)."""

from __future__ import annotations

import argparse
from typing import Any

from admin.cli.base import Commands, plain, table, with_ops
from admin.ops.settings import set_up_sns
from admin.runtime import Parts
from config import Settings
from gateway.aws.ses import SesEventPublishing
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.aws import DEFAULT_ACCOUNT
from gateway.feedback.eventsetup import DEFAULT_NAME, subscription_state
from gateway.storage import snssetups


async def cmd_sns_setup(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    public_url = args.public_url or settings.public_url
    if not public_url:
        raise InvalidInputError(
            "give --public-url https://HOST (where SNS reaches the gateway) or set PUBLIC_URL"
        )
    report = await with_ops(
        settings,
        lambda ctx: set_up_sns(
            ctx, public_url, args.configuration_set, args.topic, args.aws_account
        ),
        ses=True,
    )
    lines = [
        f"{step.resource} {step.name}: {step.action}" + (f" ({step.detail})" if step.detail else "")
        for step in report.steps
    ]
    lines += [f"warning: {warning}" for warning in report.warnings]
    return plain(report), "\n".join(lines)


async def cmd_sns_status(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    rows: list[dict[str, Any]] = []
    async with Parts.open(settings, beside_dev=True) as parts:
        setups = await snssetups.list_setups(parts.db)
        defaults = await snssetups.default_configuration_sets(parts.db)
        if setups:
            provider = await parts.ses()
            for setup in setups:
                publishing = SesEventPublishing(provider, setup.aws_account)
                state = await subscription_state(publishing, setup)
                rows.append({**plain(setup), "subscription": state})
    default = defaults.get(DEFAULT_ACCOUNT)
    sending = settings.configuration_set or default
    others = {a: c for a, c in defaults.items() if a != DEFAULT_ACCOUNT}
    document = {
        "sending_configuration_set": sending,
        "from_setting": settings.configuration_set is not None,
        "aws_accounts": others,
        "setups": rows,
    }
    source = "CONFIGURATION_SET" if settings.configuration_set else "sns setup"
    head = (
        f"sending with configuration set {sending} (from {source})"
        if sending
        else "sending without a configuration set: run `ses-gateway sns setup`"
    )
    head += "".join(
        f"\nsending through AWS account {a} with configuration set {c}" for a, c in others.items()
    )
    columns = (
        "aws_account",
        "configuration_set",
        "topic_arn",
        "endpoint",
        "subscription",
        "default_since",
    )
    return document, f"{head}\n{table(rows, columns)}"


def register(cli: Commands) -> None:
    sns = cli.group("sns", "SES events through Amazon SNS")
    setup = cli.add(
        sns,
        "setup",
        cmd_sns_setup,
        "create or reuse the configuration set, topic, event destination and subscription",
    )
    setup.add_argument(
        "--public-url", metavar="URL", help="where SNS reaches the gateway (default: PUBLIC_URL)"
    )
    setup.add_argument("--configuration-set", metavar="NAME", default=DEFAULT_NAME)
    setup.add_argument("--topic", metavar="NAME", help="default: the configuration set's name")
    setup.add_argument(
        "--aws-account",
        metavar="NAME",
        default=DEFAULT_ACCOUNT,
        help="set it up in this AWS account (aws-account add), for its tenants "
        "(default: the process's own credentials)",
    )
    cli.add(sns, "status", cmd_sns_status, "what `sns setup` made, and the subscriptions' state")
