"""The relayed copy: only the header block changes; the body is never touched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.core.headers import header_fields, read_header, split_header
from gateway.intake.message import SessionFacts, header_senders, prepare, received_field

WHEN = datetime(2026, 11, 22, 17, 30, tzinfo=UTC)


def facts(**overrides: object) -> SessionFacts:
    values: dict[str, object] = {
        "queue_id": "01ABC",
        "hostname": "gw.example.net",
        "client_helo": "client.example.org",
        "client_address": "192.0.2.7",
        "tls": "TLSv1.3 TLS_AES_256_GCM_SHA384 256/256 bits",
        "authenticated": True,
        "esmtp": True,
        "received_at": WHEN,
    }
    values.update(overrides)
    return SessionFacts(**values)  # type: ignore[arg-type]


def test_received_field_names_tls_and_auth() -> None:
    field = received_field(facts()).decode()
    assert field.startswith("Received: from client.example.org ([192.0.2.7])\r\n")
    assert "by gw.example.net (SES Gateway) with ESMTPSA id 01ABC" in field
    assert "(TLSv1.3 TLS_AES_256_GCM_SHA384 256/256 bits);" in field
    assert field.endswith("Sun, 22 Nov 2026 17:30:00 +0000\r\n")


@pytest.mark.parametrize(
    ("tls", "authenticated", "esmtp", "protocol"),
    [
        (None, False, False, "SMTP"),
        (None, False, True, "ESMTP"),
        ("TLSv1.2", False, True, "ESMTPS"),
        (None, True, True, "ESMTPA"),
        ("TLSv1.3", True, True, "ESMTPSA"),
    ],
)
def test_received_protocol_follows_rfc_3848(
    tls: str | None, authenticated: bool, esmtp: bool, protocol: str
) -> None:
    field = received_field(facts(tls=tls, authenticated=authenticated, esmtp=esmtp)).decode()
    assert f" with {protocol} id " in field


def test_client_controlled_text_cannot_break_the_received_field() -> None:
    field = received_field(facts(client_helo="evil)\r\nX-Injected: yes (")).decode()
    assert "X-Injected: yes" not in field.replace("_", " ").splitlines()
    assert field.count("\r\n") == 4


def test_message_id_and_date_are_added_when_missing() -> None:
    prepared = prepare(read_header(b"Subject: hi\r\n\r\nbody\r\n"), facts())
    header, body = prepared.data.split(b"\r\n\r\n", 1)
    assert prepared.message_id.startswith("<")
    assert "01ABC" in prepared.message_id
    assert f"Message-ID: {prepared.message_id}".encode() in header
    assert b"Date: Sun, 22 Nov 2026 17:30:00 +0000" in header
    assert body == b"body\r\n"


def test_existing_message_id_and_date_are_kept() -> None:
    data = b"Message-Id: <abc@client>\r\nDATE: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nx\r\n"
    prepared = prepare(read_header(data), facts())
    assert prepared.message_id == "<abc@client>"
    assert prepared.data.count(b"Date") + prepared.data.count(b"DATE") == 1
    assert prepared.data.endswith(data)


def test_bcc_is_removed_with_its_folded_lines() -> None:
    data = (
        b"To: a@example.org\r\nBcc: secret@example.org,\r\n\tother@example.org\r\n"
        b"Subject: s\r\nDate: d\r\nMessage-ID: <m@x>\r\n\r\nBcc: this line is body\r\n"
    )
    prepared = prepare(read_header(data), facts())
    assert b"secret@" not in prepared.data
    assert b"other@" not in prepared.data
    assert prepared.data.endswith(b"<m@x>\r\n\r\nBcc: this line is body\r\n")


def test_received_is_the_first_field_and_body_is_byte_identical() -> None:
    body = "Grüße, ünïcödé\r\n.leading dot\r\n".encode()
    prepared = prepare(
        read_header(b"Subject: s\r\nMessage-ID: <m@x>\r\nDate: d\r\n\r\n" + body), facts()
    )
    assert prepared.data.startswith(b"Received: from ")
    assert prepared.data.endswith(b"\r\n\r\n" + body)


def test_message_without_header_block_keeps_its_text_as_body() -> None:
    prepared = prepare(read_header(b"just some text\r\n"), facts())
    fields, rest = split_header(prepared.data)
    assert {f.split(b":")[0] for f in fields} == {b"Received", b"Message-ID", b"Date"}
    assert rest == b"\r\njust some text\r\n"


def test_header_only_message_gets_an_empty_body() -> None:
    prepared = prepare(read_header(b"Subject: s\r\n"), facts())
    added = f"Message-ID: {prepared.message_id}\r\nDate: Sun, 22 Nov 2026 17:30:00 +0000\r\n"
    assert prepared.data.endswith(b"Subject: s\r\n" + added.encode() + b"\r\n")


def test_header_fields_are_split_as_the_sender_check_splits_them() -> None:
    """One parser for the sender check and for `message show`: a bare CR (refused at DATA) does
    not start a field for either."""
    data = b"Subject: a\rFrom: x@evil.example\r\nX-Folded: one\r\n two\r\n\r\nFrom: body\r\n"
    assert header_fields(data) == (("Subject", "a\rFrom: x@evil.example"), ("X-Folded", "one two"))
    assert header_senders(read_header(data)) == []
    resent = read_header(b"Resent-From: a@one.example\r\nResent-Sender: b@two.example\r\n\r\n")
    assert header_senders(resent) == ["a@one.example", "b@two.example"]
