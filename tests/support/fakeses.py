"""A fake Amazon SES endpoint for real botocore clients (``endpoint_url=server.url``).

Serves SESv2 ``SendEmail`` (REST-JSON, raw content) and SES v1 ``SendRawEmail``/``GetSendQuota``
(Query/XML) from a daemon thread, records accepted messages, and scripts errors, pages that are
not SES's, delays and dropped connections: one request at a time (``fail_next``,
``answer_next``, ``delay_next``, ``drop_next``) or, for fault campaigns, an outage of some
seconds (``outage``, ``POST /_fake/outage``) during which sends get slow answers, ``Throttling``
400s, 500s or connection resets.  It also serves the SESv2
identity operations (``CreateEmailIdentity``, ``GetEmailIdentity``, ``DeleteEmailIdentity``,
``PutEmailIdentityMailFromAttributes``) and ``GetAccount`` from ``sesidentities.py``; with
``require_verified=True`` sends are rejected unless their sender is verified.  Configuration
sets and their event destinations come from ``sesconfigsets.py``; the production request
and the account-level suppression list from ``sesaccountstate.py`` (``FakeSes.account_state``,
the dev emulator's ``gateway.dev.sesaccount`` with scripted faults).
``python -m tests.support.fakeses --port N`` runs it as a process, to be inspected with
``GET /_fake/messages``, ``GET /_fake/count``, ``GET /_fake/identities``,
``POST /_fake/identities/<identity>/status``, ``POST /_fake/outage`` and ``POST /_fake/reset``;
``GET /_fake/faults`` counts the faults served (``slow``, ``reset`` or the error code).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import copy
import functools
import http.client
import json
import random
import re
import signal
import ssl
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

from .sesaccountstate import ScriptedAccountState
from .sesconfigsets import ConfigurationSetStore
from .sesidentities import (
    DEFAULT_ACCOUNT,
    ApiError,
    Identity,
    IdentityStore,
    account_response,
    sender_address,
)
from .sigv4check import signature_matches

__all__ = ["FakeSes", "Identity", "SentMessage"]

XMLNS = "http://ses.amazonaws.com/doc/2010-12-01/"


@dataclass(frozen=True)
class SentMessage:
    """One send that the fake accepted."""

    message_id: str
    api: Literal["v1", "v2"]
    source: str | None
    destinations: list[str]
    raw: bytes
    configuration_set: str | None
    tags: dict[str, str]
    accepted_at: float = field(default_factory=time.monotonic, compare=False)
    """When the fake answered it (`CLOCK_MONOTONIC`, shared by every process on the machine)."""


_CREDENTIAL_KEY = re.compile(r"Credential=([^/,]+)/")
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/")
_FAKE_STATUS = re.compile(r"/_fake/identities/([^/]+)/status")


@dataclass(frozen=True)
class _Fault:
    """A scripted answer to one send request: an error, a page that is not SES's (a proxy's),
    a delay, or else a dropped connection."""

    error: ApiError | None = None
    delay: float | None = None
    page: tuple[int, str, bytes] | None = None
    """(HTTP status, content type, body)."""

    @property
    def kind(self) -> str:
        """``slow``, ``reset``, ``HTTP <status>`` for a page, or the error's code."""
        if self.error is not None:
            return self.error.code
        if self.page is not None:
            return f"HTTP {self.page[0]}"
        return "reset" if self.delay is None else "slow"


OUTAGE_FAULTS = ("slow", "throttling", "error", "reset")
"""What an outage does to a send: answer after a delay (then accept), a ``Throttling`` 400, an
``InternalFailure`` 500, or close the connection without an answer."""


def _outage_fault(kind: str, delay: float) -> _Fault:
    if kind == "slow":
        return _Fault(delay=delay)
    if kind == "throttling":
        return _Fault(error=ApiError("Throttling", "Maximum sending rate exceeded.", 400))
    if kind == "error":
        return _Fault(error=ApiError("InternalFailure", "An internal error occurred.", 500))
    if kind == "reset":
        return _Fault()
    raise ValueError(f"unknown outage fault {kind!r}; expected one of {OUTAGE_FAULTS}")


@dataclass(frozen=True)
class _Outage:
    """Until ``until`` (``time.monotonic()``), a share of the sends get one of these faults."""

    until: float
    faults: tuple[str, ...]
    share: float
    delay: float


_Response = tuple[int, str, bytes, dict[str, str]]  # status, content type, body, extra headers
_Headers = dict[str, str]


def _message_id() -> str:
    return f"0100{time.time_ns() // 1_000_000:012x}-{uuid.uuid4()}-000000"


def _json(status: int, payload: object, headers: dict[str, str] | None = None) -> _Response:
    return status, "application/json", json.dumps(payload).encode(), headers or {}


def _v1_result(action: str, result: str) -> _Response:
    document = (
        f'<{action}Response xmlns="{XMLNS}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return 200, "text/xml", document.encode(), {}


def _v1_error(error: ApiError) -> _Response:
    document = (
        f'<ErrorResponse xmlns="{XMLNS}"><Error>'
        f"<Type>{'Sender' if error.status < 500 else 'Receiver'}</Type>"
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return error.status, "text/xml", document.encode(), {}


def _v2_error(error: ApiError) -> _Response:
    return _json(error.status, {"message": error.message}, {"x-amzn-ErrorType": error.code})


def _b64(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise ApiError("InvalidParameterValue", f"Invalid base64 data: {exc}") from None


def _parse_v2(body: bytes) -> SentMessage:
    try:
        request = json.loads(body)
        raw = _b64(request["Content"]["Raw"]["Data"])
    except (ValueError, KeyError, TypeError):
        raise ApiError("BadRequestException", "Expected JSON with Content.Raw.Data") from None
    to = request.get("Destination", {})
    return SentMessage(
        message_id=_message_id(),
        api="v2",
        source=request.get("FromEmailAddress"),
        destinations=[
            address for kind in ("To", "Cc", "Bcc") for address in to.get(f"{kind}Addresses", [])
        ],
        raw=raw,
        configuration_set=request.get("ConfigurationSetName"),
        tags={tag["Name"]: tag["Value"] for tag in request.get("EmailTags", [])},
    )


def _members(form: dict[str, str], key: str) -> list[str]:
    """A Query list: the values of ``key.format(N)`` for N = 1, 2, ... while present."""
    values: list[str] = []
    while (value := form.get(key.format(len(values) + 1))) is not None:
        values.append(value)
    return values


def _parse_v1(form: dict[str, str]) -> SentMessage:
    if "RawMessage.Data" not in form:
        raise ApiError("InvalidParameterValue", "RawMessage.Data is required")
    return SentMessage(
        message_id=_message_id(),
        api="v1",
        source=form.get("Source"),
        destinations=_members(form, "Destinations.member.{}"),
        raw=_b64(form["RawMessage.Data"]),
        configuration_set=form.get("ConfigurationSetName"),
        tags={
            name: form.get(f"Tags.member.{n}.Value", "")
            for n, name in enumerate(_members(form, "Tags.member.{}.Name"), 1)
        },
    )


def _encode(response: _Response, keep_alive: bool) -> bytes:
    status, content_type, body, extra = response
    reason = http.client.responses.get(status, "Unknown")
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "x-amzn-RequestId": str(uuid.uuid4()),
        **extra,
        **({} if keep_alive else {"Connection": "close"}),
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"HTTP/1.1 {status} {reason}\r\n{head}\r\n".encode("latin-1") + body


class FakeSes:
    """A fake SES endpoint on ``host:port`` (0: a free port), served from a daemon thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_recipients: int | None = 50,
        require_verified: bool = False,
        auto_verify_after: float | None = None,
        secret_keys: dict[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.max_recipients = host, port, max_recipients
        #: Reject sends whose sender (address, domain or parent domain) is not verified.
        self.require_verified = require_verified
        #: Access key id -> secret key: sends whose SigV4 signature does not verify get a 403
        #: ``SignatureDoesNotMatch``, as SES answers them. ``None``: signatures are not checked.
        self.secret_keys = secret_keys
        #: Serve HTTPS with this context (its URL is then ``https://``).
        self.tls = tls
        #: The ``GetAccount`` answer (``SendQuota.SentLast24Hours`` defaults to the sent count);
        #: its ``SendQuota`` also feeds v1 ``GetSendQuota``.
        self.account: dict[str, Any] = copy.deepcopy(DEFAULT_ACCOUNT)
        #: Access key id -> the ``GetAccount`` answer of that key's AWS account, where it is not
        #: ``account`` (one fake SES serving several accounts).
        self.accounts: dict[str, dict[str, Any]] = {}
        self._identities = IdentityStore(auto_verify_after=auto_verify_after)
        self._configuration_sets = ConfigurationSetStore()
        #: The production request and the account-level suppression list (``fail_next`` on it
        #: scripts their faults).
        self.account_state = ScriptedAccountState()
        self._cond = threading.Condition()
        self._messages: list[SentMessage] = []
        self._faults: deque[_Fault] = deque()
        self._outage: _Outage | None = None
        self._random = random.Random()
        #: How many sends got each fault, scripted or from an outage: ``slow``, ``reset``, or
        #: the error code (``Throttling``, ``InternalFailure``...).
        self.fault_counts: Counter[str] = Counter()
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], object] = lambda: None
        self._error: OSError | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> None:
        """Listen and serve in a background thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("FakeSes is already running")
        ready = threading.Event()
        self._error = None
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(ready),), name="fakeses", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error

    def stop(self) -> None:
        """Close the listener and every connection, and end the thread."""
        if self._thread is None:
            return
        self._stop()
        self._thread.join()
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def messages(self) -> list[SentMessage]:
        """A copy of the accepted messages, in the order they were accepted."""
        with self._cond:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[SentMessage]:
        """Block until at least ``count`` messages were accepted (else ``TimeoutError``)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} of {count} messages after {timeout}s")
            return list(self._messages)

    def reset(self) -> None:
        """Forget the accepted messages, any scripted faults and every identity."""
        with self._cond:
            self._messages.clear()
            self._faults.clear()
            self._outage = None
            self.fault_counts.clear()
        self._identities.clear()
        self._configuration_sets.clear()
        self.account_state.clear()

    @property
    def configuration_sets(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Copies of the configuration sets: name -> event destination name -> destination."""
        return self._configuration_sets.snapshot()

    @property
    def identities(self) -> dict[str, Identity]:
        """Copies of the identities, by name (domains in lower case)."""
        return self._identities.snapshot()

    def add_identity(self, identity: str, *, verified: bool = False) -> Identity:
        """Create an identity as ``CreateEmailIdentity`` does (Easy DKIM for a domain), and
        mark it verified (verification and DKIM ``SUCCESS``) if asked."""
        return self._identities.add(identity, verified=verified)

    def set_identity_status(
        self,
        identity: str,
        verification: str | None = "SUCCESS",
        dkim: str | None = "SUCCESS",
        mail_from: str | None = None,
    ) -> Identity:
        """Move an identity on: ``VerificationStatus`` (``VerifiedForSendingStatus`` follows it),
        the DKIM status (domains only) and ``MailFromDomainStatus``; ``None`` leaves one as it
        is.  Stops ``auto_verify_after`` for this identity.  ``KeyError`` if it does not exist."""
        return self._identities.set_status(identity, verification, dkim, mail_from)

    @property
    def auto_verify_after(self) -> float | None:
        """Seconds after creation when an identity still ``PENDING`` turns ``SUCCESS`` (its
        verification and DKIM), as SES finding the DNS records; ``None``: never."""
        return self._identities.auto_verify_after

    @auto_verify_after.setter
    def auto_verify_after(self, seconds: float | None) -> None:
        self._identities.auto_verify_after = seconds

    def set_signing_hosted_zone(self, zone: str | None) -> None:
        """Report ``DkimAttributes.SigningHostedZone`` (e.g. ``dkim.amazonses.com``) for Easy
        DKIM domains.  botocore 1.40's sesv2 model lacks the member and drops it."""
        self._identities.signing_hosted_zone = zone

    def fail_next(
        self,
        n: int,
        code: str = "Throttling",
        status: int = 400,
        message: str = "Maximum sending rate exceeded.",
    ) -> None:
        """Answer the next ``n`` send requests with this SES error."""
        self._script(n, _Fault(error=ApiError(code, message, status)))

    def answer_next(
        self, n: int, status: int, body: bytes, content_type: str = "text/html"
    ) -> None:
        """Answer the next ``n`` send requests with this page instead of SES's answer, as a
        proxy or load balancer in front of SES may (``502 Bad Gateway`` in HTML)."""
        self._script(n, _Fault(page=(status, content_type, body)))

    def delay_next(self, n: int, seconds: float) -> None:
        """Wait ``seconds`` before handling the next ``n`` send requests (which then succeed)."""
        self._script(n, _Fault(delay=seconds))

    def drop_next(self, n: int) -> None:
        """Close the connection instead of answering the next ``n`` send requests."""
        self._script(n, _Fault())

    def outage(
        self,
        seconds: float,
        faults: tuple[str, ...] = OUTAGE_FAULTS,
        *,
        share: float = 1.0,
        delay: float = 10.0,
        seed: int | None = None,
    ) -> None:
        """For the next ``seconds``, answer each send, with probability ``share``, with one of
        ``faults`` (``OUTAGE_FAULTS``) picked at random; ``slow`` waits ``delay`` seconds, then
        accepts.  Scripted faults (``fail_next``...) come first.  A new outage replaces this one;
        ``seconds=0`` ends it."""
        if not faults or not 0 <= share <= 1:
            raise ValueError("an outage needs at least one fault and a share between 0 and 1")
        for kind in faults:
            _outage_fault(kind, delay)  # ValueError for an unknown kind
        with self._cond:
            if seed is not None:
                self._random.seed(seed)
            self._outage = _Outage(time.monotonic() + seconds, tuple(faults), share, delay)

    def _next_fault(self) -> _Fault | None:
        """The scripted fault for this send, else the outage's, else None; counted."""
        with self._cond:
            if self._faults:
                fault = self._faults.popleft()
            elif (
                (outage := self._outage) is not None
                and time.monotonic() < outage.until
                and self._random.random() < outage.share
            ):
                fault = _outage_fault(self._random.choice(outage.faults), outage.delay)
            else:
                return None
            self.fault_counts[fault.kind] += 1
            return fault

    def _script(self, n: int, fault: _Fault) -> None:
        with self._cond:
            self._faults.extend([fault] * n)

    async def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        stopped = loop.create_future()
        self._stop = functools.partial(loop.call_soon_threadsafe, stopped.set_result, None)
        try:
            server = await asyncio.start_server(
                self._connection, self.host, self.port, ssl=self.tls
            )
            self.port = server.sockets[0].getsockname()[1]
        except OSError as exc:
            self._error = exc
            return
        finally:
            ready.set()
        await stopped
        server.close()  # asyncio.run() then cancels the connection tasks, which close their sockets

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            keep_alive = True
            while keep_alive:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, version = head[0].split(" ", 2)
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in head[1:])
                }
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                keep_alive = version == "HTTP/1.1" and headers.get("connection") != "close"
                # A request through an HTTP proxy names the whole URL: the fake is the proxy too.
                url = urlsplit(target)
                response = await self._respond(method, url.path, body, headers, url.query)
                if response is None:
                    return
                writer.write(_encode(response, keep_alive))
                await writer.drain()
        except (EOFError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            return  # the client went away, or did not speak HTTP/1.1
        except asyncio.CancelledError:
            return  # stop(); Python 3.11's streams would log a cancelled handler as an error
        finally:
            writer.close()

    async def _respond(
        self, method: str, path: str, body: bytes, headers: _Headers, query: str = ""
    ) -> _Response | None:
        if (method, path) == ("POST", "/v2/email/outbound-emails"):
            signed = self._signed(method, path, headers, body)
            return await self._send("v2", lambda: _parse_v2(body), headers, signed)
        if path.startswith("/v2/email/identities") or path == "/v2/email/account":
            return self._identity_api(method, path, body, headers)
        if path.startswith(("/v2/email/account/", "/v2/email/suppression/")):
            return self._v2_api(lambda: self.account_state.handle(method, path, query, body))
        if path.startswith("/v2/email/configuration-sets"):
            return self._v2_api(lambda: self._configuration_sets.handle(method, path, body))
        if (method, path) == ("POST", "/"):
            form = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
            action = form.get("Action")
            if action == "SendRawEmail":
                signed = self._signed(method, path, headers, body)
                return await self._send("v1", lambda: _parse_v1(form), headers, signed)
            if action == "GetSendQuota":
                quota = self._account(headers)["SendQuota"]
                return _v1_result(
                    "GetSendQuota",
                    "".join(
                        f"<{name}>{float(quota[name])}</{name}>"
                        for name in ("Max24HourSend", "MaxSendRate", "SentLast24Hours")
                    ),
                )
            return _v1_error(ApiError("InvalidAction", f"Unsupported action: {action}"))
        if (method, path) == ("GET", "/_fake/messages"):
            return _json(
                200,
                [{**asdict(m), "raw": base64.b64encode(m.raw).decode()} for m in self.messages()],
            )
        if (method, path) == ("GET", "/_fake/count"):
            with self._cond:
                return _json(200, {"count": len(self._messages)})
        if (method, path) == ("POST", "/_fake/outage"):
            return self._fake_outage(body)
        if (method, path) == ("GET", "/_fake/faults"):
            with self._cond:
                return _json(200, dict(self.fault_counts))
        if (method, path) == ("POST", "/_fake/reset"):
            self.reset()
            return _json(200, {})
        if (method, path) == ("GET", "/_fake/identities"):
            return _json(200, {name: asdict(i) for name, i in self.identities.items()})
        if method == "POST" and (match := _FAKE_STATUS.fullmatch(path)):
            return self._fake_status(unquote(match[1]), body)
        return _json(404, {"message": f"No route for {method} {path}"})

    def _account(self, headers: _Headers) -> dict[str, Any]:
        match = _CREDENTIAL_KEY.search(headers.get("authorization", ""))
        with self._cond:
            account = self.accounts.get(match[1] if match else "", self.account)
            answer = account_response(account, len(self._messages))
        return self.account_state.overlay(answer)

    def _identity_api(self, method: str, path: str, body: bytes, headers: _Headers) -> _Response:
        try:
            if path == "/v2/email/account":
                self.account_state.raise_fault("GetAccount")
                answer = (200, self._account(headers)) if method == "GET" else None
            else:
                answer = self._identities.handle(method, path, body)
        except ApiError as exc:
            return _v2_error(exc)
        if answer is None:
            return _v2_error(ApiError("NotFoundException", f"No route for {method} {path}", 404))
        return _json(*answer)

    def _v2_api(self, handle: Callable[[], tuple[int, dict[str, Any]] | None]) -> _Response:
        try:
            answer = handle()
        except ApiError as exc:
            return _v2_error(exc)
        if answer is None:
            return _v2_error(ApiError("NotFoundException", "No such route", 404))
        return _json(*answer)

    def _fake_status(self, identity: str, body: bytes) -> _Response:
        """``POST /_fake/identities/<identity>/status`` with ``{verification, dkim, mail_from}``
        (each optional; verification and DKIM default to ``SUCCESS``, as in Python)."""
        try:
            request = json.loads(body or b"{}")
            changed = self.set_identity_status(
                identity,
                request.get("verification", "SUCCESS"),
                request.get("dkim", "SUCCESS"),
                request.get("mail_from"),
            )
        except KeyError:
            return _json(404, {"message": f"No identity {identity}"})
        except (ValueError, AttributeError) as exc:
            return _json(400, {"message": str(exc) or "Expected a JSON object"})
        return _json(200, asdict(changed))

    def _fake_outage(self, body: bytes) -> _Response:
        """``POST /_fake/outage`` with ``{seconds, faults, share, delay, seed}`` (all but
        ``seconds`` optional, with ``outage()``'s defaults)."""
        try:
            request = json.loads(body or b"{}")
            self.outage(
                float(request["seconds"]),
                tuple(request.get("faults", OUTAGE_FAULTS)),
                share=float(request.get("share", 1.0)),
                delay=float(request.get("delay", 10.0)),
                seed=request.get("seed"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _json(400, {"message": str(exc) or "Expected a JSON object with seconds"})
        return _json(200, {})

    def _check_sender(self, message: SentMessage, headers: _Headers) -> None:
        """With ``require_verified``, SES's check that the sender is a verified identity."""
        if not self.require_verified:
            return
        written, address = sender_address(message.source, message.raw)
        if self._identities.verified_for(address):
            return
        match = _CREDENTIAL_REGION.search(headers.get("authorization", ""))
        region = (match[1] if match else "us-east-1").upper()
        raise ApiError(
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in "
            f"region {region}: {written}",
        )

    def _signed(self, method: str, path: str, headers: _Headers, body: bytes) -> bool:
        """With ``secret_keys``, whether the request's signature verifies."""
        if self.secret_keys is None:
            return True
        return signature_matches(method, path, headers, body, self.secret_keys)

    async def _send(
        self,
        api: Literal["v1", "v2"],
        parse: Callable[[], SentMessage],
        headers: _Headers,
        signed: bool = True,
    ) -> _Response | None:
        """Check the signature, apply the next scripted fault, then parse, check and record
        one send."""
        error = _v1_error if api == "v1" else _v2_error
        if not signed:
            return error(
                ApiError(
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you "
                    "provided.",
                    403,
                )
            )
        fault = self._next_fault()
        if fault is not None:
            if fault.error is not None:
                return error(fault.error)
            if fault.page is not None:
                return (*fault.page, {})
            if fault.delay is None:
                return None  # drop the connection
            await asyncio.sleep(fault.delay)
        try:
            message = parse()
            limit = self.max_recipients
            if limit is not None and len(message.destinations) > limit:
                raise ApiError("MessageRejected", f"Recipient count exceeds {limit}.")
            self._check_sender(message, headers)
        except ApiError as exc:
            return error(exc)
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()
        if api == "v1":
            return _v1_result("SendRawEmail", f"<MessageId>{message.message_id}</MessageId>")
        return _json(200, {"MessageId": message.message_id})


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="Run a fake Amazon SES endpoint.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--require-verified", action="store_true", help="reject sends from unverified senders"
    )
    parser.add_argument(
        "--auto-verify-after",
        type=float,
        metavar="SECONDS",
        help="report new identities verified this long after their creation",
    )
    parser.add_argument(
        "--max-send-rate",
        type=float,
        default=14.0,
        metavar="N",
        help="the account's MaxSendRate, which the gateway paces its sends under",
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, metavar="SECONDS", help="wait before each answer"
    )
    args = parser.parse_args(argv)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    with FakeSes(
        args.host,
        args.port,
        require_verified=args.require_verified,
        auto_verify_after=args.auto_verify_after,
    ) as server:
        server.account["SendQuota"]["MaxSendRate"] = args.max_send_rate
        if args.delay > 0:
            server.delay_next(1_000_000, args.delay)
        print(f"listening on {server.url}", flush=True)
        stopped.wait()


if __name__ == "__main__":
    main()
