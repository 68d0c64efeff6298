"""`/api/v1/lists` and `/api/v1/imports`: contact lists, their contacts, CSV imports (the body
streamed in, never held whole) and their reports, CSV exports (streamed out)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import ClientDisconnect

from admin.api.base import Api, Call, NextCursor, Paging, TenantFilter, filters
from admin.ops import contacts
from admin.ops.context import Context
from gateway.core.exceptions import InvalidInputError

api = Api()

Status = Literal["subscribed", "unsubscribed", "suppressed"]


class ContactList(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant: str
    name: str
    created_at: datetime


class Lists(BaseModel):
    data: list[ContactList]


class Counts(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    total: int
    subscribed: int
    unsubscribed: int
    suppressed: int = Field(description="on the suppression list now: never mailed")


class ListDetail(ContactList):
    counts: Counts


class ListCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100)
    tenant: str | None = Field(
        default=None,
        max_length=63,
        description="admins: the list's tenant. A tenant's key: its own",
    )


class Contact(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    list_id: int
    email: str = Field(description="lower case, the domain in punycode")
    fields: dict[str, str]
    status: Status = Field(
        description="`suppressed`: the suppression list names the address now (whatever the "
        "contact's own status)"
    )
    unsubscribed_at: datetime | None
    unsubscribed_how: str | None = Field(description="`manual`, `link`, `api`, ...")
    created_at: datetime
    updated_at: datetime


class Contacts(BaseModel):
    data: list[Contact]
    next_cursor: NextCursor


class ContactFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    search: str = Field(default="", max_length=320, description="part of the address")
    status: Status | Literal[""] = ""


class ContactQuery(Paging, ContactFilters):
    pass


Fields = dict[str, str]


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    fields: Fields = Field(
        default_factory=dict,
        description="names as template variables: `First Name` is stored as `first_name`",
    )


class ContactEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: Fields = Field(
        default_factory=dict, description="fields to set; an empty value removes the field"
    )
    unset: list[str] = Field(default_factory=list, max_length=100, description="fields to remove")
    replace: bool = Field(default=False, description="`fields` are all the contact keeps")
    status: Literal["subscribed", "unsubscribed"] | None = Field(
        default=None, description="`unsubscribed` records when, and how: `api`"
    )


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(default="", max_length=255, description="for the report")


class Import(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    list_id: int
    tenant: str
    filename: str
    state: Literal["running", "done", "failed"]
    rows: int = Field(description="data rows read (the header and blank lines not counted)")
    added: int
    updated: int = Field(description="addresses on the list already: their fields updated")
    duplicates: int = Field(description="rows of an address that came earlier in the file")
    invalid: int = Field(description="rows skipped: `GET /imports/{id}/invalid` says why")
    error: str | None = Field(description="why the file was refused: then nothing was imported")
    actor: str
    created_at: datetime
    finished_at: datetime | None


class Imports(BaseModel):
    data: list[Import]


@api.endpoint(
    "GET", "/lists", summary="Contact lists", tag="lists", query=TenantFilter, response=Lists
)
async def list_lists(ctx: Context, call: Call) -> object:
    return {"data": await contacts.lists(ctx, call.query.tenant)}


@api.endpoint(
    "POST",
    "/lists",
    summary="Create a contact list",
    tag="lists",
    body=ListCreate,
    response=ContactList,
    status=201,
)
async def create_list(ctx: Context, call: Call) -> object:
    return await contacts.create_list(ctx, call.body.name, call.body.tenant)


@api.endpoint(
    "GET", "/lists/{id:int}", summary="A list and its counts", tag="lists", response=ListDetail
)
async def get_list(ctx: Context, call: Call) -> object:
    found = await contacts.get_list(ctx, call.path["id"])
    counts = await contacts.list_counts(ctx, found.id)
    return {**ContactList.model_validate(found).model_dump(), "counts": counts}


@api.endpoint(
    "DELETE",
    "/lists/{id:int}",
    summary="Delete a list, its contacts and its imports",
    tag="lists",
    response=None,
    status=204,
)
async def delete_list(ctx: Context, call: Call) -> None:
    await contacts.delete_list(ctx, call.path["id"])


@api.endpoint(
    "GET",
    "/lists/{id:int}/contacts",
    summary="Search a list's contacts, newest first",
    tag="lists",
    query=ContactQuery,
    response=Contacts,
)
async def list_contacts(ctx: Context, call: Call) -> object:
    query = call.query
    return await contacts.list_contacts(
        ctx, call.path["id"], filters(query, contacts.Filters), query.limit, query.cursor
    )


@api.endpoint(
    "POST",
    "/lists/{id:int}/contacts",
    summary="Add a contact (subscribed)",
    tag="lists",
    body=ContactCreate,
    response=Contact,
    status=201,
)
async def add_contact(ctx: Context, call: Call) -> object:
    return await contacts.add_contact(ctx, call.path["id"], call.body.email, call.body.fields)


@api.endpoint(
    "GET", "/lists/{id:int}/contacts/{email}", summary="A contact", tag="lists", response=Contact
)
async def get_contact(ctx: Context, call: Call) -> object:
    return await contacts.get_contact(ctx, call.path["id"], call.path["email"])


@api.endpoint(
    "PATCH",
    "/lists/{id:int}/contacts/{email}",
    summary="Change a contact's fields, subscribe or unsubscribe it",
    tag="lists",
    body=ContactEdit,
    response=Contact,
)
async def edit_contact(ctx: Context, call: Call) -> object:
    body = call.body
    return await contacts.edit_contact(
        ctx,
        call.path["id"],
        call.path["email"],
        body.fields,
        tuple(body.unset),
        body.status,
        how="api",
        replace=body.replace,
    )


@api.endpoint(
    "DELETE",
    "/lists/{id:int}/contacts/{email}",
    summary="Remove a contact",
    tag="lists",
    response=None,
    status=204,
)
async def remove_contact(ctx: Context, call: Call) -> None:
    await contacts.remove_contact(ctx, call.path["id"], call.path["email"])


@api.endpoint(
    "GET",
    "/lists/{id:int}/export",
    summary="A list's contacts as CSV (email, status columns, then every field)",
    tag="lists",
    query=ContactFilters,
    response=None,
    content_type="text/csv",
)
async def export_contacts(ctx: Context, call: Call) -> object:
    export = await contacts.export_csv(ctx, call.path["id"], filters(call.query, contacts.Filters))
    return export.chunks()


@api.endpoint(
    "POST",
    "/lists/{id:int}/imports",
    summary="Import a CSV body (an `email` column; the others are fields)",
    tag="lists",
    query=ImportQuery,
    response=Import,
    status=201,
    accepts="text/csv",
)
async def import_contacts(ctx: Context, call: Call) -> object:
    """A refused file answers 400 (`field` `file`), naming the import whose report says why."""
    try:
        report = await contacts.import_csv(
            ctx, call.path["id"], call.request.stream(), call.query.filename
        )
    except ClientDisconnect as exc:
        raise InvalidInputError("the upload was cut off: nothing was imported", "file") from exc
    if report.state != "done":
        raise InvalidInputError(f"import {report.id} refused: {report.error}", "file")
    return report


@api.endpoint(
    "GET",
    "/lists/{id:int}/imports",
    summary="A list's latest imports, newest first",
    tag="lists",
    response=Imports,
)
async def list_imports(ctx: Context, call: Call) -> object:
    return {"data": await contacts.list_imports(ctx, call.path["id"])}


@api.endpoint(
    "GET", "/imports/{id:int}", summary="An import's report", tag="lists", response=Import
)
async def get_import(ctx: Context, call: Call) -> object:
    return await contacts.get_import(ctx, call.path["id"])


@api.endpoint(
    "GET",
    "/imports/{id:int}/invalid",
    summary="An import's invalid rows as CSV: line, reason",
    tag="lists",
    response=None,
    content_type="text/csv",
)
async def invalid_rows(ctx: Context, call: Call) -> object:
    return await contacts.invalid_rows_csv(ctx, call.path["id"])
