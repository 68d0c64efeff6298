"""The SMTP protocol (aiosmtpd's, with our AUTH, replies and timeouts) and its two listeners.

Listeners run on the application's event loop (never aiosmtpd's threaded Controller):
- submission with STARTTLS (`SMTP_PORT`): TLS is required before AUTH and before any mail;
- implicit TLS (`SMTPS_PORT`): the whole connection is TLS, so AUTH is offered at once (aiosmtpd's
  `auth_require_tls` does not see implicit TLS, hence False there; the socket is TLS anyway).

A client cannot hold a connection by trickling bytes (slowloris): each command line must arrive
whole within `SMTP_TIMEOUT` of the previous reply; in DATA each octet extends the deadline by only
1/`SMTP_MIN_DATA_RATE` seconds; a session has `SMTP_LOGIN_TIMEOUT` to log in; and one client
address may hold at most `MAX_CONNECTIONS_PER_CLIENT` connections.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword, TLSSetupException, syntax

from config import Settings
from config.settings import ENV_PREFIX
from gateway.core import metrics
from gateway.core.exceptions import LoginRefused
from gateway.core.logs import log_event
from gateway.intake import replies
from gateway.intake.auth import Authenticator
from gateway.intake.data import DataError, read_data
from gateway.intake.handler import (
    GatewayEnvelope,
    GatewaySession,
    SubmissionHandler,
    peer_address,
)
from gateway.intake.tls import describe, small_read_buffers
from gateway.policy.limits import ConnectionCounter

log = logging.getLogger("gateway.smtp")

IDENT = "ESMTP SES Gateway"

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*)>")


def plain_path(arg: str) -> tuple[str, str] | None:
    """(address, rest) for the common MAIL/RCPT argument `<local@domain> ...` with dot-atoms
    only, as aiosmtpd's parser would read it; None for anything else."""
    match = _PLAIN_PATH.match(arg)
    if match is None:
        return None
    rest = arg[match.end() :]
    parameters = rest.lstrip(" \t")
    if parameters.startswith("(") or (rest and not parameters):
        return None  # a comment or trailing blanks: aiosmtpd's parser knows what to drop
    return match.group(1), parameters


def is_utf8(text: str) -> bool:
    """Whether `text` came from valid UTF-8 (no surrogate stands for an undecodable byte)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


LISTEN_BACKLOG = 1024
"""Connections the kernel holds for each listener until they are accepted (at most
`net.core.somaxconn`). asyncio's default, 100, dropped the connections of a reconnect storm
(clients then wait for their SYN to be sent again: 1, 3, 7, 15 s...)."""

MESSAGES_PER_CONNECTION = 10_000
"""How many transactions one connection may run; other commands are limited to 100 each."""


def command_call_limits(max_recipients: int) -> dict[str, int]:
    """aiosmtpd's per-connection command budgets (421 once spent), sized so that the limits on
    transactions and recipients apply first."""
    per_transaction = dict.fromkeys(("MAIL", "DATA", "RSET", "NOOP"), MESSAGES_PER_CONNECTION)
    return {"*": 100, **per_transaction, "RCPT": MESSAGES_PER_CONNECTION * (max_recipients + 1)}


def _utf8_only(
    command: str, method: Callable[[SubmissionSMTP, str | None], Awaitable[None]]
) -> Callable[[SubmissionSMTP, str | None], Awaitable[None]]:
    """`method`, run only when its argument is UTF-8. aiosmtpd hands other bytes over as
    surrogates, which no reply, log line or database can hold: refused here, not echoed."""
    refusal = replies.NOT_UTF8_ADDRESS if command in ("MAIL", "RCPT") else replies.NOT_UTF8

    @functools.wraps(method)
    async def checked(self: SubmissionSMTP, arg: str | None) -> None:
        if arg is not None and not arg.isascii() and not is_utf8(arg):
            await self.push(str(refusal))
            return
        await method(self, arg)

    return checked


def _commands_utf8_only(cls: type[SubmissionSMTP]) -> type[SubmissionSMTP]:
    """Every `smtp_<COMMAND>` of the class wrapped by `_utf8_only`, once for all connections."""
    for name in dir(cls):
        if name.startswith("smtp_"):
            setattr(cls, name, _utf8_only(name.removeprefix("smtp_"), getattr(cls, name)))
    return cls


@_commands_utf8_only
class SubmissionSMTP(SMTP):
    def __init__(
        self,
        handler: SubmissionHandler,
        authenticator: Authenticator,
        settings: Settings,
        listener: Listener,
        clients: ConnectionCounter,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            handler,
            data_size_limit=settings.message_size_limit,
            # Decode UTF-8 arguments so that a non-ASCII address gets its own refusal (553 5.6.7)
            # rather than a bare syntax error; SMTPUTF8 itself is neither advertised (see
            # `handle_EHLO`) nor accepted on MAIL: SES cannot deliver it.
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.hostname,
            ident=IDENT,
            timeout=settings.smtp_timeout,
            command_call_limit=command_call_limits(settings.max_recipients),
            loop=asyncio.get_running_loop(),  # else aiosmtpd looks for it, at a cost
            **kwargs,
        )
        self._credentials = authenticator
        self._listener = listener
        self._settings = settings
        self._clients = clients
        """Connections per client address, across both listeners."""
        self._client: str | None = None
        """The address this connection counts against, once counted."""
        self._login_timer: asyncio.TimerHandle | None = None
        self._idle_deadline = 0.0
        """When the connection times out unless a command or a reply comes first
        (`_reset_timeout` moves it)."""
        self._data_deadline: float | None = None
        """While DATA is read: when the connection times out (`data_received` moves it)."""
        self._continued: list[str] = []
        """The lines of a multi-line reply pushed so far (`push`)."""

    def __dir__(self) -> list[str]:
        """The commands and AUTH mechanisms only. aiosmtpd finds them by name in `dir()` of each
        new connection, reading every attribute listed (`inspect.getmembers`): with everything
        listed, that was a third of the cost of a new connection's protocol object."""
        return _PROTOCOL_NAMES

    # -- session bookkeeping -------------------------------------------------------------

    def _create_envelope(self) -> GatewayEnvelope:
        return GatewayEnvelope()

    def _create_session(self) -> GatewaySession:
        return GatewaySession(self.loop)

    def facts(self) -> GatewaySession:
        """The session, typed (a method: aiosmtpd inspects every attribute at start-up)."""
        assert isinstance(self.session, GatewaySession)
        return self.session

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self not in self._listener.connections  # not again once STARTTLS is done
        super().connection_made(transport)
        self._listener.connections.add(self)
        self.facts().tls = describe(transport.get_extra_info("ssl_object"))
        if not first:
            return
        metrics.smtp_connections.labels(self._listener.name).inc()
        client = peer_address(self.facts())
        limit = self._settings.max_connections_per_client
        if not self._clients.open(client, limit):
            log_event(log, "smtp-client-limit", peer=client, limit=limit)
            self._say_and_close(
                replies.TOO_MANY_CLIENT_CONNECTIONS.format(hostname=self.hostname, limit=limit)
            )
            return
        self._client = client
        self._login_timer = self.loop.call_later(
            self._settings.smtp_login_timeout, self._login_timeout_cb
        )

    def data_received(self, data: bytes) -> None:
        if self._data_deadline is not None:
            # In DATA each octet buys 1/SMTP_MIN_DATA_RATE s, up to SMTP_TIMEOUT ahead (Postfix's
            # smtpd_min_data_rate): a steady upload takes as long as it needs, a trickle is cut
            # off. Elsewhere bytes buy nothing: a command line has SMTP_TIMEOUT in all.
            self._data_deadline = min(
                self._data_deadline + len(data) / self._settings.smtp_min_data_rate,
                self.loop.time() + self._timeout_duration,
            )
        super().data_received(data)

    def connection_lost(self, error: Exception | None) -> None:
        self._listener.connections.discard(self)
        if self._client is not None:
            self._clients.close(self._client)
            self._client = None
        if self._login_timer is not None:
            self._login_timer.cancel()
        self.event_handler.session_closed(self.session)
        session = self.facts()
        principal = session.auth_data if session.authenticated else None
        log_event(
            log,
            "smtp-session",
            listener=self._listener.name,
            peer=peer_address(session),
            helo=session.host_name,
            tls=session.tls,
            tenant=getattr(principal, "tenant_name", None),
            username=getattr(principal, "username", None),
            accepted=len(session.accepted),
            queue_ids=",".join(session.accepted) or None,
            refused=len(session.refusals),
            refusals="; ".join(session.refusals[-5:]) or None,
            auth_failures=session.auth_failures or None,
            seconds=round(time.monotonic() - session.started, 3),
        )
        super().connection_lost(error)
        assert self._handler_coroutine is not None
        self._handler_coroutine.add_done_callback(self._unlink)  # once the session has ended

    def _unlink(self, _ended: object) -> None:
        """Break the reference cycles that pass through this object, so that the connection's
        objects (some eighty: the TLS layer, streams, session, envelope, a traceback or two)
        are freed as the last reference goes. In a cycle they waited for the collector's
        full collections, which a new connection for every message set off every second or
        so, at 35-55 ms each (docs/performance.md, "A connection freed whole").

        The cycles: aiosmtpd's tables of this object's bound methods; the session's task (its
        `CancelledError` holds the frame that holds this object); asyncio's stream writer and
        the callback of `StreamReaderProtocol`; the STARTTLS layer, whose protocol is this."""
        self._smtp_methods.clear()
        self._auth_methods.clear()
        self._handler_coroutine = None
        self._client_connected_cb = None
        self._stream_writer = None
        del self._writer  # aiosmtpd's name for the same writer (typed never None)
        self._tls_protocol = None

    @property
    def in_transaction(self) -> bool:
        return self.envelope is not None and self.envelope.mail_from is not None

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's answer, for the common `<local@domain>` without its RFC 5322 parser (which
        defines a class per call: a sixth of the SMTP process's CPU under load). Anything else
        (quoted local parts, comments, literals, `<>`) goes to aiosmtpd.

        aiosmtpd reads those with the standard library's RFC 5322 parser, which on some broken
        input (`<`, `a@`, `<a@[`) raises IndexError, AttributeError or UnboundLocalError where
        it should raise HeaderParseError: a syntax error all the same, not an internal error."""
        plain = plain_path(arg)
        if plain is None:
            try:
                return super()._getaddr(arg)
            except (IndexError, AttributeError, UnboundLocalError):
                return None, None
        address, rest = plain
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with `read_data` reading the message (not a line per `await`)."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        # The tenant's limit, not only the global one: past it the data is dropped as it comes.
        limit = self.facts().size_limit(self._settings)
        self._data_deadline = self.loop.time() + self._timeout_duration
        try:
            data = await read_data(
                self._reader,
                limit,
                self.line_length_limit,
                spill_threshold=self._settings.spill_threshold,
                spill_directory=self._settings.data_dir,
            )
        except (asyncio.CancelledError, asyncio.IncompleteReadError):
            self._writer.close()  # the client went away mid-DATA: nothing is stored
            raise
        finally:
            self._data_deadline = None
        self._reset_timeout()  # as for a command: storing the message has SMTP_TIMEOUT
        if data.error is DataError.TOO_LONG:
            status = str(replies.LINE_TOO_LONG)
        elif data.error is DataError.TOO_MUCH:
            status = await self.event_handler.refuse_oversized(self.session, self.envelope, limit)
        elif data.error is DataError.NOT_KEPT:
            log.error("keeping a large message on disk failed: %s", data.cause)
            status = str(replies.STORE_FAILED)
        else:
            self.envelope.content = self.envelope.original_content = data.content
            assert isinstance(self.envelope, GatewayEnvelope)
            self.envelope.spilled = data.spilled  # the handler closes it, or the spool
            answer = await self._call_handler_hook("DATA")
            status = "250 OK" if answer is MISSING else answer
        self.envelope = self._create_envelope()  # aiosmtpd's post-DATA state
        await self.push(status)

    # -- replies ---------------------------------------------------------------------------

    async def push(self, status: AnyStr) -> None:
        if self.transport is None or self.transport.is_closing():
            # aiosmtpd closes the connection after some replies (421 over a command limit, 502
            # after bogus commands) but goes on running the commands the client had pipelined,
            # up to storing a message the client saw refused. End the session here instead.
            assert self._handler_coroutine is not None
            self._handler_coroutine.cancel()
            await asyncio.sleep(0)  # raises CancelledError, as after QUIT
            return
        if isinstance(status, str):
            status = replies.complete(status, self.data_size_limit or 0)
            if status[3:4] == "-":
                # A line of a multi-line reply (EHLO's): held until its last line, so that the
                # reply goes out as one write (one TLS record, one send), not one per line.
                self._continued.append(status)
                return
            if status[:1] in "45" and self.session is not None:
                self.facts().refusals.append(status)
            if self._continued:
                status = "\r\n".join([*self._continued, status])
                self._continued.clear()
        await super().push(status)
        if self.transport is not None and not self.transport.is_closing():
            self._reset_timeout()  # the next line has SMTP_TIMEOUT from this reply on
        if isinstance(status, str) and status.startswith("421"):
            self._say_and_close(None)  # 421: the server closes the channel (RFC 5321 3.8)

    def _say_and_close(self, line: str | None) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            if line is not None:
                transport.write(f"{line}\r\n".encode())
            transport.close()

    def _reset_timeout(self, duration: float | None = None) -> None:
        """aiosmtpd's, without a new timer each time. It runs at every command and every reply
        (about twenty times for a connection that sends one message): a timer made and
        cancelled each time, and the cancelled ones left in the loop's heap until it is
        cleaned. Here the deadline moves and the connection's one timer stays: when it goes
        off before the deadline, `_timeout_cb` sets it again for the deadline."""
        deadline = self.loop.time() + (duration or self._timeout_duration)
        self._idle_deadline = deadline
        timer = self._timeout_handle
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timeout_handle = self.loop.call_at(deadline, self._timeout_cb)

    def _timeout_cb(self) -> None:
        data, now = self._data_deadline, self.loop.time()
        # In DATA the data's deadline (never before the 354's) else the last command's or reply's.
        deadline = self._idle_deadline if data is None else max(data, self._idle_deadline)
        if now < deadline:  # something came in time: wait until the deadline it set
            self._timeout_handle = self.loop.call_at(deadline, self._timeout_cb)
            return
        log_event(log, "smtp-timeout", peer=peer_address(self.facts()), data=data is not None)
        if data is None:
            self._say_and_close(replies.TIMEOUT.format(hostname=self.hostname))
        else:
            rate = self._settings.smtp_min_data_rate
            self._say_and_close(replies.DATA_TOO_SLOW.format(hostname=self.hostname, rate=rate))

    def _login_timeout_cb(self) -> None:
        session = self.facts()
        if session.authenticated or session.principal is not None:
            return  # logged in, or a trusted network's client that has given MAIL
        log_event(log, "smtp-login-timeout", peer=peer_address(session))
        seconds = self._settings.smtp_login_timeout
        self._say_and_close(replies.LOGIN_TIMEOUT.format(hostname=self.hostname, seconds=seconds))

    async def handle_exception(self, error: Exception) -> str:
        """A STARTTLS handshake that failed is the client's doing (plain text, a scanner, a TLS
        version we refuse): one log line, no traceback. aiosmtpd then closes the connection
        without a reply. Anything else is the handler's: an internal error."""
        if isinstance(error, TLSSetupException):
            cause = error.__cause__
            reason = getattr(cause, "reason", None) or type(cause).__name__
            log_event(log, "smtp-tls-failed", peer=peer_address(self.facts()), reason=reason)
            return str(replies.INTERNAL_ERROR)  # not sent
        return await super().handle_exception(error)

    def close_for_shutdown(self) -> None:
        self._say_and_close(replies.SHUTTING_DOWN.format(hostname=self.hostname))

    async def smtp_HELO(self, hostname: str) -> None:
        if not await self._refused_as_locked_out():
            await super().smtp_HELO(hostname)

    async def smtp_EHLO(self, hostname: str) -> None:
        if not await self._refused_as_locked_out():
            await super().smtp_EHLO(hostname)

    async def _refused_as_locked_out(self) -> bool:
        """A client locked out for guessing passwords is told so and disconnected."""
        wait = await self._credentials.locked_out(peer_address(self.facts()))
        if wait:
            minutes = math.ceil(wait / 60)
            self._say_and_close(
                replies.LOCKED_OUT_CLOSING.format(hostname=self.hostname, minutes=minutes)
            )
        return bool(wait)

    # -- AUTH: aiosmtpd parses PLAIN and LOGIN; we check the credentials asynchronously ----

    def _authenticate(self, mechanism: str, auth_data: LoginPassword) -> AuthResult:
        return AuthResult(success=True, auth_data=auth_data)

    async def auth_PLAIN(self, server: Any, args: list[str]) -> AuthResult:
        return await self._verify(await super().auth_PLAIN(server, args))

    async def auth_LOGIN(self, server: Any, args: list[str]) -> AuthResult:
        return await self._verify(await super().auth_LOGIN(server, args))

    async def _verify(self, parsed: AuthResult) -> AuthResult:
        if not parsed.success:
            return parsed
        assert isinstance(parsed.auth_data, LoginPassword)
        login, password = parsed.auth_data
        try:
            principal = await self._credentials.authenticate(
                login.decode("utf-8", "replace"),
                password.decode("utf-8", "replace"),
                peer_address(self.facts()),
            )
        except LoginRefused as refused:
            reply = replies.LOCKED_OUT.format(minutes=math.ceil(refused.retry_after / 60))
            return AuthResult(success=False, handled=False, message=reply)
        if principal is None:
            self.facts().auth_failures += 1
            metrics.smtp_auth_failures.inc()
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=principal)


_PROTOCOL_NAMES = sorted(n for n in dir(SubmissionSMTP) if n.startswith(("smtp_", "auth_")))


@dataclass(eq=False)
class Listener:
    name: str
    server: asyncio.Server | None = None
    connections: set[SubmissionSMTP] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


async def _listen(
    setting: str,
    factory: Callable[[], asyncio.Protocol],
    host: str,
    port: int,
    **options: Any,
) -> asyncio.Server:
    """A listener; a port in use (or not allowed) names the setting to change."""
    try:
        return await asyncio.get_running_loop().create_server(factory, host, port, **options)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OSError(
            exc.errno, f"SMTP on {host}:{port} ({ENV_PREFIX}{setting}): {reason}"
        ) from exc


class SmtpService:
    """Both listeners, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        handler: SubmissionHandler,
        authenticator: Authenticator,
        tls_context: ssl.SSLContext,
    ) -> None:
        self._settings = settings
        self._handler = handler
        self._credentials = authenticator
        self._tls = tls_context
        self.submission = Listener("submission")
        self.smtps = Listener("smtps")
        self._clients = ConnectionCounter()

    async def start(self, smtp_port: int | None = None, smtps_port: int | None = None) -> None:
        """Listen; ports default to the settings (tests pass 0 for a free port)."""
        small_read_buffers()
        host = self._settings.smtp_host
        self.submission.server = await _listen(
            "SMTP_PORT",
            lambda: SubmissionSMTP(
                self._handler,
                self._credentials,
                self._settings,
                self.submission,
                self._clients,
                tls_context=self._tls,
                require_starttls=True,
                auth_require_tls=True,
            ),
            host,
            self._settings.smtp_port if smtp_port is None else smtp_port,
            backlog=LISTEN_BACKLOG,
        )
        port = self._settings.smtps_port if smtps_port is None else smtps_port
        if smtps_port is not None or self._settings.smtps_port:
            self.smtps.server = await _listen(
                "SMTPS_PORT",
                lambda: SubmissionSMTP(
                    self._handler,
                    self._credentials,
                    self._settings,
                    self.smtps,
                    self._clients,
                    auth_require_tls=False,
                ),
                host,
                port,
                backlog=LISTEN_BACKLOG,
                ssl=self._tls,
                ssl_handshake_timeout=30,
            )
        for listener in (self.submission, self.smtps):
            if listener.server is not None:
                log_event(
                    log, "smtp-listening", listener=listener.name, host=host, port=listener.port
                )

    async def stop(self, grace: float) -> None:
        """Stop accepting; let transactions in progress finish (bounded); close the rest."""
        listeners = [x for x in (self.submission, self.smtps) if x.server is not None]
        for listener in listeners:
            assert listener.server is not None
            listener.server.close()
        deadline = time.monotonic() + grace
        # Polled: a transaction ends inside aiosmtpd, which has no hook to signal it.
        while time.monotonic() < deadline and any(  # noqa: ASYNC110
            c.in_transaction for x in listeners for c in x.connections
        ):
            await asyncio.sleep(0.05)
        for listener in listeners:
            for connection in list(listener.connections):
                connection.close_for_shutdown()
        for listener in listeners:
            assert listener.server is not None
            await listener.server.wait_closed()
