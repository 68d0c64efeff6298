"""The listeners' certificate and TLS context: a cheap self-signed key, an existing one kept,
sessions resumed by real clients on both listeners."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.intake.tls import TLS_READ_BUFFER, certificate_files, make_self_signed
from tests.conftest import Gateway, client_tls, make_settings
from tests.support.smtp import protocol_only


def public_key(cert_file: Path) -> Any:
    return x509.load_pem_x509_certificate(cert_file.read_bytes()).public_key()


def test_a_new_self_signed_certificate_is_ecdsa_p256(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite+aiosqlite://")
    cert_file, key_file = certificate_files(settings)
    key = public_key(cert_file)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_an_existing_self_signed_rsa_certificate_is_kept(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite+aiosqlite://")
    tls = settings.data_dir / "tls"
    make_self_signed(
        "mail.example.com", tls / "selfsigned-cert.pem", tls / "selfsigned-key.pem", rsa_key=True
    )
    before = (tls / "selfsigned-cert.pem").read_bytes()
    cert_file, _ = certificate_files(settings)
    assert cert_file.read_bytes() == before
    assert isinstance(public_key(cert_file), rsa.RSAPublicKey)


def starttls(port: int, context: ssl.SSLContext, session: ssl.SSLSession | None) -> ssl.SSLSocket:
    """A STARTTLS connection, logged in to nothing: EHLO again under TLS, so that the server's
    session ticket (sent after the handshake in TLS 1.3) has been read."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    reader = raw.makefile("rb")
    assert reader.readline().startswith(b"220 ")
    raw.sendall(b"EHLO client.example.com\r\n")
    while not reader.readline().startswith(b"250 "):
        pass
    raw.sendall(b"STARTTLS\r\n")
    assert reader.readline().startswith(b"220 ")
    tls = context.wrap_socket(raw, session=session)
    return greeted(tls)


def implicit_tls(
    port: int, context: ssl.SSLContext, session: ssl.SSLSession | None
) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    tls = context.wrap_socket(raw, session=session)
    assert tls.makefile("rb").readline().startswith(b"220 ")
    return greeted(tls)


def greeted(tls: ssl.SSLSocket) -> ssl.SSLSocket:
    reader = tls.makefile("rb")
    tls.sendall(b"EHLO client.example.com\r\n")
    while not reader.readline().startswith(b"250 "):
        pass
    return tls


def reconnects(connect: Any, port: int) -> tuple[bool, bool, str | None]:
    """Connect twice, the second time with the first session: (reused the first time, the
    second time, the TLS version)."""
    context = client_tls()
    first = connect(port, context, None)
    session, first_reused = first.session, first.session_reused
    first.close()
    second = connect(port, context, session)
    try:
        return first_reused, second.session_reused, second.version()
    finally:
        second.close()


@protocol_only
async def test_a_client_that_reconnects_resumes_its_tls_session(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    for connect, port in ((starttls, gateway.port), (implicit_tls, gateway.smtps_port)):
        assert await asyncio.to_thread(reconnects, connect, port) == (False, True, "TLSv1.3")


@protocol_only
async def test_a_tls_connection_reads_into_a_small_buffer(start_gateway: Any) -> None:
    """asyncio's own buffer is 256 KiB, zero-filled, for each connection: 250 MiB per 1,000."""
    gateway: Gateway = await start_gateway(None, deliver=False)
    context = client_tls()
    clients = [
        await asyncio.to_thread(starttls, gateway.port, context, None),
        await asyncio.to_thread(implicit_tls, gateway.smtps_port, context, None),
    ]
    try:
        servers = [*gateway.smtp.submission.connections, *gateway.smtp.smtps.connections]
        protocols = [server.transport._ssl_protocol for server in servers]  # type: ignore[union-attr]
        assert len(protocols) == 2
        assert all(len(protocol._ssl_buffer) <= TLS_READ_BUFFER for protocol in protocols)
    finally:
        for client in clients:
            client.close()
