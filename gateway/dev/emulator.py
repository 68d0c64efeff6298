"""`serve --dev`: moto's SES emulator on loopback, for trying the gateway without an AWS account.

Started only when asked and only when no AWS endpoint is configured. It points the standard AWS
variables of this process at itself (with dummy credentials, so real keys never leave). Its
identities verify as SES's do, a moment after they are added (`gateway.dev.identities`); the
production request and the account-level suppression list, which moto lacks, are kept by
`gateway.dev.sesaccount`.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from gateway.core.exceptions import GatewayError, NotFoundError
from gateway.dev.identities import IdentityLifecycle, publish_path
from gateway.dev.sesaccount import AccountLayer

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL_SES")
DEV_REGION = "us-east-1"
DUMMY_KEY = "emulator"
"""Credentials for the local emulator, so that real keys never leave for it."""


def configured_endpoint() -> str | None:
    return next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)


@dataclass
class Emulator:
    url: str
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()  # type: ignore[attr-defined]
        self.thread.join()
        self.server.server_close()  # type: ignore[attr-defined]


def start_emulator(verify_delay: float, clock: Callable[[], float] = time.monotonic) -> Emulator:
    """moto on a free loopback port, its identities verified `verify_delay` seconds of `clock`
    after they are added (`DEV_VERIFY_DELAY`)."""
    try:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server
    except ImportError as exc:
        raise GatewayError(
            "the SES emulator needs moto: pip install 'ses-gateway[emulator]'"
        ) from exc
    moto = DomainDispatcherApplication(create_backend_app)
    app = AccountLayer(IdentityLifecycle(moto, verify_delay, clock))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="ses-emulator", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.port}"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEV_REGION
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_REGION=region,
        AWS_ACCESS_KEY_ID=DUMMY_KEY,
        AWS_SECRET_ACCESS_KEY=DUMMY_KEY,
    )
    for variable in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(variable, None)
    return Emulator(url, server, thread)


def _marker(data_dir: Path) -> Path:
    return data_dir / "dev-emulator.json"


def announce(emulator: Emulator, data_dir: Path) -> None:
    """Tell CLI commands run beside `serve --dev` where its emulator listens."""
    data_dir.mkdir(parents=True, exist_ok=True)
    document = {"url": emulator.url, "region": os.environ["AWS_REGION"], "pid": os.getpid()}
    _marker(data_dir).write_text(json.dumps(document))


def withdraw(data_dir: Path) -> None:
    """Remove this process's marker (only its own: another's tells of a running emulator)."""
    document = _read_marker(data_dir)
    if document is not None and document["pid"] == str(os.getpid()):
        _marker(data_dir).unlink(missing_ok=True)


def _read_marker(data_dir: Path) -> dict[str, str] | None:
    try:
        document = json.loads(_marker(data_dir).read_text())
        return {key: str(document[key]) for key in ("url", "region", "pid")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _live_marker(data_dir: Path) -> dict[str, str] | None:
    """The marker of a `serve --dev` that still runs (a killed one leaves its file behind)."""
    document = _read_marker(data_dir)
    try:
        if document is not None:
            os.kill(int(document["pid"]), 0)
            return document
    except (OSError, ValueError):
        pass
    return None


def running_emulator(data_dir: Path) -> str | None:
    """The URL of the emulator of a running `serve --dev` on this data folder when it is this
    process's SES: no other AWS endpoint is configured (in `serve --dev`, it set its own)."""
    document = _live_marker(data_dir)
    if document is None or configured_endpoint() not in (None, document["url"]):
        return None
    return document["url"]


def use_running_emulator(data_dir: Path) -> bool:
    """With no AWS endpoint configured, use the emulator of a running `serve --dev`, if any."""
    document = None if configured_endpoint() else _live_marker(data_dir)
    if document is None:
        return False
    os.environ.update(
        AWS_ENDPOINT_URL=document["url"],
        AWS_REGION=document["region"],
        AWS_ACCESS_KEY_ID=DUMMY_KEY,
        AWS_SECRET_ACCESS_KEY=DUMMY_KEY,
    )
    return True


async def publish_records(url: str, region: str, identity: str) -> None:
    """Tell the emulator at `url` that the identity's DNS records are published: SES finds them
    at its next look, as it would once a real DNS change has propagated."""
    path = publish_path(quote(region, safe=""), quote(identity, safe=""))
    request = urllib.request.Request(url + path, data=b"", method="POST")  # noqa: S310

    def post() -> None:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (loopback, our URL)
            pass

    try:
        await asyncio.to_thread(post)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            raise NotFoundError(f"the SES emulator has no identity {identity}") from exc
        raise GatewayError(f"the SES emulator at {url} answered {exc.code}") from exc
    except OSError as exc:
        raise GatewayError(f"the SES emulator at {url} did not answer: {exc}") from exc
