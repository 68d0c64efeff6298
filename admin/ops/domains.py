"""Sending domains and their addresses: add, the records to publish, the live DNS check, sync
with SES, settings and removal, each scoped to the actor's tenant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from admin.ops.context import Context
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.core.types.domains import AddressInfo, DnsRecord, DomainInfo, RecordCheck
from gateway.dev.emulator import publish_records, running_emulator
from gateway.domains.identities import DomainSync, parse_address
from gateway.domains.records import zone_lines
from gateway.storage import domains as store


@dataclass(frozen=True, slots=True)
class DomainView:
    """A domain with the DNS records to publish (also as zone-file lines) and its addresses."""

    domain: DomainInfo
    records: list[DnsRecord]
    zone: list[str]
    addresses: list[AddressInfo]


@dataclass(frozen=True, slots=True)
class DomainCheck:
    domain: DomainInfo
    records: list[RecordCheck]


@contextmanager
def _field(name: str) -> Iterator[None]:
    """Refusals that name no input are about `name`."""
    try:
        yield
    except InvalidInputError as exc:
        if exc.field:
            raise
        raise InvalidInputError(str(exc), name) from exc


async def _domain(ctx: Context, name: str) -> DomainInfo:
    """The domain, if the actor's tenant has it; any other is refused as if it did not exist."""
    try:
        domain = await ctx.services.domains.get(name)
    except (NotFoundError, InvalidInputError):
        raise NotFoundError(f"no domain {name}") from None
    ctx.owns(domain.tenant, f"domain {name}")
    return domain


async def _view(ctx: Context, domain: DomainInfo) -> DomainView:
    records = ctx.services.domains.records(domain)
    addresses = await store.list_addresses(ctx.db, domain.tenant, domain.name)
    return DomainView(domain, records, zone_lines(records), addresses)


async def list_domains(ctx: Context, tenant: str | None = None) -> list[DomainInfo]:
    """The actor's tenant's domains; an admin's, of the tenant named (None: every tenant)."""
    return await store.list_domains(ctx.db, ctx.tenant_name(tenant))


async def get_domain(ctx: Context, name: str) -> DomainView:
    return await _view(ctx, await _domain(ctx, name))


async def add_domain(
    ctx: Context, tenant: str | None, name: str, dkim: str = "easy", mail_from: str | None = None
) -> DomainView:
    """Register the domain with SES for the actor's tenant (an admin names the tenant)."""
    ctx.require_write()
    if ctx.actor.is_admin and not tenant:
        raise InvalidInputError("choose the tenant the domain is for", "tenant")
    owner = await ctx.require_tenant(tenant)
    with _field("name"):
        domain = await ctx.services.domains.add(owner.name, name, dkim, mail_from or None)
    detail = f"registered with SES in {domain.region}, {domain.dkim_mode} DKIM" + (
        f", MAIL FROM {domain.state.mail_from_domain}" if domain.state.mail_from_domain else ""
    )
    await ctx.audit("domain.added", domain.name, detail, tenant=domain.tenant)
    return await _view(ctx, domain)


async def check_domain(ctx: Context, name: str) -> DomainCheck:
    """Look the domain's records up in DNS now (changes nothing: viewers may too)."""
    domain = await _domain(ctx, name)
    ctx.services.dns.clear_cache()  # what DNS says now, not what it said a minute ago
    checked, records = await ctx.services.domains.check(domain.name, ctx.services.dns)
    return DomainCheck(checked, records)


async def sync_domain(ctx: Context, name: str) -> DomainSync:
    """Ask SES about the domain now and store its answer."""
    ctx.require_write()
    synced = await ctx.services.domains.sync_now(await _domain(ctx, name))
    said = "; ".join(detail for _, detail in synced.events) or "no change"
    await ctx.audit("domain.synced", synced.domain.name, said, tenant=synced.domain.tenant)
    return synced


async def verify_domain(ctx: Context, name: str) -> DomainSync:
    """Beside `serve --dev` only: the emulator takes the domain's DNS records as published now,
    and SES (the emulator) is asked about the domain, as the identity sync would."""
    ctx.require_write()
    domain = await _domain(ctx, name)
    url = running_emulator(ctx.services.settings.data_dir)
    if url is None:
        raise InvalidInputError(
            "`domain verify` needs the SES emulator of a `serve --dev` running on this data "
            "folder: it plays the DNS change. With SES, publish the records (`domain show`) "
            f"and check them (`domain check {domain.name}`): SES verifies the domain once it "
            f"finds them and the gateway notices within minutes (`domain sync {domain.name}` "
            "asks now)"
        )
    await publish_records(url, domain.region, domain.name)
    return await sync_domain(ctx, domain.name)


async def update_domain(
    ctx: Context,
    name: str,
    *,
    restrict_to_addresses: bool | None = None,
    mail_from: str | None = None,
    open_tracking: bool | None = None,
    click_tracking: bool | None = None,
    unsubscribe: bool | None = None,
    tracking_host: str | None = None,
) -> DomainView:
    """Change the options given (None: as it is); `tracking_host` "" is `PUBLIC_URL`'s host."""
    ctx.require_write()
    domain = await _domain(ctx, name)
    domain = await ctx.services.domains.update(
        domain.name,
        restrict_to_addresses,
        mail_from,
        open_tracking,
        click_tracking,
        unsubscribe,
        tracking_host,
    )
    given = (
        ("restrict_to_addresses", restrict_to_addresses),
        ("mail_from", mail_from),
        ("open_tracking", open_tracking),
        ("click_tracking", click_tracking),
        ("unsubscribe", unsubscribe),
        ("tracking_host", tracking_host),
    )
    said = ", ".join(
        f"{key} {'on' if value is True else 'off' if value is False else value or 'default'}"
        for key, value in given
        if value is not None
    )
    await ctx.audit("domain.changed", domain.name, said, tenant=domain.tenant)
    return await _view(ctx, domain)


async def remove_domain(ctx: Context, name: str) -> tuple[DomainInfo, int]:
    """Delete the SES identity and the domain; fail its queued mail (how many failed)."""
    ctx.require_write()
    domain, failed = await ctx.services.domains.remove((await _domain(ctx, name)).name)
    detail = f"{failed} queued messages failed"
    await ctx.audit("domain.removed", domain.name, detail, tenant=domain.tenant)
    return domain, failed


async def list_addresses(ctx: Context, name: str) -> list[AddressInfo]:
    domain = await _domain(ctx, name)
    return await store.list_addresses(ctx.db, domain.tenant, domain.name)


async def add_address(
    ctx: Context, name: str, address: str, verify_email: bool = False
) -> AddressInfo:
    """Add a sender address under the domain; with `verify_email`, SES verifies it by email."""
    ctx.require_write()
    domain = await _domain(ctx, name)
    with _field("address"):
        parsed = parse_address(address)
    if parsed.domain.ascii != domain.name:
        raise InvalidInputError(f"{address} is not an address at {domain.name}", "address")
    added = await ctx.services.domains.add_address(str(parsed), verify_email)
    detail = "verified by email" if verify_email else ""
    await ctx.audit("address.added", added.address, detail, tenant=added.tenant)
    return added


async def remove_address(ctx: Context, name: str, address: str) -> AddressInfo:
    ctx.require_write()
    domain = await _domain(ctx, name)
    try:
        wanted = str(parse_address(address))
    except InvalidInputError:
        raise NotFoundError(f"no address {address}") from None
    found = await store.find_address(ctx.db, wanted)
    if found is None or found.domain != domain.name:
        raise NotFoundError(f"no address {address} at {domain.name}")
    removed = await ctx.services.domains.remove_address(found.address)
    await ctx.audit("address.removed", removed.address, tenant=removed.tenant)
    return removed
