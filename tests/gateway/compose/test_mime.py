"""Messages built from their parts: addresses read, extra fields and tags checked, and the MIME
the standard library makes (7-bit, CRLF, folded, encoded words), read back by a parser."""

from __future__ import annotations

import email
import email.policy
import random
import re
import string
from datetime import UTC, datetime, timedelta
from email.errors import MessageError

import pytest

from gateway.compose.mime import (
    Attachment,
    Draft,
    Mailbox,
    check_headers,
    check_tags,
    compose,
    composed_header,
    library_compose,
    mailbox,
    message_id,
)
from gateway.compose.submit import SCHEDULE_MAX, schedule
from gateway.core.exceptions import InvalidInputError
from gateway.core.headers import read_header

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


_BOUNDARY = re.compile(rb'boundary="([^"]+)"')


def _same_but_boundary(fast: bytes, library: bytes) -> None:
    """Byte for byte, once the library's random boundary is written as ours."""
    ours, theirs = _BOUNDARY.search(fast), _BOUNDARY.search(library)
    if ours is None or theirs is None:
        assert ours is theirs is None
    else:
        library = library.replace(theirs[1], ours[1])
    assert fast == library


LONG_WORDS = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30
QP_EDGES = "a=b \n" + "x" * 75 + "=\t\n" + "y" * 76 + "é \n" + "ü " * 600 + "\n\n\x0bend"
TRICKY = [
    Draft(Mailbox("a@example.com"), to=(Mailbox("b@example.org"),), text=QP_EDGES, html=QP_EDGES),
    Draft(Mailbox("a@example.com"), text="Zoë " * 2 + "\n" * 12, html="€" * 500),
    Draft(Mailbox("a@example.com"), to=(Mailbox("b@example.org"),), subject="Hi", text="x"),
    Draft(Mailbox("a@example.com"), to=(Mailbox("b@example.org"),), html="<p>only html</p>"),
    Draft(
        Mailbox("news@example.com", "News Grüße"),
        to=(Mailbox("ann.o+x@example.org"),),
        reply_to=(Mailbox("help@example.com", 'Help, "Desk"'),),
        subject="Hello Zoë, 50% off <today> & =?utf-8?q?not-a-word?=",
        html=f"<p>Hi &lt;Zoë&gt; &amp; friends</p><p>{LONG_WORDS}</p>\n<p>{'x' * 1200}</p>",
        text=f"Hi <Zoë> & friends\n\n{LONG_WORDS}\n{'y' * 1200}\n",
        headers=(
            ("List-Unsubscribe", "<https://mail.example.test/u/" + "A" * 120 + ">"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("X-SES-Gateway-Campaign", "7"),
        ),
        tags={"campaign": "7", "kind": "news"},
    ),
    Draft(
        Mailbox("a@example.com"),
        to=(Mailbox("b@example.org", "Bob"), Mailbox("c@xn--bcher-kva.example")),
        cc=(Mailbox("d@example.org"),),
        subject="  spaced   out  ",
        text="ascii only\r\nwith CRLF\rand CR\n" * 3,
        html="<p>" + "ü" * 40 + "</p>\n" * 12,
    ),
    Draft(
        Mailbox("a@example.com"),
        to=(Mailbox("a" * 70 + "@example.org"),),
        subject="A subject long enough that it has to be folded onto a second line, in ASCII",
        text="--===============1234==\nlooks like a boundary\n",
        html="",
    ),
]


@pytest.mark.parametrize("draft", TRICKY)
def test_our_writing_is_the_librarys_byte_for_byte(draft: Draft) -> None:
    msgid = message_id("0193A5C1F2B47C3E9D01A2", "gw.test")
    _same_but_boundary(compose(draft, msgid, NOW), library_compose(draft, msgid, NOW))
    _read_as_written(draft, msgid)


def _read_as_written(draft: Draft, msgid: str) -> None:
    """The fields and names `composed_header` gives without reading back are what a reader of
    the message's bytes finds (the policy and the relayed copy see the same fields)."""
    header = composed_header(draft, msgid, NOW)
    assert read_header(b"".join(header.fields) + header.rest) == header


def test_plain_fields_are_written_as_the_library_writes_them() -> None:
    """Random printable subjects, header values and addresses: the fast rule never differs."""
    rng = random.Random(13)
    alphabet = string.ascii_letters + string.digits + " ._+-=?<>@,;:\"'()[]\\/!#$%&*~é\t"
    for _ in range(600):
        subject = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        local = "".join(rng.choice(string.ascii_letters + "._+-") for _ in range(1, 20))
        draft = Draft(
            Mailbox("a@example.com"),
            to=(Mailbox(f"{local or 'x'}@example.org"),),
            subject=subject,
            headers=(("X-Note", subject.strip() or "x"),),
            text="t",
        )
        try:
            library = library_compose(draft, "<m@gw.test>", NOW)
        except (ValueError, MessageError):
            with pytest.raises(InvalidInputError):
                compose(draft, "<m@gw.test>", NOW)
            continue
        _same_but_boundary(compose(draft, "<m@gw.test>", NOW), library)
        _read_as_written(draft, "<m@gw.test>")


def test_a_long_list_unsubscribe_is_one_line_without_encoded_words() -> None:
    """RFC 2369: the receiver reads the URL in angle brackets; encoded words would hide it."""
    url = "https://mail.example.test/u/" + "A" * 150
    for draft in (
        Draft(Mailbox("a@example.com"), text="x", headers=(("List-Unsubscribe", f"<{url}>"),)),
        Draft(
            Mailbox("a@example.com"),
            text="x",
            headers=(("List-Unsubscribe", f"<{url}>"),),
            attachments=(Attachment("a.txt", "text/plain", b"a"),),
        ),
    ):
        raw = compose(draft, "<m@gw.test>", NOW)
        assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in raw
