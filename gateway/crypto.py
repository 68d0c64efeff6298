"""Secrets at rest (BYODKIM private keys), encrypted with a key derived from SECRET_KEY."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.exceptions import GatewayError


class DecryptionError(GatewayError):
    """A stored secret cannot be read: SECRET_KEY changed since it was written."""


def _fernet(secret_key: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ses-gateway at rest").derive(
        secret_key
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: bytes, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode("ascii")


def decrypt(secret_key: bytes, token: str) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii")).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "a stored secret cannot be decrypted: was SECRET_KEY changed?"
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
