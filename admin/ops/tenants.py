"""Tenants, their limits and pauses, and the people of the panel (admins only change them)."""

from __future__ import annotations

from dataclasses import dataclass

from admin.ops.awsaccounts import tenant_account
from admin.ops.context import Context
from gateway.core.exceptions import AccessDenied
from gateway.core.types.tenants import Limits, TenantInfo
from gateway.core.types.users import UserInfo
from gateway.identity import accounts, users
from gateway.storage import tenants
from gateway.storage import users as user_store


@dataclass(frozen=True, slots=True)
class TenantView:
    tenant: TenantInfo
    limits: Limits
    aws_account: str = "default"
    """The AWS account it sends through; `default`: the process's own credentials."""


async def list_tenants(ctx: Context) -> list[TenantInfo]:
    """Every tenant for an admin; one's own otherwise."""
    own = ctx.tenant_name()
    found = await tenants.list_tenants(ctx.db)
    return [t for t in found if own is None or t.name == own]


async def tenant_choices(ctx: Context) -> list[str]:
    """The tenants' names an admin's forms and filters offer; none for a tenant's people."""
    return [t.name for t in await list_tenants(ctx)] if ctx.actor.is_admin else []


async def get_tenant(ctx: Context, name: str) -> TenantView:
    tenant = await ctx.require_tenant(name)
    limits = await tenants.get_limits(ctx.db, tenant.id)
    return TenantView(tenant, limits, await tenant_account(ctx, tenant.name))


async def create_tenant(ctx: Context, name: str) -> TenantInfo:
    ctx.require_admin()
    tenant = await accounts.create_tenant(ctx.db, name)
    await ctx.audit("tenant.created", tenant.name, tenant=tenant.name)
    return tenant


async def pause_tenant(ctx: Context, name: str, reason: str | None) -> TenantInfo:
    """Pause (reason given) or resume (None). Audited as `tenant.pause` or `tenant.resume`:
    `tenant.paused` is the reputation guard's own pause, which restarts the window it judges
    (`gateway.reputation`); a person's pause says nothing of the tenant's sends."""
    ctx.require_admin()
    tenant = await accounts.pause_tenant(ctx.db, name, reason)
    kind, detail = ("tenant.pause", reason) if reason else ("tenant.resume", "")
    await ctx.audit(kind, tenant.name, detail or "", tenant=tenant.name)
    return tenant


async def set_limits(ctx: Context, name: str, changes: dict[str, str | float | None]) -> TenantView:
    """Change the limits named (None: the gateway's default), each a number more than 0
    (`accounts.check_limit`), as text or a number."""
    ctx.require_admin()
    tenant = await ctx.require_tenant(name)
    limits = await accounts.set_limits(ctx.db, tenant.name, changes)
    stored = {k: getattr(limits, k) for k in changes}
    said = ", ".join(f"{k} {v if v is not None else 'default'}" for k, v in stored.items())
    await ctx.audit("tenant.limits", tenant.name, said, tenant=tenant.name)
    return TenantView(tenant, limits, await tenant_account(ctx, tenant.name))


async def list_users(ctx: Context) -> list[UserInfo]:
    ctx.require_admin()
    return await user_store.list_users(ctx.db)


async def create_user(
    ctx: Context, email: str, role: str, tenant: str | None, password: str | None
) -> users.NewUser:
    ctx.require_admin()
    new = await users.create_user(ctx.db, email, role, tenant, password)
    detail = new.user.role.value + (f" of {new.user.tenant}" if new.user.tenant else "")
    await ctx.audit("user.created", new.user.email, detail, tenant=new.user.tenant)
    return new


async def remove_user(ctx: Context, user_id: int) -> UserInfo:
    ctx.require_admin()
    user = await user_store.get_user(ctx.db, user_id)
    await user_store.delete_user(ctx.db, user_id)
    await ctx.audit("user.removed", user.email, tenant=user.tenant)
    return user


async def change_password(ctx: Context, current: str, new: str) -> str:
    """The signed-in user's own password, the current one asked first (a wrong one counts as a
    failed login); the new session key: every other session of the user ends."""
    user = ctx.actor.user
    if user is None:
        raise AccessDenied("only a signed-in user has a password to change")
    key = await ctx.services.logins.change_password(user, current, new, ctx.client_address or "")
    await ctx.audit("user.password", user.email, "changed the password")
    return key
