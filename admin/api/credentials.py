"""`/api/v1/credentials`, `/api/v1/api-keys` and `/api/v1/networks`. A secret (a credential's
password, an API key) is in the answer to its creation only; revoking keeps the record."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call
from admin.ops import credentials
from admin.ops.context import Context

api = Api()


class TenantFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(default=None, description="an admin: only this tenant's")


class Credential(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant: str
    username: str
    description: str
    allowed_senders: list[str] = Field(
        description="sender domains and addresses it may use; empty: any of its tenant's"
    )
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    paused_reason: str | None


class CredentialList(BaseModel):
    data: list[Credential]


class CredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(default=None, description="required of an admin")
    description: str = Field(default="", max_length=255)
    allow: list[str] = Field(
        default=[], max_length=100, description="narrow it to these sender domains or addresses"
    )


class CredentialCreated(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    credential: Credential
    password: str = Field(description="shown only now")


class CredentialPause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        max_length=500, description="shown to senders in the SMTP refusal; null resumes"
    )


class ApiKey(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    prefix: str = Field(description="the key's public part: `sgw_<prefix>_...`")
    tenant: str | None = Field(description="null: an admin key (every tenant)")
    description: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyList(BaseModel):
    data: list[ApiKey]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(default=None, description="required of an admin, unless `admin`")
    admin: bool = Field(default=False, description="an admin key (admins only)")
    description: str = Field(default="", max_length=255)


class ApiKeyCreated(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    api_key: ApiKey = Field(validation_alias="info")
    key: str = Field(description="shown only now: send it as `Authorization: Bearer <key>`")


class Network(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant: str
    cidr: str
    created_at: datetime


class NetworkList(BaseModel):
    data: list[Network]


class NetworkAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str
    cidr: str = Field(max_length=64, description="e.g. 10.1.2.0/24 or 2001:db8::/64")


class NetworkQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cidr: str = Field(max_length=64, description="the trusted network to remove")


@api.endpoint(
    "GET",
    "/credentials",
    summary="List SMTP credentials",
    tag="credentials",
    query=TenantFilter,
    response=CredentialList,
)
async def list_credentials(ctx: Context, call: Call) -> object:
    return {"data": await credentials.list_credentials(ctx, call.query.tenant)}


@api.endpoint(
    "POST",
    "/credentials",
    summary="Create an SMTP credential (its password shown once)",
    tag="credentials",
    body=CredentialCreate,
    response=CredentialCreated,
    status=201,
)
async def create_credential(ctx: Context, call: Call) -> object:
    body = call.body
    return await credentials.create_credential(ctx, body.tenant, body.description, body.allow)


@api.endpoint(
    "DELETE",
    "/credentials/{id:int}",
    summary="Revoke an SMTP credential (the record stays, with `revoked_at`)",
    tag="credentials",
    response=Credential,
)
async def revoke_credential(ctx: Context, call: Call) -> object:
    return await credentials.revoke_credential(ctx, call.path["id"])


@api.endpoint(
    "PUT",
    "/credentials/{id:int}/pause",
    summary="Pause a credential (with a reason) or resume it (null)",
    tag="credentials",
    body=CredentialPause,
    response=Credential,
)
async def pause_credential(ctx: Context, call: Call) -> object:
    return await credentials.pause_credential(ctx, call.path["id"], call.body.reason)


@api.endpoint(
    "GET",
    "/api-keys",
    summary="List API keys",
    tag="api-keys",
    query=TenantFilter,
    response=ApiKeyList,
)
async def list_api_keys(ctx: Context, call: Call) -> object:
    return {"data": await credentials.list_api_keys(ctx, call.query.tenant)}


@api.endpoint(
    "POST",
    "/api-keys",
    summary="Create an API key (shown once)",
    tag="api-keys",
    body=ApiKeyCreate,
    response=ApiKeyCreated,
    status=201,
)
async def create_api_key(ctx: Context, call: Call) -> object:
    body = call.body
    return await credentials.create_api_key(ctx, body.tenant, body.admin, body.description)


@api.endpoint(
    "DELETE",
    "/api-keys/{id:int}",
    summary="Revoke an API key (the record stays, with `revoked_at`)",
    tag="api-keys",
    response=ApiKey,
)
async def revoke_api_key(ctx: Context, call: Call) -> object:
    return await credentials.revoke_api_key(ctx, call.path["id"])


@api.endpoint(
    "GET",
    "/networks",
    summary="List trusted networks (admin)",
    tag="networks",
    query=TenantFilter,
    response=NetworkList,
)
async def list_networks(ctx: Context, call: Call) -> object:
    return {"data": await credentials.list_networks(ctx, call.query.tenant)}


@api.endpoint(
    "POST",
    "/networks",
    summary="Trust a network: its clients send without AUTH as the tenant (admin)",
    tag="networks",
    body=NetworkAdd,
    response=Network,
    status=201,
)
async def add_network(ctx: Context, call: Call) -> object:
    return await credentials.add_network(ctx, call.body.tenant, call.body.cidr)


@api.endpoint(
    "DELETE",
    "/networks",
    summary="Stop trusting a network, named by `?cidr=` (admin)",
    tag="networks",
    query=NetworkQuery,
    response=None,
    status=204,
)
async def remove_network(ctx: Context, call: Call) -> None:
    await credentials.remove_network(ctx, call.query.cidr)
