"""Templates as stored, on SQLite and PostgreSQL: one name per tenant, changes, removal with
the tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.exceptions import ConflictError, NotFoundError
from gateway.identity import accounts
from gateway.storage import templates as store
from gateway.storage.database import Database

NOW = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)


async def test_a_name_is_unique_within_a_tenant_only(db: Database) -> None:
    acme = await accounts.create_tenant(db, "acme")
    globex = await accounts.create_tenant(db, "globex")
    first = await store.add_template(db, acme.id, "welcome", "Hi", "<p>x</p>", None, NOW)
    await store.add_template(db, globex.id, "welcome", "Yo", "<p>y</p>", "y", NOW)
    with pytest.raises(ConflictError, match="welcome"):
        await store.add_template(db, acme.id, "welcome", "Again", "<p>z</p>", None, NOW)
    found = await store.find_template(db, "acme", "welcome")
    assert (found.id, found.tenant, found.subject, found.text) == (first, "acme", "Hi", None)
    assert [t.tenant for t in await store.list_templates(db)] == ["acme", "globex"]
    assert [t.subject for t in await store.list_templates(db, "globex")] == ["Yo"]
    with pytest.raises(NotFoundError):
        await store.find_template(db, "globex", "nope")


async def test_a_template_is_changed_then_deleted(db: Database) -> None:
    acme = await accounts.create_tenant(db, "acme")
    template_id = await store.add_template(db, acme.id, "a", "Hi", "<p>x</p>", "x", NOW)
    await store.add_template(db, acme.id, "b", "Hi", "<p>x</p>", None, NOW)
    later = NOW + timedelta(minutes=5)
    await store.update_template(db, template_id, later, name="c", text=None, html="<p>y</p>")
    changed = await store.get_template(db, template_id)
    assert (changed.name, changed.html, changed.text, changed.subject) == (
        "c",
        "<p>y</p>",
        None,
        "Hi",
    )
    assert (changed.created_at, changed.updated_at) == (NOW, later)
    with pytest.raises(ConflictError):
        await store.update_template(db, template_id, later, name="b")
    await store.delete_template(db, template_id)
    with pytest.raises(NotFoundError):
        await store.get_template(db, template_id)
    with pytest.raises(NotFoundError):
        await store.delete_template(db, template_id)
    with pytest.raises(NotFoundError):
        await store.update_template(db, template_id, later, name="d")
