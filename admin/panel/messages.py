"""Messages and events: search, a message's page with each recipient's timeline and the
headers (never the body), the events list, and CSV exports with the filters of the pages."""

from __future__ import annotations

from starlette.responses import Response

from admin.ops import messages
from admin.panel.base import Page, Pages
from admin.panel.listing import csv_download, query_filters, render_list
from gateway.core.types.history import MessageOutcome
from gateway.storage import messages as message_store
from gateway.storage.messages import describe

pages = Pages()


@pages.page("/messages")
async def message_list(page: Page) -> Response:
    return await render_list(
        page,
        "messages.html",
        "/messages",
        query_filters(page, messages.MessageFilters),
        messages.search_messages,
        "sender",
        statuses=[status.value for status in MessageOutcome],
        subject_scan=f"{message_store.SUBJECT_SCAN:,}",
    )


@pages.page("/messages/export")
async def message_export(page: Page) -> Response:
    return csv_download(
        await messages.export_messages(page.ctx, query_filters(page, messages.MessageFilters)),
        "messages.csv",
    )


@pages.page("/messages/{queue_id}")
async def message_detail(page: Page) -> Response:
    detail = await messages.message_detail(page.ctx, page.request.path_params["queue_id"])
    return page.render("message.html", detail=detail)


@pages.page("/events")
async def event_list(page: Page) -> Response:
    return await render_list(
        page,
        "events.html",
        "/events",
        query_filters(page, messages.EventFilters),
        messages.list_events,
        "type",
        kinds=[kind.value for kind in messages.EVENT_KINDS],
        describe=describe,
    )


@pages.page("/events/export")
async def event_export(page: Page) -> Response:
    return csv_download(
        await messages.export_events(page.ctx, query_filters(page, messages.EventFilters)),
        "events.csv",
    )
