"""AWS accounts (operator objects: admins only) and the account each tenant sends through.

An account is checked with a real SES call before it is stored (`gateway.aws.accounts.check`):
one that does not work is not stored, and the refusal says what is wrong in one line. Its
secret access key is taken here once, sealed by storage, and never given back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from admin.ops.context import Context
from gateway.aws import accounts as aws
from gateway.core.exceptions import InvalidInputError
from gateway.core.types.aws import DEFAULT_ACCOUNT, AccountQuota, AwsAccountInfo, AwsAccountSpec
from gateway.identity.accounts import now
from gateway.storage import awsaccounts as store

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")
ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")


@dataclass(frozen=True, slots=True)
class Checked:
    """An account and what SES said of it when it was checked."""

    account: AwsAccountInfo
    quota: AccountQuota


def _spec(
    name: str,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    role_arn: str | None,
    external_id: str | None,
) -> AwsAccountSpec:
    """The account as given, checked for form (nothing asked of AWS yet)."""
    if not NAME.fullmatch(name) or name == DEFAULT_ACCOUNT:
        raise InvalidInputError(
            f"invalid AWS account name {name!r}: 1 to 63 lower-case letters, digits, '-' and "
            f"'_', starting with a letter or digit, and not {DEFAULT_ACCOUNT!r}",
            "name",
        )
    if not REGION.fullmatch(region):
        raise InvalidInputError(f"{region!r} is not an AWS region (e.g. eu-west-1)", "region")
    access_key_id = access_key_id or None
    secret_access_key = secret_access_key or None
    role_arn = role_arn or None
    external_id = external_id or None
    if role_arn is None and access_key_id is None:
        raise InvalidInputError(
            "give a role to assume (preferred), or an access key id", "role_arn"
        )
    if access_key_id is not None and not ACCESS_KEY_ID.fullmatch(access_key_id):
        raise InvalidInputError(f"{access_key_id!r} is not an access key id", "access_key_id")
    if (access_key_id is None) != (secret_access_key is None):
        missing = "secret_access_key" if secret_access_key is None else "access_key_id"
        raise InvalidInputError("an access key id and its secret go together", missing)
    if role_arn is not None and not ROLE_ARN.fullmatch(role_arn):
        raise InvalidInputError(
            f"{role_arn!r} is not a role ARN (arn:aws:iam::123456789012:role/NAME)", "role_arn"
        )
    if external_id is not None and role_arn is None:
        raise InvalidInputError("an external id goes with a role to assume", "external_id")
    if external_id is not None and not (
        2 <= len(external_id) <= 1224 and external_id.isprintable()
    ):
        raise InvalidInputError("an external id is 2 to 1224 printable characters", "external_id")
    return AwsAccountSpec(name, region, access_key_id, secret_access_key, role_arn, external_id)


async def list_accounts(ctx: Context) -> list[AwsAccountInfo]:
    ctx.require_admin()
    return await store.list_accounts(ctx.db)


async def get_account(ctx: Context, name: str) -> AwsAccountInfo:
    ctx.require_admin()
    return await store.get_account(ctx.db, name)


async def add_account(
    ctx: Context,
    name: str,
    region: str,
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    role_arn: str | None = None,
    external_id: str | None = None,
) -> Checked:
    """Check the account with SES, then store it; nothing is stored when the check fails."""
    ctx.require_admin()
    spec = _spec(name, region, access_key_id, secret_access_key, role_arn, external_id)
    if name in {a.name for a in await store.list_accounts(ctx.db)}:  # before asking AWS
        raise store.name_taken(name)
    quota = await aws.check(spec)
    account = await store.add_account(ctx.db, ctx.services.sealer, spec, now())
    how = f"role {spec.role_arn}" if spec.role_arn else f"access key {spec.access_key_id}"
    await ctx.audit("aws_account.added", name, f"{how} in {spec.region}")
    return Checked(account, quota)


async def test_account(ctx: Context, name: str) -> Checked:
    """Check the account with SES again and record what came of it (`checked_at`,
    `check_error`); a failure is then raised as the check's `InvalidInputError`."""
    ctx.require_admin()
    spec = await store.account_spec(ctx.db, ctx.services.sealer, name)
    try:
        quota = await aws.check(spec)
    except InvalidInputError as exc:
        await store.record_check(ctx.db, name, now(), str(exc))
        await ctx.audit("aws_account.tested", name, f"failed: {exc}")
        raise
    await store.record_check(ctx.db, name, now(), None)
    await ctx.audit("aws_account.tested", name, "passed")
    return Checked(await store.get_account(ctx.db, name), quota)


async def remove_account(ctx: Context, name: str) -> None:
    """Refused (`ConflictError`) while a tenant uses it."""
    ctx.require_admin()
    await store.remove_account(ctx.db, name)
    await ctx.audit("aws_account.removed", name)


async def set_tenant_account(ctx: Context, tenant: str, account: str) -> bool:
    """Put `tenant` on `account` (`default`: the process's own credentials); False when it was
    on it already. Refused while the tenant has sending domains (their SES identities are in
    the account it is on): the refusal gives the steps."""
    ctx.require_admin()
    found = await ctx.require_tenant(tenant)
    changed = await store.set_tenant_account(
        ctx.db, found.name, None if account == DEFAULT_ACCOUNT else account
    )
    if changed:
        await ctx.audit("tenant.aws_account", found.name, account, tenant=found.name)
    return changed


async def tenant_account(ctx: Context, tenant: str) -> str:
    """The account `tenant` sends through (`default`: the process's own credentials)."""
    found = await ctx.require_tenant(tenant)
    return (await store.tenant_accounts(ctx.db)).get(found.name, DEFAULT_ACCOUNT)
