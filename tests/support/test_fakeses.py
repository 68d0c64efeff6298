"""The fake SES endpoint answers the real aioboto3 clients like SES does."""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import http.client
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aioboto3
import pytest
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .fakeses import FakeSes, SentMessage

RAW = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nCaf\xe9 \xff\x00 8-bit\r\n"
MESSAGE_ID = re.compile(r"^0100[0-9a-f]{12}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-000000$")


@pytest.fixture
def server() -> Iterator[FakeSes]:
    with FakeSes() as server:
        yield server


@functools.cache
def session() -> aioboto3.Session:
    """One session for the module: it caches the service models (a client then costs ~5 ms)."""
    return aioboto3.Session()


@asynccontextmanager
async def client(service: str, server: FakeSes, read_timeout: float = 5) -> AsyncIterator[Any]:
    config = AioConfig(retries={"total_max_attempts": 1}, read_timeout=read_timeout)
    async with session().client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
        verify=False,  # plain HTTP; else each client loads the CA bundle (~50-100 ms)
    ) as ses:
        yield ses


async def send_v2(server: FakeSes, raw: bytes = RAW, **kwargs: Any) -> dict[str, Any]:
    async with client("sesv2", server) as ses:
        response: dict[str, Any] = await ses.send_email(Content={"Raw": {"Data": raw}}, **kwargs)
        return response


async def send_v1(server: FakeSes, raw: bytes = RAW, **kwargs: Any) -> dict[str, Any]:
    async with client("ses", server) as ses:
        response: dict[str, Any] = await ses.send_raw_email(RawMessage={"Data": raw}, **kwargs)
        return response


async def test_v2_send_email_is_recorded(server: FakeSes) -> None:
    response = await send_v2(
        server,
        FromEmailAddress="a@example.com",
        Destination={
            "ToAddresses": ["b@example.com"],
            "CcAddresses": ["c@example.com"],
            "BccAddresses": ["d@example.com"],
        },
        ConfigurationSetName="tenant-set",
        EmailTags=[{"Name": "tenant", "Value": "t1"}],
    )
    assert MESSAGE_ID.match(response["MessageId"])
    assert server.wait_for(1) == [
        SentMessage(
            message_id=response["MessageId"],
            api="v2",
            source="a@example.com",
            destinations=["b@example.com", "c@example.com", "d@example.com"],
            raw=RAW,
            configuration_set="tenant-set",
            tags={"tenant": "t1"},
        )
    ]


async def test_v1_send_raw_email_is_recorded(server: FakeSes) -> None:
    response = await send_v1(
        server,
        Source="a@example.com",
        Destinations=["b@example.com", "c@example.com"],
        ConfigurationSetName="tenant-set",
        Tags=[{"Name": "tenant", "Value": "t1"}, {"Name": "kind", "Value": "bulk"}],
    )
    assert MESSAGE_ID.match(response["MessageId"])
    [message] = server.messages()
    assert message == SentMessage(
        message_id=response["MessageId"],
        api="v1",
        source="a@example.com",
        destinations=["b@example.com", "c@example.com"],
        raw=RAW,
        configuration_set="tenant-set",
        tags={"tenant": "t1", "kind": "bulk"},
    )
    async with client("ses", server) as ses:
        quota = await ses.get_send_quota()
    assert quota["SentLast24Hours"] == 1.0


async def test_every_byte_value_round_trips(server: FakeSes) -> None:
    raw = bytes(range(256)) * 4
    await send_v2(server, raw)
    await send_v1(server, raw)
    assert [m.raw for m in server.messages()] == [raw, raw]


async def test_v2_scripted_error_then_success(server: FakeSes) -> None:
    server.fail_next(1, code="TooManyRequestsException", status=429, message="Too many")
    with pytest.raises(ClientError) as caught:
        await send_v2(server)
    assert caught.value.response["Error"] == {
        "Code": "TooManyRequestsException",
        "Message": "Too many",
    }
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert server.messages() == []
    await send_v2(server)
    assert len(server.messages()) == 1


async def test_v1_scripted_error(server: FakeSes) -> None:
    server.fail_next(2)
    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            await send_v1(server)
        assert caught.value.response["Error"]["Code"] == "Throttling"
        assert caught.value.response["Error"]["Message"] == "Maximum sending rate exceeded."
    assert server.messages() == []


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_too_many_recipients_is_rejected(server: FakeSes, api: str) -> None:
    recipients = [f"r{i}@example.com" for i in range(51)]
    send = (
        send_v1(server, Destinations=recipients)
        if api == "v1"
        else send_v2(server, Destination={"ToAddresses": recipients})
    )
    with pytest.raises(ClientError) as caught:
        await send
    assert caught.value.response["Error"]["Code"] == "MessageRejected"
    assert server.messages() == []


async def test_delay_makes_the_read_time_out(server: FakeSes) -> None:
    server.delay_next(1, 0.3)
    async with client("sesv2", server, read_timeout=0.1) as ses:
        with pytest.raises(ReadTimeoutError):
            await ses.send_email(Content={"Raw": {"Data": RAW}})
    assert len(server.wait_for(1)) == 1  # SES accepted it although the client gave up


async def test_drop_closes_the_connection(server: FakeSes) -> None:
    server.drop_next(1)
    with pytest.raises(ConnectionClosedError):
        await send_v2(server)
    assert server.messages() == []


async def test_a_page_that_is_not_ses_s_answer(server: FakeSes) -> None:
    server.answer_next(1, 502, b"<html><body>Bad Gateway</body></html>")
    with pytest.raises(ClientError) as caught:
        await send_v1(server)
    assert caught.value.response["Error"]["Code"] == "502"  # botocore's generic error
    assert server.fault_counts == {"HTTP 502": 1}
    assert server.messages() == []


async def test_signatures_are_checked_when_asked() -> None:
    """The aioboto3 client's SigV4 signatures (the reference) verify, on both protocols; a
    signature by another secret does not."""
    with FakeSes(secret_keys={"x": "x"}) as server:
        await send_v2(server, FromEmailAddress="a@example.com")
        await send_v1(server, Source="a@example.com", Destinations=["b@example.com"])
        assert len(server.messages()) == 2
    with FakeSes(secret_keys={"x": "another secret"}) as server:
        for send in (send_v2, send_v1):
            with pytest.raises(ClientError) as caught:
                await send(server)
            assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert server.messages() == []


async def test_an_outage_answers_with_each_fault_then_ends(server: FakeSes) -> None:
    fake_api(server, "POST", "/_fake/outage", {"seconds": 30, "delay": 0.3, "seed": 1})
    outcomes: list[str] = []
    async with client("sesv2", server, read_timeout=0.1) as ses:
        for _ in range(40):
            try:
                await ses.send_email(Content={"Raw": {"Data": RAW}})
                outcomes.append("sent")
            except ClientError as exc:
                outcomes.append(exc.response["Error"]["Code"])
            except ReadTimeoutError:
                outcomes.append("slow")
            except ConnectionClosedError:
                outcomes.append("reset")
    assert set(outcomes) == {"slow", "Throttling", "InternalFailure", "reset"}
    assert fake_api(server, "GET", "/_fake/faults") == {
        kind: outcomes.count(kind) for kind in set(outcomes)
    }
    server.outage(0)
    await send_v2(server)
    assert len(server.wait_for(outcomes.count("slow") + 1)) == outcomes.count("slow") + 1


async def test_an_outage_hits_only_its_share(server: FakeSes) -> None:
    server.outage(30, ("throttling",), share=0.5, seed=2)
    async with client("sesv2", server) as ses:
        for _ in range(40):
            with contextlib.suppress(ClientError):
                await ses.send_email(Content={"Raw": {"Data": RAW}})
    assert 10 < server.fault_counts["Throttling"] < 30
    assert len(server.messages()) == 40 - server.fault_counts["Throttling"]


def test_an_outage_with_an_unknown_fault_is_refused(server: FakeSes) -> None:
    answer = fake_api(server, "POST", "/_fake/outage", {"seconds": 1, "faults": ["flood"]})
    assert "unknown outage fault 'flood'" in answer["message"]
    with pytest.raises(ValueError, match="share"):
        server.outage(1, share=2)


def fake_api(server: FakeSes, method: str, path: str, body: object = None) -> Any:
    connection = http.client.HTTPConnection(server.host, server.port)
    try:
        connection.request(method, path, None if body is None else json.dumps(body))
        return json.load(connection.getresponse())
    finally:
        connection.close()


async def test_http_inspection_endpoints(server: FakeSes) -> None:
    await send_v1(server, Destinations=["b@example.com"])
    [message] = fake_api(server, "GET", "/_fake/messages")
    assert message["destinations"] == ["b@example.com"]
    assert base64.b64decode(message["raw"]) == RAW
    server.fail_next(1)
    fake_api(server, "POST", "/_fake/reset")
    assert fake_api(server, "GET", "/_fake/count") == {"count": 0}
    await send_v2(server)  # the reset forgot the scripted failure too


# --- identities and the account (SESv2) ---------------------------------------------------

TOKEN = re.compile(r"^[a-z2-7]{32}$")


@pytest.fixture
async def sesv2(server: FakeSes) -> AsyncIterator[Any]:
    async with client("sesv2", server) as ses:
        yield ses


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def rsa_key_der_base64() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, as `openssl genrsa` wrote it
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode()


async def test_create_domain_with_easy_dkim(server: FakeSes, sesv2: Any) -> None:
    created = await sesv2.create_email_identity(EmailIdentity="Example.COM")
    assert created["IdentityType"] == "DOMAIN"
    assert created["VerifiedForSendingStatus"] is False
    dkim = created["DkimAttributes"]
    tokens = dkim.pop("Tokens")
    assert len(set(tokens)) == 3
    assert all(TOKEN.match(token) for token in tokens)
    assert isinstance(dkim.pop("LastKeyGenerationTimestamp"), datetime.datetime)
    assert dkim == {
        "SigningEnabled": True,
        "Status": "PENDING",
        "SigningAttributesOrigin": "AWS_SES",
        "NextSigningKeyLength": "RSA_2048_BIT",
        "CurrentSigningKeyLength": "RSA_2048_BIT",
    }
    assert list(server.identities) == ["example.com"]  # domains are case-insensitive
    assert server.identities["example.com"].dkim_tokens == tokens

    short = await sesv2.create_email_identity(
        EmailIdentity="short.example.org",
        DkimSigningAttributes={"NextSigningKeyLength": "RSA_1024_BIT"},
    )
    assert short["DkimAttributes"]["CurrentSigningKeyLength"] == "RSA_1024_BIT"


async def test_create_domain_with_byodkim(server: FakeSes, sesv2: Any) -> None:
    created = await sesv2.create_email_identity(
        EmailIdentity="example.com",
        DkimSigningAttributes={
            "DomainSigningSelector": "gw2024",
            "DomainSigningPrivateKey": rsa_key_der_base64(),
        },
    )
    assert created["DkimAttributes"] == {
        "SigningEnabled": True,
        "Status": "PENDING",
        "SigningAttributesOrigin": "EXTERNAL",
        "Tokens": ["gw2024"],
    }
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for bad_key in (
        base64.b64encode(ec_key).decode(),
        base64.b64encode(b"not a key").decode(),
        "-----BEGIN PRIVATE KEY-----MIIB-----END PRIVATE KEY-----",
    ):
        with pytest.raises(sesv2.exceptions.BadRequestException) as caught:
            await sesv2.create_email_identity(
                EmailIdentity="other.example.com",
                DkimSigningAttributes={
                    "DomainSigningSelector": "s1",
                    "DomainSigningPrivateKey": bad_key,
                },
            )
        assert error_of(caught)[:2] == (400, "BadRequestException")
    assert list(server.identities) == ["example.com"]


async def test_an_existing_identity_cannot_be_created_again(sesv2: Any) -> None:
    await sesv2.create_email_identity(EmailIdentity="example.com")
    with pytest.raises(sesv2.exceptions.AlreadyExistsException) as caught:
        await sesv2.create_email_identity(EmailIdentity="EXAMPLE.com")
    assert error_of(caught) == (
        400,
        "AlreadyExistsException",
        "Email identity EXAMPLE.com already exist.",
    )


async def test_get_identity_before_and_after_verification(server: FakeSes, sesv2: Any) -> None:
    created = await sesv2.create_email_identity(
        EmailIdentity="example.com", Tags=[{"Key": "tenant", "Value": "t1"}]
    )
    pending = await sesv2.get_email_identity(EmailIdentity="example.com")
    pending.pop("ResponseMetadata")
    assert pending == {
        "IdentityType": "DOMAIN",
        "FeedbackForwardingStatus": True,
        "VerifiedForSendingStatus": False,
        "DkimAttributes": created["DkimAttributes"],
        "MailFromAttributes": {"BehaviorOnMxFailure": "USE_DEFAULT_VALUE"},
        "Policies": {},
        "Tags": [{"Key": "tenant", "Value": "t1"}],
        "VerificationStatus": "PENDING",
        "VerificationInfo": {},
    }
    server.set_identity_status("Example.com")
    verified = await sesv2.get_email_identity(EmailIdentity="EXAMPLE.COM")
    assert verified["VerificationStatus"] == "SUCCESS"
    assert verified["VerifiedForSendingStatus"] is True
    assert verified["DkimAttributes"]["Status"] == "SUCCESS"
    assert "LastSuccessTimestamp" in verified["VerificationInfo"]
    server.set_identity_status("example.com", verification="FAILED", dkim="FAILED")
    failed = await sesv2.get_email_identity(EmailIdentity="example.com")
    assert (failed["VerificationStatus"], failed["VerifiedForSendingStatus"]) == ("FAILED", False)
    with pytest.raises(KeyError):
        server.set_identity_status("unknown.example.com")


async def test_email_address_identity(server: FakeSes, sesv2: Any) -> None:
    created = await sesv2.create_email_identity(EmailIdentity="Sender@Example.COM")
    created.pop("ResponseMetadata")
    assert created == {"IdentityType": "EMAIL_ADDRESS", "VerifiedForSendingStatus": False}
    assert list(server.identities) == ["Sender@example.com"]
    got = await sesv2.get_email_identity(EmailIdentity="Sender@example.com")  # `@` as %40
    assert got["IdentityType"] == "EMAIL_ADDRESS"
    assert got["VerificationStatus"] == "PENDING"
    assert got["DkimAttributes"]["Status"] == "NOT_STARTED"
    assert "Tokens" not in got["DkimAttributes"]
    server.set_identity_status("Sender@example.com")
    got = await sesv2.get_email_identity(EmailIdentity="Sender@example.com")
    assert got["VerifiedForSendingStatus"] is True
    assert got["DkimAttributes"]["Status"] == "NOT_STARTED"  # DKIM belongs to domains


async def test_auto_verify_after(server: FakeSes, sesv2: Any) -> None:
    server.auto_verify_after = 60
    await sesv2.create_email_identity(EmailIdentity="example.com")
    got = await sesv2.get_email_identity(EmailIdentity="example.com")
    assert (got["VerificationStatus"], got["DkimAttributes"]["Status"]) == ("PENDING", "PENDING")
    server.auto_verify_after = 0  # as if the minute had passed
    got = await sesv2.get_email_identity(EmailIdentity="example.com")
    assert (got["VerificationStatus"], got["DkimAttributes"]["Status"]) == ("SUCCESS", "SUCCESS")
    assert got["VerifiedForSendingStatus"] is True


async def test_mail_from_attributes(server: FakeSes, sesv2: Any) -> None:
    await sesv2.create_email_identity(EmailIdentity="example.com")
    response = await sesv2.put_email_identity_mail_from_attributes(
        EmailIdentity="example.com",
        MailFromDomain="Bounce.Example.com",
        BehaviorOnMxFailure="REJECT_MESSAGE",
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = await sesv2.get_email_identity(EmailIdentity="example.com")
    assert got["MailFromAttributes"] == {
        "MailFromDomain": "bounce.example.com",
        "MailFromDomainStatus": "PENDING",
        "BehaviorOnMxFailure": "REJECT_MESSAGE",
    }
    server.set_identity_status("example.com", verification=None, dkim=None, mail_from="SUCCESS")
    got = await sesv2.get_email_identity(EmailIdentity="example.com")
    assert got["MailFromAttributes"]["MailFromDomainStatus"] == "SUCCESS"
    assert got["VerificationStatus"] == "PENDING"

    with pytest.raises(sesv2.exceptions.BadRequestException):
        await sesv2.put_email_identity_mail_from_attributes(
            EmailIdentity="example.com", MailFromDomain="bounce.example.org"
        )
    with pytest.raises(sesv2.exceptions.NotFoundException) as caught:
        await sesv2.put_email_identity_mail_from_attributes(
            EmailIdentity="other.example", MailFromDomain="bounce.other.example"
        )
    assert error_of(caught)[:2] == (404, "NotFoundException")
    await sesv2.put_email_identity_mail_from_attributes(EmailIdentity="example.com")  # turn off
    got = await sesv2.get_email_identity(EmailIdentity="example.com")
    assert got["MailFromAttributes"] == {"BehaviorOnMxFailure": "USE_DEFAULT_VALUE"}


async def test_delete_identity_and_not_found(server: FakeSes, sesv2: Any) -> None:
    await sesv2.create_email_identity(EmailIdentity="example.com")
    response = await sesv2.delete_email_identity(EmailIdentity="Example.com")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert server.identities == {}
    for call in (sesv2.get_email_identity, sesv2.delete_email_identity):
        with pytest.raises(sesv2.exceptions.NotFoundException) as caught:
            await call(EmailIdentity="example.com")
        assert error_of(caught) == (
            404,
            "NotFoundException",
            "Email identity example.com does not exist.",
        )


async def test_get_account(server: FakeSes, sesv2: Any) -> None:
    await sesv2.send_email(Content={"Raw": {"Data": RAW}})
    account = await sesv2.get_account()
    account.pop("ResponseMetadata")
    assert account == {
        "DedicatedIpAutoWarmupEnabled": False,
        "EnforcementStatus": "HEALTHY",
        "ProductionAccessEnabled": True,
        "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 1.0},
        "SendingEnabled": True,
    }
    server.account.update(
        ProductionAccessEnabled=False,
        EnforcementStatus="PROBATION",
        SendQuota={"Max24HourSend": 200.0, "MaxSendRate": 1.0},
        Details={"MailType": "TRANSACTIONAL", "ReviewDetails": {"Status": "PENDING"}},
    )
    account = await sesv2.get_account()
    assert account["ProductionAccessEnabled"] is False
    assert account["EnforcementStatus"] == "PROBATION"
    assert account["SendQuota"] == {
        "Max24HourSend": 200.0,
        "MaxSendRate": 1.0,
        "SentLast24Hours": 1.0,
    }
    assert account["Details"]["ReviewDetails"] == {"Status": "PENDING"}
    async with client("ses", server) as ses:
        quota = await ses.get_send_quota()
    assert (quota["Max24HourSend"], quota["MaxSendRate"]) == (200.0, 1.0)


async def test_require_verified_rejects_unverified_senders() -> None:
    with FakeSes(require_verified=True) as server:
        rejected = (
            400,
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in "
            "region US-EAST-1: a@example.com",
        )
        with pytest.raises(ClientError) as caught:
            await send_v2(server, FromEmailAddress="a@example.com")
        assert error_of(caught) == rejected
        with pytest.raises(ClientError) as caught:
            await send_v1(server)  # no Source: the From header counts
        assert error_of(caught) == rejected
        server.add_identity("a@example.com")  # still pending
        with pytest.raises(ClientError):
            await send_v1(server, Source="a@example.com")
        assert server.messages() == []

        server.add_identity("example.com", verified=True)
        await send_v2(server, FromEmailAddress="Gateway <a@EXAMPLE.com>")
        await send_v1(server, Source="b@mail.example.com")  # subdomains inherit
        await send_v2(server)
        assert len(server.messages()) == 3
        with pytest.raises(ClientError) as caught:
            await send_v2(server, FromEmailAddress="a@example.org")
        assert error_of(caught)[1] == "MessageRejected"


async def test_signing_hosted_zone_is_on_the_wire(server: FakeSes, sesv2: Any) -> None:
    server.set_signing_hosted_zone("dkim.amazonses.com")
    await sesv2.create_email_identity(EmailIdentity="example.com")
    # botocore 1.40's model has no SigningHostedZone and drops it: read the raw answer
    got = fake_api(server, "GET", "/v2/email/identities/example.com")
    assert got["DkimAttributes"]["SigningHostedZone"] == "dkim.amazonses.com"


async def test_fake_identity_endpoints(server: FakeSes, sesv2: Any) -> None:
    await sesv2.create_email_identity(EmailIdentity="example.com")
    await sesv2.put_email_identity_mail_from_attributes(
        EmailIdentity="example.com", MailFromDomain="mail.example.com"
    )
    changed = fake_api(
        server,
        "POST",
        "/_fake/identities/example.com/status",
        {"verification": "SUCCESS", "dkim": "TEMPORARY_FAILURE", "mail_from": "FAILED"},
    )
    assert (changed["verification"], changed["dkim_status"]) == ("SUCCESS", "TEMPORARY_FAILURE")
    got = await sesv2.get_email_identity(EmailIdentity="example.com")
    assert got["VerifiedForSendingStatus"] is True
    assert got["MailFromAttributes"]["MailFromDomainStatus"] == "FAILED"
    [listed] = fake_api(server, "GET", "/_fake/identities").values()
    assert listed["mail_from_status"] == "FAILED"
    assert "message" in fake_api(server, "POST", "/_fake/identities/nope.example/status", {})
    fake_api(server, "POST", "/_fake/reset")
    assert server.identities == {}
