"""Tracking tokens: what an open pixel, a tracked link or an unsubscribe link stands for, signed.

A token names the kind of link, the message (queue id), the recipient (recipient row id), the
host the link was written with and, for a click, the URL it redirects to, so that only URLs the
gateway wrote can redirect, and only through the host it wrote them with (no tenant can use
another tenant's tracking host as a redirector). It is `<payload>.<mac>`, both base64url without
padding: the payload is the five fields joined by U+001F, the MAC the first 16 bytes of
HMAC-SHA256 with a key derived from `SECRET_KEY`.

Key rotation: tokens are signed with the current key and verified with it or with any of
`PREVIOUS_SECRET_KEYS`, so links in mail sent before a change keep working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from config import Settings
from gateway.core.crypto import derive as derive_key
from gateway.core.crypto import previous_keys
from gateway.core.exceptions import InvalidTokenError
from gateway.core.secret_key import load_secret_key

MAC_BYTES = 16
SEPARATOR = "\x1f"


class LinkKind(StrEnum):
    OPEN = "o"
    CLICK = "c"
    UNSUBSCRIBE = "u"


@dataclass(frozen=True, slots=True)
class Token:
    kind: LinkKind
    queue_id: str
    recipient_id: int
    """The recipient's row; 0: the message's first, for a link written before the message was
    stored (a campaign message's unsubscribe link: it has one recipient)."""
    host: str
    """The host of the link, as `host_of` gives it."""
    url: str = ""
    """The original URL of a click; empty for the others."""


def derive(secret_key: bytes) -> bytes:
    """The signing key for tracking tokens, apart from every other use of `SECRET_KEY`."""
    return derive_key(secret_key, b"ses-gateway tracking tokens")


def signing_keys(settings: Settings) -> tuple[bytes, ...]:
    """The derived keys: the current one (signs and verifies), then the previous ones."""
    return tuple(derive(key) for key in (load_secret_key(settings), *previous_keys(settings)))


def host_of(authority: str) -> str:
    """The host of a URL's authority or of a `Host` field: lower case, without the port."""
    try:
        return urlsplit(f"//{authority}").hostname or ""
    except ValueError:  # an unclosed IPv6 bracket
        return ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]


def sign(key: bytes, token: Token) -> str:
    """The token as text for a URL path, signed with `key` (a derived key)."""
    fields = (token.kind.value, token.queue_id, str(token.recipient_id), token.host, token.url)
    payload = SEPARATOR.join(fields).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def verify(keys: Sequence[bytes], text: str, kind: LinkKind, host: str) -> Token:
    """The token `text` stands for, if one of `keys` signed it, it is of `kind`, and it was
    written for `host` (a request's `Host` field)."""
    encoded, _, mac = text.partition(".")
    try:
        payload, given = _unb64(encoded), _unb64(mac)
    except (binascii.Error, ValueError) as exc:
        raise InvalidTokenError("unknown or altered link") from exc
    if not any(hmac.compare_digest(_mac(key, payload), given) for key in keys):
        raise InvalidTokenError("unknown or altered link")
    parts = payload.decode("utf-8").split(SEPARATOR, 4)
    if len(parts) != 5 or parts[0] != kind.value or not parts[2].isdigit():
        raise InvalidTokenError("unknown or altered link")
    if parts[3] != host_of(host):
        raise InvalidTokenError("unknown link for this host")
    return Token(kind, parts[1], int(parts[2]), parts[3], parts[4])
