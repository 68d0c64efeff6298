"""The filtered list pages (messages, events, suppressions): the filters read from the query
string, a page of what they find (or what is wrong with them), the links to the next page and
to the CSV export with the same filters, and the export itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from starlette.responses import Response

from admin.ops import tenants
from admin.panel.base import Page, field_errors
from gateway.core.exceptions import InvalidInputError
from gateway.storage.pages import Paged

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

F = TypeVar("F", bound="DataclassInstance")

PAGE_SIZE = 50


def query_filters(page: Page, kind: type[F]) -> F:
    """The filters of `kind` (a dataclass of text fields) as the query string gives them."""
    return kind(**{f.name: page.query(f.name) for f in fields(kind)})


async def render_list(
    page: Page,
    template: str,
    path: str,
    filters: DataclassInstance,
    lister: Callable[..., Awaitable[Paged[Any]]],
    first_field: str,
    status: int = 200,
    **values: Any,
) -> Response:
    """The list page at `path` with `rows` (a page of what `lister` finds) or, with status 400,
    `filter_errors` (beside `first_field` when no field is named); `next_url` and `export_url`
    (`path`/export) with the same filters, and the `tenants` to filter by."""
    given = {name: value for name, value in asdict(filters).items() if value}
    errors: dict[str, str] = {}
    found = None
    try:
        found = await lister(page.ctx, filters, PAGE_SIZE, page.query("cursor") or None)
    except InvalidInputError as exc:
        errors = field_errors(exc, first_field)
    after = found and found.next_cursor
    return page.render(
        template,
        400 if errors else status,
        filters=filters,
        filter_errors=errors,
        rows=found.data if found else [],
        filtered=bool(given),
        next_url=f"{path}?" + urlencode({**given, "cursor": after}) if after else None,
        export_url=f"{path}/export" + (f"?{urlencode(given)}" if given else ""),
        tenants=await tenants.tenant_choices(page.ctx),
        **values,
    )


def csv_download(text: str, name: str) -> Response:
    """An export, saved by the browser as `name`."""
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
