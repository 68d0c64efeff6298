"""The aiosmtpd handler: gathers the facts of each command and answers with named replies."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from aiosmtpd.smtp import SMTP, Envelope, Session

from config import Settings
from gateway.message import SessionFacts, header_senders, prepare
from gateway.policy import Refusal, check_account, check_sender
from gateway.senders import Directory
from gateway.smtp import replies
from gateway.spool import Spool, new_queue_id
from gateway.types import NewMessage, Principal

log = logging.getLogger("gateway.smtp")

EXTENSIONS = ("250-PIPELINING", "250-ENHANCEDSTATUSCODES")


def peer_address(session: Session) -> str:
    """The client's IP address (aiosmtpd keeps the socket's peer name)."""
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) else str(peer or "unknown")


_VISIBLE_ASCII = re.compile(r"[!-~]+")
_HELO_UNSAFE = re.compile(r"[^A-Za-z0-9.:\[\]-]")


def valid_mailbox(address: str) -> bool:
    """`local@domain` in visible ASCII: no spaces, no control characters (NUL, CR, LF...)."""
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and _VISIBLE_ASCII.fullmatch(address) is not None


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

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], *EXTENSIONS, responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not session.authenticated:
            return str(replies.AUTH_REQUIRED)
        principal = session.auth_data
        assert isinstance(principal, Principal)
        if address in ("", "<>"):  # aiosmtpd hands over `MAIL FROM:<>` as "<>"
            return await self._refuse(session, Refusal("null-sender", str(replies.NULL_SENDER)))
        if not valid_mailbox(address):
            return str(replies.BAD_SENDER)
        account = await self._directory.account(principal)
        refusal = check_account(account) or check_sender(
            account, await self._directory.sender(address)
        )
        if refusal is not None:
            return await self._refuse(session, refusal, sender=address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return str(replies.SENDER_OK)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not valid_mailbox(address):
            return str(replies.BAD_ADDRESS)
        if address.lower() in (a.lower() for a in envelope.rcpt_tos):
            return str(replies.RECIPIENT_OK)
        if len(envelope.rcpt_tos) >= self._settings.max_recipients:
            return replies.TOO_MANY_RECIPIENTS.format(limit=self._settings.max_recipients)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return str(replies.RECIPIENT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        principal = session.auth_data
        assert isinstance(principal, Principal)
        assert envelope.mail_from is not None
        now = datetime.now(UTC)
        queue_id = new_queue_id()
        tls: str | None = getattr(session, "tls", None)
        peer = peer_address(session)
        facts = SessionFacts(
            queue_id=queue_id,
            hostname=self._settings.hostname,
            client_helo=received_helo(session.host_name or ""),
            client_address=peer,
            tls=tls,
            authenticated=True,
            esmtp=bool(session.extended_smtp),
            received_at=now,
        )
        data = envelope.original_content or b""
        account = await self._directory.account(principal)
        for address in header_senders(data):
            refusal = check_sender(account, await self._directory.sender(address), header=True)
            if refusal is not None:
                return await self._refuse(session, refusal, sender=address)
        prepared = prepare(data, facts)
        if len(prepared.data) > self._settings.message_size_limit:
            # The fields added above took a message just under the limit over it.
            return replies.MESSAGE_TOO_BIG.format(limit=self._settings.message_size_limit)
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
        )
        try:
            await self._spool.store(message)
        except Exception:
            log.exception("storing message %s failed", queue_id)
            return str(replies.STORE_FAILED)
        getattr(session, "accepted", []).append(queue_id)
        return replies.QUEUED.format(queue_id=queue_id)

    async def _refuse(self, session: Session, refusal: Refusal, sender: str | None = None) -> str:
        principal = session.auth_data if isinstance(session.auth_data, Principal) else None
        await self._directory.refused(
            principal, refusal.rule, refusal.reply, peer_address(session), sender=sender
        )
        return refusal.reply

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error", exc_info=error)
        return str(replies.INTERNAL_ERROR)
