"""The header reader shared by the sender check and `message show`: bare CR and LF made CRLF
when `BARE_NEWLINE=normalize`, so no field hides behind one."""

from __future__ import annotations

import pytest

from gateway.core.headers import normalize_newlines


@pytest.mark.parametrize(
    ("data", "normalized"),
    [
        (b"a\r\nb\r\n", b"a\r\nb\r\n"),
        (b"a\rb\nc\r\n", b"a\r\nb\r\nc\r\n"),
        (b"a\r\r\nb", b"a\r\n\r\nb"),
        (b"a\n\rb", b"a\r\n\r\nb"),
        (b"\n\r", b"\r\n\r\n"),
    ],
)
def test_bare_cr_and_lf_are_normalized_to_crlf(data: bytes, normalized: bytes) -> None:
    assert normalize_newlines(data) == normalized
