"""The HTTP side of a webhook: one signed POST of a delivery, and what came of it.

Each attempt is signed afresh: `X-SES-Gateway-Signature: v1=<hex HMAC-SHA256 of
"<timestamp>.<body>">` keyed with the webhook's secret, the Unix `timestamp` in
`X-SES-Gateway-Timestamp`. docs/webhooks.md has both, and how a receiver verifies them. The
client trusts the system's CAs (and `WEBHOOK_CA_FILE`'s), follows no redirect, and resolves
host names to public addresses only (`urls.PublicResolver`) unless `WEBHOOK_ALLOW_PRIVATE`.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import aiohttp

from config import Settings
from gateway.core.crypto import decrypt
from gateway.core.exceptions import DecryptionError
from gateway.storage import webhooks as store
from gateway.webhooks.urls import PublicResolver

TIMESTAMP_HEADER: Final = "X-SES-Gateway-Timestamp"
SIGNATURE_HEADER: Final = "X-SES-Gateway-Signature"
EVENT_ID_HEADER: Final = "X-SES-Gateway-Event-Id"
EVENT_TYPE_HEADER: Final = "X-SES-Gateway-Event-Type"
USER_AGENT: Final = "ses-gateway-webhooks/1"
CONCURRENCY: Final = 16
"""POSTs in flight at once in one process."""
RESPONSE_BYTES: Final = 4096
"""The most of a response body read."""
RESPONSE_KEPT: Final = 500
"""The characters of it recorded with the attempt."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-SES-Gateway-Signature` value: `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>`
    keyed with the secret's UTF-8 bytes."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def client_context(settings: Settings) -> ssl.SSLContext:
    """The system's trust store, and `WEBHOOK_CA_FILE`'s CAs when set."""
    context = ssl.create_default_context()
    if settings.webhook_ca_file is not None:
        context.load_verify_locations(cafile=settings.webhook_ca_file)
    return context


def open_session(context: ssl.SSLContext, allow_private: bool) -> aiohttp.ClientSession:
    """The client for webhook POSTs: trusting `context`, at most `CONCURRENCY` connections, and
    public addresses only unless `allow_private`; `HTTPS_PROXY` from the environment."""
    resolver = None if allow_private else PublicResolver()
    connector = aiohttp.TCPConnector(ssl=context, limit=CONCURRENCY, resolver=resolver)
    return aiohttp.ClientSession(connector=connector, trust_env=True)


async def post(
    session: aiohttp.ClientSession,
    claim: store.Claim,
    secret_keys: Sequence[bytes],
    time_limit: float,
) -> store.NewAttempt:
    """One signed POST of a claimed delivery; what came of it (never raises for the endpoint's
    failures). `secret_keys`: `SECRET_KEY`, then the previous keys that still decrypt."""
    attempted_at, started = datetime.now(UTC), time.monotonic()
    status: int | None = None
    response_text, error = "", None
    try:
        secret = decrypt(secret_keys[0], claim.secret, secret_keys[1:])
        body = claim.payload.encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            EVENT_ID_HEADER: claim.event_id,
            EVENT_TYPE_HEADER: claim.event_type,
        }
        async with session.post(
            claim.url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=time_limit),
        ) as response:
            status = response.status
            data = await response.content.read(RESPONSE_BYTES)
            response_text = data.decode("utf-8", "replace")[:RESPONSE_KEPT]
            if not 200 <= status < 300:
                error = f"HTTP {status} {response.reason or ''}".rstrip()
    except DecryptionError as exc:
        error = str(exc)
    except TimeoutError:
        error = f"no answer within {time_limit:g} s"
    except (aiohttp.ClientError, OSError) as exc:
        error = str(exc) or type(exc).__name__
    duration_ms = round((time.monotonic() - started) * 1000)
    return store.NewAttempt(attempted_at, status, response_text, error, duration_ms)
