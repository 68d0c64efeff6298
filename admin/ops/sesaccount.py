"""The SES account as admins manage it: its state for each AWS account (`ses account`), the
request to leave the sandbox, and SES's account-level suppression list kept consistent with the
gateway's own (an address unsuppressed here is unsuppressed at SES; SES's list imported here).

SES's list is account-wide, as the gateway's global entries are: an address is taken off it
when no global entry for it remains here. Only the gateway's list decides who is mailed; SES's
would otherwise drop, silently, mail to an address the gateway no longer suppresses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from admin.ops.context import Context
from gateway.aws import sesaccount
from gateway.aws.ses import SesAccount
from gateway.core.exceptions import InvalidInputError, SesError
from gateway.core.types.aws import (
    DEFAULT_ACCOUNT,
    AccountQuota,
    ProductionRequest,
    SuppressedDestination,
)
from gateway.delivery.governor import read_quota
from gateway.feedback import suppressions
from gateway.storage import awsaccounts
from gateway.storage import suppressions as store

"""The name of the process's own AWS credential chain (no `aws-account` record)."""

SES_SOURCE = "ses-account"
"""What the detail of an entry imported from SES's account-level list begins with."""

REASONS = {"BOUNCE": "bounce", "COMPLAINT": "complaint"}
"""SES's suppression reasons as the gateway's."""


@dataclass(frozen=True, slots=True)
class AccountView:
    """One AWS account's SES state, or why SES did not say (`quota` None, `error`)."""

    name: str
    region: str
    endpoint: str
    quota: AccountQuota | None
    error: str | None


async def account_view(name: str, account: SesAccount) -> AccountView:
    """What SES says of one account (the quota as `status` and the dashboard read it)."""
    quota, error = await read_quota(account)
    return AccountView(name, account.region, account.endpoint, quota, error)


async def _every_account(ctx: Context) -> list[str]:
    """Each AWS account the gateway sends through, by name: the process's own credential
    chain (`default`), then the stored ones (`aws-account add`)."""
    return [DEFAULT_ACCOUNT, *(a.name for a in await awsaccounts.list_accounts(ctx.db))]


async def accounts(ctx: Context) -> list[AccountView]:
    """Every AWS account's SES state (admins); one SES does not answer for is listed with
    why, the others still are."""
    ctx.require_admin()
    provider = ctx.services.provider
    return [
        await account_view(name, SesAccount(provider, name)) for name in await _every_account(ctx)
    ]


async def _known(ctx: Context, account: str) -> str:
    """`account` if the gateway has it (`default` or a stored one), else a field error."""
    if account != DEFAULT_ACCOUNT:
        await awsaccounts.get_account(ctx.db, account)  # NotFoundError: 404, one line
    return account


@asynccontextmanager
async def _sesv2(ctx: Context, account: str) -> AsyncIterator[Any]:
    """The SESv2 client of the AWS account named `account`, kept open while it is used."""
    clients = await ctx.services.provider.account(account)
    with clients:
        yield clients.client("sesv2")


async def request_production(
    ctx: Context, request: ProductionRequest, account: str = DEFAULT_ACCOUNT
) -> AccountView:
    """Ask AWS to take `account` out of the sandbox (admins; checked before SES is called,
    audited once SES took it); the account's state after."""
    ctx.require_admin()
    sesaccount.check_production_request(request)
    await _known(ctx, account)
    async with _sesv2(ctx, account) as client:
        await sesaccount.request_production(client, request)
    await ctx.audit(
        "ses.production_requested",
        account,
        f"{request.mail_type}, {request.website_url.strip()}, "
        f"{len(request.use_case)} characters of use case",
    )
    return await account_view(account, SesAccount(ctx.services.provider, account))


@dataclass(frozen=True, slots=True)
class SesListRemoval:
    """What became of an address on SES's account-level suppression list after it left the
    gateway's: `removed`, `absent` (SES did not have it), `kept` (a global entry still holds
    it here), `failed` (SES may still hold it: `message` says why and how to retry) or
    `unchecked` (no SES client here)."""

    state: str
    message: str


async def unsuppress_at_ses(ctx: Context, address: str, tenant: str | None) -> SesListRemoval:
    """Take `address` (normalized) off SES's account-level list of `tenant`'s AWS account,
    unless a global entry still holds it here. An SES failure is said, not raised: the
    gateway's own removal stands."""
    if await store.get(ctx.db, address, None) is not None:
        return SesListRemoval(
            "kept",
            f"{address} is still suppressed for every tenant here, so SES's account-level "
            "suppression list keeps it",
        )
    if not ctx.services.provider.ready:
        return SesListRemoval(
            "unchecked",
            "SES's account-level suppression list was not checked: no SES client is set up "
            "here (AWS_REGION)",
        )
    provider = ctx.services.provider
    # A tenant's entry: its account's list; a global one: every account's.
    names = [await provider.account_of(tenant)] if tenant else await _every_account(ctx)
    removed: list[str] = []
    failed: list[str] = []
    for name in names:
        try:
            async with _sesv2(ctx, name) as client:
                if await sesaccount.unsuppress(client, address):
                    removed.append(name)
        except SesError as exc:
            failed.append(f"{exc}" if len(names) == 1 else f"AWS account {name}: {exc}")
    if removed:
        where = "" if names == [DEFAULT_ACCOUNT] else f" of AWS account {', '.join(removed)}"
        await ctx.audit("suppression.removed_at_ses", address, f"SES's account-level list{where}")
    if failed:
        return SesListRemoval(
            "failed",
            f"SES's account-level suppression list may still hold {address} "
            f"({'; '.join(failed)}); {'' if ctx.actor.is_admin else 'an admin can '}retry with "
            f"`ses-gateway suppression remove {address}`",
        )
    if not removed:
        return SesListRemoval("absent", "")
    where = "" if names == [DEFAULT_ACCOUNT] else f" (AWS account {', '.join(removed)})"
    return SesListRemoval("removed", f"removed {address} from SES's account-level list{where} too")


@dataclass(frozen=True, slots=True)
class SesImport:
    seen: int
    added: int
    already_present: int
    skipped: list[tuple[str, str]]
    """(address, why) for each address SES listed that the gateway cannot take."""


async def import_from_ses(
    ctx: Context, since: datetime | None = None, account: str = DEFAULT_ACCOUNT
) -> SesImport:
    """Add the account-level suppression list of `account` to the gateway's (admins): global
    entries from the default account's; from a stored account's, entries for each tenant on
    it (its list blocks only their mail). Reason `bounce` or `complaint`, detail
    `ses-account: ...`. An address already suppressed stays as it is (only an entry that would
    lapse is made permanent), so importing again adds nothing new."""
    ctx.require_admin()
    await _known(ctx, account)
    scopes: list[int | None] = [None]
    if account != DEFAULT_ACCOUNT:
        scopes = await awsaccounts.tenant_ids(ctx.db, account)
    seen = added = 0
    skipped: list[tuple[str, str]] = []
    async with _sesv2(ctx, account) as client:
        async for page in sesaccount.suppressed_destinations(client, since):
            seen, added = await _import_page(ctx, page, scopes, seen, added, skipped)
    taken = (seen - len(skipped)) * len(scopes)
    report = SesImport(seen, added, taken - added, skipped)
    await ctx.audit(
        "suppression.imported",
        "SES's account-level suppression list"
        + ("" if account == DEFAULT_ACCOUNT else f" of AWS account {account}"),
        f"added {report.added}, already present {report.already_present}, skipped {len(skipped)}",
    )
    return report


async def _import_page(
    ctx: Context,
    page: list[SuppressedDestination],
    scopes: list[int | None],
    seen: int,
    added: int,
    skipped: list[tuple[str, str]],
) -> tuple[int, int]:
    """One page of SES's list added for each of `scopes` (None: every tenant) in one
    transaction; the counts so far, with this page's."""
    entries: list[store.Entry] = []
    for destination in page:
        seen += 1
        try:
            address = suppressions.normalize_address(destination.address)
        except InvalidInputError as exc:
            skipped.append((destination.address, str(exc)))
            continue
        updated = destination.last_update
        when = f" at {updated.isoformat()}" if updated else ""
        entries += [
            store.Entry(
                address,
                scope,
                REASONS.get(destination.reason, "bounce"),
                f"{SES_SOURCE}: {destination.reason}{when}",
                suppressions.now(),
            )
            for scope in scopes
        ]
    if entries:
        added += (await store.add(ctx.db, entries, keep_longer=True))[0]
    return seen, added
