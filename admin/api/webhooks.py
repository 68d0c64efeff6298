"""`/api/v1/webhooks`: add (the signing secret once), list, remove, test-send, attempts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call, TenantFilter
from admin.ops import webhooks
from admin.ops.context import Context
from gateway.storage.pages import MAX_LIMIT
from gateway.webhooks.schema import EVENT_TYPES
from gateway.webhooks.urls import MAX_URL_LENGTH

api = Api()


class Webhook(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant: str
    url: str
    events: list[str] = Field(description="the event types sent; empty: every type")
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


class WebhookList(BaseModel):
    data: list[Webhook]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=MAX_URL_LENGTH, description="an https:// URL")
    events: list[str] = Field(
        default=[], max_length=len(EVENT_TYPES), description=f"of {', '.join(EVENT_TYPES)}"
    )
    tenant: str | None = Field(
        default=None, max_length=63, description="admins: the tenant (required); a key: its own"
    )


class WebhookCreated(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    webhook: Webhook
    secret: str = Field(description="the signing secret, shown only now")


class Attempt(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: datetime
    status_code: int | None
    response: str = Field(description="the start of the response body")
    error: str | None = Field(description="null: delivered (a 2xx)")
    duration_ms: int


class AttemptInfo(Attempt):
    id: int
    delivery_id: int
    event_id: str
    event_type: str
    state: str = Field(description="of the delivery now: pending, delivered or failed")


class AttemptList(BaseModel):
    data: list[AttemptInfo]


class AttemptQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)


class TestResult(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    delivery_id: int
    event_id: str
    state: str = Field(description="delivered or failed (a test is not retried)")
    attempt: Attempt


@api.endpoint(
    "GET",
    "/webhooks",
    summary="List webhooks",
    tag="webhooks",
    query=TenantFilter,
    response=WebhookList,
)
async def list_webhooks(ctx: Context, call: Call) -> object:
    return {"data": await webhooks.list_webhooks(ctx, call.query.tenant)}


@api.endpoint(
    "POST",
    "/webhooks",
    summary="Add a webhook; the answer has its signing secret, once",
    tag="webhooks",
    body=WebhookCreate,
    response=WebhookCreated,
    status=201,
)
async def add_webhook(ctx: Context, call: Call) -> object:
    body = call.body
    webhook, secret = await webhooks.add_webhook(ctx, body.url, body.events, body.tenant)
    return {"webhook": webhook, "secret": secret}


@api.endpoint("GET", "/webhooks/{id:int}", summary="A webhook", tag="webhooks", response=Webhook)
async def get_webhook(ctx: Context, call: Call) -> object:
    return await webhooks.get_webhook(ctx, call.path["id"])


@api.endpoint(
    "DELETE",
    "/webhooks/{id:int}",
    summary="Remove a webhook with its deliveries",
    tag="webhooks",
    response=None,
    status=204,
)
async def remove_webhook(ctx: Context, call: Call) -> None:
    await webhooks.remove_webhook(ctx, call.path["id"])


@api.endpoint(
    "POST",
    "/webhooks/{id:int}/test",
    summary="Send a test event now, once, and answer what came of it",
    tag="webhooks",
    response=TestResult,
)
async def test_webhook(ctx: Context, call: Call) -> object:
    return await webhooks.send_test(ctx, call.path["id"])


@api.endpoint(
    "GET",
    "/webhooks/{id:int}/attempts",
    summary="The webhook's latest attempts, newest first",
    tag="webhooks",
    query=AttemptQuery,
    response=AttemptList,
)
async def list_attempts(ctx: Context, call: Call) -> object:
    return {"data": await webhooks.list_attempts(ctx, call.path["id"], call.query.limit)}
