"""Lists and contacts as operators and campaigns use them: names checked, addresses normalized
as the suppression list normalizes them (so a contact matches its suppression), field names made
usable as template variables, CSV exports, and the recipients of a list read in batches.

A field name is the column's name in lower case with every run of other characters than
letters, digits and `_` made one `_` (`First Name` is `first_name`): a template writes
`{{first_name}}`. Values are text; an empty value is no value (the field is absent).
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.core import csvcells
from gateway.core.exceptions import InvalidInputError
from gateway.core.names import given_name
from gateway.core.types.contacts import STATUSES, ContactInfo, Recipient
from gateway.feedback.suppressions import normalize_address
from gateway.storage import contacts as store
from gateway.storage.database import Database

MAX_NAME = 100
MAX_FIELDS = 100
MAX_FIELD_NAME = 64
MAX_VALUE = 2000

EXPORT_COLUMNS = ("email", "status", "unsubscribed_at", "unsubscribed_how", "created_at")
"""The columns of an export before the fields. An import ignores them but `email`, so that an
export imports back (its status columns are not fields)."""

RESERVED = frozenset(EXPORT_COLUMNS[1:]) | {"updated_at"}

HOW = ("manual", "api", "link")
"""How a contact unsubscribed: by an operator in the panel or the CLI, by the API, by the
unsubscribe link of a message (the RFC 8058 one-click POST of a mail client and the button of
the link's page are the same request: both `link`)."""


_NOT_NAME = re.compile(r"[^a-z0-9_]+")


def now() -> datetime:
    return datetime.now(UTC)


def list_name(value: str) -> str:
    return given_name(value, "a list", MAX_NAME)


def email(value: str) -> str:
    """The address as stored: `gateway.feedback.suppressions.normalize_address`."""
    if len(value) > 320:
        raise InvalidInputError("an address is at most 320 characters", "email")
    try:
        return normalize_address(value)
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc), "email") from exc


def field_name(value: str) -> str:
    """The field a column or a `name=value` names: see the module's docstring."""
    name = _NOT_NAME.sub("_", value.strip().lower()).strip("_")
    if not name or len(name) > MAX_FIELD_NAME:
        raise InvalidInputError(
            f"{value!r} cannot name a field: use 1 to {MAX_FIELD_NAME} letters, digits or _",
            "fields",
        )
    return name


def field_value(name: str, value: str) -> str:
    if len(value) > MAX_VALUE:
        raise InvalidInputError(
            f"the value of {name} is longer than {MAX_VALUE} characters", "fields"
        )
    if "\x00" in value:
        raise InvalidInputError(f"the value of {name} holds a NUL character", "fields")
    return value


def check_fields(given: dict[str, str]) -> dict[str, str]:
    """Field names normalized, values checked; empty values dropped."""
    fields: dict[str, str] = {}
    for raw, value in given.items():
        name = field_name(raw)
        if name == "email" or name in RESERVED:
            raise InvalidInputError(f"{name!r} is not a field of its own", "fields")
        if value.strip():
            fields[name] = field_value(name, value.strip())
    if len(fields) > MAX_FIELDS:
        raise InvalidInputError(f"a contact has at most {MAX_FIELDS} fields", "fields")
    return fields


def variables(contact: ContactInfo | Recipient) -> dict[str, str]:
    """A contact's fields as a template reads them: its fields, and its address under `email`
    (no field is named `email`: `check_fields`)."""
    return {**contact.fields, "email": contact.email}


def check_status(value: str) -> str:
    status = value.strip().lower()
    if status not in STATUSES[:2]:
        raise InvalidInputError(
            f"a contact is subscribed or unsubscribed (suppression comes from the suppression "
            f"list), not {value!r}",
            "status",
        )
    return status


def check_how(value: str) -> str:
    if value not in HOW:
        raise InvalidInputError(f"unknown way to unsubscribe {value!r}: {', '.join(HOW)}", "how")
    return value


def check_search_status(value: str | None) -> str | None:
    if value and value not in STATUSES:
        raise InvalidInputError(
            f"unknown status {value!r}: use one of {', '.join(STATUSES)}", "status"
        )
    return value or None


async def recipients(
    db: Database, list_id: int, size: int = 1000, at: datetime | None = None
) -> AsyncIterator[list[Recipient]]:
    """What a campaign mails: the list's subscribed contacts that no suppression in force
    names, with their fields, `size` at a time (by contact id, each batch one short read)."""
    async for batch in store.recipients(db, list_id, at or now(), size):
        yield batch


async def unsubscribe_by_link(db: Database, tenant_id: int, address: str, at: datetime) -> int:
    """A person followed the unsubscribe link (or the one-click button) of a message of the
    tenant's at `at`: the address is unsubscribed, how `link`, on every list of the tenant that
    has it subscribed (what the link's page promises: no more mail from this sender, whichever
    list or message it came from); a contact unsubscribed already keeps when and how it did.
    How many contacts were."""
    return await store.unsubscribe_everywhere(db, tenant_id, email(address), at, "link")


@dataclass
class CsvExport:
    """The contacts `search` finds as CSV text, a batch at a time (`chunks()`):
    `EXPORT_COLUMNS`, then every field any of them has (by name). The list is read twice in
    batches (the field names, then the rows), never held whole; formula cells are made inert
    (`gateway.core.csvcells`). `rows`: the contacts written so far."""

    db: Database
    search: store.Search
    rows: int = 0

    async def chunks(self) -> AsyncIterator[str]:
        at = now()
        names: set[str] = set()
        async for batch in store.contact_batches(self.db, self.search, at):
            for contact in batch:
                names.update(contact.fields)
        columns = sorted(names)
        out = io.StringIO()
        writer = csvcells.Writer(out)
        writer.writerow((*EXPORT_COLUMNS, *columns))
        async for batch in store.contact_batches(self.db, self.search, at):
            writer.writerows(_cells(contact, columns) for contact in batch)
            self.rows += len(batch)
            yield taken(out)
        yield taken(out)


def taken(out: io.StringIO) -> str:
    """What was written to `out`, which is emptied."""
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def _cells(contact: ContactInfo, columns: Iterable[str]) -> list[str]:
    when = contact.unsubscribed_at.isoformat() if contact.unsubscribed_at else ""
    return [
        contact.email,
        contact.status,
        when,
        contact.unsubscribed_how or "",
        contact.created_at.isoformat(),
        *(contact.fields.get(name, "") for name in columns),
    ]
