"""Domain names and mail addresses as the gateway stores them: pure functions, no I/O.

A domain is stored in its ASCII form (IDNA 2008 with UTS 46 mapping: lower case, punycode) and
shown in both forms. Sending domains must be registrable names: not IP literals, not `localhost`,
not a public suffix such as `com` or `co.uk` (the Public Suffix List, from `publicsuffixlist`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import idna
from publicsuffixlist import PublicSuffixList

from gateway.core.exceptions import InvalidInputError

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()


@dataclass(frozen=True, slots=True)
class DomainName:
    ascii: str
    """`xn--bcher-kva.example`: what is stored, sent to SES and looked up in DNS."""
    unicode: str
    """`bücher.example`: what people read."""

    def __str__(self) -> str:
        if self.unicode == self.ascii:
            return self.ascii
        return f"{self.unicode} ({self.ascii})"


def _refuse(value: str, reason: str) -> InvalidInputError:
    return InvalidInputError(f"{value!r} is not a valid sending domain: {reason}")


def _check_labels(value: str, ascii_name: str) -> None:
    if len(ascii_name) > 253:
        raise _refuse(value, "it is longer than 253 characters")
    for label in ascii_name.split("."):
        if not _LABEL.fullmatch(label):
            raise _refuse(
                value,
                f"label {label!r} must be 1 to 63 letters, digits or hyphens, "
                "not starting or ending with a hyphen",
            )


def normalize_domain(value: str) -> DomainName:
    """Validate and normalize a sending domain; the error says why a value is refused."""
    text = value.strip()
    if not text:
        raise _refuse(value, "it is empty")
    if any(c.isspace() for c in text):
        raise _refuse(value, "it contains a space")
    text = text.removesuffix(".")
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    else:
        raise _refuse(value, "it is an IP address; use a domain name")
    if "_" in text:
        raise _refuse(
            value, "'_' is allowed only in service names like _dmarc, not in a mail domain"
        )
    if text.isascii():
        _check_labels(value, text.lower())
    try:
        ascii_name = idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise _refuse(value, f"IDNA 2008 does not allow it ({exc})") from exc
    _check_labels(value, ascii_name)
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise _refuse(value, "it needs at least two labels, like example.com")
    if labels[-1] == "localhost" or ascii_name in {"localhost", "localdomain"}:
        raise _refuse(value, "localhost names cannot receive or send mail on the internet")
    if _public_suffixes().is_public(ascii_name):
        raise _refuse(value, f"{ascii_name} is a public suffix; use a domain registered under it")
    return DomainName(ascii_name, idna.decode(ascii_name))


def shown_url(url: str) -> str:
    """The URL without its query and fragment (where tokens often travel), for notifications
    and the audit log."""
    return urlsplit(url)._replace(query="", fragment="").geturl()
