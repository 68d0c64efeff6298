"""`ses-gateway serve` as a real process, driven over loopback by real clients.

The SES endpoint is the fake SES (in this process, so a test can hold a send in flight) or, for
`serve --dev`, moto's emulator that the gateway starts itself.
"""

from __future__ import annotations

import email
import json
import re
import shutil
import smtplib
import socket
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.intake.auth import LOGIN_TTL
from gateway.intake.tls import make_self_signed
from tests.support.fakeses import FakeSes
from tests.support.process import (
    Gateway,
    Processes,
    client_tls,
    http_get,
    markers,
    port_accepts,
    problems,
    provision,
    read_queue,
    send,
    smtp_client,
    submit,
)

STOPPED = re.compile(r" INFO gateway\.serve stopped$", re.MULTILINE)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    pool = Processes(tmp_path)
    yield pool
    pool.close()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout}s")
        time.sleep(0.05)


def sent_markers(fake: FakeSes) -> Counter[str]:
    return Counter(marker for message in fake.messages() for marker in markers(message.raw))


def assert_clean_log(log: str) -> None:
    found = problems(log)
    assert not found, "\n".join(found)


def test_serve_runs_every_role_and_stops_cleanly_on_sigterm(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes
) -> None:
    gateway = Gateway.create(processes, tmp_path / "gw", ses_url=fake_ses.url)
    _, username, password = provision(gateway.database_url)
    server = gateway.serve()
    assert "started roles=smtp,web,worker database=sqlite" in server.log()

    assert http_get(f"{gateway.http_url}/healthz") == (200, {"status": "ok"})
    status, ready = http_get(f"{gateway.http_url}/readyz")
    assert status == 200, ready
    assert ready == {"status": "ready", "checks": {"database": "ok", "ses": "ok"}}

    # Implicit TLS on SMTPS_PORT.
    with smtplib.SMTP_SSL(
        "127.0.0.1", gateway.smtps_port, context=client_tls(), timeout=15
    ) as client:
        client.login(username, password)
        send(client, "smtps")
    fake_ses.wait_for(1, timeout=20)

    # One message whose SES call is in flight at SIGTERM (the fake answers after 3 s) ...
    fake_ses.delay_next(1, 3)
    in_flight = submit(gateway.smtp_port, username, password, "in-flight")
    wait_until(lambda: read_queue(gateway.database_url)[in_flight].attempts >= 1, "claimed")
    # ... and one submitted just before it.
    last = submit(gateway.smtp_port, username, password, "last")
    stopping = time.monotonic()
    server.popen.terminate()

    assert server.wait(20) == 0
    assert time.monotonic() - stopping < 8
    log = server.log()
    assert re.search(r" INFO gateway\.serve stopping$", log, re.MULTILINE), log
    assert STOPPED.search(log), log
    assert_clean_log(log)
    queue = read_queue(gateway.database_url)
    assert queue[in_flight].state == "done"  # the send in flight was waited for and recorded
    assert queue[in_flight].recipient_states == ("sent",)

    if queue[last].state != "done":  # not claimed before the stop: the restart delivers it
        assert queue[last].lease_owner is None  # its lease was given back
        restarted = gateway.serve()
        wait_until(lambda: read_queue(gateway.database_url)[last].state == "done", "delivered")
        assert restarted.terminate() == 0
        assert_clean_log(restarted.log())
    shown = gateway.cli("message", "show", last)
    assert shown["state"] == "done"
    assert [r["state"] for r in shown["recipients"]] == ["sent"]
    # Each exactly once: a graceful stop makes no duplicates.
    assert sent_markers(fake_ses) == {"smtps": 1, "in-flight": 1, "last": 1}


def test_roles_in_separate_processes_share_one_sqlite_database(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes
) -> None:
    gateway = Gateway.create(processes, tmp_path / "gw", ses_url=fake_ses.url)
    _, username, password = provision(gateway.database_url)
    smtp = gateway.serve("--role", "smtp")
    worker = gateway.serve("--role", "worker")
    assert "started roles=smtp database=sqlite" in smtp.log()
    assert "started roles=worker database=sqlite" in worker.log()
    assert not port_accepts(gateway.http_port)  # no web role in either

    queue_id = submit(gateway.smtp_port, username, password, "split")
    [sent] = fake_ses.wait_for(1, timeout=20)
    assert markers(sent.raw) == ["split"]
    assert sent.tags["queue_id"] == queue_id
    worker.wait_for_log(rf"delivery queue_id={queue_id} .*result=sent")
    assert "delivery queue_id=" not in smtp.log()
    shown = gateway.cli("message", "show", queue_id)
    assert [(r["state"], r["ses_message_id"]) for r in shown["recipients"]] == [
        ("sent", sent.message_id)
    ]
    listed = gateway.cli("message", "list", "--status", "sent", "--limit", "5")
    assert [m["id"] for m in listed["messages"]] == [queue_id]
    assert listed["next_cursor"] is None
    assert gateway.cli("message", "list", "--status", "bounced")["messages"] == []

    web = gateway.serve("--role", "web")
    assert "started roles=web database=sqlite" in web.log()
    assert http_get(f"{gateway.http_url}/healthz") == (200, {"status": "ok"})
    # No worker in this process: readiness is the database alone.
    assert http_get(f"{gateway.http_url}/readyz") == (
        200,
        {"status": "ready", "checks": {"database": "ok"}},
    )
    # The send API of a web process spools for the worker of another.
    key = gateway.cli("apikey", "create", "--tenant", "acme")["key"]
    message = {"from": "a@example.com", "to": ["b@example.org"], "subject": "api", "text": "x"}
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{gateway.http_url}/api/v1/emails",
        json.dumps(message).encode(),
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310
        assert answer.status == 202
        api_id = json.load(answer)["id"]
    [_, by_api] = fake_ses.wait_for(2, timeout=20)
    assert by_api.tags["queue_id"] == api_id
    worker.wait_for_log(rf"delivery queue_id={api_id} .*result=sent")

    for process in (web, smtp, worker):
        assert process.terminate() == 0
        assert STOPPED.search(process.log())
        assert_clean_log(process.log())


def swaks_path() -> str:
    swaks = shutil.which("swaks")
    if swaks is None:
        pytest.fail("swaks is not installed: run scripts/install --dev (or apt-get install swaks)")
    return swaks


def test_dev_mode_starts_the_emulator_and_a_swaks_message_reaches_it(
    processes: Processes, tmp_path: Path
) -> None:
    swaks = swaks_path()
    # No AWS variable at all; the emulator verifies domains when added (the delay has its tests).
    gateway = Gateway.create(processes, tmp_path / "gw", dev_verify_delay=0)
    assert not [name for name in gateway.env if name.startswith("AWS_")]
    server = gateway.serve("--dev")
    emulator = server.wait_for_log(r"dev-mode emulator=(http://127\.0\.0\.1:\d+)").group(1)
    assert f"ses_endpoint={emulator}" in server.log()
    # A first admin for the panel, its password in a file only its owner reads, not in the log.
    admin = server.wait_for_log(r"dev-mode panel=(\S+) admin=admin@example\.com password_in=(\S+)")
    secret_file = Path(admin.group(2))
    assert secret_file.stat().st_mode & 0o777 == 0o600
    email_line, password = secret_file.read_text().split()
    assert (email_line, password in server.log()) == ("admin@example.com", False)
    # The CLI finds the running emulator, which verifies example.com.
    _, username, password = gateway.credential("t")

    body = f"Hello through the emulator, {uuid.uuid4()}."
    # fmt: off
    result = subprocess.run(
        [
            swaks, "--server", "127.0.0.1", "--port", str(gateway.smtp_port), "--tls",
            "--auth", "PLAIN", "--auth-user", username, "--auth-password", password,
            "--from", "demo@example.com", "--to", "someone@example.org", "--body", body,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )
    # fmt: on
    output = result.stdout + result.stderr
    if "TLS not available" in output:
        pytest.fail(
            "swaks has no TLS support (Net::SSLeay is missing): "
            "apt-get install libnet-ssleay-perl\n" + output
        )
    assert result.returncode == 0, output
    queued = re.search(r"<~ +250 2\.0\.0 Ok: queued as (\w+)", output)
    assert queued is not None, output
    queue_id = queued.group(1)

    delivered = server.wait_for_log(
        rf"delivery queue_id={queue_id} .*result=sent ses_message_id=(\S+)"
    )
    ses_message_id = delivered.group(1)
    shown = gateway.cli("message", "show", queue_id)
    assert shown["state"] == "done"
    assert [(r["state"], r["ses_message_id"]) for r in shown["recipients"]] == [
        ("sent", ses_message_id)
    ]

    status, data = http_get(f"{emulator}/moto-api/data.json")
    assert status == 200
    [raw] = [m for m in data["ses"]["RawMessage"] if m["id"] == ses_message_id]
    assert raw["source"] == "demo@example.com"
    assert "someone@example.org" in raw["destinations"]
    message = email.message_from_string(raw["raw_data"])
    assert message["X-Mailer"].startswith("swaks")
    assert message.get_payload().strip() == body  # the body, intact

    assert server.terminate() == 0
    assert STOPPED.search(server.log())


def test_wrong_password_and_revoked_credential_are_refused_with_535(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes
) -> None:
    gateway = Gateway.create(processes, tmp_path / "gw", ses_url=fake_ses.url)
    credential_id, username, password = provision(gateway.database_url)
    # smtplib tries each mechanism in turn: more failures than attempts (the lockout has tests).
    server = gateway.serve(SES_GATEWAY_AUTH_MAX_FAILURES="20")

    with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
        smtp_client(gateway.smtp_port, username, password + "x")
    assert wrong.value.smtp_code == 535

    # The right password works (and is now remembered) ...
    submit(gateway.smtp_port, username, password, "before-revoke")
    remembered = time.monotonic()
    revoked = gateway.cli("credential", "revoke", str(credential_id))
    assert revoked["revoked_at"] is not None
    # ... until the credential is revoked: the cache does not outlive it. On SQLite the serving
    # process does not hear of a change made by another (the CLI): its remembered login runs
    # out within LOGIN_TTL (with PostgreSQL it is told at once: test_auth_processes.py).
    time.sleep(max(0.0, LOGIN_TTL - (time.monotonic() - remembered)))
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        smtp_client(gateway.smtp_port, username, password)
    assert refused.value.smtp_code == 535
    with (
        pytest.raises(smtplib.SMTPAuthenticationError) as refused_smtps,
        smtplib.SMTP_SSL("127.0.0.1", gateway.smtps_port, context=client_tls(), timeout=15) as c,
    ):
        c.login(username, password)
    assert refused_smtps.value.smtp_code == 535

    assert server.terminate() == 0
    log = server.log()
    assert re.search(rf"smtp-session .*username={username} accepted=1 ", log), log
    assert len(re.findall(r"smtp-session .* auth_failures=\d+", log)) == 3, log
    assert fake_ses.wait_for(1)[0].tags["tenant"] == "acme"


def error_line(stderr: str) -> str:
    """The one line `ses-gateway` ends with on an error. Other lines may come before or after
    it (the log, or a coverage tool's warning when the suite runs under coverage), but never a
    traceback."""
    [line] = [text for text in stderr.splitlines() if text.startswith("ses-gateway: ")]
    assert "Traceback" not in stderr, stderr
    return line


@pytest.mark.parametrize(
    ("name", "value"),
    [("SMTP_PORT", "abc"), ("HTTP_PORT", "70000"), ("SES_SEND_API", "v3")],
)
def test_a_bad_setting_exits_2_with_one_line_naming_it(
    processes: Processes, tmp_path: Path, name: str, value: str
) -> None:
    gateway = Gateway.create(processes, tmp_path / "gw")
    result = gateway.run("serve", **{f"SES_GATEWAY_{name}": value})
    assert result.returncode == 2, result
    assert result.stdout == ""
    line = error_line(result.stderr)
    assert line.startswith(f"ses-gateway: SES_GATEWAY_{name}: ")
    assert repr(value) in line


@pytest.mark.parametrize("listener", ["smtp", "http"])
def test_a_port_in_use_exits_1_with_one_line(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes, listener: str
) -> None:
    gateway = Gateway.create(processes, tmp_path / "gw", ses_url=fake_ses.url)
    port = gateway.smtp_port if listener == "smtp" else gateway.http_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = gateway.run("serve")
    assert result.returncode == 1, result
    line = error_line(result.stderr)
    assert line.startswith("ses-gateway: ")
    assert str(port) in line
    assert "already in use" in line.lower()
    assert f"(SES_GATEWAY_{listener.upper()}_PORT)" in line


@pytest.mark.parametrize(
    ("cert", "key", "says"),
    [
        ("garbage", "key", "SES_GATEWAY_TLS_CERT_FILE {cert}: no PEM certificate in it"),
        ("cert", "garbage", "SES_GATEWAY_TLS_KEY_FILE {key}: no PEM private key in it"),
        ("cert", "other-key", "SES_GATEWAY_TLS_KEY_FILE {key} is not the key of the certificate"),
        ("missing", "key", "SES_GATEWAY_TLS_CERT_FILE {cert}: no such file"),
    ],
)
def test_a_bad_certificate_exits_2_naming_the_file_and_the_fault(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes, cert: str, key: str, says: str
) -> None:
    gateway = Gateway.create(processes, tmp_path / "gw", ses_url=fake_ses.url)
    make_self_signed("localhost", tmp_path / "cert", tmp_path / "key")
    make_self_signed("localhost", tmp_path / "other-cert", tmp_path / "other-key")
    (tmp_path / "garbage").write_text("not PEM\n")
    cert_file, key_file = tmp_path / cert, tmp_path / key
    result = gateway.run(
        "serve", SES_GATEWAY_TLS_CERT_FILE=str(cert_file), SES_GATEWAY_TLS_KEY_FILE=str(key_file)
    )
    assert result.returncode == 2, result
    line = error_line(result.stderr)
    assert line.startswith("ses-gateway: " + says.format(cert=cert_file, key=key_file)), line


def test_auto_migrate_off_on_an_empty_database_asks_for_db_upgrade(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes
) -> None:
    gateway = Gateway.create(processes, tmp_path / "gw", ses_url=fake_ses.url, auto_migrate=False)
    refused = gateway.run("serve")
    assert refused.returncode == 1, refused
    line = error_line(refused.stderr)
    assert "run `ses-gateway db upgrade`" in line
    assert "SES_GATEWAY_AUTO_MIGRATE" in line

    upgraded = gateway.cli("db", "upgrade")
    assert upgraded["previous"] is None
    assert upgraded["revision"] == upgraded["head"]
    server = gateway.serve()
    assert http_get(f"{gateway.http_url}/readyz")[0] == 200
    assert server.terminate() == 0
    assert STOPPED.search(server.log())
