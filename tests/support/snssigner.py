"""A stand-in for Amazon SNS: a test CA, an SNS signing certificate it issued, envelopes signed the
way SNS signs them, and an HTTPS server on loopback that plays `sns.<region>.amazonaws.com`.

The string to sign is built here independently of `gateway.sns`, from the SNS documentation, so a
mistake there is not mirrored here. `FakeSns` serves certificates and answers `ConfirmSubscription`
under the real SNS host names: `FakeSns.fetch()` is the gateway's own `https_fetch` with this CA
as its trust store and a resolver that sends those names (port 443) to the server, and refuses
every other name, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import socket
import ssl
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.feedback.sns import Fetch, https_fetch
from tests.support.certs import authority, pem, tls_key

__all__ = ["TEST_CERT_NAME", "TOPIC_ARN", "FakeSns", "SnsSigner", "body", "fake_sns"]

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ses-gateway-events"
TEST_CERT_NAME = "SimpleNotificationService-7e57ca7e57ca7e57ca7e57ca7e57ca00.pem"


def _iso(moment: datetime) -> str:
    """SNS's form: `2022-07-28T21:23:58.317Z`."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _string_to_sign(envelope: dict[str, str]) -> bytes:
    """From the SNS developer guide, "Verifying the signatures of Amazon SNS messages"."""
    if envelope["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{k}\n{envelope[k]}\n" for k in keys if k in envelope).encode()


def body(envelope: dict[str, Any]) -> bytes:
    """The HTTP body SNS would post."""
    return json.dumps(envelope, indent=2).encode()


@dataclass
class SnsSigner:
    """Signs SNS envelopes with a certificate issued by the test CA, published (for the verifier)
    at `cert_url`. Keys are made once per test session."""

    region: str = "us-east-1"
    cert_name: str = TEST_CERT_NAME
    certificate: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.certificate = authority().issue(_signing_key(), "sns.amazonaws.com")

    @property
    def host(self) -> str:
        suffix = ".amazonaws.com.cn" if self.region.startswith("cn-") else ".amazonaws.com"
        return f"sns.{self.region}{suffix}"

    @property
    def cert_url(self) -> str:
        return f"https://{self.host}/{self.cert_name}"

    @property
    def cert_pem(self) -> bytes:
        return pem(self.certificate)

    def sign(self, envelope: dict[str, str]) -> dict[str, str]:
        """`envelope` with `Signature` made for its `SignatureVersion` (1: SHA1, 2: SHA256)."""
        sha1 = hashes.SHA1()  # noqa: S303 -- SignatureVersion 1 is SHA1withRSA, as SNS signs it
        algorithm = {"1": sha1, "2": hashes.SHA256()}[envelope["SignatureVersion"]]
        signature = _signing_key().sign(_string_to_sign(envelope), padding.PKCS1v15(), algorithm)
        return {**envelope, "Signature": base64.b64encode(signature).decode()}

    def notification(
        self,
        message: str = '{"notificationType":"Delivery"}',
        *,
        subject: str | None = None,
        topic_arn: str = TOPIC_ARN,
        version: str = "1",
        timestamp: datetime | None = None,
        cert_url: str | None = None,
    ) -> dict[str, str]:
        envelope = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Message": message,
            "Timestamp": _iso(timestamp or datetime.now(UTC)),
            "SignatureVersion": version,
            "SigningCertURL": self.cert_url if cert_url is None else cert_url,
            "UnsubscribeURL": f"https://{self.host}/?Action=Unsubscribe&SubscriptionArn="
            f"{topic_arn}:{uuid.uuid4()}",
        }
        if subject is not None:
            envelope["Subject"] = subject
        return self.sign(envelope)

    def confirmation(
        self,
        kind: str = "SubscriptionConfirmation",
        *,
        topic_arn: str = TOPIC_ARN,
        version: str = "1",
        timestamp: datetime | None = None,
        subscribe_url: str | None = None,
    ) -> dict[str, str]:
        token = uuid.uuid4().hex * 4
        verb = "subscribe to" if kind == "SubscriptionConfirmation" else "unsubscribe from"
        envelope = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": topic_arn,
            "Message": f"You have chosen to {verb} the topic {topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": subscribe_url
            or f"https://{self.host}/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
            "Timestamp": _iso(timestamp or datetime.now(UTC)),
            "SignatureVersion": version,
            "SigningCertURL": self.cert_url,
        }
        return self.sign(envelope)


class _LoopbackResolver(AbstractResolver):
    """`host:443` for the served names goes to `127.0.0.1:port`; any other name is refused."""

    def __init__(self, hostnames: frozenset[str], port: int) -> None:
        self._hostnames, self._port = hostnames, port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self._hostnames or port != 443:
            raise OSError(f"{host}:{port} is not served in tests")
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self._port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


@dataclass
class FakeSns:
    """HTTPS on `127.0.0.1:port` with a certificate for `hostnames`, issued by the test CA.

    `GET /<name>.pem` serves `certificates[name]`; `GET /?Action=ConfirmSubscription&...`
    answers like SNS; anything else is 404. `answer` (status, body) replaces every answer;
    `delay` holds each answer back. `requests` lists the request targets seen.
    """

    hostnames: frozenset[str]
    port: int = 0
    certificates: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    answer: tuple[int, bytes] | None = None
    delay: float = 0.0
    confirmed: list[str] = field(default_factory=list)

    def client_context(self) -> ssl.SSLContext:
        """Trusts the test CA only."""
        return ssl.create_default_context(cadata=pem(authority().certificate).decode())

    def fetch(self, **options: Any) -> Fetch:
        """The gateway's `https_fetch`, trusting the test CA, with SNS hosts on this server."""
        options.setdefault("ssl_context", self.client_context())
        resolver = _LoopbackResolver(self.hostnames, self.port)
        return https_fetch(resolver=resolver, **options)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.raw_path)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer is not None:
            status, text = self.answer
            return web.Response(status=status, body=text)
        if request.path == "/" and request.query.get("Action") == "ConfirmSubscription":
            topic = request.query.get("TopicArn", "")
            subscription = f"{topic}:{uuid.uuid4()}"
            self.confirmed.append(subscription)
            return web.Response(
                content_type="text/xml",
                text=(
                    '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                    f"<ConfirmSubscriptionResult><SubscriptionArn>{subscription}</SubscriptionArn>"
                    "</ConfirmSubscriptionResult><ResponseMetadata><RequestId>"
                    f"{uuid.uuid4()}</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>"
                ),
            )
        pem = self.certificates.get(request.path.lstrip("/"))
        if pem is not None:
            return web.Response(body=pem, content_type="application/x-x509-ca-cert")
        return web.Response(status=404, text="Not Found")


@asynccontextmanager
async def fake_sns(
    hostnames: Iterable[str] = ("sns.us-east-1.amazonaws.com",),
    *,
    certificate_for: Iterable[str] | None = None,
) -> AsyncIterator[FakeSns]:
    """A `FakeSns` for `hostnames` running in the current event loop until the block ends; its
    TLS certificate names `certificate_for` (default: the same names)."""
    names = frozenset(hostnames)
    tls_names = sorted(certificate_for if certificate_for is not None else names)
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert_file.write_bytes(pem(authority().issue(tls_key(), tls_names[0], tls_names)))
        key_file.write_bytes(
            tls_key().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = FakeSns(names, port=sock.getsockname()[1])
    app = web.Application()
    app.router.add_get("/{tail:.*}", server._handle)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.SockSite(runner, sock, ssl_context=context).start()
        yield server
    finally:
        await runner.cleanup()
