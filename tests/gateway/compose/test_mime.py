"""The MIME message of a rendered template, read back by the standard library's parser."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from gateway.compose.mime import build
from gateway.compose.templates import Rendered

NOW = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)


def parsed(rendered: Rendered, **options: str) -> tuple[EmailMessage, bytes]:
    built = build(
        "news@acme.test", "bo@customer.test", rendered, queue_id="Q1", hostname="gw.test", now=NOW,
        **options,
    )  # fmt: skip
    message = message_from_bytes(built.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert built.data[: built.header_size].endswith(b"\r\n")
    assert built.data[built.header_size : built.header_size + 2] == b"\r\n"
    assert message["Message-ID"] == built.message_id
    return message, built.data


def test_text_then_html_in_utf8_with_crlf_line_ends() -> None:
    long_line = "x" * 300 + " =_Q1 --=_Q1"
    rendered = Rendered("Héllo, Zoë — ça va?", f"<p>Café {long_line}</p>", f"Café\n{long_line}\n")
    message, data = parsed(rendered, reply_to="help@acme.test")
    assert (message["From"], message["To"], message["Reply-To"]) == (
        "news@acme.test",
        "bo@customer.test",
        "help@acme.test",
    )
    assert message["Subject"] == "Héllo, Zoë — ça va?"
    assert message["Date"] == "Sat, 05 Dec 2026 14:00:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().replace("\r\n", "\n") == f"Café\n{long_line}\n"
    assert html.get_content_type() == "text/html"
    assert html.get_content() == f"<p>Café {long_line}</p>"
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_a_long_ascii_subject_is_folded() -> None:
    subject = " ".join(["word"] * 300)
    message, data = parsed(Rendered(subject, "<p>x</p>", "x"))
    assert message["Subject"] == subject
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
