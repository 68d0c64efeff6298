"""`/api/v1/suppressions`: search, add, remove, CSV export and import."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import WHEN, Api, Call, NextCursor, Paging, filters
from admin.ops import sesaccount, suppressions
from admin.ops.context import Context
from gateway.core.times import parse_time
from gateway.core.types.aws import DEFAULT_ACCOUNT

api = Api()

Reason = Literal["bounce", "complaint", "unsubscribe", "manual"]


class Suppression(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    address: str = Field(description="lower case, the domain in punycode")
    tenant: str | None = Field(description="null: a global entry, for every tenant")
    reason: str
    detail: str
    created_at: datetime
    expires_at: datetime | None


class SuppressionList(BaseModel):
    data: list[Suppression]
    next_cursor: NextCursor


class SuppressionFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    search: str = Field(default="", max_length=320, description="part of the address")
    reason: Reason | Literal[""] = ""
    scope: Literal["all", "tenant", "global"] = Field(
        default="all",
        description="`global`: entries for every tenant; `tenant`: tenants' own entries; "
        "`all`: both",
    )
    tenant: str = Field(
        default="", max_length=63, description="admins: only what applies to this tenant"
    )
    since: str = Field(default="", max_length=40, description=f"added at or after: {WHEN}")
    until: str = Field(default="", max_length=40, description=f"added before: {WHEN}")


class SuppressionQuery(Paging, SuppressionFilters):
    pass


class SuppressionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=320)
    reason: Reason = "manual"
    detail: str = Field(default="", max_length=1000, description="a note: the bounce, the request")
    expires_at: str = Field(default="", max_length=40, description=f"when it lapses: {WHEN}")
    tenant: str | None = Field(
        default=None,
        max_length=63,
        description="admins: the tenant; null adds a global entry. A tenant's key: its own",
    )


class SuppressionAdded(Suppression):
    added: bool = Field(description="false when an entry of that scope was replaced")


class TenantScope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(
        default="",
        max_length=63,
        description="admins: the tenant's entry; empty: the global one. A tenant's key: its own",
    )


class SkippedRow(BaseModel):
    line: int
    message: str


class ImportResult(BaseModel):
    added: int
    updated: int
    skipped: int
    errors: list[SkippedRow] = Field(description="each row skipped, by line number")


@api.endpoint(
    "GET",
    "/suppressions",
    summary="Search suppressions, newest first",
    tag="suppressions",
    query=SuppressionQuery,
    response=SuppressionList,
)
async def list_suppressions(ctx: Context, call: Call) -> object:
    query = call.query
    return await suppressions.list_suppressions(
        ctx, filters(query, suppressions.Filters), query.limit, query.cursor
    )


@api.endpoint(
    "POST",
    "/suppressions",
    summary="Suppress an address",
    tag="suppressions",
    body=SuppressionCreate,
    response=SuppressionAdded,
    status=201,
)
async def add_suppression(ctx: Context, call: Call) -> object:
    body = call.body
    entry, added = await suppressions.add_suppression(
        ctx, body.address, body.tenant, body.reason, body.detail, body.expires_at
    )
    return {**Suppression.model_validate(entry).model_dump(), "added": added}


@api.endpoint(
    "GET",
    "/suppressions/export",
    summary="Suppressions as CSV, with the filters of the search",
    tag="suppressions",
    query=SuppressionFilters,
    response=None,
    content_type="text/csv",
)
async def export_suppressions(ctx: Context, call: Call) -> str:
    return await suppressions.export_csv(ctx, filters(call.query, suppressions.Filters))


@api.endpoint(
    "POST",
    "/suppressions/import",
    summary="Add suppressions from a CSV body (the columns of the export)",
    tag="suppressions",
    query=TenantScope,
    response=ImportResult,
    accepts="text/csv",
)
async def import_suppressions(ctx: Context, call: Call) -> object:
    data = await call.request.body()
    report = await suppressions.import_csv(ctx, data, call.query.tenant)
    return {
        "added": report.added,
        "updated": report.updated,
        "skipped": len(report.errors),
        "errors": [{"line": line, "message": message} for line, message in report.errors],
    }


class SesListRemoval(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    state: Literal["removed", "absent", "kept", "failed", "unchecked"] = Field(
        description="`removed` from SES's account-level list too; `absent`: SES did not have "
        "it; `kept`: a global entry still holds it; `failed`: SES still holds it (`message` "
        "says why; DELETE again to retry); `unchecked`: no SES client"
    )
    message: str


class Removed(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    address: str
    tenant: str | None
    entry: Suppression | None = Field(
        description="the entry removed; null: there was none, but SES's list held the address"
    )
    ses: SesListRemoval


class SesImportSkipped(BaseModel):
    address: str
    message: str


class SesImportResult(BaseModel):
    seen: int = Field(description="addresses on SES's account-level suppression list")
    added: int
    already_present: int
    skipped: list[SesImportSkipped]


class SesImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: str = Field(
        default="", max_length=40, description=f"only what SES added or updated since: {WHEN}"
    )
    aws_account: str = Field(
        default=DEFAULT_ACCOUNT,
        max_length=64,
        description="whose list (`default`: the gateway's own, for every tenant; a stored "
        "account's: for the tenants on it)",
    )


@api.endpoint(
    "DELETE",
    "/suppressions/{address}",
    summary="Remove a suppression (and the address from SES's account-level list)",
    tag="suppressions",
    query=TenantScope,
    response=Removed,
)
async def remove_suppression(ctx: Context, call: Call) -> object:
    return await suppressions.remove_suppression(ctx, call.path["address"], call.query.tenant)


@api.endpoint(
    "POST",
    "/suppressions/import-ses",
    summary="Add SES's account-level suppression list, for every tenant (admin)",
    tag="suppressions",
    query=SesImportQuery,
    response=SesImportResult,
)
async def import_ses(ctx: Context, call: Call) -> object:
    since = call.query.since
    report = await sesaccount.import_from_ses(
        ctx, parse_time(since, "since", "since") if since else None, call.query.aws_account
    )
    return {
        "seen": report.seen,
        "added": report.added,
        "already_present": report.already_present,
        "skipped": [{"address": a, "message": m} for a, m in report.skipped],
    }
