"""Each sending rule proven once end to end over SMTP, with its refusal recorded."""

from __future__ import annotations

import asyncio
import smtplib
from typing import Any

import pytest

from gateway.identity import accounts
from gateway.storage import domains as domain_store
from gateway.storage import refusals, tenants
from tests.conftest import Gateway, client_tls
from tests.support.fakeses import FakeSes
from tests.support.smtp import protocol_only

pytestmark = protocol_only

BODY = b"From: {sender}\r\nSubject: s\r\n\r\nhello\r\n"


def send(port: int, login: tuple[str, str], sender: str, header_from: str | None = None) -> Any:
    data = BODY.replace(b"{sender}", (header_from or sender).encode())
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.starttls(context=client_tls())
        client.login(*login)
        return client.sendmail(sender, ["a@example.org"], data)


async def refused(port: int, login: tuple[str, str], sender: str, **kw: Any) -> tuple[int, str]:
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as caught:
        await asyncio.to_thread(send, port, login, sender, **kw)
    error = caught.value
    return error.smtp_code, error.smtp_error.decode()


async def test_unknown_sender_domain_is_refused_at_mail(start_gateway: Any, db: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    code, text = await refused(gateway.port, login, "news@unknown.example")
    assert code == 553
    assert text.startswith("5.7.1 Sender domain unknown.example is not a sending domain")
    assert await refusals.count_refusals(gateway.db) == {"sender-unknown": 1}


async def test_another_tenants_domain_is_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    await gateway.credential("other", domain="other.example")
    code, text = await refused(gateway.port, login, "ceo@other.example")
    assert (code, text) == (
        553,
        "5.7.1 Sender domain other.example is not a sending domain of this account: add it first",
    )


async def test_unverified_domain_is_refused_until_ses_verifies_it(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    login = await gateway.credential()
    tenant = await tenants.get_tenant(gateway.db, "acme")
    now = accounts.now()
    await domain_store.insert_domain(
        gateway.db,
        tenant.id,
        {
            "name": "pending.example",
            "display_name": "pending.example",
            "region": "us-east-1",
            "dkim_mode": "easy",
            "created_at": now,
            "verification_status": "PENDING",
        },
    )
    code, text = await refused(gateway.port, login, "news@pending.example")
    assert code == 553
    assert "pending.example is not verified by SES yet" in text
    domain = await domain_store.get_domain(gateway.db, "pending.example")
    await domain_store.update_domain(gateway.db, domain.id, verified_for_sending=True)
    await asyncio.to_thread(send, gateway.port, login, "news@pending.example")
    await asyncio.to_thread(fake_ses.wait_for, 1)


async def test_foreign_from_header_is_refused_at_end_of_data(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    code, text = await refused(
        gateway.port, login, "news@example.com", header_from="CEO <ceo@bank.example>"
    )
    assert code == 550
    assert text.startswith("5.7.1 Sender domain bank.example is not a sending domain")
    assert await refusals.count_refusals(gateway.db, "acme") == {"sender-unknown": 1}


@pytest.mark.parametrize("field", ["From", "Sender", "Resent-From", "Resent-Sender"])
async def test_another_tenants_domain_in_any_sender_field_is_refused(
    start_gateway: Any, field: str
) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    await gateway.credential("other", domain="other.example")
    data = f"From: news@example.com\r\n{field}: CEO <ceo@other.example>\r\n\r\nhello\r\n"

    def send_data() -> Any:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as client:
            client.starttls(context=client_tls())
            client.login(*login)
            return client.sendmail("news@example.com", ["a@example.org"], data.encode())

    with pytest.raises(smtplib.SMTPDataError) as caught:
        await asyncio.to_thread(send_data)
    assert (caught.value.smtp_code, caught.value.smtp_error) == (
        550,
        b"5.7.1 Sender domain other.example is not a sending domain of this account: add it first",
    )


async def test_subdomain_of_a_verified_domain_may_send(
    start_gateway: Any, fake_ses: FakeSes
) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    login = await gateway.credential()
    await asyncio.to_thread(send, gateway.port, login, "alerts@mail.Example.COM")
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.source == "alerts@mail.Example.COM"


async def test_restricted_domain_accepts_only_listed_addresses(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    domain = await domain_store.get_domain(gateway.db, "example.com")
    await domain_store.update_domain(gateway.db, domain.id, restrict_to_addresses=True)
    tenant = await tenants.get_tenant(gateway.db, "acme")
    await domain_store.insert_address(
        gateway.db, domain, tenant.id, {"address": "news@example.com", "created_at": accounts.now()}
    )
    code, text = await refused(gateway.port, login, "ceo@example.com")
    assert code == 553
    assert "ceo@example.com is not one of the listed senders of example.com" in text
    await asyncio.to_thread(send, gateway.port, login, "news@example.com")


async def test_credential_narrowed_to_an_address(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    await gateway.credential()
    new = await accounts.create_credential(gateway.db, "acme", allow=["news@example.com"])
    login = (new.credential.username, new.password)
    code, text = await refused(gateway.port, login, "ceo@example.com")
    assert (code, text) == (553, "5.7.1 This credential may not send from ceo@example.com")
    await asyncio.to_thread(send, gateway.port, login, "news@example.com")


async def test_paused_tenant_and_credential_are_refused(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    await accounts.pause_tenant(gateway.db, "acme", "complaint rate 0.2%")
    code, text = await refused(gateway.port, login, "news@example.com")
    assert (code, text) == (550, "5.7.1 sending paused: complaint rate 0.2%")
    await accounts.pause_tenant(gateway.db, "acme", None)
    await asyncio.to_thread(send, gateway.port, login, "news@example.com")
    [credential] = await tenants.list_credentials(gateway.db, "acme")
    await tenants.set_credential_paused(gateway.db, credential.id, "rotating keys")
    code, text = await refused(gateway.port, login, "news@example.com")
    assert (code, text) == (550, "5.7.1 sending paused: rotating keys")
    assert await refusals.count_refusals(gateway.db, "acme") == {"paused": 2}


async def test_null_sender_is_refused_and_recorded(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential()
    code, _ = await refused(gateway.port, login, "")
    assert code == 553
    assert await refusals.count_refusals(gateway.db) == {"null-sender": 1}


async def test_tenant_without_domains_cannot_send_at_all(start_gateway: Any) -> None:
    gateway: Gateway = await start_gateway(None, deliver=False)
    login = await gateway.credential("nodomains", domain=None)
    code, _ = await refused(gateway.port, login, "news@example.com")
    assert code == 553
