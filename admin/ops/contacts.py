"""Contact lists and their contacts: lists, contacts (add, edit, unsubscribe, remove, search,
export) and CSV imports with their reports.

Lists belong to one tenant: a tenant's people and keys see only their own, an admin every
tenant's (naming the tenant when creating one). Every change is audited here; an import once,
with its counts.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from admin.ops.context import Context
from gateway.audience import contacts, imports
from gateway.core.exceptions import InvalidInputError, NotFoundError
from gateway.core.types.contacts import ContactInfo, ImportInfo, ListCounts, ListInfo
from gateway.storage import contacts as store
from gateway.storage.pages import Paged


@dataclass(frozen=True, slots=True)
class Filters:
    """The contacts' filters of the page and the API, as given (empty: not filtered)."""

    search: str = ""
    status: str = ""


async def lists(ctx: Context, tenant: str | None = None) -> list[ListInfo]:
    """The actor's tenant's lists; an admin's: every tenant's, or the one named."""
    return await store.list_lists(ctx.db, await ctx.tenant_id(tenant or None))


async def get_list(ctx: Context, list_id: int) -> ListInfo:
    found = await store.get_list(ctx.db, list_id)
    ctx.owns(found.tenant, f"list {list_id}")
    return found


async def find_list(ctx: Context, name: str, tenant: str | None = None) -> ListInfo:
    """The list of that name of the actor's tenant (an admin's: of the tenant named)."""
    owner = await ctx.require_tenant(tenant or None)
    return await store.find_list(ctx.db, owner.id, name.strip())


async def list_counts(ctx: Context, list_id: int) -> ListCounts:
    return await store.counts(ctx.db, (await get_list(ctx, list_id)).id, contacts.now())


async def create_list(ctx: Context, name: str, tenant: str | None = None) -> ListInfo:
    ctx.require_write()
    owner = await ctx.require_tenant(tenant or None)
    created = await store.create_list(ctx.db, owner.id, contacts.list_name(name), contacts.now())
    await ctx.audit("list.created", created.name, f"list {created.id}", tenant=owner.name)
    return created


async def delete_list(ctx: Context, list_id: int) -> ListInfo:
    """The list with its contacts and its imports' reports."""
    ctx.require_write()
    found = await get_list(ctx, list_id)
    total = (await store.counts(ctx.db, found.id, contacts.now())).total
    await store.delete_list(ctx.db, found.id)
    said = f"list {found.id}, with its {total} contacts"
    await ctx.audit("list.deleted", found.name, said, tenant=found.tenant)
    return found


async def list_contacts(
    ctx: Context, list_id: int, filters: Filters, limit: int = 50, cursor: str | None = None
) -> Paged[ContactInfo]:
    """A page of the list's contacts that the filters find, newest first."""
    search = await _search(ctx, list_id, filters)
    found, after = await store.recent_contacts(
        ctx.db, search, contacts.now(), limit, cursor or None
    )
    return Paged(found, after)


async def _search(ctx: Context, list_id: int, filters: Filters) -> store.Search:
    found = await get_list(ctx, list_id)
    status = contacts.check_search_status(filters.status.strip())
    return store.Search(found.id, filters.search.strip() or None, status)


async def export_csv(ctx: Context, list_id: int, filters: Filters) -> contacts.CsvExport:
    """The contacts the filters find as CSV (`contacts.CsvExport`), the list checked first."""
    return contacts.CsvExport(ctx.db, await _search(ctx, list_id, filters))


async def get_contact(ctx: Context, list_id: int, address: str) -> ContactInfo:
    found = await get_list(ctx, list_id)
    return await store.get_contact(ctx.db, found.id, contacts.email(address), contacts.now())


async def find_contact(
    ctx: Context, address: str, list_name: str | None = None, tenant: str | None = None
) -> ContactInfo:
    """The contact of that address on the list named, else on the one list of the tenant it is
    on; on several, refused naming them (a contact's fields are those of one list)."""
    owner = await ctx.require_tenant(tenant or None)
    normalized = contacts.email(address)
    if list_name and list_name.strip():
        on = [await find_list(ctx, list_name, owner.name)]
    else:
        on = await store.lists_with(ctx.db, owner.id, normalized)
    if not on:
        raise NotFoundError(f"{normalized} is on no list of tenant {owner.name}")
    if len(on) > 1:
        names = ", ".join(repr(found.name) for found in on)
        raise InvalidInputError(f"{normalized} is on {len(on)} lists: name one of {names}", "list")
    return await store.get_contact(ctx.db, on[0].id, normalized, contacts.now())


async def add_contact(
    ctx: Context, list_id: int, address: str, fields: dict[str, str] | None = None
) -> ContactInfo:
    ctx.require_write()
    found = await get_list(ctx, list_id)
    owner = await ctx.require_tenant(found.tenant)
    added = await store.add_contact(
        ctx.db,
        owner.id,
        found.id,
        contacts.email(address),
        contacts.check_fields(fields or {}),
        contacts.now(),
    )
    await ctx.audit("contact.added", added.email, f"to list {found.name}", tenant=found.tenant)
    return added


async def edit_contact(
    ctx: Context,
    list_id: int,
    address: str,
    fields: dict[str, str] | None = None,
    unset: tuple[str, ...] = (),
    status: str | None = None,
    how: str = "manual",
    replace: bool = False,
) -> ContactInfo:
    """Set fields (an empty value removes the field; `replace`: `fields` are all the contact
    has), remove the fields `unset` names, and subscribe or unsubscribe the contact (`how`: one
    of `contacts.HOW`). Unsubscribing an unsubscribed contact keeps when and how it did."""
    ctx.require_write()
    found = await get_list(ctx, list_id)
    current = await store.get_contact(ctx.db, found.id, contacts.email(address), contacts.now())
    given = fields or {}
    changed = {} if replace else dict(current.fields)
    for name, value in given.items():
        changed[contacts.field_name(name)] = value
    for name in unset:
        changed.pop(contacts.field_name(name), None)
    new_fields = contacts.check_fields(changed)
    unsubscribed = None
    if current.unsubscribed_at is not None:
        unsubscribed = (current.unsubscribed_at, current.unsubscribed_how or how)
    if status is not None:
        chosen = contacts.check_status(status)
        if chosen == "subscribed":
            unsubscribed = None
        elif unsubscribed is None:
            unsubscribed = (contacts.now(), contacts.check_how(how))
    edited = await store.update_contact(
        ctx.db, found.id, current.email, new_fields, unsubscribed, contacts.now()
    )
    said = [f"in list {found.name}"]
    if new_fields != current.fields:
        said.append("fields " + ", ".join(sorted(new_fields)) if new_fields else "no fields")
    if (current.unsubscribed_at is None) != (unsubscribed is None):
        said.append("unsubscribed" if unsubscribed else "subscribed again")
    await ctx.audit("contact.updated", edited.email, "; ".join(said), tenant=found.tenant)
    return edited


async def remove_contact(ctx: Context, list_id: int, address: str) -> str:
    """Remove the contact; its address as stored."""
    ctx.require_write()
    found = await get_list(ctx, list_id)
    normalized = contacts.email(address)
    await store.remove_contact(ctx.db, found.id, normalized)
    await ctx.audit("contact.removed", normalized, f"from list {found.name}", tenant=found.tenant)
    return normalized


async def import_csv(
    ctx: Context, list_id: int, chunks: AsyncIterable[bytes], filename: str
) -> ImportInfo:
    """Import a CSV file read as it arrives (`gateway.audience.imports`); its report (`state`
    `failed` with `error`: the file was refused and nothing of it imported)."""
    ctx.require_write()
    found = await get_list(ctx, list_id)
    owner = await ctx.require_tenant(found.tenant)
    report = await imports.import_csv(
        ctx.db, found, owner.id, chunks, filename.strip() or "upload.csv", ctx.actor.name
    )
    if report.state == "done":
        said = (
            f"into list {found.name}: {report.rows} rows, added {report.added}, updated "
            f"{report.updated}, duplicates {report.duplicates}, invalid {report.invalid}"
        )
    else:
        said = f"into list {found.name}, refused: {report.error}"
    await ctx.audit("contacts.imported", report.filename, said, tenant=found.tenant)
    return report


async def list_imports(ctx: Context, list_id: int) -> list[ImportInfo]:
    """The list's latest imports, newest first."""
    return await store.list_imports(ctx.db, (await get_list(ctx, list_id)).id)


async def get_import(ctx: Context, import_id: int) -> ImportInfo:
    found = await store.get_import(ctx.db, import_id)
    ctx.owns(found.tenant, f"import {import_id}")
    return found


async def invalid_rows_csv(ctx: Context, import_id: int) -> AsyncIterator[str]:
    """The import's invalid rows as CSV text in chunks (line, reason)."""
    return imports.invalid_csv_chunks(ctx.db, (await get_import(ctx, import_id)).id)


async def invalid_rows(ctx: Context, import_id: int, limit: int) -> list[tuple[int, str]]:
    """The import's first `limit` invalid rows: (line, reason)."""
    found = await get_import(ctx, import_id)
    async for batch in store.import_errors(ctx.db, found.id, limit):
        return batch
    return []
