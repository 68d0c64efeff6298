"""`/metrics` over real HTTP: off (404) by default, for the bearer of `METRICS_TOKEN` on the HTTP
app, and without a token on the metrics listener that `serve` starts for any role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from admin.app import create_app
from gateway.endpoints.health import Readiness
from gateway.endpoints.metrics import MetricsEndpoint
from gateway.storage.database import Database
from tests.conftest import make_settings
from tests.support.fakeses import FakeSes
from tests.support.http import serving
from tests.support.metrics import scrape, scrape_now
from tests.support.process import (
    Gateway,
    Processes,
    free_ports,
    port_accepts,
    problems,
    provision,
    submit,
)

TOKEN = "metrics-token-0123456789abcdef"


@asynccontextmanager
async def app_url(db: Database, tmp_path: Path, **settings: Any) -> AsyncIterator[str]:
    """The HTTP app as `serve` makes it, with these settings; the URL of its `/metrics`."""
    endpoint = MetricsEndpoint.from_settings(db, make_settings(tmp_path, db.url, **settings))
    async with serving(create_app(Readiness(db), metrics=endpoint)) as url:
        yield f"{url}/metrics"


async def get(url: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url, headers=headers)


async def test_metrics_are_off_by_default_and_the_404_names_the_settings(
    db: Database, tmp_path: Path
) -> None:
    async with app_url(db, tmp_path) as url:
        response = await get(url, Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert "SES_GATEWAY_METRICS_TOKEN" in message
    assert "SES_GATEWAY_METRICS_PORT" in message


async def test_with_a_listener_only_the_http_app_points_at_it(db: Database, tmp_path: Path) -> None:
    async with app_url(db, tmp_path, metrics_port=9125, metrics_host="::1") as url:
        response = await get(url)
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert "metrics are served at http://[::1]:9125/metrics" in message
    assert "SES_GATEWAY_METRICS_TOKEN" in message


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
)
async def test_the_token_is_required(
    db: Database, tmp_path: Path, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with app_url(db, tmp_path, metrics_token=TOKEN) as url:
        response = await get(url, **headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (
        "Authorization: Bearer <SES_GATEWAY_METRICS_TOKEN>" in response.json()["error"]["message"]
    )


async def test_the_bearer_of_the_token_gets_the_text_format(db: Database, tmp_path: Path) -> None:
    async with app_url(db, tmp_path, metrics_token=TOKEN) as url:
        found = await scrape(url, TOKEN)
        lower_case = await get(url, Authorization=f"bearer {TOKEN}")
    assert lower_case.status_code == 200
    for name in ("smtp_connections", "messages_refused", "ses_call_seconds", "queue_messages"):
        assert f"ses_gateway_{name}" in found.families
    assert found.value("queue_messages") == 0


async def test_an_unreadable_database_answers_503(tmp_path: Path) -> None:
    unmigrated = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")  # no tables
    try:
        async with app_url(unmigrated, tmp_path, metrics_token=TOKEN) as url:
            response = await get(url, Authorization=f"Bearer {TOKEN}")
    finally:
        await unmigrated.close()
    assert response.status_code == 503
    assert response.json()["error"]["message"].startswith("the queue cannot be read: ")


# -- `serve`: the token on the HTTP listener, and a listener of its own for a worker ------------


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    pool = Processes(tmp_path)
    yield pool
    pool.close()


def test_serve_scraped_with_the_token_and_a_worker_on_its_metrics_listener(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes
) -> None:
    gateway = Gateway.create(processes, tmp_path / "gw", ses_url=fake_ses.url)
    _, username, password = provision(gateway.database_url)
    front = gateway.serve("--role", "smtp", "--role", "web", SES_GATEWAY_METRICS_TOKEN=TOKEN)
    [port] = free_ports()
    worker = gateway.serve("--role", "worker", SES_GATEWAY_METRICS_PORT=str(port))
    worker.wait_for_log(rf"metrics-listening host=127\.0\.0\.1 port={port}$")
    worker.wait_for_port(port)
    assert "metrics-listening" not in front.log()
    listener = f"http://127.0.0.1:{port}/metrics"
    response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert response.status_code == 404  # the listener serves the metrics only
    assert response.json()["error"]["status"] == 404

    submit(gateway.smtp_port, username, password, "scraped")
    fake_ses.wait_for(1, timeout=20)

    front_metrics = scrape_now(f"{gateway.http_url}/metrics", TOKEN)
    assert front_metrics.value("messages_accepted_total") == 1
    assert front_metrics.value("ses_calls_total", operation="send_email", outcome="ok") == 0
    worker.wait_for_log(r" delivery queue_id=\w+ .*result=sent")  # counted before the log line
    sent = scrape_now(listener)
    assert sent.value("recipients_delivered_total", outcome="sent") == 1
    assert sent.value("ses_calls_total", operation="send_email", outcome="ok") == 1
    assert sent.value("messages_accepted_total") == 0
    assert "ses_gateway_queue_messages" in sent.families  # read from the database here too

    assert worker.terminate() == 0
    assert not port_accepts(port)
    assert front.terminate() == 0
    assert problems(worker.log()) == problems(front.log()) == []
