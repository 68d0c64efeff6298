"""Tracking tokens: signed, tamper-evident, of one kind and one host, and verified across a key
change."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings
from gateway.core.exceptions import InvalidTokenError
from gateway.tracking.tokens import LinkKind, Token, derive, host_of, sign, signing_keys, verify

OLD, NEW, OTHER = derive(b"old key"), derive(b"new key"), derive(b"someone else's key")
HOST = "track.example.com"
CLICK = Token(LinkKind.CLICK, "q123", 42, HOST, "https://shop.example/offer?a=1&b=2#top")


def test_a_token_verifies_to_what_was_signed() -> None:
    text = sign(NEW, CLICK)
    assert verify([NEW], text, LinkKind.CLICK, HOST) == CLICK
    assert all(c.isalnum() or c in "-_." for c in text)


def test_a_token_signed_with_a_previous_key_still_verifies() -> None:
    assert verify([NEW, OLD], sign(OLD, CLICK), LinkKind.CLICK, HOST) == CLICK


def test_a_token_signed_with_an_unknown_key_does_not_verify() -> None:
    with pytest.raises(InvalidTokenError):
        verify([NEW, OLD], sign(OTHER, CLICK), LinkKind.CLICK, HOST)


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
        verify([NEW], alter(sign(NEW, CLICK)), LinkKind.CLICK, HOST)


def test_a_token_of_another_kind_does_not_verify() -> None:
    opened = sign(NEW, Token(LinkKind.OPEN, "q123", 42, HOST))
    with pytest.raises(InvalidTokenError):
        verify([NEW], opened, LinkKind.CLICK, HOST)


@pytest.mark.parametrize("host", [HOST, "TRACK.Example.com:443", "track.example.com:8080"])
def test_the_host_is_compared_without_case_or_port(host: str) -> None:
    assert verify([NEW], sign(NEW, CLICK), LinkKind.CLICK, host) == CLICK


@pytest.mark.parametrize(
    "host", ["track.other-tenant.com", "example.com", "track.example.com.evil", "", "[::1"]
)
def test_a_token_on_another_host_does_not_verify(host: str) -> None:
    with pytest.raises(InvalidTokenError):
        verify([NEW], sign(NEW, CLICK), LinkKind.CLICK, host)


@pytest.mark.parametrize(
    ("authority", "host"),
    [("Track.Example.com", HOST), ("track.example.com:8443", HOST), ("[::1]:8080", "::1")],
)
def test_the_host_of_an_authority(authority: str, host: str) -> None:
    assert host_of(authority) == host


def test_the_keys_come_from_secret_key_then_previous_keys(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="new key", previous_secret_keys="old key, older key"
    )
    assert signing_keys(settings) == (NEW, OLD, derive(b"older key"))
