"""`ses-gateway`: run the gateway and manage it from the command line.

Every command takes `--json` and then prints one JSON document with stable keys; errors then
come as `{"error": {"message": ...}}`. Exit status: 0 success, 1 a refused request, 2 a bad
setting or bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from admin.serve import ROLES, serve
from config import ConfigError, Settings, load_settings
from gateway import accounts, logs, suppressions
from gateway.dnscheck import DnsChecker
from gateway.domains import Domains
from gateway.emulator import use_running_emulator
from gateway.exceptions import GatewayError, InvalidInputError, SesError
from gateway.governor import ACCOUNT_TENANT, pace
from gateway.records import zone_lines
from gateway.secret_key import load_secret_key
from gateway.ses import SesAccount, SesClientProvider, SesIdentities
from gateway.storage import domains as domain_store
from gateway.storage import networks, queue, refusals, tenants
from gateway.storage.database import Database
from gateway.storage.migrate import current_revision, ensure_schema, head_revision, upgrade
from gateway.types import DomainInfo

Command = Callable[[Settings, argparse.Namespace], Awaitable[Any]]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    cells = [
        [str(_plain(row.get(c)) if row.get(c) is not None else "-") for c in columns]
        for row in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


async def _with_db(
    settings: Settings,
    action: Callable[[Database], Awaitable[Any]],
    tenant: str | None = None,
) -> Any:
    """Run `action` on the database; a `tenant` filter must name a tenant that exists (a typo
    would otherwise list nothing and look like an answer)."""
    db = Database(settings.database)
    try:
        await ensure_schema(db, settings.auto_migrate)
        if tenant is not None:
            await tenants.get_tenant(db, tenant)
        return await action(db)
    finally:
        await db.close()


# -- commands: each returns (document for --json, text for people) --------------------------


async def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    db = Database(settings.database)
    try:
        before = await current_revision(db)
        await upgrade(db)
        after = await current_revision(db)
    finally:
        await db.close()
    text = f"schema at revision {after}" + (
        f" (was {before})" if before != after else " (unchanged)"
    )
    return {"previous": before, "revision": after, "head": head_revision()}, text


async def cmd_db_current(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    db = Database(settings.database)
    try:
        current = await current_revision(db)
    finally:
        await db.close()
    head = head_revision()
    state = "up to date" if current == head else f"needs `ses-gateway db upgrade` to {head}"
    return {"revision": current, "head": head}, f"schema at revision {current or 'none'}: {state}"


async def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    tenant = await _with_db(settings, lambda db: accounts.create_tenant(db, args.name))
    return _plain(tenant), f"created tenant {tenant.name}"


async def cmd_tenant_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = _plain(await _with_db(settings, tenants.list_tenants))
    return {"tenants": found}, _table(found, ("id", "name", "created_at"))


async def cmd_credential_create(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    new = await _with_db(
        settings,
        lambda db: accounts.create_credential(db, args.tenant, args.description, args.allow or ()),
    )
    document = {**_plain(new.credential), "password": new.password, "allow": list(new.allowed)}
    text = (
        f"credential {new.credential.id} for tenant {new.credential.tenant}\n"
        f"username: {new.credential.username}\n"
        f"password: {new.password}\n"
        "The password is shown only now: store it in your mail client or application."
    )
    return document, text


async def cmd_tenant_pause(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    tenant = await _with_db(settings, lambda db: accounts.pause_tenant(db, args.name, args.reason))
    return {**_plain(tenant), "paused_reason": args.reason}, f"paused {tenant.name}: {args.reason}"


async def cmd_tenant_resume(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    tenant = await _with_db(settings, lambda db: accounts.pause_tenant(db, args.name, None))
    return {**_plain(tenant), "paused_reason": None}, f"resumed {tenant.name}"


def _limit(kind: type[int] | type[float]) -> Callable[[str], int | float | None]:
    """A limit on the command line: a positive number, or `default` for the global default."""

    def parse(text: str) -> int | float | None:
        if text == "default":
            return None
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give a number or 'default'") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 (or 'default')")
        return value

    return parse


LIMITS = ("max_per_second", "max_per_day", "max_recipients", "max_connections", "max_size")


async def cmd_tenant_set(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    changes = {name: getattr(args, name) for name in LIMITS if hasattr(args, name)}
    limits = await _with_db(settings, lambda db: tenants.set_limits(db, args.name, changes))
    document = {"name": args.name, **_plain(limits)}
    text = ", ".join(f"{k.replace('_', '-')} {v or 'default'}" for k, v in _plain(limits).items())
    return document, f"{args.name}: {text}"


async def cmd_credential_pause(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    reason = args.reason if args.action == "pause" else None
    if reason is not None and not reason.strip():
        raise InvalidInputError("give a reason for the pause: senders will read it")
    await _with_db(settings, lambda db: tenants.set_credential_paused(db, args.id, reason))
    said = f"paused credential {args.id}: {reason}" if reason else f"resumed credential {args.id}"
    return {"id": args.id, "paused_reason": reason}, said


async def cmd_network_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    network = await _with_db(
        settings, lambda db: accounts.trust_network(db, args.tenant, args.cidr)
    )
    return _plain(network), f"clients in {network.cidr} may send without AUTH as {network.tenant}"


async def cmd_network_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = _plain(
        await _with_db(settings, lambda db: networks.list_networks(db, args.tenant), args.tenant)
    )
    return {"networks": found}, _table(found, ("cidr", "tenant", "created_at"))


async def cmd_network_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    cidr = accounts.check_network(args.cidr)
    await _with_db(settings, lambda db: networks.remove_network(db, cidr))
    return {"cidr": cidr}, f"{cidr} is no longer trusted"


async def cmd_refusal_count(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    counts = await _with_db(
        settings, lambda db: refusals.count_refusals(db, args.tenant), args.tenant
    )
    rows = [{"rule": rule, "count": count} for rule, count in sorted(counts.items())]
    return {"refusals": counts}, _table(rows, ("rule", "count"))


async def cmd_credential_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = _plain(
        await _with_db(settings, lambda db: tenants.list_credentials(db, args.tenant), args.tenant)
    )
    columns = (
        "id",
        "tenant",
        "username",
        "description",
        "created_at",
        "revoked_at",
        "last_used_at",
    )
    return {"credentials": found}, _table(found, columns)


async def cmd_credential_revoke(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    revoked = await _with_db(
        settings, lambda db: tenants.revoke_credential(db, args.id, accounts.now())
    )
    return _plain(revoked), f"revoked credential {revoked.id} ({revoked.username})"


async def cmd_message_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    status = await _with_db(settings, lambda db: queue.message_status(db, args.queue_id))
    document = _plain(status)
    head = (
        f"message {status.id} from {status.mail_from} (tenant {status.tenant}), "
        f"{status.size} bytes\n"
        f"state {status.state}, {status.attempts} attempts, created {document['created_at']}\n"
    )
    columns = ("address", "state", "attempts", "ses_message_id", "last_error")
    return document, head + _table(document["recipients"], columns)


@asynccontextmanager
async def _domains(settings: Settings) -> AsyncIterator[Domains]:
    """Domain operations with the database and an SES client (the dev emulator when running)."""
    use_running_emulator(settings.data_dir)
    db = Database(settings.database)
    try:
        await ensure_schema(db, settings.auto_migrate)
        async with SesClientProvider(settings) as provider:
            yield Domains(db, SesIdentities(provider), load_secret_key(settings), settings)
    finally:
        await db.close()


def _domain_document(domains: Domains, domain: DomainInfo) -> dict[str, Any]:
    document: dict[str, Any] = _plain(domain)
    document["records"] = _plain(domains.records(domain))
    return document


def _domain_text(domains: Domains, domain: DomainInfo) -> str:
    state = domain.state
    sending = "yes" if state.verified_for_sending else "not yet"
    name = (
        domain.name
        if domain.display_name == domain.name
        else f"{domain.display_name} ({domain.name})"
    )
    lines = [
        f"domain {name}, tenant {domain.tenant}, SES region {domain.region}"
        + (", only listed addresses may send" if domain.restrict_to_addresses else ""),
        f"verified for sending: {sending} (verification {state.verification_status}, "
        f"DKIM {state.dkim_status or '-'} [{domain.dkim_mode}]"
        + (
            f", MAIL FROM {state.mail_from_domain} {state.mail_from_status}"
            if state.mail_from_domain
            else ""
        )
        + ")",
        "",
        "Publish these DNS records:",
        _table(
            [
                {**_plain(r), "required": "required" if r.required else "recommended"}
                for r in domains.records(domain)
            ],
            ("type", "name", "value", "required", "purpose"),
        ),
    ]
    return "\n".join(lines)


async def cmd_domain_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async with _domains(settings) as domains:
        domain = await domains.add(args.tenant, args.domain, args.dkim, args.mail_from)
        return _domain_document(domains, domain), _domain_text(domains, domain)


async def cmd_domain_show(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async with _domains(settings) as domains:
        domain = await domains.get(args.domain)
        if args.format == "zone":
            return _domain_document(domains, domain), "\n".join(zone_lines(domains.records(domain)))
        return _domain_document(domains, domain), _domain_text(domains, domain)


async def cmd_domain_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = await _with_db(
        settings, lambda db: domain_store.list_domains(db, args.tenant), args.tenant
    )
    rows = [
        {
            "name": d.display_name,
            "tenant": d.tenant,
            "region": d.region,
            "sending": "verified" if d.state.verified_for_sending else "pending",
            "dkim": d.state.dkim_status,
            "checked_at": d.checked_at,
        }
        for d in found
    ]
    columns = ("name", "tenant", "region", "sending", "dkim", "checked_at")
    return {"domains": _plain(found)}, _table(rows, columns)


async def cmd_domain_check(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    checker = DnsChecker(settings.dns_nameservers, settings.dns_timeout)
    async with _domains(settings) as domains:
        domain, checks = await domains.check(args.domain, checker)
    found = _plain(checks)
    rows = [{**c, "found": ", ".join(c["found"]) or "-"} for c in found]
    text = f"DNS check of {domain.name}:\n" + _table(
        rows, ("status", "type", "name", "expected", "found", "detail", "nameserver")
    )
    return {"domain": domain.name, "records": found}, text


async def cmd_domain_sync(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async with _domains(settings) as domains:
        targets = [await domains.get(args.domain)] if args.domain else await domains.all()
        results: list[dict[str, Any]] = []
        lines: list[str] = []
        for domain in targets:
            events = await domains.sync(domain)
            verified = (await domains.get(domain.name)).state.verified_for_sending
            results.append(
                {
                    "domain": domain.name,
                    "verified_for_sending": verified,
                    "events": [{"kind": kind, "detail": detail} for kind, detail in events],
                }
            )
            said = "".join(f"; {kind} ({detail})" for kind, detail in events)
            lines.append(f"{domain.name}: {'verified' if verified else 'pending'}{said}")
    return {"domains": results}, "\n".join(lines) or "(no domains)"


async def cmd_domain_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    if not args.yes:
        raise InvalidInputError(
            f"removing {args.domain} deletes its SES identity and fails its queued mail: "
            "add --yes to confirm"
        )
    async with _domains(settings) as domains:
        domain, failed = await domains.remove(args.domain)
    return {"domain": domain.name, "failed_messages": failed}, (
        f"removed {domain.name} from SES and the gateway; {failed} queued messages failed"
    )


async def cmd_domain_set(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    if args.restrict_to_addresses is None and args.mail_from is None:
        raise InvalidInputError("give --restrict-to-addresses yes|no and/or --mail-from SUBDOMAIN")
    async with _domains(settings) as domains:
        domain = await domains.get(args.domain)
        if args.restrict_to_addresses is not None:
            restricted = args.restrict_to_addresses == "yes"
            domain = await domains.set_restricted(args.domain, restricted)
        if args.mail_from is not None:
            domain = await domains.set_mail_from(args.domain, args.mail_from)
        return _domain_document(domains, domain), _domain_text(domains, domain)


async def cmd_address_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async with _domains(settings) as domains:
        address = await domains.add_address(args.address, args.verify_email)
    text = f"added {address.address} under {address.domain}"
    if address.ses_identity:
        text += "; SES emailed a confirmation link to it"
    return _plain(address), text


async def cmd_address_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = _plain(
        await _with_db(
            settings,
            lambda db: domain_store.list_addresses(db, args.tenant, args.domain),
            args.tenant,
        )
    )
    columns = ("address", "tenant", "domain", "ses_identity", "verified_for_sending")
    return {"addresses": found}, _table(found, columns)


async def cmd_address_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    async with _domains(settings) as domains:
        address = await domains.remove_address(args.address)
    return _plain(address), f"removed {address.address}"


async def cmd_activity_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = _plain(
        await _with_db(
            settings,
            lambda db: domain_store.list_activity(db, args.tenant, limit=args.limit),
            args.tenant,
        )
    )
    columns = ("created_at", "tenant", "kind", "subject", "detail")
    return {"activity": found}, _table(found, columns)


_SUPPRESSION_COLUMNS = ("address", "tenant", "reason", "detail", "created_at", "expires_at")


async def cmd_suppression_add(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    expires = suppressions.parse_time(args.expires, "--expires") if args.expires else None
    entry, added = await _with_db(
        settings,
        lambda db: suppressions.add(
            db, args.address, args.tenant, args.reason, args.detail, expires
        ),
    )
    said = "suppressed" if added else "updated the suppression of"
    until = f" until {entry.expires_at.isoformat()}" if entry.expires_at else ""
    text = f"{said} {entry.address} {suppressions.scope(entry.tenant)} ({entry.reason}){until}"
    return {**_plain(entry), "added": added}, text


async def cmd_suppression_remove(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    entry = await _with_db(settings, lambda db: suppressions.remove(db, args.address, args.tenant))
    said = f"{entry.address} is no longer suppressed {suppressions.scope(entry.tenant)}"
    return _plain(entry), said


async def cmd_suppression_list(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    found = _plain(
        await _with_db(
            settings,
            lambda db: suppressions.list_entries(
                db, args.tenant, args.reason, args.search, args.limit, args.offset
            ),
        )
    )
    rows = [{**row, "tenant": row["tenant"] or "(all)"} for row in found]
    return {"suppressions": found}, _table(rows, _SUPPRESSION_COLUMNS)


async def cmd_suppression_import(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    try:
        source = (
            sys.stdin if str(args.file) == "-" else args.file.open(encoding="utf-8-sig", newline="")
        )
    except OSError as exc:
        raise InvalidInputError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    try:
        report = await _with_db(
            settings, lambda db: suppressions.import_csv(db, source, args.tenant)
        )
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{args.file} is not UTF-8 text: {exc.reason}") from exc
    finally:
        if source is not sys.stdin:
            source.close()
    skipped = [{"line": line, "error": error} for line, error in report.errors]
    lines = [f"added {report.added}, updated {report.updated}, skipped {len(skipped)}"]
    lines += [f"line {row['line']}: {row['error']}" for row in skipped]
    document = {"added": report.added, "updated": report.updated, "skipped": skipped}
    return document, "\n".join(lines)


async def cmd_suppression_export(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    entries = await _with_db(settings, lambda db: suppressions.list_entries(db, args.tenant))
    if args.file is None or str(args.file) == "-":
        buffer = io.StringIO()
        count = suppressions.write_csv(entries, buffer)
        return {"file": None, "exported": count, "csv": buffer.getvalue()}, buffer.getvalue()[:-1]
    try:
        with args.file.open("w", encoding="utf-8", newline="") as out:
            count = suppressions.write_csv(entries, out)
    except OSError as exc:
        raise InvalidInputError(f"cannot write {args.file}: {exc.strerror or exc}") from exc
    return {"file": str(args.file), "exported": count}, f"exported {count} entries to {args.file}"


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


async def cmd_status(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    use_running_emulator(settings.data_dir)
    pending = await _with_db(settings, queue.pending_count)
    async with SesClientProvider(settings) as provider:
        account = SesAccount(provider)
        region, endpoint = account.region, account.endpoint
        quota, error = None, None
        try:
            quota = await account.quota(ACCOUNT_TENANT)
        except SesError as exc:
            error = str(exc)
    rate = pace(quota, settings)
    document: dict[str, Any] = {
        "region": region,
        "endpoint": endpoint,
        "account": None,
        "account_error": error,
        "pace_per_second": rate,
        "pending_messages": pending,
    }
    lines = [f"SES region {region}, endpoint {endpoint}"]
    if quota is None:
        lines.append(f"account: could not be read: {error}")
    else:
        production = quota.production_access_enabled
        document["account"] = {
            **_plain(quota),
            "sandbox": None if production is None else not production,
        }
        mode = {None: "unknown", True: "production", False: "SANDBOX"}[production]
        daily = "unlimited" if quota.max_24_hour_send is None else str(quota.max_24_hour_send)
        lines += [
            f"account: {mode}, sending enabled: {_yes_no(quota.sending_enabled)}, "
            f"enforcement: {quota.enforcement_status or 'unknown'} (from {quota.source})",
            f"daily quota: {quota.sent_last_24_hours} sent in the last 24 hours, "
            f"Max24HourSend {daily}",
            f"MaxSendRate {quota.max_send_rate:g}/s",
        ]
    lines += [
        f"each worker process paces at {rate:g}/s",
        f"messages pending: {pending}",
    ]
    return document, "\n".join(lines)


async def cmd_serve(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    logs.configure(settings.log_format, settings.log_level)
    await serve(settings, args.role or ROLES, dev=args.dev)
    return None, ""


# -- the parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an option given before the command is not reset by the command's own parser.
    common.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="a TOML settings file",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document"
    )
    parser = argparse.ArgumentParser(
        prog="ses-gateway", description="A multi-tenant SMTP relay to Amazon SES.", parents=[common]
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")

    def command(
        parent: Any, name: str, handler: Command, help_text: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help_text, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    serve_parser = command(groups, "serve", cmd_serve, "run SMTP, HTTP and delivery workers")
    serve_parser.add_argument(
        "--role", action="append", choices=ROLES, help="run only this part (repeatable)"
    )
    serve_parser.add_argument(
        "--dev", action="store_true", help="start a local SES emulator when no AWS endpoint is set"
    )
    command(groups, "status", cmd_status, "the SES account's state and quota, the queue depth")

    db = groups.add_parser("db", help="database schema").add_subparsers(
        dest="action", required=True
    )
    command(db, "upgrade", cmd_db_upgrade, "upgrade the schema to this version")
    command(db, "current", cmd_db_current, "show the schema revision")

    tenant = groups.add_parser("tenant", help="tenants").add_subparsers(
        dest="action", required=True
    )
    command(tenant, "create", cmd_tenant_create, "create a tenant").add_argument("name")
    command(tenant, "list", cmd_tenant_list, "list tenants")
    pause = command(tenant, "pause", cmd_tenant_pause, "refuse the tenant's mail at MAIL")
    pause.add_argument("name")
    pause.add_argument("--reason", required=True, help="shown to senders in the refusal")
    command(tenant, "resume", cmd_tenant_resume, "lift a pause").add_argument("name")
    limits = command(tenant, "set", cmd_tenant_set, "the tenant's limits ('default' resets)")
    limits.add_argument("name")
    for flag, kind in (
        ("--max-per-second", float),
        ("--max-per-day", int),
        ("--max-recipients", int),
        ("--max-connections", int),
        ("--max-size", int),
    ):
        limits.add_argument(flag, type=_limit(kind), default=argparse.SUPPRESS, metavar="N")

    credential = groups.add_parser("credential", help="SMTP credentials").add_subparsers(
        dest="action", required=True
    )
    create = command(credential, "create", cmd_credential_create, "create an SMTP credential")
    create.add_argument("--tenant", required=True)
    create.add_argument("--description", default="")
    create.add_argument(
        "--allow",
        action="append",
        metavar="DOMAIN|ADDRESS",
        help="narrow the credential to this sender domain or address (repeatable)",
    )
    command(credential, "list", cmd_credential_list, "list credentials").add_argument("--tenant")
    command(credential, "revoke", cmd_credential_revoke, "revoke a credential").add_argument(
        "id", type=int
    )
    paused = command(credential, "pause", cmd_credential_pause, "refuse its mail at MAIL")
    paused.add_argument("id", type=int)
    paused.add_argument("--reason", required=True, help="shown to senders in the refusal")
    command(credential, "resume", cmd_credential_pause, "lift a pause").add_argument("id", type=int)

    network = groups.add_parser("network", help="trusted networks").add_subparsers(
        dest="action", required=True
    )
    trust = command(network, "add", cmd_network_add, "let a network send without AUTH")
    trust.add_argument("cidr", help="e.g. 10.1.2.0/24 or 2001:db8::/64")
    trust.add_argument("--tenant", required=True)
    command(network, "list", cmd_network_list, "list trusted networks").add_argument("--tenant")
    command(network, "remove", cmd_network_remove, "stop trusting a network").add_argument("cidr")

    refusal = groups.add_parser("refusal", help="refused commands").add_subparsers(
        dest="action", required=True
    )
    command(refusal, "count", cmd_refusal_count, "refusals per rule").add_argument("--tenant")

    message = groups.add_parser("message", help="queued and sent messages").add_subparsers(
        dest="action", required=True
    )
    command(message, "show", cmd_message_show, "a message and its recipients").add_argument(
        "queue_id"
    )
    domain = groups.add_parser("domain", help="sending domains").add_subparsers(
        dest="action", required=True
    )
    add = command(domain, "add", cmd_domain_add, "register a domain with SES")
    add.add_argument("domain")
    add.add_argument("--tenant", required=True)
    add.add_argument("--dkim", choices=("easy", "byodkim"), default="easy")
    add.add_argument("--mail-from", metavar="SUBDOMAIN", help="custom MAIL FROM, e.g. mail")
    show = command(domain, "show", cmd_domain_show, "status and the DNS records to publish")
    show.add_argument("domain")
    show.add_argument("--format", choices=("table", "zone"), default="table")
    command(domain, "list", cmd_domain_list, "list domains").add_argument("--tenant")
    command(domain, "check", cmd_domain_check, "check the DNS records now").add_argument("domain")
    command(domain, "sync", cmd_domain_sync, "ask SES for the status now").add_argument(
        "domain", nargs="?"
    )
    remove = command(domain, "remove", cmd_domain_remove, "delete from SES and the gateway")
    remove.add_argument("domain")
    remove.add_argument("--yes", action="store_true", help="confirm")
    settable = command(domain, "set", cmd_domain_set, "change a domain's options")
    settable.add_argument("domain")
    settable.add_argument(
        "--restrict-to-addresses", choices=("yes", "no"), help="only listed addresses may send"
    )
    settable.add_argument("--mail-from", metavar="SUBDOMAIN", help="custom MAIL FROM, e.g. mail")

    address = groups.add_parser("address", help="sender addresses").add_subparsers(
        dest="action", required=True
    )
    add_address = command(address, "add", cmd_address_add, "add a sender address")
    add_address.add_argument("address")
    add_address.add_argument(
        "--verify-email", action="store_true", help="verify it with SES by email (no DNS needed)"
    )
    listing = command(address, "list", cmd_address_list, "list sender addresses")
    listing.add_argument("--tenant")
    listing.add_argument("--domain")
    command(address, "remove", cmd_address_remove, "remove a sender address").add_argument(
        "address"
    )

    activity = groups.add_parser("activity", help="what happened").add_subparsers(
        dest="action", required=True
    )
    recent = command(activity, "list", cmd_activity_list, "recent events, newest first")
    recent.add_argument("--tenant")
    recent.add_argument("--limit", type=int, default=50)

    suppression = groups.add_parser(
        "suppression", help="addresses that must not be mailed"
    ).add_subparsers(dest="action", required=True)
    everyone = "(default: every tenant)"
    suppress = command(suppression, "add", cmd_suppression_add, "suppress an address")
    suppress.add_argument("address")
    suppress.add_argument("--tenant", help=f"only for this tenant {everyone}")
    suppress.add_argument("--reason", choices=suppressions.REASONS, default="manual")
    suppress.add_argument("--detail", default="", help="a note: the bounce, the request...")
    suppress.add_argument(
        "--expires", metavar="DATE", help="ISO date or datetime (UTC) when the entry lapses"
    )
    unsuppress = command(suppression, "remove", cmd_suppression_remove, "remove an entry")
    unsuppress.add_argument("address")
    unsuppress.add_argument("--tenant", help=f"the tenant's entry {everyone}")
    listed = command(suppression, "list", cmd_suppression_list, "list entries by address")
    listed.add_argument("--tenant", help="only this tenant's entries (default: all)")
    listed.add_argument("--reason", choices=suppressions.REASONS)
    listed.add_argument("--search", metavar="TEXT", help="addresses containing TEXT")
    listed.add_argument("--limit", type=int, default=100)
    listed.add_argument("--offset", type=int, default=0)
    imported = command(suppression, "import", cmd_suppression_import, "add entries from CSV")
    imported.add_argument("file", type=Path, metavar="FILE", help="a CSV file, or - for stdin")
    imported.add_argument("--tenant", help=f"for rows that name no tenant {everyone}")
    exported = command(suppression, "export", cmd_suppression_export, "write entries as CSV")
    exported.add_argument("file", type=Path, metavar="FILE", nargs="?", help="default: stdout")
    exported.add_argument("--tenant", help="only this tenant's entries (default: all)")
    return parser


def _fail(args: argparse.Namespace, message: str, status: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"error": {"message": message}}))
    else:
        print(f"ses-gateway: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    try:
        settings = load_settings(getattr(args, "config", None))
        document, text = asyncio.run(args.handler(settings, args))
    except ConfigError as exc:
        return _fail(args, str(exc), 2)
    except GatewayError as exc:
        return _fail(args, str(exc), 1)
    except OSError as exc:
        return _fail(args, f"{exc.strerror or exc}", 1)
    except KeyboardInterrupt:
        return 130
    if args.json and document is not None:
        print(json.dumps(document, indent=2))
    elif text:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
