"""The aiosmtpd handler: gathers the facts of each command and answers with named replies."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from weakref import WeakKeyDictionary

import idna
from aiosmtpd.smtp import SMTP, Envelope, Session

from config import Settings
from gateway.core import metrics
from gateway.core.exceptions import DatabaseError
from gateway.core.headers import Header, normalize_newlines, read_header
from gateway.core.spill import SpilledRest, SpillFile
from gateway.core.types.messages import NewMessage, Principal
from gateway.core.types.tenants import Limits
from gateway.domains.dnscheck import DnsChecker
from gateway.intake import replies
from gateway.intake.message import SessionFacts, header_senders, header_subject, prepare
from gateway.intake.spilled import (
    HEADER_LIMIT,
    check_bare_newlines,
    header_too_long,
    normalized,
    split_spilled,
)
from gateway.intake.spool import Spool, new_queue_id
from gateway.policy.limits import ConnectionCounter, RateLimiter, effective
from gateway.policy.rules import (
    Refusal,
    check_account,
    check_daily,
    check_line_endings,
    check_rate,
    check_recipient_domain,
    check_recipient_suppressed,
    check_sender,
    check_size,
    declared_size,
    header_too_big,
    too_big,
)
from gateway.policy.senders import Directory

log = logging.getLogger("gateway.smtp")

EXTENSIONS = ("250-PIPELINING", "250-ENHANCEDSTATUSCODES")


class GatewaySession(Session):
    """aiosmtpd's session plus what the session log line reports."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.started = time.monotonic()
        self.accepted: list[str] = []
        self.refusals: list[str] = []
        self.auth_failures = 0
        self.tls: str | None = None
        self.principal: Principal | None = None
        """Who the session acts for: set by AUTH, or at MAIL for a trusted network's client."""
        self.limits: Limits | None = None
        """The tenant's limits in force, from the first MAIL on."""
        self.counted_tenant: int | None = None
        """The tenant this session counts against in the connection limit."""

    def size_limit(self, settings: Settings) -> int:
        """The largest message this session may send: its tenant's limit (never above
        `MAX_MESSAGE_SIZE`) once MAIL has found the tenant, else `MAX_MESSAGE_SIZE`."""
        return (self.limits.max_size if self.limits else None) or settings.message_size_limit

    # aiosmtpd sets this deprecated attribute on every AUTH and warns; we keep the principal in
    # `auth_data` and have no use for it.
    @property
    def login_data(self) -> None:
        return None

    @login_data.setter
    def login_data(self, value: object) -> None:
        pass


class GatewayEnvelope(Envelope):
    """aiosmtpd's envelope plus the content of a large message, kept on disk."""

    def __init__(self) -> None:
        super().__init__()
        self.spilled: SpillFile | None = None
        """Set (and `original_content` empty) for a message over `SPILL_THRESHOLD`."""


def peer_address(session: Session) -> str:
    """The client's IP address (aiosmtpd keeps the socket's peer name)."""
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) else str(peer or "unknown")


_VISIBLE_ASCII = re.compile(r"[!-~]+")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf'{_ATOM}(\.{_ATOM})*|"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"')
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(\.{_LABEL})+")
_ADDRESS_LITERAL = re.compile(r"\[(IPv6:[0-9A-Fa-f:.]+|[0-9.]+)\]")
_HELO_UNSAFE = re.compile(r"[^A-Za-z0-9.:\[\]-]")


def valid_mailbox(address: str) -> bool:
    """`local@domain` in visible ASCII: no spaces, no control characters (NUL, CR, LF...)."""
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and _VISIBLE_ASCII.fullmatch(address) is not None


def valid_recipient(address: str) -> bool:
    """RFC 5321 `Mailbox` in ASCII: a dot-atom or quoted local part, and a host name or an
    address literal (an IDN domain is converted to punycode before this check)."""
    local, _, domain = address.rpartition("@")
    return bool(_LOCAL_PART.fullmatch(local)) and bool(
        _HOST.fullmatch(domain) or _ADDRESS_LITERAL.fullmatch(domain)
    )


def sender_address(address: str) -> str | None:
    """None when `address` may be a sender (MAIL FROM), else the reply refusing it."""
    if not address.isascii():
        return replies.NON_ASCII_ADDRESS.format(address=address)
    if not valid_mailbox(address):
        return str(replies.BAD_SENDER)
    return None


def recipient_address(address: str) -> tuple[str, str | None]:
    """A recipient (RCPT TO) as it is relayed, an IDN domain in punycode (SES delivers nothing
    else), with None; or as given, with the reply refusing it."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        return address, replies.NON_ASCII_ADDRESS.format(address=address)
    if not domain.isascii():
        try:
            address = f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
        except idna.IDNAError:
            return address, str(replies.BAD_ADDRESS)
    if not valid_recipient(address):
        return address, str(replies.BAD_ADDRESS)
    return address, None


def received_helo(name: str) -> str:
    """The HELO name as the Received field may show it: a domain or an address literal.

    Anything else (spaces, parentheses, `;`) could make the field read as if other hosts had
    handled the message, so it becomes `_`.
    """
    return _HELO_UNSAFE.sub("_", name)


class SubmissionHandler:
    def __init__(self, settings: Settings, spool: Spool, directory: Directory) -> None:
        self._settings = settings
        self._spool = spool
        self._directory = directory
        self._rates = RateLimiter()
        self._connections = ConnectionCounter()
        self._mail_domains = (
            DnsChecker(settings.dns_nameservers, settings.recipient_domain_timeout)
            if settings.recipient_domain_check
            else None
        )
        self._dropped: WeakKeyDictionary[Envelope, dict[str, str]] = WeakKeyDictionary()
        """Per transaction: suppressed recipients accepted in `drop` mode, with the reason."""

    def __dir__(self) -> list[str]:
        """The hooks only. aiosmtpd finds them by name in `dir()` of the handler for each new
        connection, reading every attribute listed (`inspect.getmembers`)."""
        return _HOOK_NAMES

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        offered = [r for r in responses[:-1] if r != "250-SMTPUTF8"]
        return [*offered, *EXTENSIONS, responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        assert isinstance(session, GatewaySession)
        if session.authenticated:
            assert isinstance(session.auth_data, Principal)
            session.principal = session.auth_data
        else:
            session.principal = await self._directory.trusted(peer_address(session))
        principal = session.principal
        if principal is None:  # no AUTH, and not in a trusted network: no relaying
            return await self._refuse(
                session, Refusal("auth", str(replies.AUTH_REQUIRED)), sender=address
            )
        if address in ("", "<>"):  # aiosmtpd hands over `MAIL FROM:<>` as "<>"
            return await self._refuse(session, Refusal("null-sender", str(replies.NULL_SENDER)))
        if any(option.upper() == "SMTPUTF8" for option in options):
            return str(replies.SMTPUTF8_UNSUPPORTED)
        bad = sender_address(address)
        if bad is not None:
            return bad
        account = await self._directory.account(principal)
        refusal = check_account(account) or check_sender(
            account, await self._directory.sender(address)
        )
        if refusal is not None:
            return await self._refuse(session, refusal, sender=address)
        limits = session.limits = effective(account, self._settings)
        if session.counted_tenant is None:
            if not self._connections.open(principal.tenant_id, limits.max_connections):
                reply = replies.TOO_MANY_CONNECTIONS.format(
                    hostname=self._settings.hostname, limit=limits.max_connections
                )
                return await self._refuse(session, Refusal("connections", reply), sender=address)
            session.counted_tenant = principal.tenant_id
        refusal = check_size(declared_size(options), limits.max_size or 0)
        if refusal is None and limits.max_per_day is not None:
            used = await self._directory.usage(principal.tenant_id)
            refusal = check_daily(used, limits.max_per_day)
            await self._directory.near_limit.check(
                principal.tenant_id,
                principal.tenant_name,
                used,
                limits.max_per_day,
                datetime.now(UTC),
            )
        if refusal is None and limits.max_per_second is not None:
            wait = self._rates.take(principal.tenant_id, limits.max_per_second)
            refusal = check_rate(wait, limits.max_per_second)
        if refusal is not None:
            return await self._refuse(session, refusal, sender=address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return str(replies.SENDER_OK)

    def session_closed(self, session: Session) -> None:
        """The connection is gone: it no longer counts against its tenant's limit."""
        if isinstance(session, GatewaySession) and session.counted_tenant is not None:
            self._connections.close(session.counted_tenant)
            session.counted_tenant = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        address, bad = recipient_address(address)
        if bad is not None:
            return bad
        if address.lower() in (a.lower() for a in envelope.rcpt_tos):
            return str(replies.RECIPIENT_OK)
        assert isinstance(session, GatewaySession)
        assert session.principal is not None
        if self._mail_domains is not None:
            domain = address.rpartition("@")[2]
            found = await self._mail_domains.mail_domain(domain)
            refusal = check_recipient_domain(domain, found)
            if refusal is not None:
                return await self._refuse(
                    session, refusal, sender=envelope.mail_from, recipient=address
                )
        suppression = await self._directory.suppressed(session.principal.tenant_id, address)
        verdict = check_recipient_suppressed(suppression, self._settings.suppression_mode)
        if isinstance(verdict, Refusal):
            return await self._refuse(
                session, verdict, sender=envelope.mail_from, recipient=address
            )
        limit = session.limits.max_recipients if session.limits else None
        limit = limit or self._settings.max_recipients
        if len(envelope.rcpt_tos) >= limit:
            return await self._refuse(
                session,
                Refusal("recipients", replies.TOO_MANY_RECIPIENTS.format(limit=limit)),
                sender=envelope.mail_from,
                recipient=address,
            )
        if verdict is not None:  # drop: accepted, stored as suppressed, never sent
            self._dropped.setdefault(envelope, {})[address] = verdict.note
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return str(replies.RECIPIENT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        spilled = envelope.spilled if isinstance(envelope, GatewayEnvelope) else None
        try:
            return await self._accept(session, envelope, spilled)
        finally:
            # Unless the spool took it (it closes it once written, even if this session is
            # cancelled meanwhile): the file is gone whatever the answer.
            if isinstance(envelope, GatewayEnvelope) and envelope.spilled is not None:
                envelope.spilled.close()

    async def _accept(self, session: Session, envelope: Envelope, spilled: SpillFile | None) -> str:
        """The answer to the end of DATA, the message stored when it is `250`."""
        assert isinstance(session, GatewaySession)
        principal = session.principal
        assert principal is not None
        assert envelope.mail_from is not None
        now = datetime.now(UTC)
        queue_id = new_queue_id()
        tls = session.tls
        peer = peer_address(session)
        facts = SessionFacts(
            queue_id=queue_id,
            hostname=self._settings.hostname,
            client_helo=received_helo(session.host_name or ""),
            client_address=peer,
            tls=tls,
            authenticated=bool(session.authenticated),
            esmtp=bool(session.extended_smtp),
            received_at=now,
        )
        data = envelope.original_content or b""
        normalize = self._settings.bare_newline == "normalize"
        if spilled is None:
            data = normalize_newlines(data) if normalize else data
            refusal = check_line_endings(data)
        elif normalize:
            try:
                spilled = normalized(spilled, self._settings.data_dir)
            except OSError as exc:  # a full disk: the client tries again later
                log.error("normalizing message %s on disk failed: %s", queue_id, exc)
                return str(replies.STORE_FAILED)
            refusal = None
        else:
            refusal = check_bare_newlines(spilled)
        if isinstance(envelope, GatewayEnvelope):
            envelope.spilled = spilled  # the file to close, normalized or not
        if refusal is not None:
            return await self._refuse(session, refusal, sender=envelope.mail_from)
        split: tuple[Header, SpilledRest | None] | None
        if spilled is None:
            header = read_header(data)
            split = None if header_too_long(data, header) else (header, None)
        else:
            split = split_spilled(spilled)
        if split is None:
            refusal = header_too_big(HEADER_LIMIT)
            return await self._refuse(session, refusal, sender=envelope.mail_from)
        header, rest = split
        account = await self._directory.account(principal)
        for address in header_senders(header):
            refusal = check_sender(account, await self._directory.sender(address), header=True)
            if refusal is not None:
                return await self._refuse(session, refusal, sender=address)
        prepared = prepare(header, facts)
        size = len(prepared.data) + (rest.size if rest is not None else 0)
        refusal = check_size(size, session.size_limit(self._settings))
        if refusal is not None:  # also when the fields added above took it over the limit
            return await self._refuse(session, refusal, sender=envelope.mail_from)
        message = NewMessage(
            id=queue_id,
            tenant_id=principal.tenant_id,
            credential_id=principal.credential_id,
            mail_from=envelope.mail_from,
            recipients=tuple(envelope.rcpt_tos),
            data=prepared.data,
            client_address=peer,
            client_helo=session.host_name or "",
            tls=tls,
            auth_username=principal.username,
            message_id_header=prepared.message_id[:998],
            created_at=now,
            expires_at=now + timedelta(seconds=self._settings.max_queue_age),
            suppressed=self._dropped.pop(envelope, {}),
            subject=header_subject(header),
            header_size=prepared.header_size,
            rest=rest,
        )
        if isinstance(envelope, GatewayEnvelope):
            envelope.spilled = None  # the spool's now
        try:
            await self._spool.store(message)
        except DatabaseError as exc:  # down or full: the cause says it all, no traceback
            log.error("storing message %s failed: %s", queue_id, exc)
            return str(replies.STORE_FAILED)
        except Exception:
            log.exception("storing message %s failed", queue_id)
            return str(replies.STORE_FAILED)
        session.accepted.append(queue_id)
        metrics.messages_accepted.inc()
        metrics.recipients_accepted.inc(len(message.recipients))
        return replies.QUEUED.format(queue_id=queue_id)

    async def refuse_oversized(self, session: Session, envelope: Envelope, limit: int) -> str:
        """The data went over the session's `limit` (and was dropped as it came)."""
        return await self._refuse(session, too_big(limit), sender=envelope.mail_from)

    async def _refuse(
        self,
        session: Session,
        refusal: Refusal,
        sender: str | None = None,
        recipient: str | None = None,
    ) -> str:
        principal = session.principal if isinstance(session, GatewaySession) else None
        metrics.messages_refused.labels(refusal.rule).inc()
        await self._directory.refusals.record(
            principal,
            refusal.rule,
            refusal.reply,
            peer_address(session),
            sender=sender,
            recipient=recipient,
        )
        return refusal.reply

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, DatabaseError):
            # The database is down or full (a check before DATA reads it): the client tries
            # again later, and one line per refusal says why, without a traceback.
            log.error("SMTP session error: %s", error)
            return str(replies.DATABASE_UNAVAILABLE)
        log.error("SMTP session error", exc_info=error)
        return str(replies.INTERNAL_ERROR)


_HOOK_NAMES = sorted(n for n in dir(SubmissionHandler) if n.startswith(("handle_", "auth_")))
# aiosmtpd reads the EHLO hook's signature for each new connection (a fifth of the cost of its
# protocol object); one kept on the function is read at once.
SubmissionHandler.handle_EHLO.__signature__ = inspect.signature(  # type: ignore[attr-defined]
    SubmissionHandler.handle_EHLO
)
