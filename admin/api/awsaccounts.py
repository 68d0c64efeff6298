"""`/api/v1/aws-accounts`: the AWS accounts tenants send through (admins only). The secret
access key and the external id are write-only: no answer carries them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from admin.api.base import Api, Call
from admin.ops import awsaccounts
from admin.ops.context import Context

api = Api()


class AwsAccount(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    region: str
    kind: str = Field(description="role (STS AssumeRole) or keys (an access key pair)")
    access_key_id: str | None
    role_arn: str | None
    has_external_id: bool
    created_at: datetime
    checked_at: datetime | None = Field(description="when SES was last called with it")
    check_error: str | None = Field(description="what that call found wrong; null: it passed")
    tenants: list[str] = Field(description="the tenants that send through it")


class AwsAccountList(BaseModel):
    data: list[AwsAccount]


class Quota(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    max_24_hour_send: int | None = Field(description="null: unlimited")
    max_send_rate: float
    sent_last_24_hours: int
    production_access_enabled: bool | None = Field(description="false: the sandbox")
    sending_enabled: bool | None
    enforcement_status: str | None
    source: str = Field(description="the call that said it: GetAccount or GetSendQuota")


class Checked(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    account: AwsAccount
    quota: Quota = Field(description="what SES answered the check")


class AwsAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=63, description="lower-case letters, digits, '-' and '_'")
    region: str = Field(max_length=32, description="the SES region, e.g. eu-west-1")
    role_arn: str | None = Field(
        default=None, max_length=2048, description="a role to assume with STS (preferred)"
    )
    external_id: SecretStr | None = Field(
        default=None, max_length=1224, description="the role's sts:ExternalId (write-only)"
    )
    access_key_id: str | None = Field(default=None, max_length=128)
    secret_access_key: SecretStr | None = Field(
        default=None, max_length=128, description="with access_key_id (write-only)"
    )


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


@api.endpoint(
    "GET",
    "/aws-accounts",
    summary="List AWS accounts (admin)",
    tag="aws-accounts",
    response=AwsAccountList,
)
async def list_accounts(ctx: Context, call: Call) -> object:
    return {"data": await awsaccounts.list_accounts(ctx)}


@api.endpoint(
    "POST",
    "/aws-accounts",
    summary="Check an AWS account with SES, then add it (admin); nothing is stored if it fails",
    tag="aws-accounts",
    body=AwsAccountCreate,
    response=Checked,
    status=201,
)
async def add_account(ctx: Context, call: Call) -> object:
    body: AwsAccountCreate = call.body
    return await awsaccounts.add_account(
        ctx,
        body.name,
        body.region,
        access_key_id=body.access_key_id,
        secret_access_key=_secret(body.secret_access_key),
        role_arn=body.role_arn,
        external_id=_secret(body.external_id),
    )


@api.endpoint(
    "GET",
    "/aws-accounts/{name}",
    summary="An AWS account (admin)",
    tag="aws-accounts",
    response=AwsAccount,
)
async def get_account(ctx: Context, call: Call) -> object:
    return await awsaccounts.get_account(ctx, call.path["name"])


@api.endpoint(
    "POST",
    "/aws-accounts/{name}/test",
    summary="Call SES with the account again and record the result (admin)",
    tag="aws-accounts",
    response=Checked,
)
async def test_account(ctx: Context, call: Call) -> object:
    return await awsaccounts.test_account(ctx, call.path["name"])


@api.endpoint(
    "DELETE",
    "/aws-accounts/{name}",
    summary="Remove an AWS account no tenant uses (admin)",
    tag="aws-accounts",
    response=None,
    status=204,
    errors=((409, "a tenant uses it"),),
)
async def remove_account(ctx: Context, call: Call) -> None:
    await awsaccounts.remove_account(ctx, call.path["name"])
