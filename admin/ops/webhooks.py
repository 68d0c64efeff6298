"""Tenants' webhooks: add (the signing secret shown once), remove, send a test event, and the
attempts made to deliver."""

from __future__ import annotations

from collections.abc import Iterable

from admin.ops.context import Context
from gateway.domains.names import shown_url
from gateway.storage import webhooks as store
from gateway.webhooks import manage
from gateway.webhooks.schema import check_event_types


async def list_webhooks(ctx: Context, tenant: str | None = None) -> list[store.WebhookInfo]:
    """The actor's tenant's webhooks; an admin's: every tenant's, or the one named."""
    return await store.list_webhooks(ctx.db, ctx.tenant_name(tenant or None))


async def get_webhook(ctx: Context, webhook_id: int) -> store.WebhookInfo:
    webhook = await store.get_webhook(ctx.db, webhook_id)
    ctx.owns(webhook.tenant, f"webhook {webhook_id}")
    return webhook


async def add_webhook(
    ctx: Context, url: str, events: Iterable[str], tenant: str | None = None
) -> tuple[store.WebhookInfo, str]:
    """Register `url` for the tenant's events of `events` (none: every type); (the webhook, its
    signing secret, shown only now)."""
    ctx.require_write()
    owner = await ctx.require_tenant(tenant or None)
    chosen = check_event_types(events)
    services = ctx.services
    webhook, secret = await manage.add(
        ctx.db,
        services.secret_key,
        owner.name,
        url.strip(),
        chosen,
        allow_private=services.settings.webhook_allow_private,
    )
    said = f"webhook {webhook.id}, events {','.join(chosen) or 'all'}"
    await ctx.audit("webhook.added", shown_url(webhook.url), said, tenant=owner.name)
    return webhook, secret


async def remove_webhook(ctx: Context, webhook_id: int) -> store.WebhookInfo:
    """Delete a webhook with its deliveries and their attempts."""
    ctx.require_write()
    webhook = await get_webhook(ctx, webhook_id)
    await store.delete_webhook(ctx.db, webhook.id)
    await ctx.audit(
        "webhook.removed", shown_url(webhook.url), f"webhook {webhook.id}", tenant=webhook.tenant
    )
    return webhook


async def send_test(ctx: Context, webhook_id: int) -> manage.TestResult:
    """POST a `test` event to the webhook now, once; what came of it."""
    ctx.require_write()
    webhook = await get_webhook(ctx, webhook_id)
    services = ctx.services
    result = await manage.send_test(ctx.db, services.settings, services.secret_key, webhook.id)
    said = f"webhook {webhook.id}: {result.state} ({result.outcome})"
    await ctx.audit("webhook.tested", shown_url(webhook.url), said, tenant=webhook.tenant)
    return result


async def list_attempts(ctx: Context, webhook_id: int, limit: int = 50) -> list[store.AttemptInfo]:
    """The webhook's latest attempts, newest first."""
    webhook = await get_webhook(ctx, webhook_id)
    return await store.list_attempts(ctx.db, webhook.id, limit)
