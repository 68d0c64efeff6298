"""`/api/v1/templates`: tenants' message templates with `{{variables}}`: create, list, read,
change, delete, preview with given fields or a contact's, and a test send through the spool."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call, TenantFilter
from admin.ops import templates
from admin.ops.context import Context
from gateway.storage.templates import TemplateInfo

api = Api()

SYNTAX = '`{{name}}`, or `{{name | default("there")}}` with a fallback'
Fields = dict[str, str]


class Template(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant: str
    name: str
    subject: str
    html: str = Field(description="sanitised when saved")
    text: str | None = Field(description="null: made from the HTML")
    variables: list[str] = Field(description="every variable's name, in order")
    required: list[str] = Field(description="the variables used without a fallback")
    created_at: datetime
    updated_at: datetime


class TemplateList(BaseModel):
    data: list[Template]


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=templates.NAME_LENGTH)
    subject: str = Field(max_length=templates.SUBJECT_LENGTH, description=f"with {SYNTAX}")
    html: str = Field(max_length=templates.PART_LENGTH, description=f"with {SYNTAX}")
    text: str | None = Field(
        default=None, max_length=templates.PART_LENGTH, description="null: made from the HTML"
    )
    tenant: str | None = Field(
        default=None, max_length=63, description="admins: the tenant (required); a key: its own"
    )


class TemplateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=templates.NAME_LENGTH)
    subject: str | None = Field(default=None, max_length=templates.SUBJECT_LENGTH)
    html: str | None = Field(default=None, max_length=templates.PART_LENGTH)
    text: str | None = Field(
        default=None,
        max_length=templates.PART_LENGTH,
        description='absent or null: unchanged; "": made from the HTML from now on',
    )


class Preview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variables: Fields = Field(
        default={},
        max_length=200,
        description="a contact's fields: name to value (over those of `contact`)",
    )
    contact: str | None = Field(
        default=None,
        max_length=320,
        description="an address on the tenant's lists: its fields (and `email`) are the values",
    )
    list_: str | None = Field(
        default=None,
        alias="list",
        max_length=100,
        description="the list of `contact` (needed when the address is on several lists)",
    )


class Rendered(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    subject: str
    html: str
    text: str


class TestSend(Preview):
    to: str = Field(max_length=320, description="the address to send the test to")
    from_: str = Field(
        alias="from", max_length=320, description="a sender address the tenant may use"
    )


class Queued(BaseModel):
    queue_id: str


def _shown(template: TemplateInfo) -> dict[str, object]:
    parsed = templates.compiled(template)
    return {
        **asdict(template),
        "variables": list(parsed.variables),
        "required": list(parsed.required),
    }


@api.endpoint(
    "GET",
    "/templates",
    summary="List templates",
    tag="templates",
    query=TenantFilter,
    response=TemplateList,
)
async def list_templates(ctx: Context, call: Call) -> object:
    found = await templates.list_templates(ctx, call.query.tenant)
    return {"data": [_shown(t) for t in found]}


@api.endpoint(
    "POST",
    "/templates",
    summary="Create a template (its HTML sanitised)",
    tag="templates",
    body=TemplateCreate,
    response=Template,
    status=201,
)
async def create_template(ctx: Context, call: Call) -> object:
    body = call.body
    created = await templates.create_template(
        ctx, body.name, body.subject, body.html, body.text, body.tenant
    )
    return _shown(created)


@api.endpoint(
    "GET", "/templates/{id:int}", summary="A template", tag="templates", response=Template
)
async def get_template(ctx: Context, call: Call) -> object:
    return _shown(await templates.get_template(ctx, call.path["id"]))


@api.endpoint(
    "PATCH",
    "/templates/{id:int}",
    summary="Change a template's name or parts",
    tag="templates",
    body=TemplateChange,
    response=Template,
)
async def change_template(ctx: Context, call: Call) -> object:
    body = call.body
    changed = await templates.update_template(
        ctx, call.path["id"], name=body.name, subject=body.subject, html=body.html, text=body.text
    )
    return _shown(changed)


@api.endpoint(
    "DELETE",
    "/templates/{id:int}",
    summary="Delete a template",
    tag="templates",
    response=None,
    status=204,
)
async def delete_template(ctx: Context, call: Call) -> None:
    await templates.delete_template(ctx, call.path["id"])


@api.endpoint(
    "POST",
    "/templates/{id:int}/preview",
    summary="Render with a contact's fields (a variable without value or fallback: 400)",
    tag="templates",
    body=Preview,
    response=Rendered,
)
async def preview_template(ctx: Context, call: Call) -> object:
    body = call.body
    return await templates.preview(ctx, call.path["id"], body.variables, body.contact, body.list_)


@api.endpoint(
    "POST",
    "/templates/{id:int}/test",
    summary="Send it rendered to one address, through the sending policy and the spool",
    tag="templates",
    body=TestSend,
    response=Queued,
    status=202,
)
async def test_template(ctx: Context, call: Call) -> object:
    body = call.body
    queue_id = await templates.send_test(
        ctx, call.path["id"], body.to, body.from_, body.variables, body.contact, body.list_
    )
    return {"queue_id": queue_id}
