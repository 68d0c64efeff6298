"""The SES account as admins manage it: its state for each AWS account (`ses account`), the
request to leave the sandbox, and SES's account-level suppression list kept consistent with the
gateway's own (an address unsuppressed here is unsuppressed at SES; SES's list imported here).

SES's list is account-wide, as the gateway's global entries are: an address is taken off it
when no global entry for it remains here. Only the gateway's list decides who is mailed; SES's
would otherwise drop, silently, mail to an address the gateway no longer suppresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from admin.ops.context import Context
from gateway.aws import sesaccount
from gateway.aws.ses import SesAccount
from gateway.core.exceptions import InvalidInputError, SesError
from gateway.core.types.aws import AccountQuota, ProductionRequest
from gateway.delivery.governor import read_quota
from gateway.feedback import suppressions
from gateway.storage import suppressions as store

DEFAULT_ACCOUNT = "default"
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


def _every_account(ctx: Context) -> list[tuple[str, SesAccount]]:
    """Each AWS account the gateway sends through, by name: the process's own credential
    chain; stored accounts (`aws-account add`) come after it, each with its own clients."""
    return [(DEFAULT_ACCOUNT, ctx.services.ses_account)]


async def accounts(ctx: Context) -> list[AccountView]:
    """Every AWS account's SES state (admins); one SES does not answer for is listed with
    why, the others still are."""
    ctx.require_admin()
    return [await account_view(name, account) for name, account in _every_account(ctx)]


def _client(ctx: Context, tenant: str | None = None) -> Any:
    """The SESv2 client of the AWS account `tenant` uses (None: the default account)."""
    return ctx.services.provider.client_for(tenant or "", "sesv2")


async def request_production(ctx: Context, request: ProductionRequest) -> AccountView:
    """Ask AWS to take the account out of the sandbox (admins; checked before SES is called,
    audited once SES took it); the account's state after."""
    ctx.require_admin()
    sesaccount.check_production_request(request)
    await sesaccount.request_production(_client(ctx), request)
    await ctx.audit(
        "ses.production_requested",
        DEFAULT_ACCOUNT,
        f"{request.mail_type}, {request.website_url.strip()}, "
        f"{len(request.use_case)} characters of use case",
    )
    return await account_view(DEFAULT_ACCOUNT, ctx.services.ses_account)


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
    try:
        removed = await sesaccount.unsuppress(_client(ctx, tenant), address)
    except SesError as exc:
        return SesListRemoval(
            "failed",
            f"SES's account-level suppression list may still hold {address} ({exc}); "
            f"{'' if ctx.actor.is_admin else 'an admin can '}retry with "
            f"`ses-gateway suppression remove {address}`",
        )
    if not removed:
        return SesListRemoval("absent", "")
    await ctx.audit("suppression.removed_at_ses", address, "SES's account-level list")
    return SesListRemoval("removed", f"removed {address} from SES's account-level list too")


@dataclass(frozen=True, slots=True)
class SesImport:
    seen: int
    added: int
    already_present: int
    skipped: list[tuple[str, str]]
    """(address, why) for each address SES listed that the gateway cannot take."""


async def import_from_ses(ctx: Context, since: datetime | None = None) -> SesImport:
    """Add SES's account-level suppression list to the gateway's global entries (admins):
    reason `bounce` or `complaint`, detail `ses-account: ...`. An address already suppressed
    for every tenant stays as it is (only an entry that would lapse is made permanent), so
    importing again adds nothing new."""
    ctx.require_admin()
    seen = added = 0
    skipped: list[tuple[str, str]] = []
    async for page in sesaccount.suppressed_destinations(_client(ctx), since):
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
            entries.append(
                store.Entry(
                    address,
                    None,
                    REASONS.get(destination.reason, "bounce"),
                    f"{SES_SOURCE}: {destination.reason}{when}",
                    suppressions.now(),
                )
            )
        if entries:
            added += (await store.add(ctx.db, entries, keep_longer=True))[0]
    report = SesImport(seen, added, seen - added - len(skipped), skipped)
    await ctx.audit(
        "suppression.imported",
        "SES's account-level suppression list",
        f"added {report.added}, already present {report.already_present}, skipped {len(skipped)}",
    )
    return report
