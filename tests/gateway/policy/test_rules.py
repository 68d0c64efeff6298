"""The sending policy as tables: facts in, verdict out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.core.types.events import SuppressionInfo
from gateway.core.types.tenants import Account, SenderFacts
from gateway.policy.rules import (
    Drop,
    Refusal,
    allowed_by_scope,
    check_account,
    check_daily,
    check_line_endings,
    check_rate,
    check_recipient_domain,
    check_recipient_suppressed,
    check_sender,
    check_size,
    declared_size,
)

ACME = Account(tenant_id=1)
VERIFIED = SenderFacts("news@example.com", 1, "example.com", domain_verified=True)


@pytest.mark.parametrize(
    ("account", "sender", "rule", "reply"),
    [
        (ACME, VERIFIED, None, None),
        (
            ACME,
            SenderFacts("news@unknown.example"),
            "sender-unknown",
            "553 5.7.1 Sender domain unknown.example is not a sending domain of this account",
        ),
        (
            ACME,
            SenderFacts("news@theirs.example", 2, "theirs.example", domain_verified=True),
            "sender-not-owned",
            "553 5.7.1 Sender domain theirs.example is not a sending domain of this account: "
            "add it first",
        ),
        (
            ACME,
            SenderFacts("news@example.com", 1, "example.com"),
            "sender-not-verified",
            "553 5.7.1 Sender domain example.com is not verified by SES yet",
        ),
        (
            ACME,
            SenderFacts("news@example.com", 1, "example.com", True, restrict_to_addresses=True),
            "sender-not-listed",
            "553 5.7.1 Sender address news@example.com is not one of the listed senders",
        ),
        (
            ACME,
            SenderFacts("news@example.com", 1, "example.com", True, True, address_listed=True),
            None,
            None,
        ),
        (
            ACME,
            SenderFacts("info@example.com", 1, "example.com", False, False, True, True),
            None,
            None,
        ),
        (
            Account(1, allowed_senders=("example.org",)),
            VERIFIED,
            "credential-scope",
            "553 5.7.1 This credential may not send from news@example.com",
        ),
        (Account(1, allowed_senders=("example.com",)), VERIFIED, None, None),
        (Account(1, allowed_senders=("news@example.com",)), VERIFIED, None, None),
    ],
)
def test_sender_rules(
    account: Account, sender: SenderFacts, rule: str | None, reply: str | None
) -> None:
    refusal = check_sender(account, sender)
    assert (refusal.rule if refusal else None) == rule
    if reply is not None:
        assert refusal is not None
        assert refusal.reply.startswith(reply)


def test_header_senders_are_refused_with_550() -> None:
    refusal = check_sender(ACME, SenderFacts("x@unknown.example"), header=True)
    assert refusal is not None
    assert refusal.reply.startswith("550 5.7.1 ")


@pytest.mark.parametrize(
    ("account", "reply"),
    [
        (ACME, None),
        (Account(1, tenant_paused="bounce rate 6%"), "550 5.7.1 sending paused: bounce rate 6%"),
        (Account(1, credential_paused="leaked"), "550 5.7.1 sending paused: leaked"),
    ],
)
def test_paused_accounts(account: Account, reply: str | None) -> None:
    refusal = check_account(account)
    assert refusal == (Refusal("paused", reply) if reply else None)


@pytest.mark.parametrize(
    ("address", "allowed", "expected"),
    [
        ("a@example.com", ("example.com",), True),
        ("a@mail.example.com", ("example.com",), True),
        ("a@badexample.com", ("example.com",), False),
        ("A@Example.com", ("a@example.com",), True),
        ("b@example.com", ("a@example.com",), False),
    ],
)
def test_credential_scope(address: str, allowed: tuple[str, ...], expected: bool) -> None:
    assert allowed_by_scope(address, allowed) is expected


def suppression(reason: str, created: datetime, tenant: str | None = None) -> SuppressionInfo:
    return SuppressionInfo(1, tenant, "x@example.org", reason, "", created, None)


JAN_17 = datetime(2026, 1, 17, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("entry", "mode", "verdict"),
    [
        (None, "refuse", None),
        (None, "drop", None),
        (
            suppression("bounce", JAN_17),
            "refuse",
            Refusal(
                "suppressed",
                "550 5.1.1 Recipient x@example.org is suppressed (bounce on Jan 17 2026)",
            ),
        ),
        (
            suppression("complaint", datetime(2025, 12, 1, tzinfo=UTC), "acme"),
            "refuse",
            Refusal(
                "suppressed",
                "550 5.1.1 Recipient x@example.org is suppressed (complaint on Dec 1 2025)",
            ),
        ),
        (
            suppression("unsubscribe", JAN_17),
            "drop",
            Drop("suppressed", "suppressed (unsubscribe on Jan 17 2026)"),
        ),
    ],
)
def test_suppressed_recipients(
    entry: SuppressionInfo | None, mode: str, verdict: Refusal | Drop | None
) -> None:
    assert check_recipient_suppressed(entry, mode) == verdict


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"Subject: a\r\n\r\nHello.\r\n", None),
        (b"", None),
        (b"Subject: a\rFrom: x@evil.example\r\n\r\nHello.\r\n", "bare-newline"),
        (b"Subject: a\nFrom: x@evil.example\r\n\r\nHello.\r\n", "bare-newline"),
        (b"Subject: a\r\n\r\nHello.\rthere\r\n", "bare-newline"),
        (b"Subject: a\r\n\r\nHello.\nthere\r\n", "bare-newline"),
        (b"Subject: a\r\n\r\nHello.\n\r\n", "bare-newline"),
        (b"Subject: a\r\r\n\r\nHello.\r\n", "bare-newline"),
        (b"Subject: a\r\n\r\nHello.\r", "bare-newline"),
        (b"\nSubject: a\r\n", "bare-newline"),
    ],
)
def test_bare_cr_or_lf_is_refused(data: bytes, rule: str | None) -> None:
    refusal = check_line_endings(data)
    assert (refusal.rule if refusal else None) == rule
    if refusal is not None:
        assert refusal.reply.startswith("550 5.5.2 Message refused: it has a bare CR or LF")


@pytest.mark.parametrize(
    ("month", "name"),
    list(enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun"), 1))
    + list(enumerate(("Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 7)),
)
def test_the_suppression_date_names_its_month(month: int, name: str) -> None:
    entry = suppression("bounce", datetime(2026, month, 5, tzinfo=UTC))
    assert check_recipient_suppressed(entry, "drop") == Drop(
        "suppressed", f"suppressed (bounce on {name} 5 2026)"
    )


def test_suppressed_recipients_are_refused_unless_told_to_drop() -> None:
    entry = suppression("bounce", JAN_17)
    assert check_recipient_suppressed(entry) == check_recipient_suppressed(entry, "refuse")


@pytest.mark.parametrize(
    ("wait", "rate", "verdict"),
    [
        (0.0, 5, None),
        (-0.1, 5, None),
        (
            0.01,
            2.5,
            Refusal(
                "rate",
                "451 4.7.1 Sending rate limit of 2.5 messages per second reached: "
                "try again shortly",
            ),
        ),
    ],
)
def test_rate(wait: float, rate: float, verdict: Refusal | None) -> None:
    assert check_rate(wait, rate) == verdict


@pytest.mark.parametrize(
    ("used", "cap", "verdict"),
    [
        (0, None, None),
        (10**9, None, None),
        (9, 10, None),
        (
            10,
            10,
            Refusal(
                "daily-cap",
                "451 4.7.1 Daily limit of 10 messages reached: try again after midnight UTC",
            ),
        ),
    ],
)
def test_daily_cap(used: int, cap: int | None, verdict: Refusal | None) -> None:
    assert check_daily(used, cap) == verdict


@pytest.mark.parametrize(
    ("size", "verdict"),
    [
        (None, None),
        (1000, None),  # exactly at the limit
        (1001, Refusal("size", "552 5.3.4 Message too big: the limit is 1000 bytes")),
    ],
)
def test_size(size: int | None, verdict: Refusal | None) -> None:
    assert check_size(size, 1000) == verdict


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ([], None),
        (["SIZE=1234"], 1234),
        (["size=12"], 12),
        (["BODY=8BITMIME", "SIZE=7"], 7),
        (["RET=5", "BODY=8BITMIME"], None),  # a number, but not a SIZE
        (["SIZE=big"], None),
        (["SIZE"], None),
    ],
)
def test_declared_size(options: list[str], size: int | None) -> None:
    assert declared_size(options) == size


@pytest.mark.parametrize(
    ("verdict", "refusal"),
    [
        ("accepts", None),
        ("unknown", None),
        (
            "null-mx",
            Refusal(
                "null-mx",
                "556 5.1.10 Recipient domain x.example accepts no mail (null MX, RFC 7505)",
            ),
        ),
        (
            "no-mail",
            Refusal(
                "no-mail-domain",
                "550 5.1.2 Recipient domain x.example does not exist or has no mail server",
            ),
        ),
    ],
)
def test_recipient_domain(verdict: str, refusal: Refusal | None) -> None:
    assert check_recipient_domain("x.example", verdict) == refusal
