"""The SES module: error translation, and real sends to moto's SES server over HTTP."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import Outgoing, SesSender, translate
from gateway.core.exceptions import SesPermanentError, SesSetupError, SesTransientError
from tests.conftest import make_settings

RAW = "From: demo@verified.example\r\nSubject: hi\r\n\r\nGrüße\r\n".encode()


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "words"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "SendEmail",
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (client_error("Throttling", 400), SesTransientError),
        (client_error("TooManyRequestsException", 429), SesTransientError),
        (client_error("InternalFailure", 500), SesTransientError),
        (client_error("SendingPausedException", 400), SesTransientError),
        (client_error("SomethingNew", 503), SesTransientError),
        (client_error("ExpiredToken", 403), SesTransientError),
        (client_error("AccessDeniedException", 403), SesTransientError),
        (client_error("MessageRejected", 400), SesPermanentError),
        (client_error("MailFromDomainNotVerifiedException", 400), SesPermanentError),
        (client_error("AccountSuspendedException", 400), SesPermanentError),
        (client_error("BadRequestException", 400), SesPermanentError),
        (EndpointConnectionError(endpoint_url="http://x"), SesTransientError),
        (ParamValidationError(report="bad"), SesPermanentError),
        (TimeoutError(), SesTransientError),
    ],
)
def test_translate(error: Exception, kind: type[Exception]) -> None:
    translated = translate(error)
    assert type(translated) is kind


def test_translate_keeps_code_and_words() -> None:
    error = translate(client_error("MessageRejected", 400))
    assert error.code == "MessageRejected"
    assert str(error) == "MessageRejected: words"


@pytest.fixture
async def moto_sender(
    moto_server: str, tmp_path: Path, aws_env: pytest.MonkeyPatch, ses_send_path: str
) -> AsyncIterator[Any]:
    """`await moto_sender(**settings)`: a sender on moto, over each `SES_SEND_PATH` in turn,
    with `verified.example` verified in the account of the session's credentials."""
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)
    providers: list[SesClientProvider] = []

    async def make(**overrides: Any) -> SesSender:
        overrides.setdefault("ses_send_path", ses_send_path)
        settings = make_settings(tmp_path, "sqlite+aiosqlite://", **overrides)
        provider = await SesClientProvider(settings).__aenter__()
        providers.append(provider)
        client = (await provider.for_tenant("acme")).client(provider.service)
        if settings.ses_send_api == "v2":
            await client.create_email_identity(EmailIdentity="verified.example")
        else:
            await client.verify_domain_identity(Domain="verified.example")
        return SesSender(provider, settings)

    yield make
    for provider in providers:
        await provider.__aexit__(None, None, None)


def moto_messages(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/moto-api/data.json") as response:  # noqa: S310 - loopback
        return list(json.load(response)["ses"]["RawMessage"])


@pytest.mark.parametrize("api", ["v2", "v1"])
async def test_moto_receives_the_raw_message(moto_sender: Any, moto_server: str, api: str) -> None:
    sender = await moto_sender(ses_send_api=api)
    outgoing = Outgoing("demo@verified.example", ["x@example.org"], RAW, {"tenant": "acme"})
    message_id = await sender.send("acme", outgoing)
    [stored] = [m for m in moto_messages(moto_server) if m["id"] == message_id]
    assert stored["source"] == "demo@verified.example"
    assert stored["destinations"] == ["x@example.org"]
    assert stored["raw_data"].encode() == RAW


async def test_unverified_sender_is_a_permanent_error(moto_sender: Any) -> None:
    sender = await moto_sender()
    outgoing = Outgoing("demo@unverified.example", ["x@example.org"], RAW, {"tenant": "acme"})
    with pytest.raises(SesPermanentError, match="MessageRejected"):
        await sender.send("acme", outgoing)


async def test_an_assumed_role_sends_in_its_own_account(
    moto_sender: Any, moto_server: str, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    """Credentials from the session's chain, here a profile's role assumed through STS (moto
    acts in the role's account 111111111111, where only this test verified the domain): the
    send is signed with the role's refreshable credentials, not the source profile's."""
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile gateway]\n"
        "role_arn = arn:aws:iam::111111111111:role/ses-sender\n"
        "role_session_name = gateway\n"
        "source_profile = base\n"
        "[profile base]\n"
        "aws_access_key_id = testing\n"
        "aws_secret_access_key = testing\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        aws_env.delenv(name)
    aws_env.setenv("AWS_CONFIG_FILE", str(config))
    aws_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    aws_env.setenv("AWS_PROFILE", "gateway")
    sender = await moto_sender()
    domain = "role.example"
    clients = await sender._provider.for_tenant("acme")
    await clients.client("sesv2").create_email_identity(EmailIdentity=domain)
    outgoing = Outgoing(f"demo@{domain}", ["x@example.org"], RAW, {"tenant": "acme"})
    message_id = await sender.send("acme", outgoing)
    assert message_id in {m["id"] for m in moto_messages(moto_server)}


async def test_unreachable_endpoint_is_transient(
    tmp_path: Path, aws_env: pytest.MonkeyPatch, ses_send_path: str
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    settings = make_settings(
        tmp_path, "sqlite+aiosqlite://", ses_timeout=1, ses_send_path=ses_send_path
    )
    async with SesClientProvider(settings) as provider:
        outgoing = Outgoing("a@b.example", ["x@example.org"], RAW, {})
        with pytest.raises(SesTransientError, match="EndpointConnectionError"):
            await SesSender(provider, settings).send("acme", outgoing)


async def test_no_region_is_a_setup_error(tmp_path: Path, aws_env: pytest.MonkeyPatch) -> None:
    aws_env.delenv("AWS_REGION")
    aws_env.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    settings = make_settings(tmp_path, "sqlite+aiosqlite://")
    with pytest.raises(SesSetupError, match="AWS_REGION"):
        await SesClientProvider(settings).__aenter__()
