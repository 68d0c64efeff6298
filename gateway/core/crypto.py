"""Secrets at rest (BYODKIM private keys, webhook secrets), encrypted with a key derived from
`SECRET_KEY` and still readable with the keys in `PREVIOUS_SECRET_KEYS`; keys derived for other
uses (tracking tokens)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
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
