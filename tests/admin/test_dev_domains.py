"""`serve --dev` shows the real flow of a sending domain: the records SES asks for, pending, then
verified by the identity sync; and one `serve --dev` per data folder. Real processes only."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.process import Gateway, Processes, problems

TOKEN = re.compile(r"[a-z0-9]{32}")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    pool = Processes(tmp_path)
    yield pool
    pool.close()


def dev_gateway(processes: Processes, directory: Path, delay: float) -> Gateway:
    """A `serve --dev` whose emulator verifies a domain `delay` seconds after it is added."""
    gateway = Gateway.create(processes, directory, dev_verify_delay=delay)  # no AWS variable
    gateway.serve("--dev").wait_for_log(r"dev-mode simulator=")
    gateway.cli("tenant", "create", "acme")
    return gateway


def wait_for_verified(gateway: Gateway, domain: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = gateway.cli("domain", "show", domain)
        if shown["state"]["verified_for_sending"]:
            return dict(shown)
        assert time.monotonic() < deadline, f"{domain} still pending after {timeout}s: {shown}"
        time.sleep(0.5)


def test_a_dev_domain_shows_its_records_pending_then_verifies_by_itself(
    processes: Processes, tmp_path: Path
) -> None:
    gateway = dev_gateway(processes, tmp_path / "gw", delay=3)
    added = gateway.cli("domain", "add", "acme.test", "--tenant", "acme", "--mail-from", "mail")
    state = added["state"]
    assert (state["verified_for_sending"], state["verification_status"]) == (False, "PENDING")
    assert (state["dkim_status"], state["mail_from_status"]) == ("PENDING", "PENDING")
    tokens = state["dkim_tokens"]
    assert len(tokens) == 3
    assert all(TOKEN.fullmatch(token) for token in tokens)
    assert [(r["type"], r["name"], r["value"]) for r in added["records"]] == [
        *[("CNAME", f"{t}._domainkey.acme.test", f"{t}.dkim.amazonses.com") for t in tokens],
        ("MX", "mail.acme.test", "10 feedback-smtp.us-east-1.amazonses.com"),
        ("TXT", "mail.acme.test", "v=spf1 include:amazonses.com ~all"),
        ("TXT", "_dmarc.acme.test", "v=DMARC1; p=none;"),
    ]
    shown = gateway.run("domain", "show", "acme.test")
    assert shown.returncode == 0, shown.stderr
    if "verification PENDING" in shown.stdout:  # else the machine was slower than the delay
        assert "verified for sending: not yet" in shown.stdout
    assert f"{tokens[0]}._domainkey.acme.test" in shown.stdout

    # The emulator verifies it; the gateway learns it from its identity sync.
    verified = wait_for_verified(gateway, "acme.test", timeout=30)["state"]
    assert (verified["verification_status"], verified["dkim_status"]) == ("SUCCESS", "SUCCESS")
    assert verified["mail_from_status"] == "SUCCESS"
    assert verified["dkim_tokens"] == tokens  # the records to publish stay the same
    kinds = {a["kind"] for a in gateway.cli("activity", "list", "--tenant", "acme")["activity"]}
    assert {"domain.verified", "dkim.verified", "mail_from.verified"} <= kinds


def test_domain_verify_and_one_dev_serve_per_data_folder(
    processes: Processes, tmp_path: Path
) -> None:
    gateway = dev_gateway(processes, tmp_path / "gw", delay=3600)
    [first] = processes.started
    marker = Path(gateway.env["SES_GATEWAY_DATA_DIR"]) / "dev-emulator.json"
    announced = json.loads(marker.read_text())
    assert announced["pid"] == first.pid

    # A second `serve --dev` on the same data folder is refused with one line, before it
    # starts anything; an ordinary `serve` beside it too (it would send the dev queue).
    for args in (("--dev",), ()):
        second = gateway.run("serve", *args)  # the same ports: the lock is taken first
        assert second.returncode == 1, second.stdout + second.stderr
        [line] = second.stderr.splitlines()
        assert "is in use by `ses-gateway serve" in line
        assert f"(PID {first.pid})" in line
        assert "SES_GATEWAY_DATA_DIR" in line
        assert "dev-mode" not in second.stderr + second.stdout  # no emulator was started
    assert json.loads(marker.read_text()) == announced  # the first one's file is untouched

    added = gateway.cli("domain", "add", "acme.test", "--tenant", "acme")
    assert added["state"]["verification_status"] == "PENDING"
    time.sleep(3)  # a few runs of the identity sync: it stays pending
    assert gateway.cli("domain", "show", "acme.test")["state"]["verification_status"] == "PENDING"

    # `domain verify`: the emulator takes the records as published now (the CLI still finds it).
    said = gateway.run("domain", "verify", "acme.test")
    assert said.returncode == 0, said.stderr
    # It prints what it learnt; the serve's identity sync may have learnt it first, between
    # the records' publication and the CLI's own question: the activity has it either way.
    assert said.stdout.startswith("acme.test: verified"), said.stdout
    kinds = {a["kind"] for a in gateway.cli("activity", "list", "--tenant", "acme")["activity"]}
    assert "domain.verified" in kinds
    state = gateway.cli("domain", "show", "acme.test")["state"]
    assert (state["verified_for_sending"], state["dkim_status"]) == (True, "SUCCESS")

    assert first.terminate() == 0
    assert not marker.exists()  # the first one removes its own file when it stops
    assert not problems(first.log())
    # With SES (no emulator running), `domain verify` says what it needs and what to do.
    aws = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    refused = gateway.run("domain", "verify", "acme.test", **aws)
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert "serve --dev" in line
    assert "domain sync acme.test" in line


def test_a_dev_serve_that_stopped_leaves_no_lock(processes: Processes, tmp_path: Path) -> None:
    """The lock goes with the process, however it ends: after a SIGKILL, `serve --dev` starts."""
    gateway = Gateway.create(processes, tmp_path / "gw")
    killed = gateway.serve("--dev")
    assert killed.kill() == -9
    marker = Path(gateway.env["SES_GATEWAY_DATA_DIR"]) / "dev-emulator.json"
    assert marker.exists()  # left behind: the CLI ignores it (its process is gone)
    again = gateway.serve("--dev")
    again.wait_for_log(r"dev-mode simulator=")
    assert json.loads(marker.read_text())["pid"] == again.pid
    assert again.terminate() == 0
