"""Messages built from their parts: addresses read, extra fields and tags checked, and the MIME
the standard library makes (7-bit, CRLF, folded, encoded words), read back by a parser."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest

from gateway.compose.mime import (
    Attachment,
    Draft,
    Mailbox,
    check_headers,
    check_tags,
    compose,
    mailbox,
    message_id,
)
from gateway.compose.submit import SCHEDULE_MAX, schedule
from gateway.core.exceptions import InvalidInputError

NOW = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ann@example.org", Mailbox("ann@example.org")),
        ("  ann@example.org ", Mailbox("ann@example.org")),
        ("Ann <ann@example.org>", Mailbox("ann@example.org", "Ann")),
        ('"Doe, Ann" <ann@example.org>', Mailbox("ann@example.org", "Doe, Ann")),
        ('"Ann \\"A\\"" <ann@example.org>', Mailbox("ann@example.org", 'Ann "A"')),
        ("Jörg <j@bücher.example>", Mailbox("j@bücher.example", "Jörg")),
        ("<ann@example.org>", Mailbox("ann@example.org")),
    ],
)
def test_addresses_are_read(text: str, expected: Mailbox) -> None:
    assert mailbox(text, "to.0") == expected


@pytest.mark.parametrize(
    "text", ["two words", "a <b@c> <d@e>", "Ann <>", "Ann\r\n <a@b.c>", "a@b.c>", "x\x00@b.c"]
)
def test_what_is_no_address_is_an_input_error(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        mailbox(text, "cc.3")
    assert caught.value.field == "cc.3"


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"Subject": "x"}, "headers.Subject"),
        ({"bcc": "x@example.org"}, "headers.bcc"),
        ({"Content-Type": "text/html"}, "headers.Content-Type"),
        ({"X-Ok": "a\r\nBcc: x@example.org"}, "headers.X-Ok"),
        ({"X Bad": "a"}, "headers.X Bad"),
        ({"X:Bad": "a"}, "headers.X:Bad"),
    ],
)
def test_fields_the_message_makes_or_that_break_lines_are_refused(
    headers: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_headers(headers)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "tags", [{"tenant": "x"}, {"queue_id": "x"}, {"ses:caller": "x"}, {"a": "b c"}, {"é": "x"}]
)
def test_the_gateways_own_tags_and_odd_characters_are_refused(tags: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError):
        check_tags(tags)


def test_a_long_non_ascii_subject_is_folded_encoded_words() -> None:
    subject = "Grüße aus Köln, " * 12
    draft = Draft(Mailbox("a@example.com", "Zoë"), to=(Mailbox("b@example.org"),), subject=subject)
    raw = compose(
        draft,
        message_id("0193A5C1F2B47C3E9D01A2", "gw.test"),
        NOW,
    )
    header = raw.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in header.split(b"\r\n"))
    assert header.count(b"=?utf-8?") > 2
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == subject
    assert parsed["From"] == "Zoë <a@example.com>"
    assert parsed["Message-ID"] == "<0193A5C1F2B47C3E9D01A2@gw.test>"
    assert b"\r\nMessage-ID: <0193A5C1F2B47C3E9D01A2@gw.test>\r\n" in header
    assert parsed["Date"].datetime == NOW


def test_text_lines_longer_than_smtp_allows_are_encoded() -> None:
    text = "x" * 2000 + "\n" + "ü" * 10
    draft = Draft(Mailbox("a@example.com"), to=(Mailbox("b@example.org"),), text=text)
    raw = compose(draft, "<m@gw.test>", NOW)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert raw.isascii()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content().replace("\r\n", "\n").rstrip("\n") == text


def test_attachments_come_back_byte_for_byte() -> None:
    data = bytes(range(256)) * 3
    draft = Draft(
        Mailbox("a@example.com"),
        to=(Mailbox("b@example.org"),),
        html="<p>hi</p>",
        attachments=(Attachment("naïve report.bin", "application/octet-stream", data),),
    )
    parsed = email.message_from_bytes(
        compose(draft, "<m@gw.test>", NOW), policy=email.policy.default
    )
    [attachment] = parsed.iter_attachments()
    assert attachment.get_filename() == "naïve report.bin"
    assert attachment.get_payload(decode=True) == data
    assert parsed.get_body(("html",)).get_content().strip() == "<p>hi</p>"
    assert [part.get("MIME-Version") for part in parsed.walk()][1:] == [None, None]


def test_a_message_no_header_can_hold_is_an_input_error() -> None:
    draft = Draft(Mailbox("a@example.com"), to=(Mailbox("b@@example.org"),), text="x")
    with pytest.raises(InvalidInputError):
        compose(draft, "<m@gw.test>", NOW)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (None, None),
        (NOW - timedelta(minutes=4), None),
        (NOW + timedelta(hours=1), NOW + timedelta(hours=1)),
        (NOW + SCHEDULE_MAX, NOW + SCHEDULE_MAX),
    ],
)
def test_when_a_scheduled_message_goes(at: datetime | None, expected: datetime | None) -> None:
    assert schedule(at, NOW) == expected


@pytest.mark.parametrize(
    "at", [NOW - timedelta(minutes=6), NOW + SCHEDULE_MAX + timedelta(seconds=1)]
)
def test_long_past_or_too_far_ahead_is_refused(at: datetime) -> None:
    with pytest.raises(InvalidInputError) as caught:
        schedule(at, NOW)
    assert caught.value.field == "scheduled_at"
