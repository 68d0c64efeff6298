"""`serve --dev`: the emulator's identities go through SES's verification, not straight to verified.

moto answers `CreateEmailIdentity` with an identity verified at once, without DKIM tokens, and
has no `PutEmailIdentityMailFromAttributes`: a newcomer would never see the records a real
operator publishes, nor a pending domain. This WSGI layer in front of moto plays SES's part for
the SESv2 identity calls: a new domain gets Easy DKIM's three tokens (or keeps its BYODKIM
selector), a custom MAIL FROM is kept, and everything stays `PENDING` until its DNS records
count as published: `delay` seconds after it was asked for (DNS propagating), or at once when
`POST /_gateway/identities/{region}/{identity}/publish` says so (`ses-gateway domain verify`).
The gateway sees the change the way it sees SES's: through its identity sync.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

EASY_DKIM_TOKENS = 3
TOKEN_ALPHABET = string.ascii_lowercase + string.digits
SIGNING_HOSTED_ZONE = "dkim.amazonses.com"
PUBLISH_PATH = re.compile(r"^/_gateway/identities/(?P<region>[^/]+)/(?P<identity>[^/]+)/publish$")
IDENTITY_PATH = re.compile(r"^/v2/email/identities/(?P<identity>[^/]+)(?P<rest>/mail-from)?$")
CREDENTIAL_REGION = re.compile(r"Credential=[^/]+/\d+/(?P<region>[^/]+)/")


def publish_path(region: str, identity: str) -> str:
    return f"/_gateway/identities/{region}/{identity}/publish"


def dkim_token() -> str:
    """Like SES's: 32 lower-case letters and digits."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(32))


@dataclass
class Identity:
    """What the emulator's SES knows of one identity beyond moto's record of it."""

    domain: bool
    dkim: dict[str, Any]
    published_at: float
    """When its DNS records count as found (the email link clicked, for an address)."""
    mail_from: str | None = None
    mail_from_published_at: float = 0.0

    def verified(self, now: float) -> bool:
        return now >= self.published_at

    def overlay(self, answer: dict[str, Any], now: float) -> dict[str, Any]:
        """moto's `GetEmailIdentity` answer, as SES would give it now."""
        verified = self.verified(now)
        status = "SUCCESS" if verified else "PENDING"
        answer = {**answer, "VerificationStatus": status, "VerifiedForSendingStatus": verified}
        if self.domain:
            answer["DkimAttributes"] = {**self.dkim, "Status": status}
        if self.mail_from:
            found = now >= self.mail_from_published_at
            answer["MailFromAttributes"] = {
                "MailFromDomain": self.mail_from,
                "MailFromDomainStatus": "SUCCESS" if found else "PENDING",
                "BehaviorOnMxFailure": "USE_DEFAULT_VALUE",
            }
        return answer


def _dkim_attributes(request: dict[str, Any]) -> dict[str, Any]:
    """`DkimAttributes` of a new domain: SES's keys (three CNAME tokens) or the caller's."""
    signing = request.get("DkimSigningAttributes") or {}
    if signing.get("DomainSigningSelector"):
        return {
            "SigningEnabled": True,
            "SigningAttributesOrigin": "EXTERNAL",
            "Tokens": [signing["DomainSigningSelector"]],
        }
    length = signing.get("NextSigningKeyLength") or "RSA_2048_BIT"
    return {
        "SigningEnabled": True,
        "SigningAttributesOrigin": "AWS_SES",
        "Tokens": [dkim_token() for _ in range(EASY_DKIM_TOKENS)],
        "SigningHostedZone": SIGNING_HOSTED_ZONE,
        "NextSigningKeyLength": length,
        "CurrentSigningKeyLength": length,
    }


class IdentityLifecycle:
    """The WSGI app in front of moto: SES's identity states over time; everything else is
    moto's. `delay`: seconds from a request to its records counting as published."""

    def __init__(
        self, app: WsgiApp, delay: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._app = app
        self._delay = delay
        self._clock = clock
        self._lock = threading.Lock()
        self._identities: dict[tuple[str, str], Identity] = {}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if method == "POST" and (published := PUBLISH_PATH.match(path)):
            return self._publish(
                published["region"], unquote(published["identity"]), start_response
            )
        if not path.startswith("/v2/email/identities"):
            return self._app(environ, start_response)
        region = _region(environ)
        if method == "POST" and path == "/v2/email/identities":
            return self._create(region, environ, start_response)
        match = IDENTITY_PATH.match(path)
        if match is None:
            return self._app(environ, start_response)
        key = (region, unquote(match["identity"]))
        if method == "PUT" and match["rest"]:
            return self._mail_from(key, environ, start_response)
        if method == "GET" and not match["rest"]:
            return self._get(key, environ, start_response)
        if method == "DELETE" and not match["rest"]:
            with self._lock:
                self._identities.pop(key, None)
        return self._app(environ, start_response)

    def _create(
        self, region: str, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        body = _read_body(environ)
        status, headers, answer = _call(self._app, environ, body)
        if status.startswith("200"):
            request = json.loads(body or b"{}")
            name = str(request.get("EmailIdentity", ""))
            domain = "@" not in name
            identity = Identity(
                domain, _dkim_attributes(request) if domain else {}, self._clock() + self._delay
            )
            with self._lock:
                self._identities[(region, name)] = identity
            document = json.loads(answer)
            document["VerifiedForSendingStatus"] = identity.verified(self._clock())
            if domain:
                document["DkimAttributes"] = identity.overlay({}, self._clock())["DkimAttributes"]
            answer = json.dumps(document).encode()
        return _respond(start_response, status, headers, answer)

    def _get(
        self, key: tuple[str, str], environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        status, headers, answer = _call(self._app, environ, b"")
        with self._lock:
            identity = self._identities.get(key)
        if identity is not None and status.startswith("200"):
            answer = json.dumps(identity.overlay(json.loads(answer), self._clock())).encode()
        return _respond(start_response, status, headers, answer)

    def _mail_from(
        self, key: tuple[str, str], environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        """`PutEmailIdentityMailFromAttributes`, which moto lacks."""
        request = json.loads(_read_body(environ) or b"{}")
        now = self._clock()
        with self._lock:
            identity = self._identities.get(key)
            if identity is None:
                return _error(start_response, "404 Not Found", "NotFoundException", key[1])
            identity.mail_from = request.get("MailFromDomain") or None
            # Set while the domain is pending, its MX is looked for with the other records.
            pending = not identity.verified(now)
            identity.mail_from_published_at = (
                identity.published_at if pending else now + self._delay
            )
        return _respond(start_response, "200 OK", [("Content-Type", "application/json")], b"{}")

    def _publish(self, region: str, name: str, start_response: StartResponse) -> Iterable[bytes]:
        """Take the identity's records as published now (a DNS change that has propagated)."""
        now = self._clock()
        with self._lock:
            identity = self._identities.get((region, name))
            if identity is None:
                return _error(start_response, "404 Not Found", "NotFoundException", name)
            identity.published_at = min(identity.published_at, now)
            identity.mail_from_published_at = min(identity.mail_from_published_at, now)
        return _respond(start_response, "200 OK", [("Content-Type", "application/json")], b"{}")


def _region(environ: Environ) -> str:
    found = CREDENTIAL_REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
    return found["region"] if found else ""


def _read_body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
    return body


def _call(app: WsgiApp, environ: Environ, body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """moto's answer to the request, whole."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    said: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        said[:] = [status, headers]

    chunks = app(environ, start_response)
    try:
        answer = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return said[0], said[1], answer


def _respond(
    start_response: StartResponse, status: str, headers: list[tuple[str, str]], body: bytes
) -> list[bytes]:
    kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
    start_response(status, [*kept, ("Content-Length", str(len(body)))])
    return [body]


def _error(start_response: StartResponse, status: str, code: str, name: str) -> list[bytes]:
    body = json.dumps({"__type": code, "message": f"Email identity <{name}> does not exist."})
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    return _respond(start_response, status, headers, body.encode())
