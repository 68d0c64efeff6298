"""The fake SES endpoint answers the real aioboto3 clients like SES does."""

from __future__ import annotations

import base64
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

from .fakeses import FakeSes, SentMessage

RAW = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nCaf\xe9 \xff\x00 8-bit\r\n"
MESSAGE_ID = re.compile(r"^0100[0-9a-f]{12}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-000000$")


@pytest.fixture
def server() -> Iterator[FakeSes]:
    with FakeSes() as server:
        yield server


@asynccontextmanager
async def client(service: str, server: FakeSes, read_timeout: float = 5) -> AsyncIterator[Any]:
    config = AioConfig(retries={"total_max_attempts": 1}, read_timeout=read_timeout)
    async with aioboto3.Session().client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
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


def fake_api(server: FakeSes, method: str, path: str) -> Any:
    connection = http.client.HTTPConnection(server.host, server.port)
    try:
        connection.request(method, path)
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
