"""The HTTP listener `serve` makes (`admin.runtime.http_socket`), served by uvicorn as the web
and metrics roles serve it: its connections send without waiting for the client's ACKs."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.http import server_for


async def _hello(_: object) -> JSONResponse:
    return JSONResponse({"hello": "world"})


def _loopback(family: socket.AddressFamily) -> str:
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
    except OSError:
        pytest.skip(f"no {host} on this machine")
    return host


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
async def test_kept_connections_have_nagle_off(family: socket.AddressFamily) -> None:
    """uvicorn writes a response's head and its body apart. With Nagle's algorithm on, the body
    waits for the ACK of the head, which a client delays by 40 ms: every answer on a kept
    connection took 40 ms more (the API, the panel, the tracking links, /metrics)."""
    app = Starlette(routes=[Route("/", _hello)])
    async with server_for(app, _loopback(family)) as (server, url), httpx.AsyncClient() as client:
        for _ in range(2):
            assert (await client.get(f"{url}/")).json() == {"hello": "world"}
        (connection,) = server.server_state.connections
        accepted = connection.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
