"""The direct send calls: the same requests as botocore's, and the same outcomes as the aioboto3
client's for every answer the fake SES can give (errors, pages from a proxy, resets, timeouts)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.serialize import create_serializer
from cryptography.hazmat.primitives import serialization

from gateway.aws.clients import SesClientProvider
from gateway.aws.sendclient import json_body, query_body
from gateway.aws.ses import Outgoing, SesSender
from gateway.core.exceptions import SesError, SesTransientError
from tests.conftest import make_settings
from tests.support.certs import authority, pem, tls_key
from tests.support.fakeses import FakeSes

RAW = b"From: demo@example.com\r\nSubject: caf\xc3\xa9 \xff\r\n\r\n" + bytes(range(256)) * 4
OUTGOING = Outgoing(
    "demo@example.com",
    ["a@example.org", "b c@example.org"],
    RAW,
    {"tenant": "acme", "queue_id": "01ABC"},
)
MODELS = botocore.session.get_session()


@pytest.mark.parametrize("configuration_set", [None, "tracking set"])
@pytest.mark.parametrize(
    "tags",
    [
        {"tenant": "acme", "queue_id": "01ABC"},
        {},
        {"Data": '"Data": ""', "tenant": 'caf\u00e9 \\"Data": "" \u2028'},
    ],
)
def test_the_bodies_are_botocore_s(configuration_set: str | None, tags: dict[str, str]) -> None:
    """Byte for byte what botocore's serializers and request preparer make of the parameters
    `SesSender` passes, for both APIs; whatever the tags hold (the JSON body puts the message
    where `json` wrote an empty `"Data": ""`)."""
    tag_list = [{"Name": k, "Value": v} for k, v in tags.items()]
    v2 = {
        "FromEmailAddress": OUTGOING.sender,
        "Destination": {"ToAddresses": OUTGOING.recipients},
        "Content": {"Raw": {"Data": RAW}},
        "EmailTags": tag_list,
    }
    v1 = {
        "Source": OUTGOING.sender,
        "Destinations": OUTGOING.recipients,
        "RawMessage": {"Data": RAW},
        "Tags": tag_list,
    }
    if configuration_set:
        v2["ConfigurationSetName"] = v1["ConfigurationSetName"] = configuration_set
    for service, operation, params, ours in (
        ("sesv2", "SendEmail", v2, json_body(v2)),
        ("ses", "SendRawEmail", v1, query_body("SendRawEmail", "2010-12-01", v1)),
    ):
        model = MODELS.get_service_model(service)
        serializer = create_serializer(model.resolved_protocol, include_validation=False)
        request = serializer.serialize_to_request(params, model.operation_model(operation))
        theirs = AWSRequest("POST", "https://x/", data=request["body"]).prepare().body
        assert ours == (theirs.encode() if isinstance(theirs, str) else theirs)


Script = Callable[[FakeSes], None]
PROXY_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
DOCTYPE_502 = b"<!DOCTYPE html>\n<html><head><title>502</title></head><body>down</body></html>"

SCENARIOS: dict[str, tuple[Script, str, int]] = {
    # name: (what the fake SES does, the outcome expected, SES calls made)
    "accepted": (lambda f: None, "sent", 1),
    "throttled, then accepted by botocore's retry": (lambda f: f.fail_next(1), "sent", 2),
    "throttled twice": (lambda f: f.fail_next(2), "SesTransientError Throttling", 2),
    "daily quota": (
        lambda f: f.fail_next(2, message="Daily message quota exceeded."),
        "SesTransientError Throttling",
        2,
    ),
    "429": (
        lambda f: f.fail_next(2, "TooManyRequestsException", 429, "Too Many Requests"),
        "SesTransientError TooManyRequestsException",
        2,
    ),
    "LimitExceededException": (
        lambda f: f.fail_next(2, "LimitExceededException", 400, "Sending rate exceeded"),
        "SesTransientError LimitExceededException",
        2,
    ),
    "500 twice": (
        lambda f: f.fail_next(2, "InternalFailure", 500, "An internal error occurred."),
        "SesTransientError InternalFailure",
        2,
    ),
    "503, then accepted": (
        lambda f: f.fail_next(1, "ServiceUnavailable", 503, "Service Unavailable"),
        "sent",
        2,
    ),
    "MessageRejected": (
        lambda f: f.fail_next(1, "MessageRejected", 400, "Email address is not verified."),
        "SesPermanentError MessageRejected",
        1,
    ),
    "MailFromDomainNotVerifiedException": (
        lambda f: f.fail_next(1, "MailFromDomainNotVerifiedException", 400, "not verified"),
        "SesPermanentError MailFromDomainNotVerifiedException",
        1,
    ),
    "AccountSendingPausedException": (
        lambda f: f.fail_next(1, "AccountSendingPausedException", 400, "Sending paused"),
        "SesTransientError AccountSendingPausedException",
        1,
    ),
    "SendingPausedException": (
        lambda f: f.fail_next(1, "SendingPausedException", 400, "Sending paused"),
        "SesTransientError SendingPausedException",
        1,
    ),
    "ConfigurationSetSendingPausedException": (
        lambda f: f.fail_next(1, "ConfigurationSetSendingPausedException", 400, "paused"),
        "SesTransientError ConfigurationSetSendingPausedException",
        1,
    ),
    "AccountSuspendedException": (
        lambda f: f.fail_next(1, "AccountSuspendedException", 400, "suspended"),
        "SesPermanentError AccountSuspendedException",
        1,
    ),
    "ExpiredToken": (
        lambda f: f.fail_next(1, "ExpiredToken", 403, "The security token has expired."),
        "SesTransientError ExpiredToken",
        1,
    ),
    "reset twice": (lambda f: f.drop_next(2), "SesTransientError ConnectionClosedError", 2),
    "reset, then accepted": (lambda f: f.drop_next(1), "sent", 2),
    "slow twice (timeout)": (lambda f: f.delay_next(2, 5), "SesTransientError ReadTimeoutError", 2),
    "a proxy's 502 page twice": (
        lambda f: f.answer_next(2, 502, PROXY_502),
        "SesTransientError 502",
        2,
    ),
    "a 502 page with a doctype": (
        lambda f: f.answer_next(2, 502, DOCTYPE_502),
        "",  # each API's parser reads it its own way: compared, not named
        2,
    ),
    "a 403 page": (lambda f: f.answer_next(1, 403, b"<html>Forbidden</html>"), "", 1),
    "a 400 in plain text": (
        lambda f: f.answer_next(1, 400, b"Bad Request", "text/plain"),
        "",
        1,
    ),
}


async def outcome(
    tmp_path: Path,
    aws_env: pytest.MonkeyPatch,
    path: str,
    api: str,
    script: Script,
    timeout: float = 10.0,
) -> tuple[str, str, int]:
    """Send one message over `path` to a fresh fake SES doing `script` and checking signatures:
    the outcome (`sent`, or the error's class and code), its words (the endpoint's URL masked)
    and the calls SES got. `timeout`: short only where the answer is meant to be slow, so that a
    loaded machine never turns a prompt answer into a timeout and a retry."""
    with FakeSes(secret_keys={"testing": "testing"}) as fake:  # aws_env's credentials
        aws_env.setenv("AWS_ENDPOINT_URL", fake.url)
        script(fake)
        settings = make_settings(
            tmp_path,
            "sqlite+aiosqlite://",
            ses_send_api=api,
            ses_send_path=path,
            ses_timeout=timeout,
        )
        async with SesClientProvider(settings) as provider:
            try:
                await SesSender(provider, settings).send("acme", OUTGOING)
                result, words = "sent", ""
            except SesError as exc:
                result, words = f"{type(exc).__name__} {exc.code}", str(exc)
            except Exception as exc:  # what the worker takes as unexpected
                result, words = type(exc).__name__, str(exc)
        # A slow answer would be accepted after 5 s: stopping the fake drops it first.
        calls = sum(fake.fault_counts.values()) + len(fake.messages())
        return result, words.replace(fake.url, "<ses>"), calls


@pytest.mark.parametrize("api", ["v2", "v1"])
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_both_paths_end_alike(
    scenario: str, api: str, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    """The retries, the error's class, code and words: the direct path's are the aioboto3
    client's, and they are what the worker expects."""
    script, expected, calls = SCENARIOS[scenario]
    timeout = 0.5 if scenario.startswith("slow") else 10.0
    direct = await outcome(tmp_path, aws_env, "direct", api, script, timeout)
    aioboto3 = await outcome(tmp_path, aws_env, "aioboto3", api, script, timeout)
    assert direct == aioboto3
    if expected:
        assert direct[0] == expected
    assert direct[2] == calls


async def test_an_unreachable_endpoint_ends_alike(
    tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    results = []
    for path in ("direct", "aioboto3"):
        settings = make_settings(tmp_path, "sqlite+aiosqlite://", ses_send_path=path)
        async with SesClientProvider(settings) as provider:
            with pytest.raises(SesError) as caught:
                await SesSender(provider, settings).send("acme", OUTGOING)
        results.append((type(caught.value), caught.value.code, str(caught.value)))
    assert results[0] == results[1]
    assert results[0][1] == "EndpointConnectionError"


@pytest.fixture
def https_ses(tmp_path: Path) -> Iterator[tuple[FakeSes, Path]]:
    """A fake SES over HTTPS with a certificate of the tests' CA, and that CA's file."""
    cert, key, ca = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.write_bytes(pem(authority().issue(tls_key(), "127.0.0.1")))
    key.write_bytes(
        tls_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca.write_bytes(pem(authority().certificate))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with FakeSes(tls=context) as server:
        yield server, ca


async def test_https_verifies_with_the_session_s_ca_bundle(
    https_ses: tuple[FakeSes, Path],
    tmp_path: Path,
    aws_env: pytest.MonkeyPatch,
    ses_send_path: str,
) -> None:
    """`AWS_CA_BUNDLE` (the session's `ca_bundle`) is trusted, and only it: an endpoint whose
    certificate it does not vouch for is an `SSLError`, transient, as through aioboto3."""
    server, ca = https_ses
    aws_env.setenv("AWS_ENDPOINT_URL", server.url)
    settings = make_settings(tmp_path, "sqlite+aiosqlite://", ses_send_path=ses_send_path)
    async with SesClientProvider(settings) as provider:
        with pytest.raises(SesTransientError, match=r"^SSLError: SSL validation failed"):
            await SesSender(provider, settings).send("acme", OUTGOING)
    aws_env.setenv("AWS_CA_BUNDLE", str(ca))
    async with SesClientProvider(settings) as provider:
        message_id = await SesSender(provider, settings).send("acme", OUTGOING)
    assert [m.message_id for m in server.messages()] == [message_id]


async def test_an_http_proxy_from_the_environment_is_used(
    tmp_path: Path, aws_env: pytest.MonkeyPatch, ses_send_path: str
) -> None:
    """`HTTP_PROXY` carries the send to an endpoint this machine cannot reach itself (the fake
    SES plays the proxy), signed for the endpoint's own host."""
    with FakeSes(secret_keys={"testing": "testing"}) as proxy:
        aws_env.setenv("AWS_ENDPOINT_URL", "http://ses.invalid:8080")
        aws_env.setenv("HTTP_PROXY", proxy.url)
        aws_env.delenv("NO_PROXY", raising=False)
        aws_env.delenv("no_proxy", raising=False)
        settings = make_settings(tmp_path, "sqlite+aiosqlite://", ses_send_path=ses_send_path)
        async with SesClientProvider(settings) as provider:
            message_id = await SesSender(provider, settings).send("acme", OUTGOING)
        assert [m.message_id for m in proxy.messages()] == [message_id]
