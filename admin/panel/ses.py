"""The SES account (admins): each AWS account's state, and the request for production access
(leaving the sandbox) without the AWS console."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from admin.ops import sesaccount
from admin.panel.base import Page, Pages, field_errors
from gateway.core.exceptions import InvalidInputError, NotFoundError, SesError
from gateway.core.types.aws import DEFAULT_ACCOUNT, ProductionRequest

pages = Pages()


async def _render(page: Page, status: int = 200, **values: Any) -> Response:
    accounts = await sesaccount.accounts(page.ctx)
    names = [(account.name, account.name) for account in accounts]
    return page.render("ses.html", status, accounts=accounts, account_names=names, **values)


@pages.page("/ses", methods=("GET", "POST"))
async def ses_account(page: Page) -> Response:
    page.ctx.require_admin()
    if page.request.method != "POST":
        return await _render(page)
    form = page.form
    request = ProductionRequest(
        form.get("mail_type", ""),
        form.get("website_url", ""),
        form.get("use_case", ""),
        form.get("contact_language", "EN"),
        tuple(c for c in re.split(r"[\s,;]+", form.get("additional_contacts", "")) if c),
    )
    try:
        await sesaccount.request_production(
            page.ctx, request, form.get("aws_account", DEFAULT_ACCOUNT)
        )
    except InvalidInputError as exc:
        return await _render(page, 400, errors=field_errors(exc, "use_case"))
    except NotFoundError as exc:
        return await _render(page, 400, errors={"aws_account": str(exc)})
    except SesError as exc:
        return await _render(page, 502, errors={"ses": str(exc)})
    return page.redirect(
        "/ses",
        f"Asked AWS for production access ({request.mail_type}, {request.website_url.strip()}): "
        "AWS answers within a day or so, by mail and on this page.",
    )
