"""TLS for the SMTP listeners: the operator's certificate, or a self-signed one made once.

A self-signed certificate made here has an ECDSA P-256 key: its signature in each full handshake
costs a fraction of an RSA 2048 one's (the most of a new connection's TLS cost on the server). An
operator's certificate is used as it is, RSA or not, and so is a self-signed pair already in
`DATA_DIR/tls` (remove both files to have a new one made at the next start). Clients that keep
their TLS session resume it with a TLS 1.3 ticket (OpenSSL's default, kept on): no signature at
all. Tickets are sealed with a key of the process, so a session resumes on the instance that made
it; elsewhere, or after a restart, the client does a full handshake.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from asyncio import sslproto
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from config import ConfigError, Settings
from config.settings import ENV_PREFIX

SELF_SIGNED_DAYS = 825
TLS_READ_BUFFER = 16 * 1024
"""Bytes asyncio reads from a TLS socket at a time: one TLS record's worth of data."""


def _subject_names(hostname: str) -> list[x509.GeneralName]:
    try:
        return [x509.IPAddress(ipaddress.ip_address(hostname))]
    except ValueError:
        return [x509.DNSName(hostname)]


def make_self_signed(
    hostname: str, cert_file: Path, key_file: Path, *, rsa_key: bool = False
) -> None:
    """A certificate for `hostname` and its key (ECDSA P-256; RSA 2048 with `rsa_key`, for
    what must sign as SNS does)."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64])])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(_subject_names(hostname)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def certificate_files(settings: Settings) -> tuple[Path, Path]:
    """`TLS_CERT_FILE`/`TLS_KEY_FILE`, else a self-signed pair in `DATA_DIR` (made on first use)."""
    if settings.tls_cert_file and settings.tls_key_file:
        return settings.tls_cert_file, settings.tls_key_file
    cert_file = settings.data_dir / "tls" / "selfsigned-cert.pem"
    key_file = settings.data_dir / "tls" / "selfsigned-key.pem"
    if not (cert_file.is_file() and key_file.is_file()):
        make_self_signed(settings.hostname, cert_file, key_file)
    return cert_file, key_file


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context with the pair; `ConfigError` naming the file and what is wrong with it
    when OpenSSL refuses it (its own words, `[SSL] PEM lib`, name neither)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(_unusable(cert_file, key_file, exc)) from exc
    return context


def _unusable(cert_file: Path, key_file: Path, error: Exception) -> str:
    """Which of the two files is wrong, and how."""
    cert_name, key_name = f"{ENV_PREFIX}TLS_CERT_FILE", f"{ENV_PREFIX}TLS_KEY_FILE"
    try:
        certificates = x509.load_pem_x509_certificates(cert_file.read_bytes())
    except OSError as exc:
        return f"{cert_name} {cert_file}: cannot be read ({exc.strerror})"
    except ValueError:
        return f"{cert_name} {cert_file}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)"
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except OSError as exc:
        return f"{key_name} {key_file}: cannot be read ({exc.strerror})"
    except TypeError:
        return f"{key_name} {key_file}: the private key is encrypted: give it without a passphrase"
    except (ValueError, UnsupportedAlgorithm):
        return f"{key_name} {key_file}: no PEM private key in it (-----BEGIN PRIVATE KEY-----)"
    if certificates[0].public_key() != key.public_key():
        return (
            f"{key_name} {key_file} is not the key of the certificate in {cert_name} {cert_file} "
            "(the first certificate in the file must be the server's own)"
        )
    return f"{cert_name} {cert_file} with {key_name} {key_file}: refused by OpenSSL: {error}"


def small_read_buffers() -> None:
    """Make asyncio's TLS connections read into `TLS_READ_BUFFER` bytes, not 256 KiB.

    Python 3.11's `SSLProtocol` gives each connection a zero-filled (so resident) read buffer of
    its `max_size`, 256 KiB: 250 MiB for 1,000 TLS connections, busy or idle. Data arrives in
    TLS records of at most 16 KiB, so a smaller buffer costs only more reads of a large message.
    The class attribute is the one setting asyncio has; it applies to the whole process."""
    sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


def describe(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """`TLSv1.3 TLS_AES_256_GCM_SHA384 256/256 bits`, for logs and the Received field."""
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    if cipher is None:
        return ssl_object.version()
    name, version, bits = cipher
    return f"{ssl_object.version() or version} {name} {bits}/{bits} bits"
