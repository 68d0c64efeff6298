"""SMTP credentials and API keys (their secrets shown once, at creation), and the trusted
networks whose clients send without AUTH (admins only: a network bypasses authentication)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from admin.ops.context import Context
from gateway.core.exceptions import ConflictError, InvalidInputError
from gateway.core.types.tenants import CredentialInfo, NetworkInfo, TenantInfo
from gateway.core.types.users import ApiKeyInfo
from gateway.identity import accounts, apikeys
from gateway.storage import apikeys as key_store
from gateway.storage import networks
from gateway.storage import tenants as tenant_store
from gateway.storage.database import Database

Secret = TypeVar("Secret", CredentialInfo, ApiKeyInfo)


async def _new_for(ctx: Context, tenant: str | None) -> TenantInfo:
    """The tenant something is created for: the actor's own; an admin must name one."""
    ctx.require_write()
    if ctx.actor.is_admin and not tenant:
        raise InvalidInputError("name the tenant it is for", "tenant")
    return await ctx.require_tenant(tenant)


async def list_credentials(ctx: Context, tenant: str | None = None) -> list[CredentialInfo]:
    """The credentials of the actor's tenant (an admin: every tenant's, or the one named)."""
    scope = await ctx.tenant(tenant)
    return await tenant_store.list_credentials(ctx.db, scope.name if scope else None)


async def get_credential(ctx: Context, credential_id: int) -> CredentialInfo:
    credential = await tenant_store.get_credential(ctx.db, credential_id)
    ctx.owns(credential.tenant, f"credential with id {credential_id}")
    return credential


async def create_credential(
    ctx: Context, tenant: str | None, description: str = "", allow: Sequence[str] = ()
) -> accounts.NewCredential:
    """A credential with a generated username and password (known only in the answer)."""
    owner = await _new_for(ctx, tenant)
    new = await accounts.create_credential(ctx.db, owner.name, description, allow)
    scope = ", ".join(new.credential.allowed_senders) or "any of the tenant's senders"
    detail = f"{description} (may send as {scope})" if description else f"may send as {scope}"
    await ctx.audit("credential.created", new.credential.username, detail, tenant=owner.name)
    return new


async def _revoke(
    ctx: Context,
    found: Secret,
    what: str,
    name: str,
    kind: str,
    revoke: Callable[[Database, int, datetime], Awaitable[Secret]],
) -> Secret:
    """Revoke `what` (a credential or key the actor may see) called `name`, once; the audit
    entry is a `kind` of `name`."""
    if found.revoked_at is not None:
        raise ConflictError(f"{what} {name} is already revoked")
    revoked = await revoke(ctx.db, found.id, accounts.now())
    await ctx.audit(kind, name, tenant=revoked.tenant)
    return revoked


async def revoke_credential(ctx: Context, credential_id: int) -> CredentialInfo:
    ctx.require_write()
    found = await get_credential(ctx, credential_id)
    return await _revoke(
        ctx,
        found,
        "credential",
        found.username,
        "credential.revoked",
        tenant_store.revoke_credential,
    )


async def pause_credential(ctx: Context, credential_id: int, reason: str | None) -> CredentialInfo:
    """Pause (its mail refused at MAIL with `reason`) or resume (None)."""
    ctx.require_write()
    found = await get_credential(ctx, credential_id)
    changed = await accounts.pause_credential(ctx.db, found.id, reason)
    kind = "credential.paused" if reason is not None else "credential.resumed"
    await ctx.audit(kind, changed.username, reason or "", tenant=changed.tenant)
    return changed


async def list_api_keys(ctx: Context, tenant: str | None = None) -> list[ApiKeyInfo]:
    """The keys of the actor's tenant; an admin sees every key, admin keys too."""
    return await key_store.list_keys(ctx.db, await ctx.tenant_id(tenant))


async def create_api_key(
    ctx: Context, tenant: str | None, admin: bool = False, description: str = ""
) -> apikeys.NewApiKey:
    """A key of one tenant (an owner: its own), or an admin key (admins only)."""
    if admin:
        ctx.require_admin()
        if tenant:
            raise InvalidInputError("an admin key belongs to no tenant: name none", "tenant")
        name = None
    else:
        name = (await _new_for(ctx, tenant)).name
    new = await apikeys.create_api_key(ctx.db, name, description)
    detail = f"tenant key of {name}" if name else "admin key (every tenant)"
    await ctx.audit("apikey.created", new.info.prefix, detail, tenant=name)
    return new


async def get_api_key(ctx: Context, key_id: int) -> ApiKeyInfo:
    found = await key_store.get_key(ctx.db, key_id)
    ctx.owns(found.tenant, f"API key with id {key_id}")
    return found


async def revoke_api_key(ctx: Context, key_id: int) -> ApiKeyInfo:
    ctx.require_write()
    found = await get_api_key(ctx, key_id)
    return await _revoke(
        ctx, found, "API key", found.prefix, "apikey.revoked", key_store.revoke_key
    )


async def list_networks(ctx: Context, tenant: str | None = None) -> list[NetworkInfo]:
    ctx.require_admin()
    scope = await ctx.tenant(tenant)
    return await networks.list_networks(ctx.db, scope.name if scope else None)


async def add_network(ctx: Context, tenant: str | None, cidr: str) -> NetworkInfo:
    """Let clients in `cidr` send without AUTH as the tenant."""
    ctx.require_admin()
    owner = await _new_for(ctx, tenant)
    added = await accounts.trust_network(ctx.db, owner.name, cidr, ctx.services.settings)
    await ctx.audit("network.added", added.cidr, "clients send without AUTH", tenant=owner.name)
    return added


async def remove_network(ctx: Context, cidr: str) -> str:
    ctx.require_admin()
    cidr = accounts.check_network(cidr)
    owners = [n.tenant for n in await networks.list_networks(ctx.db) if n.cidr == cidr]
    await accounts.untrust_network(ctx.db, cidr)
    await ctx.audit("network.removed", cidr, tenant=owners[0] if owners else None)
    return cidr
