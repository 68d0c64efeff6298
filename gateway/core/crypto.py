"""Secrets at rest (BYODKIM private keys, webhook secrets; AWS accounts' secrets, sealed) and
message content at rest (bodies and their stored header copies), encrypted with keys derived from
`SECRET_KEY` and still readable with the keys in `PREVIOUS_SECRET_KEYS`; keys derived for other
uses (tracking tokens)."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config import Settings
from gateway.core.exceptions import DecryptionError


def derive(secret_key: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one use of `secret_key`, unrelated to the keys of its other uses."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key)


def previous_keys(settings: Settings) -> tuple[bytes, ...]:
    """`PREVIOUS_SECRET_KEYS`: keys that no longer encrypt or sign, but still decrypt and verify."""
    return tuple(key.get_secret_value().encode("utf-8") for key in settings.previous_secret_keys)


def _fernet(secret_key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derive(secret_key, b"ses-gateway at rest")))


def encrypt(secret_key: bytes, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode("ascii")


def decrypt(secret_key: bytes, token: str, previous: Sequence[bytes] = ()) -> str:
    """The secret, encrypted with `secret_key` or one of the `previous` keys."""
    fernet = MultiFernet([_fernet(key) for key in (secret_key, *previous)])
    try:
        return fernet.decrypt(token.encode("ascii")).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "a stored secret cannot be decrypted: was SECRET_KEY changed without listing the "
            "old key in PREVIOUS_SECRET_KEYS?"
        ) from exc


SEALED = b"\x00\x01"
"""How a sealed value begins: a NUL (no message in clear begins with one: it begins with a header
field name), then the format version."""


class Sealer:
    """Message content (and AWS accounts' secrets) at rest: AES-256-GCM under a key derived
    once from `SECRET_KEY`.

    A sealed value is `SEALED`, the key id (4 bytes, derived from the key: which of the keys
    opens it), a random 96-bit nonce, then the ciphertext and its tag. The associated data binds
    it to the field (`what`: body or headers) and to the message's queue id (an AWS account's
    secret: to what it is and the account's name), so that a value moved to another row or
    another tenant's message does not open. A value that does not begin
    with `SEALED` was stored in clear before this version: it opens as it is."""

    def __init__(self, secret_key: bytes, previous: Sequence[bytes] = ()) -> None:
        """`previous`: the keys of `PREVIOUS_SECRET_KEYS`, which still open what they sealed."""
        keys = [
            (_key_id(key), AESGCM(derive(key, b"ses-gateway message content")))
            for key in (secret_key, *previous)
        ]
        self.prefix = SEALED + keys[0][0]
        """How a value sealed under the current key begins: one that does not is resealed."""
        self._current = keys[0][1]
        self._ciphers = dict(reversed(keys))  # the current key wins a (4-byte) id collision

    def seal(self, what: bytes, message_id: str, content: bytes) -> bytes:
        nonce = os.urandom(12)
        aad = self.prefix + what + message_id.encode()
        return self.prefix + nonce + self._current.encrypt(nonce, content, aad)

    def open(self, what: bytes, message_id: str, stored: bytes) -> bytes:
        """The content of a value sealed for (`what`, `message_id`) under one of the keys, or
        stored in clear; a `DecryptionError` otherwise."""
        if not stored.startswith(SEALED):
            return stored
        prefix, nonce, sealed = stored[:6], stored[6:18], stored[18:]
        if len(sealed) < 16:  # shorter than the tag alone
            raise DecryptionError(f"message {message_id}: its stored {what.decode()} is cut short")
        cipher = self._ciphers.get(prefix[2:])
        if cipher is None:
            raise DecryptionError(
                f"message {message_id}: its stored {what.decode()} was encrypted with a key that "
                "is neither SECRET_KEY nor in PREVIOUS_SECRET_KEYS"
            )
        try:
            return cipher.decrypt(nonce, sealed, prefix + what + message_id.encode())
        except InvalidTag as exc:
            raise DecryptionError(
                f"message {message_id}: its stored {what.decode()} does not decrypt (altered, or "
                "moved from another message)"
            ) from exc


def _key_id(secret_key: bytes) -> bytes:
    return derive(secret_key, b"ses-gateway message content key id")[:4]


def new_dkim_key() -> tuple[str, str]:
    """A 2048-bit RSA key pair for BYODKIM: (base64 DER private key, base64 DER public key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(private).decode("ascii"), base64.b64encode(public).decode("ascii")
