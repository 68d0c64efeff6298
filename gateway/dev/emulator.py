"""`serve --dev`: moto's SES emulator on loopback, for trying the gateway without an AWS account.

Started only when asked and only when no AWS endpoint is configured. It points the standard AWS
variables of this process at itself (with dummy credentials, so real keys never leave), and starts
with `DEV_SENDER_DOMAIN` verified, so that a first message can be sent at once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from gateway.core.exceptions import GatewayError

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL_SES")
DEV_SENDER_DOMAIN = "example.com"
DEV_REGION = "us-east-1"
DUMMY_KEY = "emulator"
"""Credentials for the local emulator, so that real keys never leave for it."""


def configured_endpoint() -> str | None:
    return next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)


@dataclass
class Emulator:
    url: str
    server: object

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]


def start_emulator() -> Emulator:
    try:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.ses.models import ses_backends
    except ImportError as exc:
        raise GatewayError(
            "the SES emulator needs moto: pip install 'ses-gateway[emulator]'"
        ) from exc
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEV_REGION
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_REGION=region,
        AWS_ACCESS_KEY_ID=DUMMY_KEY,
        AWS_SECRET_ACCESS_KEY=DUMMY_KEY,
    )
    for variable in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(variable, None)
    ses_backends[DEFAULT_ACCOUNT_ID][region].verify_domain(DEV_SENDER_DOMAIN)
    return Emulator(url, server)


def _marker(data_dir: Path) -> Path:
    return data_dir / "dev-emulator.json"


def announce(emulator: Emulator, data_dir: Path) -> None:
    """Tell CLI commands run beside `serve --dev` where its emulator listens."""
    data_dir.mkdir(parents=True, exist_ok=True)
    document = {"url": emulator.url, "region": os.environ["AWS_REGION"], "pid": os.getpid()}
    _marker(data_dir).write_text(json.dumps(document))


def withdraw(data_dir: Path) -> None:
    _marker(data_dir).unlink(missing_ok=True)


def use_running_emulator(data_dir: Path) -> bool:
    """With no AWS endpoint configured, use the emulator of a running `serve --dev`, if any."""
    if configured_endpoint():
        return False
    try:
        document = json.loads(_marker(data_dir).read_text())
        os.kill(int(document["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return False
    os.environ.update(
        AWS_ENDPOINT_URL=document["url"],
        AWS_REGION=document["region"],
        AWS_ACCESS_KEY_ID=DUMMY_KEY,
        AWS_SECRET_ACCESS_KEY=DUMMY_KEY,
    )
    return True
