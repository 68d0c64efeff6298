"""Every reply carries an enhanced status code (RFC 2034) and a sentence."""

from __future__ import annotations

import pytest

from gateway.intake import replies


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("250 OK", "250 2.0.0 Ok"),
        ("221 Bye", "221 2.0.0 Bye"),
        ("220 Ready to start TLS", "220 2.0.0 Ready to start TLS"),
        ("552 Error: Too much mail data", "552 5.3.4 Message too big: the limit is 1000 bytes"),
        (
            "552 Error: message size exceeds fixed maximum message size",
            "552 5.3.4 Message too big: the limit is 1000 bytes",
        ),
        ("530 Must issue a STARTTLS command first", str(replies.STARTTLS_FIRST)),
        ("503 Error: need MAIL command", "503 5.5.1 need MAIL command"),
        ('500 Error: command "FOO" not recognized', '500 5.5.2 command "FOO" not recognized'),
        ("501 Syntax: MAIL FROM: <address>", "501 5.5.4 Syntax: MAIL FROM: <address>"),
        ("502 EXPN not implemented", "502 5.5.1 EXPN not implemented"),
        ("535 5.7.8 Credentials invalid", "535 5.7.8 Credentials invalid"),
        ("250-SIZE 1000", "250-SIZE 1000"),
        ("334 VXNlcm5hbWU6", "334 VXNlcm5hbWU6"),
        ("354 End data with <CR><LF>.<CR><LF>", "354 End data with <CR><LF>.<CR><LF>"),
    ],
)
def test_complete(status: str, expected: str) -> None:
    assert replies.complete(status, 1000) == expected


def test_named_replies_render_with_values() -> None:
    assert replies.QUEUED.format(queue_id="X1") == "250 2.0.0 Ok: queued as X1"
    assert str(replies.AUTH_REQUIRED).startswith("530 5.7.0 ")
