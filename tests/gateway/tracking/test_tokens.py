"""Tracking tokens: signed, tamper-evident, of one kind, and verified across a key change."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings
from gateway.tracking.tokens import (
    InvalidTokenError,
    LinkKind,
    Token,
    derive,
    sign,
    signing_keys,
    verify,
)

OLD, NEW, OTHER = derive(b"old key"), derive(b"new key"), derive(b"someone else's key")
CLICK = Token(LinkKind.CLICK, "q123", 42, "https://shop.example/offer?a=1&b=2#top")


def test_a_token_verifies_to_what_was_signed() -> None:
    text = sign(NEW, CLICK)
    assert verify([NEW], text, LinkKind.CLICK) == CLICK
    assert all(c.isalnum() or c in "-_." for c in text)


def test_a_token_signed_with_a_previous_key_still_verifies() -> None:
    assert verify([NEW, OLD], sign(OLD, CLICK), LinkKind.CLICK) == CLICK


def test_a_token_signed_with_an_unknown_key_does_not_verify() -> None:
    with pytest.raises(InvalidTokenError):
        verify([NEW, OLD], sign(OTHER, CLICK), LinkKind.CLICK)


@pytest.mark.parametrize(
    "alter",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: ("B" if t[0] != "B" else "C") + t[1:],
        lambda t: t.partition(".")[0],
        lambda t: t + "x",
        lambda t: "!!!.???",
        lambda t: "",
    ],
)
def test_an_altered_token_does_not_verify(alter: object) -> None:
    assert callable(alter)
    with pytest.raises(InvalidTokenError):
        verify([NEW], alter(sign(NEW, CLICK)), LinkKind.CLICK)


def test_a_token_of_another_kind_does_not_verify() -> None:
    opened = sign(NEW, Token(LinkKind.OPEN, "q123", 42))
    with pytest.raises(InvalidTokenError):
        verify([NEW], opened, LinkKind.CLICK)


def test_the_keys_come_from_secret_key_then_previous_keys(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="new key", previous_secret_keys="old key, older key"
    )
    assert signing_keys(settings) == (NEW, OLD, derive(b"older key"))
