"""A fake Amazon SES endpoint for real botocore clients (``endpoint_url=server.url``).

Serves SESv2 ``SendEmail`` (REST-JSON, raw content) and SES v1 ``SendRawEmail``/``GetSendQuota``
(Query/XML) from a daemon thread, records accepted messages, and scripts errors, delays and
dropped connections.  ``python -m tests.support.fakeses --port N`` runs it as a process, to be
inspected with ``GET /_fake/messages``, ``GET /_fake/count`` and ``POST /_fake/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import functools
import http.client
import json
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal, Self
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

__all__ = ["FakeSes", "SentMessage"]

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


@dataclass(eq=False)
class _Rejected(Exception):
    """An SES error to answer with."""

    code: str
    message: str
    status: int = 400


@dataclass(frozen=True)
class _Fault:
    """A scripted answer to one send request: an error, a delay, or else a dropped connection."""

    error: _Rejected | None = None
    delay: float | None = None


_Response = tuple[int, str, bytes, dict[str, str]]  # status, content type, body, extra headers


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


def _v1_error(error: _Rejected) -> _Response:
    document = (
        f'<ErrorResponse xmlns="{XMLNS}"><Error>'
        f"<Type>{'Sender' if error.status < 500 else 'Receiver'}</Type>"
        f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return error.status, "text/xml", document.encode(), {}


def _v2_error(error: _Rejected) -> _Response:
    return _json(error.status, {"message": error.message}, {"x-amzn-ErrorType": error.code})


def _b64(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise _Rejected("InvalidParameterValue", f"Invalid base64 data: {exc}") from None


def _parse_v2(body: bytes) -> SentMessage:
    try:
        request = json.loads(body)
        raw = _b64(request["Content"]["Raw"]["Data"])
    except (ValueError, KeyError, TypeError):
        raise _Rejected("BadRequestException", "Expected JSON with Content.Raw.Data") from None
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
        raise _Rejected("InvalidParameterValue", "RawMessage.Data is required")
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
        self, host: str = "127.0.0.1", port: int = 0, *, max_recipients: int | None = 50
    ) -> None:
        self.host, self.port, self.max_recipients = host, port, max_recipients
        self._cond = threading.Condition()
        self._messages: list[SentMessage] = []
        self._faults: deque[_Fault] = deque()
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], object] = lambda: None
        self._error: OSError | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

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
        """Forget the accepted messages and any scripted faults."""
        with self._cond:
            self._messages.clear()
            self._faults.clear()

    def fail_next(
        self,
        n: int,
        code: str = "Throttling",
        status: int = 400,
        message: str = "Maximum sending rate exceeded.",
    ) -> None:
        """Answer the next ``n`` send requests with this SES error."""
        self._script(n, _Fault(error=_Rejected(code, message, status)))

    def delay_next(self, n: int, seconds: float) -> None:
        """Wait ``seconds`` before handling the next ``n`` send requests (which then succeed)."""
        self._script(n, _Fault(delay=seconds))

    def drop_next(self, n: int) -> None:
        """Close the connection instead of answering the next ``n`` send requests."""
        self._script(n, _Fault())

    def _script(self, n: int, fault: _Fault) -> None:
        with self._cond:
            self._faults.extend([fault] * n)

    async def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        stopped = loop.create_future()
        self._stop = functools.partial(loop.call_soon_threadsafe, stopped.set_result, None)
        try:
            server = await asyncio.start_server(self._connection, self.host, self.port)
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
                response = await self._respond(method, target.partition("?")[0], body)
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

    async def _respond(self, method: str, path: str, body: bytes) -> _Response | None:
        if (method, path) == ("POST", "/v2/email/outbound-emails"):
            return await self._send("v2", lambda: _parse_v2(body))
        if (method, path) == ("POST", "/"):
            form = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
            action = form.get("Action")
            if action == "SendRawEmail":
                return await self._send("v1", lambda: _parse_v1(form))
            if action == "GetSendQuota":
                with self._cond:
                    sent = len(self._messages)
                return _v1_result(
                    "GetSendQuota",
                    "<Max24HourSend>50000.0</Max24HourSend><MaxSendRate>14.0</MaxSendRate>"
                    f"<SentLast24Hours>{sent}.0</SentLast24Hours>",
                )
            return _v1_error(_Rejected("InvalidAction", f"Unsupported action: {action}"))
        if (method, path) == ("GET", "/_fake/messages"):
            return _json(
                200,
                [{**asdict(m), "raw": base64.b64encode(m.raw).decode()} for m in self.messages()],
            )
        if (method, path) == ("GET", "/_fake/count"):
            with self._cond:
                return _json(200, {"count": len(self._messages)})
        if (method, path) == ("POST", "/_fake/reset"):
            self.reset()
            return _json(200, {})
        return _json(404, {"message": f"No route for {method} {path}"})

    async def _send(
        self, api: Literal["v1", "v2"], parse: Callable[[], SentMessage]
    ) -> _Response | None:
        """Apply the next scripted fault, then parse, check and record one send."""
        error = _v1_error if api == "v1" else _v2_error
        with self._cond:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            if fault.error is not None:
                return error(fault.error)
            if fault.delay is None:
                return None  # drop the connection
            await asyncio.sleep(fault.delay)
        try:
            message = parse()
            limit = self.max_recipients
            if limit is not None and len(message.destinations) > limit:
                raise _Rejected("MessageRejected", f"Recipient count exceeds {limit}.")
        except _Rejected as exc:
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
    args = parser.parse_args(argv)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    with FakeSes(args.host, args.port) as server:
        print(f"listening on {server.url}", flush=True)
        stopped.wait()


if __name__ == "__main__":
    main()
