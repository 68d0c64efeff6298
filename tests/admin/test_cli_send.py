"""`ses-gateway send`: a message by the send API's path, on SQLite and PostgreSQL: spooled with
its attachment, refused with the SMTP reply's words, scheduled."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.core.crypto import Sealer
from gateway.core.secret_key import load_secret_key
from gateway.identity import accounts
from gateway.identity.accounts import now
from gateway.storage import queue, templates
from gateway.storage.database import Database
from tests.conftest import Cli, add_verified_domain, make_settings


async def test_send_spools_a_message_for_the_worker(cli: Cli, db: Database, tmp_path: Path) -> None:
    tenant = await accounts.create_tenant(db, "acme")
    await add_verified_domain(db, tenant.id, "example.com")
    (tmp_path / "page.html").write_text("<p>Grüße</p>", encoding="utf-8")
    (tmp_path / "data.csv").write_bytes(b"a,b\r\n1,2\r\n")
    at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    status, out, err = await asyncio.to_thread(
        cli,
        "--json", "send", "--tenant", "acme", "--from", "Shop <shop@example.com>",
        "--to", "ann@example.org", "--to", "bob@example.org", "--subject", "Grüße",
        "--text", "hello", "--html-file", str(tmp_path / "page.html"),
        "--attach", str(tmp_path / "data.csv"), "--header", "X-Order: 4711",
        "--at", at.isoformat(),
    )  # fmt: skip
    assert status == 0, err
    sent = json.loads(out)
    assert sent["recipients"] == ["ann@example.org", "bob@example.org"]
    assert datetime.fromisoformat(sent["scheduled_at"]) == at
    sealer = Sealer(load_secret_key(make_settings(tmp_path, db.url)))  # the CLI's key
    stored = await queue.message_status(db, sealer, sent["id"])
    assert (stored.via, stored.subject, stored.next_attempt_at) == ("api", "Grüße", at)
    [job] = await queue.claim(db, sealer, "w", 5, at, at + timedelta(minutes=1))
    parsed = email.message_from_bytes(job.data, policy=email.policy.default)
    assert parsed["X-Order"] == "4711"
    [attachment] = parsed.iter_attachments()
    assert (attachment.get_filename(), attachment.get_content_type()) == ("data.csv", "text/csv")
    assert attachment.get_payload(decode=True) == b"a,b\r\n1,2\r\n"


async def test_send_refused_says_the_smtp_reply(cli: Cli, db: Database) -> None:
    await accounts.create_tenant(db, "acme")
    status, out, _ = await asyncio.to_thread(
        cli,
        "--json", "send", "--tenant", "acme", "--from", "a@example.com",
        "--to", "b@example.org", "--subject", "s", "--text", "x",
    )  # fmt: skip
    assert status == 1
    assert json.loads(out)["error"]["message"] == (
        "553 5.7.1 Sender domain example.com is not a sending domain of this account: add it first"
    )


async def test_send_a_template_with_variables(cli: Cli, db: Database, tmp_path: Path) -> None:
    tenant = await accounts.create_tenant(db, "acme")
    await add_verified_domain(db, tenant.id, "example.com")
    html = "<p>Hi {{name}} of {{company}}</p>"
    await templates.add_template(db, tenant.id, "welcome", "Hi {{name}}", html, None, now())
    base = (
        "--json", "send", "--tenant", "acme", "--from", "shop@example.com",
        "--to", "ann@example.org", "--template", "welcome", "--var", "name=<Ann>",
    )  # fmt: skip
    status, out, err = await asyncio.to_thread(cli, *base, "--var", "company=A&B")
    assert status == 0, err
    sent = json.loads(out)
    sealer = Sealer(load_secret_key(make_settings(tmp_path, db.url)))
    assert (await queue.message_status(db, sealer, sent["id"])).subject == "Hi <Ann>"
    later = datetime.now(UTC) + timedelta(minutes=1)
    [job] = await queue.claim(db, sealer, "w", 5, later, later + timedelta(minutes=1))
    parsed = email.message_from_bytes(job.data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    body = parsed.get_body(("html",))
    assert body is not None
    assert body.get_content().strip() == "<p>Hi &lt;Ann&gt; of A&amp;B</p>"

    for extra, words in (
        ((), "no value and no default for company"),
        (("--var", "company=x", "--subject", "s"), "give a template, or subject"),
    ):
        status, out, _ = await asyncio.to_thread(cli, *base, *extra)
        assert status == 1
        assert words in json.loads(out)["error"]["message"]
    status, out, _ = await asyncio.to_thread(
        cli, *base[:8], "--subject", "s", "--text", "x", "--var", "a=b"
    )
    assert status == 1
    assert "variables: give them with a template" in json.loads(out)["error"]["message"]
    other = await accounts.create_tenant(db, "globex")
    await templates.add_template(db, other.id, "theirs", "s", "<p>x</p>", None, now())
    status, out, _ = await asyncio.to_thread(cli, *base[:8], "--template", "theirs")
    assert status == 1
    assert "no template named 'theirs' in tenant acme" in json.loads(out)["error"]["message"]
