"""The sending policy: pure functions from facts to a verdict, no I/O.

Each rule returns `None` (allowed) or a `Refusal` naming the rule and the SMTP reply to send.
The SMTP handler gathers the facts (from storage, the session) and calls these; the tests call
them with tables of facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.headers import has_bare_newline
from gateway.core.types.events import SuppressionInfo
from gateway.core.types.tenants import Account, SenderFacts
from gateway.intake import replies


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    reply: str


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


SHOWN_AS = {"sender-not-owned": "sender-unknown"}
"""Rules a client is told as another: a tenant must not learn that a domain is another
tenant's. The operator's records (refusal log, metrics) keep the real rule."""


def shown_rule(rule: str) -> str:
    """The rule's name as a client may see it (an API error's `code`)."""
    return SHOWN_AS.get(rule, rule)


def check_account(account: Account) -> Refusal | None:
    if account.tenant_paused:
        return Refusal("paused", replies.PAUSED.format(reason=account.tenant_paused))
    if account.credential_paused:
        return Refusal("paused", replies.PAUSED.format(reason=account.credential_paused))
    return None


def check_sender(account: Account, sender: SenderFacts, *, header: bool = False) -> Refusal | None:
    """May `account` send from `sender`? At MAIL (553) or in From:/Sender: (`header`, 550)."""
    domain = domain_of(sender.address)
    code = replies.HEADER_SENDER_CODE if header else replies.ENVELOPE_SENDER_CODE
    owned = sender.domain_owner == account.tenant_id
    if owned and sender.address_verified and sender.address_listed:
        pass  # a single address verified with SES may send while its domain is pending
    elif sender.domain_owner is None:
        return Refusal("sender-unknown", replies.SENDER_UNKNOWN.format(code=code, domain=domain))
    elif not owned:
        # Counted apart for the operator, answered as an unknown domain: a client must not learn
        # that the domain is another tenant's.
        return Refusal("sender-not-owned", replies.SENDER_UNKNOWN.format(code=code, domain=domain))
    elif not sender.domain_verified:
        reply = replies.SENDER_NOT_VERIFIED.format(code=code, domain=sender.domain_name)
        return Refusal("sender-not-verified", reply)
    elif sender.restrict_to_addresses and not sender.address_listed:
        reply = replies.SENDER_NOT_LISTED.format(
            code=code, address=sender.address, domain=sender.domain_name
        )
        return Refusal("sender-not-listed", reply)
    if account.allowed_senders and not allowed_by_scope(sender.address, account.allowed_senders):
        reply = replies.SENDER_OUT_OF_SCOPE.format(code=code, address=sender.address)
        return Refusal("credential-scope", reply)
    return None


def allowed_by_scope(address: str, allowed: tuple[str, ...]) -> bool:
    """`news@example.org` allows that address; `example.com` allows it and its subdomains."""
    address = address.lower()
    domain = domain_of(address)
    for entry in allowed:
        entry = entry.lower()
        if "@" in entry:
            if entry == address:
                return True
        elif domain == entry or domain.endswith("." + entry):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Drop:
    """Accept the recipient but never send to it; `note` is stored with it as the reason."""

    rule: str
    note: str


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def check_recipient_suppressed(
    suppression: SuppressionInfo | None, mode: str = "refuse"
) -> Refusal | Drop | None:
    """A recipient on the suppression list: refused at RCPT (`refuse`) or accepted and never
    sent (`drop`)."""
    if suppression is None:
        return None
    day = suppression.created_at
    date = f"{_MONTHS[day.month - 1]} {day.day} {day.year}"
    if mode == "drop":
        return Drop("suppressed", f"suppressed ({suppression.reason} on {date})")
    reply = replies.RECIPIENT_SUPPRESSED.format(
        address=suppression.address, reason=suppression.reason, date=date
    )
    return Refusal("suppressed", reply)


def check_rate(wait: float, rate: float) -> Refusal | None:
    """Over the tenant's messages per second: a temporary refusal the client retries."""
    if wait <= 0:
        return None
    return Refusal("rate", replies.RATE_LIMITED.format(rate=f"{rate:g}"))


def check_daily(used: int, cap: int | None) -> Refusal | None:
    if cap is None or used < cap:
        return None
    return Refusal("daily-cap", replies.DAILY_CAP.format(cap=cap))


def check_line_endings(data: bytes) -> Refusal | None:
    """A message with a bare CR or LF (RFC 5321 2.3.8: lines end in CRLF). Readers disagree on
    where such a line ends, so a field the sender check did not see (`Subject: a<CR>From: ...`)
    could be one for the next hop; the SMTP smuggling attacks of 2023 rely on the same."""
    if has_bare_newline(data):
        return Refusal("bare-newline", str(replies.BARE_NEWLINE))
    return None


def check_size(size: int | None, limit: int) -> Refusal | None:
    """A message (or the SIZE its client declared) over the tenant's limit."""
    if size is None or size <= limit:
        return None
    return too_big(limit)


def too_big(limit: int) -> Refusal:
    """A message over `limit` octets: declared, found after reading, or while reading DATA."""
    return Refusal("size", replies.MESSAGE_TOO_BIG.format(limit=limit))


def header_too_big(limit: int) -> Refusal:
    """A header block that does not end within `limit` octets."""
    return Refusal("header-size", replies.HEADER_TOO_BIG.format(limit=limit))


def declared_size(options: list[str]) -> int | None:
    """The SIZE= of a MAIL command, when given."""
    for option in options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None


def check_recipient_domain(domain: str, verdict: str) -> Refusal | None:
    """The optional recipient-domain check (`RECIPIENT_DOMAIN_CHECK`): `verdict` is the DNS
    module's `MailDomain` value; a domain that did not answer in time gets the benefit of doubt."""
    if verdict == "null-mx":
        return Refusal("null-mx", replies.NULL_MX.format(domain=domain))
    if verdict == "no-mail":
        return Refusal("no-mail-domain", replies.NO_MAIL_DOMAIN.format(domain=domain))
    return None
