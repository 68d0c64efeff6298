"""argon2id hashing of SMTP passwords, and generation of usernames and strong passwords."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
"""Verified against when a username is unknown, so that both failures take the same time."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Blocking (tens of milliseconds): call it off the event loop."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_username() -> str:
    return "gw" + secrets.token_hex(10)


def new_password() -> str:
    """32 characters from the URL-safe alphabet (about 190 bits), never starting with `-`, which
    command-line clients such as swaks would read as an option."""
    while (password := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return password
