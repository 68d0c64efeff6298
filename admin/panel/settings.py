"""Settings (admins): the SES region, the SNS wiring and what to do when it is missing,
retention, and the settings in force with their environment variables."""

from __future__ import annotations

from starlette.responses import Response

from admin.ops import settings
from admin.panel.base import Page, Pages

pages = Pages()


@pages.page("/settings")
async def settings_page(page: Page) -> Response:
    return page.render("settings.html", view=await settings.get_settings(page.ctx))
