"""`plain_path`, the fast reading of MAIL/RCPT arguments: it must agree with aiosmtpd's parser
on every argument it takes, and leave the rest to it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.intake.server import plain_path

ALPHABET = "ab.Z9@<>\"()[] \t\\,:;=-+_'~é"


def aiosmtpd_reading(arg: str) -> tuple[str | None, str | None]:
    return SMTP._getaddr(SimpleNamespace(local_part_limit=0), arg)  # type: ignore[arg-type]


PIECE = st.text(ALPHABET, max_size=12)
PATHS = st.builds(lambda *parts: "<{}@{}>{}".format(*parts), PIECE, PIECE, PIECE)


@given(st.text(ALPHABET, max_size=30) | PATHS)
@example("<a@b> SIZE=100")
@example("<a.b@c.d>BODY=8BITMIME")
@example("<a..b@c>")
@example("<a@b.>")
@example("<.a@b>")
@example('<"a b"@c>')
@example("<a@[127.0.0.1]>")
@example("<a(comment)@b>")
@example("<é@b>")
def test_plain_path_agrees_with_aiosmtpd(arg: str) -> None:
    plain = plain_path(arg)
    if plain is not None:
        assert plain == aiosmtpd_reading(arg)


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("<alice@example.com>", ("alice@example.com", "")),
        ("<a.b+tag@mail.example.com> SIZE=5000", ("a.b+tag@mail.example.com", "SIZE=5000")),
        ("<o'brien@example.ie>", ("o'brien@example.ie", "")),
    ],
)
def test_plain_path_reads_the_common_forms(arg: str, expected: tuple[str, str]) -> None:
    assert plain_path(arg) == expected


@pytest.mark.parametrize(
    "arg", ["<>", '<"a b"@example.com>', "<a@[192.0.2.1]>", " <a@b>", "a@b", "<a..b@c>"]
)
def test_plain_path_leaves_the_rest_to_aiosmtpd(arg: str) -> None:
    assert plain_path(arg) is None
