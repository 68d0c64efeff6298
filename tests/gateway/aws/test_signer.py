"""The send calls' signer: byte for byte the headers botocore's `SigV4Auth` signs an `AWSRequest`
with, for the same request, credentials and time, while it keeps its signing key and paths."""

from __future__ import annotations

import asyncio
import datetime
import itertools
from pathlib import Path
from typing import Any

import aioboto3
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioCredentials, AioRefreshableCredentials
from botocore.auth import SigV4Auth
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.credentials import ReadOnlyCredentials

from gateway.aws.sendclient import SendClient, json_body, query_body
from gateway.aws.signer import Signer, SigningRequest, host_of
from tests.support.fakeses import FakeSes

RAW = b"Subject: caf\xc3\xa9\r\n\r\n" + bytes(range(256)) * 8
TAGS = [{"Name": "tenant", "Value": "acme"}, {"Name": "queue_id", "Value": "01ABC"}]
RECIPIENTS = ["a@example.org", "b c@example.org"]
V2 = {
    "FromEmailAddress": "demo@example.com",
    "Destination": {"ToAddresses": RECIPIENTS},
    "Content": {"Raw": {"Data": RAW}},
    "EmailTags": TAGS,
}
V1 = {
    "Source": "demo@example.com",
    "Destinations": RECIPIENTS,
    "RawMessage": {"Data": RAW},
    "Tags": TAGS,
}
BODIES = {
    # service: (the operation's path, Content-Type, body)
    "sesv2": ("/v2/email/outbound-emails", "application/json", json_body(V2)),
    "ses": (
        "/",
        "application/x-www-form-urlencoded; charset=utf-8",
        query_body("SendRawEmail", "2010-12-01", V1),
    ),
}
ENDPOINTS = [
    "https://email.eu-west-1.amazonaws.com",
    "http://127.0.0.1:8080",
    "http://[::1]:4566",
    "https://EMAIL.us-east-1.amazonaws.com:443/prefix/",
]
DAY = datetime.datetime(2026, 12, 5, 23, 59, 58)
NEXT_DAY = datetime.datetime(2026, 12, 6, 0, 0, 1)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime.datetime]:
    """botocore's signer's clock, set by the test: `clock[0]` is now."""
    now = [DAY]
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: now[0])
    return now


def botocore_signed(
    service: str, url_path: str, content_type: str, body: bytes, endpoint: str, frozen: Any
) -> tuple[str, dict[str, str]]:
    """The request as botocore's endpoint makes it and `SigV4Auth` signs it: its URL and its
    headers, names lower-cased, with the host the signer signed."""
    request_dict: dict[str, Any] = {
        "url_path": url_path,
        "query_string": "",
        "method": "POST",
        "headers": {"Content-Type": content_type},
        "body": body,
    }
    prepare_request_dict(request_dict, endpoint, user_agent="ses-gateway")
    request = create_request_object(request_dict)
    signer = SigV4Auth(frozen, service, "eu-west-1")
    signer.add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = signer.headers_to_sign(request)["host"]
    return request.url, headers


def ours_signed(signer: Signer, url: str, content_type: str, body: bytes, frozen: Any) -> Any:
    request = SigningRequest(
        url, {"Content-Type": content_type, "User-Agent": "ses-gateway", "Host": host_of(url)}, body
    )
    signer.credentials = frozen
    signer.add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("service", BODIES)
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE//token+with/odd=chars"])
def test_the_signature_is_botocore_s(
    service: str, endpoint: str, token: str | None, clock: list[datetime.datetime]
) -> None:
    """Static credentials, with and without a session token; the same signer twice the same
    day, then the next day: each time the headers of `SigV4Auth` on an `AWSRequest`."""
    url_path, content_type, body = BODIES[service]
    frozen = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    signer = Signer(service, "eu-west-1")
    for now in (DAY, DAY, NEXT_DAY):
        clock[0] = now
        url, theirs = botocore_signed(service, url_path, content_type, body, endpoint, frozen)
        assert ours_signed(signer, url, content_type, body, frozen) == theirs
    assert ("x-amz-security-token" in theirs) == (token is not None)
    assert theirs["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/")


async def rotating_credentials(refreshed: list[str]) -> AioRefreshableCredentials:
    """A refreshable chain (an assumed role renewed) that hands out another key at every read,
    within botocore's mandatory refresh window; each key id handed out is added to `refreshed`."""
    keys = itertools.cycle(
        [("ASIAONE", "secret-one", "token-one"), ("ASIATWO", "secret-two", None)]
    )

    async def refresh() -> dict[str, Any]:
        key_id, secret, token = next(keys)
        refreshed.append(key_id)
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
        return {
            "access_key": key_id,
            "secret_key": secret,
            "token": token,
            "expiry_time": expiry.isoformat(),
        }

    return AioRefreshableCredentials.create_from_metadata(
        await refresh(), refresh_using=refresh, method="test"
    )


@pytest.mark.parametrize("service", BODIES)
async def test_refreshed_credentials_sign_with_their_own_key(
    service: str, clock: list[datetime.datetime]
) -> None:
    """A refreshable chain that hands out new keys (an assumed role renewed): the kept signing
    key follows them, and a key that comes back is derived again."""
    credentials = await rotating_credentials([])
    url_path, content_type, body = BODIES[service]
    signer = Signer(service, "eu-west-1")
    seen = set()
    for _ in range(4):
        frozen = await credentials.get_frozen_credentials()
        seen.add(frozen.access_key)
        url, theirs = botocore_signed(service, url_path, content_type, body, ENDPOINTS[0], frozen)
        assert ours_signed(signer, url, content_type, body, frozen) == theirs
    assert seen == {"ASIAONE", "ASIATWO"}


@pytest.mark.parametrize("api", ["v2", "v1"])
async def test_each_send_signs_with_the_chain_s_credentials_of_the_moment(
    api: str, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    """Through the send client, to a fake SES that checks every signature with the secret of
    the key named: sends signed with credentials that change between them are all accepted."""
    refreshed: list[str] = []
    credentials = await rotating_credentials(refreshed)
    config = AioConfig(retries={"mode": "standard", "total_max_attempts": 1})
    with FakeSes(secret_keys={"ASIAONE": "secret-one", "ASIATWO": "secret-two"}) as fake:
        service = "sesv2" if api == "v2" else "ses"
        async with (
            aioboto3.Session().client(
                service, region_name="eu-west-1", endpoint_url=fake.url, config=config
            ) as client,
            SendClient(client, credentials) as sender,
        ):
            for _ in range(3):
                if api == "v2":
                    await sender.send_email(**V2)
                else:
                    await sender.send_raw_email(**V1)
        assert len(fake.messages()) == 3
    assert refreshed[1:] == ["ASIATWO", "ASIAONE", "ASIATWO"]


async def test_the_host_signed_is_the_one_host_sent() -> None:
    """On the wire: one `Host` header, the one signed (the signer is not left to guess what
    aiohttp will write)."""
    heads: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n{"MessageId": "m1"}')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = AioConfig(retries={"mode": "standard", "total_max_attempts": 1})
    async with (
        server,
        aioboto3.Session().client(
            "sesv2", region_name="eu-west-1", endpoint_url=f"http://127.0.0.1:{port}", config=config
        ) as client,
        SendClient(client, AioCredentials("AKID", "secret")) as sender,
    ):
        assert (await sender.send_email(**V2))["MessageId"] == "m1"
    lines = [line.lower() for line in heads[0].split(b"\r\n")]
    assert [line for line in lines if line.startswith(b"host:")] == [
        f"host: 127.0.0.1:{port}".encode()
    ]
    assert b"signedheaders=content-type;host;x-amz-date" in b"".join(lines)
