"""The offline mailbox simulator of `serve --dev`, end to end: SMTP in, moto's SES, the simulated
SES events through `/sns/ses`, suppression at RCPT; and its certificate trusted in dev mode only."""

from __future__ import annotations

import asyncio
import json
import smtplib
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from admin.app import create_app
from gateway.aws.ses import Outgoing
from gateway.dev.simulator import DevSns, ses_events
from gateway.endpoints.health import Readiness
from gateway.endpoints.sns import SnsEndpoint
from gateway.storage import events as event_store
from gateway.storage.database import Database
from tests.conftest import make_settings
from tests.support.fakeses import FakeSes
from tests.support.http import serving
from tests.support.process import Gateway, Processes, send, smtp_client
from tests.support.smtp import protocol_only

SCENARIOS = ("success", "bounce", "ooto", "complaint", "suppressionlist")
LAST_EVENT = {
    "success": "delivery",
    "bounce": "bounce",
    "ooto": "bounce",
    "complaint": "complaint",
    "suppressionlist": "bounce",
}
OUTCOME = {
    "success": "delivered",
    "bounce": "bounced",
    "ooto": "delivered",  # an out-of-office reply after the delivery
    "complaint": "complained",
    "suppressionlist": "bounced",
}


def simulator_address(name: str) -> str:
    return f"{name}@simulator.amazonses.com"


def signed_bounce(dev: DevSns) -> bytes:
    """A notification signed with the dev key: a bounce of an unknown send."""
    batch = Outgoing("demo@example.com", [simulator_address("bounce")], b"Subject: x\r\n\r\n", {})
    bounce = ses_events(batch, "unknown-ses-id", datetime.now(UTC), dev.region)[1]
    return json.dumps(dev.notification(json.dumps(bounce), datetime.now(UTC))).encode()


def post(url: str, data: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310
    request.add_header("Content-Type", "text/plain; charset=UTF-8")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


def outcomes(database_url: str, queue_ids: dict[str, str]) -> dict[str, tuple[str, ...]]:
    async def run() -> dict[str, tuple[str, ...]]:
        db = Database(database_url)
        try:
            return {
                name: tuple(
                    r.outcome
                    for r in (await event_store.events_for_message(db, queue_id)).recipients
                )
                for name, queue_id in queue_ids.items()
            }
        finally:
            await db.close()

    return asyncio.run(run())


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    pool = Processes(tmp_path)
    yield pool
    pool.close()


@protocol_only
async def test_the_dev_certificate_is_trusted_in_dev_mode_only(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, db.url)
    dev = DevSns(settings.data_dir / "dev-sns", "us-east-1")  # its files sit in DATA_DIR
    data = signed_bounce(dev)
    for trusted, status in ((None, 403), (dev, 200)):
        app = create_app(Readiness(db), SnsEndpoint.from_settings(db, settings, trusted))
        async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
            response = await http.post("/sns/ses", content=data)
        assert response.status_code == status, response.text


def test_dev_mode_simulates_delivery_bounce_and_complaint_end_to_end(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes
) -> None:
    # No AWS variable: the emulator starts; it verifies domains when added (sends at once).
    gateway = Gateway.create(processes, tmp_path / "gw", dev_verify_delay=0)
    server = gateway.serve("--dev")
    server.wait_for_log(r"dev-mode simulator=http://127\.0\.0\.1:\d+/sns/ses ")
    _, username, password = gateway.credential("acme")

    with smtp_client(gateway.smtp_port, username, password) as client:
        queued = {name: send(client, name, recipient=simulator_address(name)) for name in SCENARIOS}
    for name, queue_id in queued.items():
        server.wait_for_log(rf"ses-event kind={LAST_EVENT[name]} .*queue_id={queue_id} ")
    log = server.log()
    assert " ERROR " not in log, log
    assert "simulated-event " in log
    assert outcomes(gateway.database_url, queued) == {name: (OUTCOME[name],) for name in SCENARIOS}

    # The hard bounces and the complaint suppressed their addresses for the tenant; the rest not.
    listed = gateway.cli("suppression", "list")["suppressions"]
    assert {(s["address"], s["reason"], s["tenant"]) for s in listed} == {
        (simulator_address("bounce"), "bounce", "acme"),
        (simulator_address("suppressionlist"), "bounce", "acme"),
        (simulator_address("complaint"), "complaint", "acme"),
    }
    with smtp_client(gateway.smtp_port, username, password) as client:
        for name in ("bounce", "complaint"):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                send(client, f"{name}-again", recipient=simulator_address(name))
            code, reply = refused.value.recipients[simulator_address(name)]
            assert code == 550
            assert reply.startswith(b"5.1.1 ")
            client.rset()
        send(client, "success-again", recipient=simulator_address("success"))

    # The same signed notification: taken by the gateway in dev mode ...
    data = signed_bounce(DevSns(Path(gateway.env["SES_GATEWAY_DATA_DIR"]) / "dev-sns", "us-east-1"))
    status, answer = post(f"{gateway.http_url}/sns/ses", data)
    assert status == 200, answer
    assert server.terminate() == 0

    # ... refused by the same installation not in dev mode, the certificate still in DATA_DIR.
    production = gateway.serve(
        AWS_ENDPOINT_URL=fake_ses.url,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
    )
    assert "dev-mode" not in production.log()
    status, answer = post(f"{gateway.http_url}/sns/ses", data)
    assert status == 403, answer
    assert production.terminate() == 0
