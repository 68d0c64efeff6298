"""Sending domains are normalized (IDNA 2008, lower case) and bad ones refused with a reason."""

from __future__ import annotations

import pytest

from gateway.core.exceptions import InvalidInputError
from gateway.domains.identities import mail_from_domain, parse_address
from gateway.domains.names import normalize_domain


@pytest.mark.parametrize(
    ("value", "ascii_name", "unicode_name"),
    [
        ("example.com", "example.com", "example.com"),
        ("Example.COM.", "example.com", "example.com"),
        ("  mail.example.org ", "mail.example.org", "mail.example.org"),
        ("bücher.example", "xn--bcher-kva.example", "bücher.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example", "bücher.example"),
        ("Straße.de", "xn--strae-oqa.de", "straße.de"),
        ("foo.github.io", "foo.github.io", "foo.github.io"),
    ],
)
def test_domains_are_normalized(value: str, ascii_name: str, unicode_name: str) -> None:
    name = normalize_domain(value)
    assert (name.ascii, name.unicode) == (ascii_name, unicode_name)


def test_both_forms_are_shown() -> None:
    assert str(normalize_domain("bücher.example")) == "bücher.example (xn--bcher-kva.example)"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("exa mple.com", "it contains a space"),
        ("a" * 64 + ".com", "must be 1 to 63 letters"),
        (("abcdefghi." * 26) + "com", "longer than 253 characters"),
        ("_dmarc.example.com", "'_' is allowed only in service names"),
        ("mail_server.example.com", "'_' is allowed only in service names"),
        ("-bad.example.com", "not starting or ending with a hyphen"),
        ("☃.com", "IDNA 2008 does not allow it"),
        ("example..com", "must be 1 to 63 letters"),
        ("192.0.2.1", "it is an IP address"),
        ("[2001:db8::1]", "it is an IP address"),
        ("localhost", "at least two labels"),
        ("mail.localhost", "localhost names"),
        ("com", "at least two labels"),
        ("co.uk", "is a public suffix"),
        ("github.io", "is a public suffix"),
    ],
)
def test_bad_domains_are_refused_with_a_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match="is not a valid sending domain") as caught:
        normalize_domain(value)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mail", "mail.example.com"),
        ("bounce.example.com", "bounce.example.com"),
        ("a.b", "a.b.example.com"),
    ],
)
def test_mail_from_is_a_subdomain(value: str, expected: str) -> None:
    assert mail_from_domain("example.com", value) == expected


def test_mail_from_must_be_a_valid_name() -> None:
    with pytest.raises(InvalidInputError):
        mail_from_domain("example.com", "bad_name")


def test_addresses_keep_the_local_part_and_normalize_the_domain() -> None:
    assert str(parse_address("Info@Bücher.Example")) == "Info@xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("no-at-sign", "expected local-part@domain"),
        ("@example.com", "expected local-part@domain"),
        ("jörg@example.com", "printable ASCII"),
        ("a b@example.com", "printable ASCII"),
        ("x" * 65 + "@example.com", "longer than 64"),
        ("info@co.uk", "public suffix"),
    ],
)
def test_bad_addresses_are_refused(value: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        parse_address(value)
