"""`/api/v1/domains`: sending domains, their DNS records, the live DNS check, sync with SES,
settings, and their sender addresses."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from admin.api.base import Api, Call
from admin.ops import domains
from admin.ops.context import Context
from admin.ops.publish import INSYNC_WAIT, publish_domain, step_rows

api = Api()


class DomainState(BaseModel):
    """What SES last said about the identity (see `POST /domains/{name}/sync`)."""

    model_config = ConfigDict(from_attributes=True)

    verified_for_sending: bool
    verification_status: str = Field(description="SUCCESS, PENDING, FAILED, TEMPORARY_FAILURE, …")
    dkim_status: str | None
    signing_origin: str | None = Field(description="AWS_SES (Easy DKIM) or EXTERNAL (BYODKIM)")
    mail_from_domain: str | None
    mail_from_status: str | None


class Domain(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="the ASCII (punycode) form")
    display_name: str = Field(description="the Unicode form")
    tenant: str
    region: str
    dkim_mode: str = Field(description="easy or byodkim")
    restrict_to_addresses: bool
    state: DomainState
    open_tracking: bool
    click_tracking: bool
    unsubscribe: bool
    tracking_host: str | None = Field(description="null: PUBLIC_URL's host")
    created_at: datetime
    verified_at: datetime | None
    checked_at: datetime | None
    next_check_at: datetime | None


class DomainList(BaseModel):
    data: list[Domain]


class DnsRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    type: str = Field(description="CNAME, TXT or MX")
    name: str
    value: str = Field(description="without quotes or a trailing dot")
    purpose: str
    required: bool = Field(description="false: recommended")


class RecordList(BaseModel):
    data: list[DnsRecord]


class DomainDetail(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    domain: Domain
    records: list[DnsRecord]
    zone: list[str] = Field(description="the records as zone-file lines")


class DomainQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(default=None, description="an admin's filter")


class DomainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=253, description="example.com, or an internationalized name")
    tenant: str | None = Field(default=None, description="required with an admin key")
    dkim: Literal["easy", "byodkim"] = Field(
        default="easy", description="easy: SES keeps the key; byodkim: the gateway makes one"
    )
    mail_from: str | None = Field(
        default=None, max_length=253, description="a custom MAIL FROM subdomain, e.g. mail"
    )


class DomainSettings(BaseModel):
    """Only the members given change."""

    model_config = ConfigDict(extra="forbid")

    restrict_to_addresses: bool | None = Field(
        default=None, description="only the domain's listed addresses may send"
    )
    mail_from: str | None = Field(default=None, max_length=253, description="e.g. mail")
    open_tracking: bool | None = None
    click_tracking: bool | None = None
    unsubscribe: bool | None = Field(
        default=None, description="a one-click List-Unsubscribe header; needs an https PUBLIC_URL"
    )
    tracking_host: str | None = Field(
        default=None, max_length=253, description='host of tracking links; "": PUBLIC_URL\'s'
    )


class RecordCheck(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    type: str
    name: str
    expected: str
    found: list[str]
    status: str = Field(description="ok, missing, wrong, conflict or unchecked")
    detail: str
    nameserver: str | None = Field(description="the nameserver that answered, host:port")


class DomainCheck(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    domain: Domain
    records: list[RecordCheck]


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zone_id: str | None = Field(
        default=None, max_length=64, description="the hosted zone; null: the one that holds it"
    )
    dry_run: bool = Field(default=False, description="answer the change set, send nothing")
    expect: str | None = Field(
        default=None,
        max_length=64,
        description="the `fingerprint` of a dry run: refused (nothing sent) if the change set "
        "has changed since",
    )
    wait: float = Field(default=60, ge=0, le=INSYNC_WAIT, description="seconds to wait for INSYNC")


class HostedZone(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    private: bool


class PublishStep(BaseModel):
    action: str = Field(description="create, update, present or conflict (left alone)")
    type: str
    name: str
    value: str = Field(description="the record the gateway shows")
    found: list[str] = Field(description="what the zone holds at the name and type")
    values: list[str] = Field(description="the record set written (create, update)")
    detail: str = Field(description="for a conflict, what to do by hand")


class DomainPublish(BaseModel):
    domain: Domain
    zone: HostedZone
    dry_run: bool
    fingerprint: str = Field(description="of the changes: give it as `expect` to apply them")
    steps: list[PublishStep]
    change_id: str | None = Field(description="null: nothing sent")
    status: str | None = Field(description="INSYNC, or PENDING when the wait ran out")
    check: list[RecordCheck] | None = Field(description="the live DNS check, once in sync")


class SyncEvent(BaseModel):
    kind: str
    detail: str


class DomainSync(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    domain: Domain
    events: list[SyncEvent] = Field(description="what changed since SES was last asked")


class DomainRemoved(BaseModel):
    domain: str
    failed_messages: int = Field(description="queued messages from the domain, now failed")


class Address(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    address: str
    domain: str
    tenant: str
    ses_identity: bool = Field(description="verified with SES by email")
    verified_for_sending: bool
    verification_status: str | None
    created_at: datetime


class AddressList(BaseModel):
    data: list[Address]


class AddressCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=320)
    verify_email: bool = Field(
        default=False, description="SES emails a confirmation link (no DNS needed)"
    )


TAG = "domains"


@api.endpoint(
    "GET", "/domains", summary="List domains", tag=TAG, query=DomainQuery, response=DomainList
)
async def list_domains(ctx: Context, call: Call) -> object:
    return {"data": await domains.list_domains(ctx, call.query.tenant)}


@api.endpoint(
    "POST",
    "/domains",
    summary="Add a domain: registers it with SES and answers the records to publish",
    tag=TAG,
    body=DomainCreate,
    response=DomainDetail,
    status=201,
)
async def add_domain(ctx: Context, call: Call) -> object:
    body = call.body
    return await domains.add_domain(ctx, body.tenant, body.name, body.dkim, body.mail_from)


@api.endpoint(
    "GET", "/domains/{name}", summary="A domain and its DNS records", tag=TAG, response=DomainDetail
)
async def get_domain(ctx: Context, call: Call) -> object:
    return await domains.get_domain(ctx, call.path["name"])


@api.endpoint(
    "PATCH",
    "/domains/{name}",
    summary="Change a domain's settings",
    tag=TAG,
    body=DomainSettings,
    response=DomainDetail,
)
async def update_domain(ctx: Context, call: Call) -> object:
    changes = call.body.model_dump(exclude_none=True)
    return await domains.update_domain(ctx, call.path["name"], **changes)


@api.endpoint(
    "DELETE",
    "/domains/{name}",
    summary="Remove a domain: deletes its SES identity and fails its queued mail",
    tag=TAG,
    response=DomainRemoved,
)
async def remove_domain(ctx: Context, call: Call) -> object:
    domain, failed = await domains.remove_domain(ctx, call.path["name"])
    return {"domain": domain.name, "failed_messages": failed}


@api.endpoint(
    "GET",
    "/domains/{name}/records",
    summary="The DNS records to publish",
    tag=TAG,
    response=RecordList,
)
async def list_records(ctx: Context, call: Call) -> object:
    return {"data": (await domains.get_domain(ctx, call.path["name"])).records}


@api.endpoint(
    "POST",
    "/domains/{name}/check",
    summary="Look the domain's records up in DNS now",
    tag=TAG,
    response=DomainCheck,
)
async def check_domain(ctx: Context, call: Call) -> object:
    return await domains.check_domain(ctx, call.path["name"])


@api.endpoint(
    "POST",
    "/domains/{name}/publish",
    summary="Publish the DNS records to the Route 53 hosted zone that holds the domain",
    tag=TAG,
    body=PublishRequest,
    response=DomainPublish,
)
async def publish(ctx: Context, call: Call) -> object:
    body = call.body
    published = await publish_domain(
        ctx,
        call.path["name"],
        body.zone_id,
        dry_run=body.dry_run,
        expect=body.expect,
        wait=body.wait,
    )
    change_set = published.change_set
    steps = step_rows(change_set)
    return {
        "domain": published.domain,
        "zone": change_set.zone,
        "dry_run": published.dry_run,
        "fingerprint": change_set.fingerprint,
        "steps": steps,
        "change_id": published.change_id,
        "status": published.status,
        "check": published.check,
    }


@api.endpoint(
    "POST",
    "/domains/{name}/sync",
    summary="Ask SES about the domain now",
    tag=TAG,
    response=DomainSync,
)
async def sync_domain(ctx: Context, call: Call) -> object:
    synced = await domains.sync_domain(ctx, call.path["name"])
    events = [{"kind": kind, "detail": detail} for kind, detail in synced.events]
    return {"domain": synced.domain, "events": events}


@api.endpoint(
    "GET",
    "/domains/{name}/addresses",
    summary="The domain's sender addresses",
    tag=TAG,
    response=AddressList,
)
async def list_addresses(ctx: Context, call: Call) -> object:
    return {"data": await domains.list_addresses(ctx, call.path["name"])}


@api.endpoint(
    "POST",
    "/domains/{name}/addresses",
    summary="Add a sender address",
    tag=TAG,
    body=AddressCreate,
    response=Address,
    status=201,
)
async def add_address(ctx: Context, call: Call) -> object:
    body = call.body
    return await domains.add_address(ctx, call.path["name"], body.address, body.verify_email)


@api.endpoint(
    "DELETE",
    "/domains/{name}/addresses/{address}",
    summary="Remove a sender address",
    tag=TAG,
    response=None,
    status=204,
)
async def remove_address(ctx: Context, call: Call) -> None:
    await domains.remove_address(ctx, call.path["name"], call.path["address"])
