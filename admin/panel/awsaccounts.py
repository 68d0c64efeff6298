"""AWS accounts (admins): list, add (checked with SES first; the secret fields write-only),
test, remove (refused while a tenant uses it, the refusal shown on the page)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from admin.ops import awsaccounts
from admin.panel.base import Page, Pages, field_errors
from gateway.core.exceptions import ConflictError, InvalidInputError

pages = Pages()


async def _render(page: Page, status: int = 200, **values: Any) -> Response:
    return page.render(
        "aws_accounts.html", status, accounts=await awsaccounts.list_accounts(page.ctx), **values
    )


@pages.page("/aws-accounts", methods=("GET", "POST"))
async def account_list(page: Page) -> Response:
    page.ctx.require_admin()
    if page.request.method != "POST":
        return await _render(page)
    form = page.form
    try:
        checked = await awsaccounts.add_account(
            page.ctx,
            form.get("name", "").strip(),
            form.get("region", "").strip(),
            access_key_id=form.get("access_key_id", "").strip() or None,
            secret_access_key=form.get("secret_access_key", "").strip() or None,
            role_arn=form.get("role_arn", "").strip() or None,
            external_id=form.get("external_id", "").strip() or None,
        )
    except (InvalidInputError, ConflictError) as exc:
        return await _render(page, 400, errors=field_errors(exc, "name"))
    name = checked.account.name
    return page.redirect(f"/aws-accounts/{name}", f"Added AWS account {name}: SES answered.")


@pages.page("/aws-accounts/{name}", methods=("GET",))
async def account_detail(page: Page) -> Response:
    page.ctx.require_admin()
    account = await awsaccounts.get_account(page.ctx, page.request.path_params["name"])
    return page.render("aws_account.html", account=account)


@pages.page("/aws-accounts/{name}/test", methods=("POST",))
async def account_test(page: Page) -> Response:
    name = page.request.path_params["name"]
    try:
        await awsaccounts.test_account(page.ctx, name)
    except InvalidInputError as exc:
        account = await awsaccounts.get_account(page.ctx, name)
        return page.render("aws_account.html", 400, account=account, errors={"test": str(exc)})
    return page.redirect(f"/aws-accounts/{name}", f"AWS account {name} works: SES answered.")


@pages.page("/aws-accounts/{name}/remove", methods=("POST",))
async def account_remove(page: Page) -> Response:
    page.ctx.require_admin()
    name = page.request.path_params["name"]
    asking = page.confirm(f"Remove the AWS account {name}?", "Remove")
    if asking is not None:
        return asking
    try:
        await awsaccounts.remove_account(page.ctx, name)
    except ConflictError as exc:
        account = await awsaccounts.get_account(page.ctx, name)
        return page.render("aws_account.html", 409, account=account, errors={"remove": str(exc)})
    return page.redirect("/aws-accounts", f"Removed the AWS account {name}.")
