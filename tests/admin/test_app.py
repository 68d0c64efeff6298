"""Health endpoints, through the app served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from admin.app import create_app
from gateway.endpoints.health import Readiness
from gateway.storage.database import Database
from tests.support.http import serving


@asynccontextmanager
async def client(readiness: Readiness) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(readiness)) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


async def test_healthz_says_alive(db: Database) -> None:
    async with client(Readiness(db)) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_ses(db: Database) -> None:
    async with client(Readiness(db, lambda: True)) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "ses": "ok"}


async def test_readyz_is_503_with_a_message_when_not_ready(db: Database) -> None:
    broken = Database("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    try:
        async with client(Readiness(broken, lambda: False)) as http:
            response = await http.get("/readyz")
    finally:
        await broken.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "database unreachable" in body["error"]["message"]
    assert "ses: SES client not open" in body["error"]["message"]


async def test_unknown_path_is_a_json_404(db: Database) -> None:
    async with client(Readiness(db)) as http:
        response = await http.get("/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"status": 404, "code": "not_found", "message": "Not Found"}
    }
