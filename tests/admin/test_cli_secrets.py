"""`ses-gateway secrets rotate`: every secret at rest (BYODKIM keys, webhook secrets, AWS
accounts' secrets, message content) encrypted again under the new `SECRET_KEY`, the old key given
once; and a rotation killed with SIGKILL midway loses nothing."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select, update

from gateway.core import crypto
from gateway.core.crypto import Sealer
from gateway.core.exceptions import DecryptionError
from gateway.core.types.aws import AwsAccountSpec
from gateway.runtime import housekeeping
from gateway.storage import awsaccounts, content, domains, queue, webhooks
from gateway.storage import tenants as tenant_store
from gateway.storage.database import Database
from gateway.storage.migrate import upgrade
from gateway.storage.models import Domain, Message, MessageBody, Webhook
from tests.conftest import Cli, add_verified_domain
from tests.support.messages import new_message
from tests.support.process import Gateway, Processes, gateway_command

OLD = "the old secret key of the installation"
NEW = "the new secret key of the installation"
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
T = TypeVar("T")


async def fill(db: Database, webhook_count: int = 1, account_count: int = 1) -> str:
    """Secrets of each kind under `OLD`: a BYODKIM key, webhooks, AWS accounts, a message.
    The message's queue id."""
    old = OLD.encode()
    tenant = await tenant_store.create_tenant(db, "acme", NOW)
    await add_verified_domain(db, tenant.id, "acme.example")
    async with db.begin() as conn:
        await conn.execute(update(Domain).values(dkim_private_key=crypto.encrypt(old, "PRIVATE")))
    for number in range(webhook_count):
        secret = crypto.encrypt(old, f"whsec-{number}")
        await webhooks.insert_webhook(db, tenant.id, "https://h.example/", (), secret, NOW)
    for number in range(account_count):
        spec = AwsAccountSpec(f"a{number}", "eu-west-1", "AKIAEXAMPLE", f"secret-{number}")
        await awsaccounts.add_account(db, Sealer(old), spec, NOW)
    message = new_message(tenant.id)
    await queue.insert_messages(db, Sealer(old), [message])
    return message.id


async def all_open_with(db: Database, queue_id: str, *keys: str) -> None:
    """Every secret opens with `keys` (the first current), and is what was stored."""
    current, *previous = (key.encode() for key in keys)
    domain = await domains.get_domain(db, "acme.example")
    assert crypto.decrypt(current, await domains.private_key(db, domain.id) or "", previous) == (
        "PRIVATE"
    )
    async with db.read() as conn:
        tokens = (await conn.scalars(select(Webhook.secret))).all()
        body = await conn.scalar(select(MessageBody.data).where(MessageBody.message_id == queue_id))
        head = await conn.scalar(select(Message.headers).where(Message.id == queue_id))
    assert sorted(crypto.decrypt(current, t, previous) for t in tokens) == sorted(
        f"whsec-{n}" for n in range(len(tokens))
    )
    sealer = Sealer(current, previous)
    specs = await awsaccounts.account_specs(db, sealer)
    assert {s.secret_access_key for s in specs.values()} == {
        f"secret-{n}" for n in range(len(specs))
    }
    assert sealer.open(content.BODY, queue_id, body or b"").endswith(b"hello\r\n")
    assert sealer.open(content.HEADERS, queue_id, head or b"") == b"Subject: t\r\n"


def on(database_url: str, action: Callable[[Database], Awaitable[T]]) -> T:
    """`action` on the database, from a test that runs the CLI (which has its own loop)."""

    async def run() -> T:
        db = Database(database_url)
        try:
            return await action(db)
        finally:
            await db.close()

    return asyncio.run(run())


async def migrated_and_filled(db: Database) -> str:
    await upgrade(db)
    return await fill(db)


@pytest.fixture
def filled(cli: Cli, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The secrets stored under `OLD`; the gateway now has `NEW` for its key."""
    queue_id = on(database_url, migrated_and_filled)
    monkeypatch.setenv("SES_GATEWAY_SECRET_KEY", NEW)
    return queue_id


def test_rotate_encrypts_every_secret_again_with_the_old_key_read_once(
    cli: Cli, database_url: str, filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker started with the new key alone ran its round first: it opened nothing.
    assert on(database_url, lambda db: housekeeping.reseal(db, Sealer(NEW.encode()))) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(OLD + "\n"))
    status, out, err = cli("secrets", "rotate", "--json")
    assert status == 0, err
    assert json.loads(out) == {
        "dkim_keys": 1,
        "webhook_secrets": 1,
        "aws_accounts": 1,
        "message_content": 3,  # its body, header copy and subject
    }
    on(database_url, lambda db: all_open_with(db, filled, NEW))
    _, activity, _ = cli("activity", "list", "--json")
    [entry] = json.loads(activity)["activity"]
    assert (entry["kind"], entry["subject"]) == ("secrets.rotated", "SECRET_KEY")
    assert OLD not in out + err + activity


def test_rotate_with_the_old_key_in_previous_secret_keys(
    cli: Cli, database_url: str, filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SES_GATEWAY_PREVIOUS_SECRET_KEYS", OLD)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    status, out, err = cli("secrets", "rotate")
    assert status == 0, err
    assert "aws accounts: 1 encrypted again" in out
    on(database_url, lambda db: all_open_with(db, filled, NEW))


def test_rotate_names_what_the_keys_given_do_not_open(
    cli: Cli, database_url: str, filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("not the old key\n"))
    status, _, err = cli("secrets", "rotate")
    assert status == 1
    assert err.count("\n") == 1
    assert "domain 1's DKIM key, webhook 1's secret, AWS account a0's secrets" in err
    with pytest.raises(DecryptionError):  # nothing was lost: still under the old key
        on(database_url, lambda db: all_open_with(db, filled, NEW))
    on(database_url, lambda db: all_open_with(db, filled, NEW, OLD))


def test_the_current_key_is_not_taken_for_the_old(
    cli: Cli, filled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW + "\n"))
    status, _, err = cli("secrets", "rotate")
    assert (status, err.strip()) == (
        1,
        "ses-gateway: that is the current SECRET_KEY: give the key it replaced",
    )


WEBHOOKS = 1500


def _rotated(path: Path) -> int:
    """How many webhook secrets are under the new key (Fernet says nothing of its key: each
    is tried)."""
    with sqlite3.connect(path) as conn:
        tokens = [row[0] for row in conn.execute("SELECT secret FROM webhooks")]
    count = 0
    for token in tokens:
        try:
            crypto.decrypt(NEW.encode(), token)
        except DecryptionError:
            continue
        count += 1
    return count


@pytest.mark.slow
def test_a_rotation_killed_midway_loses_nothing(tmp_path: Path) -> None:
    processes = Processes(tmp_path)
    gateway = Gateway.create(processes, tmp_path / "gw", secret_key=NEW, previous_secret_keys=OLD)
    (tmp_path / "gw" / "data").mkdir(parents=True)
    url = gateway.database_url
    path = Path(url.removeprefix("sqlite+aiosqlite:///"))

    async def prepare(db: Database) -> str:
        await upgrade(db)
        return await fill(db, webhook_count=WEBHOOKS, account_count=50)

    queue_id = on(url, prepare)
    try:
        rotation = processes.start("rotate", [*gateway_command(), "secrets", "rotate"], gateway.env)
        deadline = time.monotonic() + 120
        while (done := _rotated(path)) < 20:
            assert rotation.returncode is None, rotation.log
            assert time.monotonic() < deadline
            time.sleep(0.02)
        rotation.kill()
    finally:
        processes.close()
    assert done < WEBHOOKS, "the rotation ended before it was killed"

    on(url, lambda db: all_open_with(db, queue_id, NEW, OLD))  # each under one or the other
    finished = gateway.run("secrets", "rotate")
    assert finished.returncode == 0, finished.stderr
    on(url, lambda db: all_open_with(db, queue_id, NEW))
