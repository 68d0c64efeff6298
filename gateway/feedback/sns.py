"""Amazon SNS deliveries over HTTPS: parse and verify them. The one module that fetches from SNS.

SNS posts a JSON envelope (`Content-Type: text/plain`) whose `Signature` covers a fixed string
built from some of its fields, made with the key of the certificate at `SigningCertURL`. A delivery
is trusted only if that URL is Amazon's, the signature checks out with that certificate's key, the
topic is allowed and, when `max_age` is set, the `Timestamp` is recent. aiohttp's errors stop here.

Status of every `SnsError` (the endpoint answers with it; `str(exc)` is the reason):

- 400: not an SNS envelope (not JSON, a field missing or not a string, unknown `Type`, bad
  `Timestamp`), including raw message delivery; or `confirm_subscription` on another `Type`.
- 403: not trusted: bad signature, unsupported `SignatureVersion`, `SigningCertURL` or
  `SubscribeURL` not Amazon's, a certificate SNS says does not exist (HTTP 3xx/4xx), topic not
  allowed, `Timestamp` older than `max_age` or more than 5 minutes ahead.
- 413: body over 256 KiB.
- 500: a certificate file in `cert_dir` is not a PEM certificate with an RSA key (fix the file).
- 502: SNS could not be reached (network, timeout, HTTP 5xx or 429, not a certificate), or its
  `SubscribeURL` did not confirm: SNS retries a delivery answered with 5xx.

URL rules (`fullmatch`, lower case only, nothing percent-decoded or normalised first):
`SigningCertURL` is `https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<name>.pem`
with no userinfo, query or fragment, and no port other than an explicit `:443` (the https port,
the same URL); `<region>` like `us-east-1`, `cn-north-1`, `us-gov-west-1`; `<name>` letters,
digits, `-` and `_`. `SubscribeURL` has the same scheme, host and port rule, and a path (with
query) made of URL characters only. Anything else, `s3.amazonaws.com` included, is refused
before anything is fetched. Redirects are not followed.

The certificate's validity dates are not checked: SNS signs with a certificate until it rotates
it, and a delivery may be verified (or replayed from tests) later; freshness comes from
`Timestamp` and `max_age`, trust from fetching over verified HTTPS from an SNS host (or from the
operator, who pre-seeds `cert_dir`). Its issuer chain is not checked either, like AWS's own
validators.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
import secrets
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.core.exceptions import FetchError, SnsError
from gateway.core.logs import log_event

logger = logging.getLogger("gateway.sns")

MAX_BODY_SIZE: Final = 256 * 1024
"""The largest body accepted (SNS's own message limit); larger ones get 413."""
FETCH_TIMEOUT: Final = 5.0
"""Seconds for one GET of a certificate or a `SubscribeURL`, connection included."""
MAX_FETCH_SIZE: Final = 64 * 1024
"""The largest response read from SNS (a certificate is about 2 KB)."""
MAX_CLOCK_SKEW: Final = 300.0
"""With `max_age` on, a `Timestamp` further ahead than this many seconds is refused."""

NOTIFICATION: Final = "Notification"
SUBSCRIPTION_CONFIRMATION: Final = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION: Final = "UnsubscribeConfirmation"

_NOTIFICATION_KEYS: Final = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS: Final = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_SIGNED_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    NOTIFICATION: _NOTIFICATION_KEYS,
    SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_KEYS,
    UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_KEYS,
}
_OPTIONAL_KEYS: Final = frozenset({"Subject"})
_ENVELOPE_KEYS: Final = ("SignatureVersion", "Signature", "SigningCertURL")
# SignatureVersion 1 is SHA1withRSA: weak, but it is what SNS topics use unless set to version 2.
_HASHES: Final[Mapping[str, type[hashes.HashAlgorithm]]] = {"1": hashes.SHA1, "2": hashes.SHA256}

_HOST: Final = r"sns\.[a-z]{2}(?:-[a-z]+){1,3}-[0-9]{1,2}\.amazonaws\.com(?:\.cn)?"
_CERT_URL: Final = re.compile(
    rf"https://(?P<host>{_HOST})(?::443)?/(?P<name>SimpleNotificationService-[A-Za-z0-9_-]{{1,128}}\.pem)"
)
_SUBSCRIBE_URL: Final = re.compile(
    rf"https://(?P<host>{_HOST})(?::443)?(?:/[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?"
)
_SUBSCRIPTION_ARN: Final = re.compile(r"<SubscriptionArn>\s*(arn:[^<\s]+)\s*</SubscriptionArn>")

RAW_DELIVERY_HINT: Final = (
    "turn raw message delivery off on the SNS subscription: without the SNS envelope the "
    "delivery carries no signature and cannot be verified"
)

Fetch = Callable[[str], Awaitable[bytes]]
"""GET an https URL and return the body; raise `FetchError` when that fails."""


@dataclass(frozen=True, slots=True)
class SnsMessage:
    """An SNS envelope. From `parse` it is only well formed; from `SnsVerifier.verify`, genuine."""

    type: str
    """`Notification`, `SubscriptionConfirmation` or `UnsubscribeConfirmation`."""
    message_id: str
    """SNS's id of the delivery: the same on every retry."""
    topic_arn: str
    message: str
    """For SES events, a JSON document in a string."""
    subject: str | None
    timestamp: datetime
    """When SNS published it (aware, UTC)."""
    signature_version: str
    signature: str
    signing_cert_url: str
    subscribe_url: str | None = None
    """Confirmations only."""
    token: str | None = None
    """Confirmations only."""


def string_to_sign(envelope: Mapping[str, Any]) -> bytes:
    """What SNS signs: `Key\\nvalue\\n` for each signed key of the envelope's `Type`, in order.

    `Subject` is included only when the envelope has it. The envelope must have every other key.
    """
    parts: list[str] = []
    for key in _SIGNED_KEYS[envelope["Type"]]:
        if key in _OPTIONAL_KEYS and key not in envelope:
            continue
        parts.append(f"{key}\n{envelope[key]}\n")
    return "".join(parts).encode("utf-8")


def parse(body: bytes) -> SnsMessage:
    """The envelope in `body`, checked for form only: nothing is verified. `SnsError` 400 or 413."""
    return _parse(body)[0]


def _parse(body: bytes) -> tuple[SnsMessage, dict[str, Any]]:
    if len(body) > MAX_BODY_SIZE:
        raise SnsError(
            413, f"the body is {len(body)} bytes, over the SNS limit of {MAX_BODY_SIZE} bytes"
        )
    try:
        envelope = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise SnsError(400, "the body is not JSON: SNS posts a JSON envelope") from exc
    if not isinstance(envelope, dict):
        raise SnsError(400, "the body is not a JSON object: SNS posts a JSON envelope")
    if "Type" not in envelope and "Signature" not in envelope:
        if "eventType" in envelope or "notificationType" in envelope:
            raise SnsError(
                400, f"this is an SES event without its SNS envelope: {RAW_DELIVERY_HINT}"
            )
        raise SnsError(
            400, f"the body has no SNS envelope (no Type, no Signature): {RAW_DELIVERY_HINT}"
        )

    kind = _text(envelope, "Type")
    if kind not in _SIGNED_KEYS:
        raise SnsError(400, f"unknown SNS Type {kind!r}")
    for key in (*_SIGNED_KEYS[kind], *_ENVELOPE_KEYS):
        if key not in _OPTIONAL_KEYS or key in envelope:
            _text(envelope, key)

    stamp = envelope["Timestamp"]
    try:
        timestamp = datetime.fromisoformat(stamp)
        if timestamp.tzinfo is None:
            raise SnsError(400, f"Timestamp {stamp!r} has no time zone")
        timestamp = timestamp.astimezone(UTC)
    except (ValueError, OverflowError):
        raise SnsError(400, f"Timestamp {stamp!r} is not an ISO 8601 time") from None

    confirmation = kind != NOTIFICATION
    message = SnsMessage(
        type=kind,
        message_id=envelope["MessageId"],
        topic_arn=envelope["TopicArn"],
        message=envelope["Message"],
        subject=envelope.get("Subject"),
        timestamp=timestamp,
        signature_version=envelope["SignatureVersion"],
        signature=envelope["Signature"],
        signing_cert_url=envelope["SigningCertURL"],
        subscribe_url=envelope["SubscribeURL"] if confirmation else None,
        token=envelope["Token"] if confirmation else None,
    )
    return message, envelope


def _text(envelope: Mapping[str, Any], key: str) -> str:
    if key not in envelope:
        raise SnsError(400, f"the SNS envelope has no {key}")
    value = envelope[key]
    if not isinstance(value, str):
        raise SnsError(400, f"the SNS envelope's {key} is not a string")
    return value


def check_signing_cert_url(url: str) -> str:
    """The certificate's file name if `url` is an SNS certificate URL; else `SnsError` 403."""
    match = _CERT_URL.fullmatch(url)
    if match is None or urlsplit(url).hostname != match["host"]:
        raise SnsError(
            403,
            f"SigningCertURL {url!r} is not an SNS certificate URL "
            "(https://sns.<region>.amazonaws.com/SimpleNotificationService-<name>.pem)",
        )
    return match["name"]


def check_subscribe_url(url: str) -> None:
    """`SnsError` 403 unless `url` is https on an SNS host (`sns.<region>.amazonaws.com[.cn]`)."""
    match = _SUBSCRIBE_URL.fullmatch(url)
    if match is None or urlsplit(url).hostname != match["host"]:
        raise SnsError(
            403, f"SubscribeURL {url!r} is not an SNS URL (https://sns.<region>.amazonaws.com/...)"
        )


def https_fetch(
    *,
    timeout: float = FETCH_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
    resolver: AbstractResolver | None = None,
    max_size: int = MAX_FETCH_SIZE,
) -> Fetch:
    """A `Fetch` that GETs a URL with aiohttp and returns the body of a 200 answer.

    Anything else raises `FetchError`: another status (redirects are not followed), a body over
    `max_size`, no complete answer within `timeout` seconds, a connection or TLS failure. TLS is
    verified against `ssl_context` (default: the system's trust store). `HTTPS_PROXY` and
    `NO_PROXY` are honoured, as the AWS SDK does. `resolver` replaces DNS (tests point SNS hosts
    at loopback with it). The URL is sent as given, not re-quoted.
    """

    async def fetch(url: str) -> bytes:
        connector = aiohttp.TCPConnector(
            ssl=ssl_context if ssl_context is not None else True, resolver=resolver
        )
        session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout), trust_env=True
        )
        try:
            async with (
                session,
                session.get(yarl.URL(url, encoded=True), allow_redirects=False) as response,
            ):
                if response.status != 200:
                    raise FetchError(f"GET {url}: HTTP {response.status}", response.status)
                if response.content_length is not None and response.content_length > max_size:
                    raise FetchError(f"GET {url}: the answer is over {max_size} bytes")
                data = bytearray()
                async for chunk in response.content.iter_chunked(16384):
                    data += chunk
                    if len(data) > max_size:
                        raise FetchError(f"GET {url}: the answer is over {max_size} bytes")
                return bytes(data)
        except TimeoutError as exc:
            raise FetchError(f"GET {url}: no answer within {timeout:g} s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise FetchError(f"GET {url}: {str(exc) or type(exc).__name__}") from exc

    return fetch


def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    """The RSA key of a PEM certificate; `ValueError` if it is not one."""
    key = x509.load_pem_x509_certificate(pem).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the certificate's key is not an RSA key")
    return key


class SnsVerifier:
    """Verifies SNS deliveries and confirms subscriptions.

    Certificates come from `trusted_certificates` (certificate URL to PEM, for the dev-mode
    simulator; never written to disk), else memory, else the file of the same name in `cert_dir`
    (operators without outbound access put it there), else `fetch` (default: `https_fetch()`), and
    are then kept in memory and written to `cert_dir` (atomically; a failed write is logged).
    `allowed_topics`: None allows every topic; it may be replaced on a live verifier, for
    example when the gateway has created a topic. `max_age`: seconds; None or 0 turns the
    `Timestamp` check off.
    """

    def __init__(
        self,
        cert_dir: Path,
        allowed_topics: frozenset[str] | None,
        max_age: float | None,
        fetch: Fetch | None = None,
        trusted_certificates: dict[str, bytes] | None = None,
    ) -> None:
        self.cert_dir = cert_dir
        self.allowed_topics = allowed_topics
        self.max_age = max_age or None
        self._fetch: Fetch = fetch or https_fetch()
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._trusted: dict[str, rsa.RSAPublicKey] = {}
        for url, pem in (trusted_certificates or {}).items():
            try:
                check_signing_cert_url(url)
            except SnsError as exc:
                raise ValueError(f"trusted certificate: {exc}") from None
            self._trusted[url] = _public_key(pem)

    async def verify(self, body: bytes) -> SnsMessage:
        """The genuine, allowed and recent SNS message in `body`; else `SnsError`."""
        message, envelope = _parse(body)
        name = check_signing_cert_url(message.signing_cert_url)
        self._check_topic(message)
        self._check_age(message)
        algorithm = _HASHES.get(message.signature_version)
        if algorithm is None:
            raise SnsError(403, f"unsupported SignatureVersion {message.signature_version!r}")
        try:
            signature = base64.b64decode(message.signature, validate=True)
        except binascii.Error:
            raise SnsError(403, "the Signature is not base64") from None
        key = await self._key(message.signing_cert_url, name)
        try:
            key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise SnsError(
                403,
                f"the Signature does not verify with the key of {name}: forged or altered",
            ) from None
        return message

    async def confirm_subscription(self, message: SnsMessage) -> str | None:
        """GET the `SubscribeURL` of a verified `SubscriptionConfirmation` of an allowed topic.

        Returns the subscription's ARN from SNS's answer (None if it names none). `SnsError`:
        400 for another `Type`, 403 for a topic not allowed or a `SubscribeURL` not SNS's, 502
        when SNS does not confirm. Pass only messages that `verify` returned: nothing here
        checks the signature.
        """
        if message.type != SUBSCRIPTION_CONFIRMATION or message.subscribe_url is None:
            raise SnsError(
                400, f"{message.type} {message.message_id} is not a subscription request"
            )
        self._check_topic(message)
        check_subscribe_url(message.subscribe_url)
        try:
            answer = await self._fetch(message.subscribe_url)
        except FetchError as exc:
            raise SnsError(
                502, f"confirming the subscription to {message.topic_arn} failed: {exc}"
            ) from exc
        found = _SUBSCRIPTION_ARN.search(answer.decode("utf-8", "replace"))
        subscription = found[1] if found else None
        log_event(
            logger, "sns-subscription-confirmed", topic=message.topic_arn, subscription=subscription
        )
        return subscription

    def _check_topic(self, message: SnsMessage) -> None:
        if self.allowed_topics is not None and message.topic_arn not in self.allowed_topics:
            raise SnsError(403, f"topic {message.topic_arn} is not allowed (SNS_TOPIC_ARNS)")

    def _check_age(self, message: SnsMessage) -> None:
        if self.max_age is None:
            return
        age = (datetime.now(UTC) - message.timestamp).total_seconds()
        if age > self.max_age:
            raise SnsError(
                403,
                f"Timestamp {message.timestamp.isoformat()} is {age:.0f} s old, over "
                f"SNS_MAX_AGE ({self.max_age:g} s): a replay or a very late retry",
            )
        if -age > MAX_CLOCK_SKEW:
            raise SnsError(
                403,
                f"Timestamp {message.timestamp.isoformat()} is {-age:.0f} s in the future "
                "(check this machine's clock)",
            )

    async def _key(self, url: str, name: str) -> rsa.RSAPublicKey:
        trusted = self._trusted.get(url)
        if trusted is not None:
            return trusted
        key = self._keys.get(name)
        if key is not None:
            return key
        path = self.cert_dir / name
        try:
            pem = await asyncio.to_thread(_read_if_present, path)
        except OSError as exc:
            raise SnsError(500, f"cannot read {path}: {exc}") from exc
        if pem is not None:
            try:
                key = _public_key(pem)
            except ValueError as exc:
                raise SnsError(
                    500, f"{path} is not a PEM certificate with an RSA key: {exc}"
                ) from exc
        else:
            pem = await self._download(url)
            try:
                key = _public_key(pem)
            except ValueError as exc:
                raise SnsError(
                    502, f"{url} is not a PEM certificate with an RSA key: {exc}"
                ) from exc
            try:
                await asyncio.to_thread(_write_atomically, path, pem)
            except OSError as exc:
                log_event(
                    logger,
                    "sns-certificate-not-saved",
                    level=logging.WARNING,
                    path=str(path),
                    error=str(exc),
                )
            log_event(logger, "sns-certificate-fetched", url=url)
        self._keys[name] = key
        return key

    async def _download(self, url: str) -> bytes:
        try:
            return await self._fetch(url)
        except FetchError as exc:
            status = exc.http_status
            if status is not None and status < 500 and status != 429:
                raise SnsError(403, f"SNS has no certificate at {url} ({exc})") from exc
            raise


def _read_if_present(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
