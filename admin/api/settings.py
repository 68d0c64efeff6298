"""`/api/v1/settings`: the SES region, the SNS wiring, retention and the settings that shape
sending (admins only; never a secret)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call
from admin.ops import settings
from admin.ops.context import Context

api = Api()


class Setting(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    env: str = Field(description="the environment variable")
    value: str | None = Field(description="null: not set (the default applies)")
    meaning: str


class SnsWiring(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    configuration_set: str
    topic_arn: str
    endpoint: str
    subscription: str = Field(
        description="`confirmed`, `pending confirmation`, `missing: ...` or `unknown: ...`"
    )
    default_since: datetime | None
    aws_account: str = Field(
        description="the AWS account it was set up in; `default`: the gateway's own credentials"
    )


class GatewaySettings(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    region: str | None
    ses_endpoint: str
    configuration_set: str | None = Field(description="the one sends use; null: none")
    configuration_set_source: str | None = Field(description="`CONFIGURATION_SET` or `sns setup`")
    sns: list[SnsWiring]
    sns_todo: str | None = Field(description="what to do to get SES events; null: nothing")
    public_url: str | None
    event_retention_days: int
    body_retention_days: int
    settings: list[Setting]


@api.endpoint(
    "GET",
    "/settings",
    summary="The gateway's settings, SNS wiring and retention (admin)",
    tag="settings",
    response=GatewaySettings,
)
async def get_settings(ctx: Context, call: Call) -> object:
    return await settings.get_settings(ctx)
