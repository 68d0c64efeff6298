"""`/api/v1/tenants` and `/api/v1/users`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call
from admin.ops import awsaccounts, tenants
from admin.ops.context import Context

api = Api()


class Tenant(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime
    paused_reason: str | None


class TenantList(BaseModel):
    data: list[Tenant]


Count = Annotated[int, Field(json_schema_extra={"exclusiveMinimum": 0})]
Rate = Annotated[float, Field(json_schema_extra={"exclusiveMinimum": 0})]
"""More than 0, said in the schema and checked by the operation (`accounts.check_limit`: the
message of the panel and the CLI; `NaN` and `Infinity`, which JSON parsing lets through, are
refused too)."""


class Limits(BaseModel):
    """A None limit means the gateway's default (`DEFAULT_MAX_*`)."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    max_per_second: Rate | None = None
    max_per_day: Count | None = None
    max_recipients: Count | None = None
    max_connections: Count | None = None
    max_size: Count | None = None


class TenantDetail(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tenant: Tenant
    limits: Limits
    aws_account: str = Field(
        description="the AWS account it sends through; default: the gateway's own credentials"
    )


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aws_account: str = Field(
        max_length=63,
        description="an AWS account's name (`/aws-accounts`), or default: the gateway's own "
        "credentials. Refused (409) while the tenant has sending domains",
    )


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=63, description="lower-case letters, digits, '-' and '_'")


class TenantPause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        max_length=500, description="shown to senders in the SMTP refusal; null resumes"
    )


class User(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    role: str
    tenant: str | None
    created_at: datetime
    last_login_at: datetime | None


class UserList(BaseModel):
    data: list[User]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    role: str = Field(description="admin, owner or viewer")
    tenant: str | None = Field(default=None, description="the tenant of an owner or viewer")
    password: str | None = Field(
        default=None, max_length=1024, description="at least 12 characters; omit to generate one"
    )


class UserCreated(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user: User
    password: str | None = Field(description="the generated password, shown only now")


@api.endpoint("GET", "/tenants", summary="List tenants", tag="tenants", response=TenantList)
async def list_tenants(ctx: Context, call: Call) -> TenantList:
    return TenantList.model_validate(
        {"data": await tenants.list_tenants(ctx)}, from_attributes=True
    )


@api.endpoint(
    "POST",
    "/tenants",
    summary="Create a tenant",
    tag="tenants",
    body=TenantCreate,
    response=Tenant,
    status=201,
)
async def create_tenant(ctx: Context, call: Call) -> object:
    return await tenants.create_tenant(ctx, call.body.name)


@api.endpoint(
    "GET",
    "/tenants/{name}",
    summary="A tenant and its limits",
    tag="tenants",
    response=TenantDetail,
)
async def get_tenant(ctx: Context, call: Call) -> object:
    return await tenants.get_tenant(ctx, call.path["name"])


@api.endpoint(
    "PATCH",
    "/tenants/{name}",
    summary="Change a tenant: the AWS account it sends through (admin)",
    tag="tenants",
    body=TenantUpdate,
    response=TenantDetail,
    errors=((409, "the tenant has sending domains: their identities are in its account"),),
)
async def update_tenant(ctx: Context, call: Call) -> object:
    await awsaccounts.set_tenant_account(ctx, call.path["name"], call.body.aws_account)
    return await tenants.get_tenant(ctx, call.path["name"])


@api.endpoint(
    "PUT",
    "/tenants/{name}/pause",
    summary="Pause (with a reason) or resume (null)",
    tag="tenants",
    body=TenantPause,
    response=Tenant,
)
async def pause_tenant(ctx: Context, call: Call) -> object:
    return await tenants.pause_tenant(ctx, call.path["name"], call.body.reason)


@api.endpoint(
    "PATCH",
    "/tenants/{name}/limits",
    summary="Change limits (null: the default)",
    tag="tenants",
    body=Limits,
    response=TenantDetail,
)
async def set_limits(ctx: Context, call: Call) -> object:
    changes = call.body.model_dump(exclude_unset=True)
    return await tenants.set_limits(ctx, call.path["name"], changes)


@api.endpoint("GET", "/users", summary="List users (admin)", tag="users", response=UserList)
async def list_users(ctx: Context, call: Call) -> object:
    return {"data": await tenants.list_users(ctx)}


@api.endpoint(
    "POST",
    "/users",
    summary="Create a user (admin)",
    tag="users",
    body=UserCreate,
    response=UserCreated,
    status=201,
)
async def create_user(ctx: Context, call: Call) -> object:
    body = call.body
    return await tenants.create_user(ctx, body.email, body.role, body.tenant, body.password)


@api.endpoint(
    "DELETE",
    "/users/{id:int}",
    summary="Remove a user (admin)",
    tag="users",
    response=None,
    status=204,
)
async def remove_user(ctx: Context, call: Call) -> None:
    await tenants.remove_user(ctx, call.path["id"])
