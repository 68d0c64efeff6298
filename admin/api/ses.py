"""`/api/v1/ses`: the SES account itself (admins only): its state for each AWS account, and the
request for production access."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call
from admin.ops import sesaccount
from admin.ops.context import Context
from gateway.core.types.aws import DEFAULT_ACCOUNT, ProductionRequest

api = Api()


class AccountState(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    max_24_hour_send: int | None = Field(description="null: unlimited")
    max_send_rate: float
    sent_last_24_hours: int
    production_access_enabled: bool | None = Field(
        description="false: the sandbox; null: SES did not say (`GetSendQuota` only)"
    )
    sending_enabled: bool | None
    enforcement_status: str | None = Field(description="`HEALTHY`, `PROBATION`, `SHUTDOWN`")
    source: str = Field(description="`GetAccount` or `GetSendQuota`")
    review_status: str | None = Field(
        description="the production request: `PENDING`, `GRANTED`, `DENIED`, `FAILED`"
    )
    review_case_id: str | None
    suppressed_reasons: list[str] | None = Field(
        description="what SES adds to its account-level suppression list by itself"
    )


class Account(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="`default`: the process's own AWS credentials")
    region: str
    endpoint: str
    quota: AccountState | None = Field(description="null: SES could not be asked (`error`)")
    error: str | None


class Accounts(BaseModel):
    data: list[Account]


class ProductionRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mail_type: Literal["MARKETING", "TRANSACTIONAL"]
    website_url: str = Field(max_length=2000, description="the site the mail is about")
    use_case: str = Field(
        max_length=10000,
        description="how you send, to whom, how people sign up, how bounces and complaints "
        "are handled (SES takes at most 5000 characters)",
    )
    contact_language: Literal["EN", "JA"] = "EN"
    additional_contacts: list[str] = Field(default=[], max_length=10, description="up to 4")
    aws_account: str = Field(
        default=DEFAULT_ACCOUNT,
        max_length=64,
        description="the AWS account (`default`: the gateway's own)",
    )


@api.endpoint(
    "GET",
    "/ses/account",
    summary="The SES account of each AWS account: sandbox, sending, enforcement, quota (admin)",
    tag="ses",
    response=Accounts,
)
async def get_accounts(ctx: Context, call: Call) -> object:
    return {"data": await sesaccount.accounts(ctx)}


@api.endpoint(
    "POST",
    "/ses/production-request",
    summary="Ask AWS to take the SES account out of the sandbox (PutAccountDetails; admin)",
    tag="ses",
    body=ProductionRequestBody,
    response=Account,
    errors=((502, "SES refused: a request under review already (ConflictException), ..."),),
)
async def request_production(ctx: Context, call: Call) -> object:
    body = call.body
    request = ProductionRequest(
        body.mail_type,
        body.website_url,
        body.use_case,
        body.contact_language,
        tuple(body.additional_contacts),
    )
    return await sesaccount.request_production(ctx, request, body.aws_account)
