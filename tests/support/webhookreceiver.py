"""A tenant's webhook endpoint: HTTPS on loopback with a certificate from a throwaway CA, checking
each request with the verification snippet of docs/webhooks.md.

The port is reserved (bound, not listening) from the start, so a webhook can point at the
receiver while it is down (connections refused) and reach it once `start()` is called.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from tests.support.certs import authority, pem, tls_key

DOCS = Path(__file__).parents[2] / "docs" / "webhooks.md"

Verify = Callable[[str, str, str, bytes], bool]


def docs_verify() -> Verify:
    """The `verify` function of the Python snippet in docs/webhooks.md."""
    [snippet] = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation, run to test it
    verify: Verify = namespace["verify"]
    return verify


def make_tls(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """The tests' CA (its certificate in `directory/ca.pem`) and a server context for
    127.0.0.1 with a certificate it issued."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = (directory / name for name in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(pem(authority().certificate))
    cert_file.write_bytes(pem(authority().issue(tls_key(), "127.0.0.1")))
    key_file.write_bytes(
        tls_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


@dataclass
class Receiver:
    """Answers each request with the next of `answers` (status codes), then 200, and keeps
    the events whose signature verifies with `secret` in `events`; those that do not verify
    get 401 and go to `refused`."""

    directory: Path
    secret: str = ""
    answers: list[int] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    refused: list[bytes] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        self.ca_file, self._context = make_tls(self.directory)
        self._verify = docs_verify()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/hook"

    def settings(self) -> dict[str, Any]:
        """Settings under which the gateway trusts the receiver's CA and may POST to loopback."""
        return {
            "webhook_ca_file": self.ca_file,
            "webhook_allow_private": True,
            "webhook_timeout": 3,
        }

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        timestamp = request.headers.get("X-SES-Gateway-Timestamp", "")
        signature = request.headers.get("X-SES-Gateway-Signature", "")
        if not self._verify(self.secret, timestamp, signature, body):
            self.refused.append(body)
            return web.json_response({"error": "bad signature"}, status=401)
        status = self.answers.pop(0) if self.answers else 200
        if 200 <= status < 300:
            async with self._arrived:
                self.events.append(json.loads(body))
                self.headers.append(dict(request.headers))
                self._arrived.notify_all()
        return web.json_response({"status": status}, status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket, ssl_context=self._context).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._socket.close()

    async def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        """The events received, once there are at least `count`."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.events) >= count), timeout
            )
        return list(self.events)
