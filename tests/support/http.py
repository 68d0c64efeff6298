"""An ASGI app served by uvicorn on a loopback port, for tests that speak real HTTP to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from admin.runtime import WebServer, http_socket


@asynccontextmanager
async def server_for(app: Any, host: str = "127.0.0.1") -> AsyncIterator[tuple[WebServer, str]]:
    """Serve `app` on `host` as `serve` does (`http_socket`); yield the server and its base URL
    (`http://HOST:PORT`, the host in brackets for IPv6)."""
    sock = http_socket(host, 0, "HTTP_PORT")
    server = WebServer.for_app(app)
    task = asyncio.create_task(server.serve([sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        shown = f"[{host}]" if ":" in host else host
        yield server, f"http://{shown}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 and yield its base URL (`http://127.0.0.1:PORT`)."""
    async with server_for(app) as (_, url):
        yield url
