"""argon2id hashing of SMTP passwords, and generation of usernames and strong passwords."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$Z2MUUx7UuEdBH5yArmOW5A"
    "$+Mgo96MH6LcGDZLuXUJEKIEg0YtMvP07AKEEdTcht3c"
)
"""Verified against when a username is unknown, so that both failures take the same time: the
hash of a random password that was thrown away, with `_hasher`'s parameters (a test checks
they stay the same). Written out rather than made at import, which cost every process (each CLI
command) 0.1 s and 64 MiB."""


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
