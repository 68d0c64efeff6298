"""Keyset pagination, newest first: an opaque cursor names the last row of a page by its time
and id, and the next page starts strictly after it (rows added meanwhile never shift a page)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from gateway.core.exceptions import InvalidInputError

MAX_LIMIT = 500
"""Rows per page at most."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    """A page of a list: its rows and the cursor of the next page (None: the last)."""

    data: list[T]
    next_cursor: str | None


def encode_cursor(at: datetime, key: int | str) -> str:
    """The cursor after the row at `at` with id `key`: URL-safe base64, without padding."""
    text = json.dumps([at.isoformat(), key], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int | str]:
    """(time, id) of a cursor from `encode_cursor`; InvalidInputError for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, key = json.loads(text)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not _fits(key):
            raise ValueError("not a cursor of ours")
        return moment.astimezone(UTC), key
    except (binascii.Error, UnicodeError, ValueError, TypeError, OverflowError) as exc:
        raise InvalidInputError(f"invalid cursor {cursor[:40]!r}", "cursor") from exc


def _fits(key: object) -> bool:
    """An id the databases can compare: a 64-bit integer, or a short string."""
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return -(2**63) <= key < 2**63
    return isinstance(key, str) and len(key) <= 64


def check_limit(limit: int) -> None:
    """InvalidInputError unless 1 <= `limit` <= `MAX_LIMIT`."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}", "limit")


def newest_first(
    query: Select[Any],
    at: InstrumentedAttribute[datetime],
    key: InstrumentedAttribute[Any],
    limit: int,
    cursor: str | None,
) -> Select[Any]:
    """`query` ordered by (`at`, `key`) descending, after `cursor`, one row over `limit` (which
    tells whether there is a next page: see `page`)."""
    check_limit(limit)
    if cursor is not None:
        after_at, after_key = decode_cursor(cursor)
        if not isinstance(after_key, key.type.python_type):
            raise InvalidInputError(f"invalid cursor {cursor[:40]!r}", "cursor")
        query = query.where(or_(at < after_at, and_(at == after_at, key < after_key)))
    return query.order_by(at.desc(), key.desc()).limit(limit + 1)


def page(
    rows: Sequence[T], limit: int, position: Callable[[T], tuple[datetime, int | str]]
) -> tuple[list[T], str | None]:
    """The first `limit` rows, and the cursor after the last of them when more rows follow."""
    shown = list(rows[:limit])
    if len(rows) <= limit:
        return shown, None
    return shown, encode_cursor(*position(shown[-1]))
