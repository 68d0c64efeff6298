"""SNS deliveries: the real AWS test vectors, messages signed by the tests' own CA, certificate
URL rules, the certificate cache, and fetches from a stand-in SNS over real HTTPS on loopback."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from gateway.core.exceptions import FetchError, SnsError
from gateway.feedback import sns
from gateway.feedback.sns import (
    MAX_BODY_SIZE,
    MAX_CLOCK_SKEW,
    SnsMessage,
    SnsVerifier,
    check_signing_cert_url,
    check_subscribe_url,
    parse,
    string_to_sign,
)
from tests.support.certs import authority, pem, tls_key
from tests.support.snssigner import TEST_CERT_NAME, TOPIC_ARN, SnsSigner, body, fake_sns

DATA = Path(__file__).parents[2] / "data" / "sns"
AWS_CERT = "SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"
AWS_VALID = [
    "hello_v1_sns_body.json",
    "hello_v1_subject_sns_body.json",
    "hello_v2_sns_body.json",
    "hello_v2_subject_sns_body.json",
    "subscription_confirmation_invalid_sns_body.json",
]
AWS_EDITED = ["hard_bounce_sns_body.json", "soft_bounce_sns_body.json", "spam_bounce_sns_body.json"]
AWS_CONFIRMATION_TOPIC = "arn:aws:sns:us-east-1:032756942992:dev-relay-2022-04"


class RecordingFetch:
    """A fetch that serves `answers` by URL and records every call (None: fail the test)."""

    def __init__(self, answers: dict[str, bytes] | None = None) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if self.answers is None:
            pytest.fail(f"nothing may be fetched here, but {url} was")
        if url not in self.answers:
            raise FetchError(f"GET {url}: HTTP 404", 404)
        return self.answers[url]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """`https_fetch` honours proxy variables: a developer's proxy must not see the fake SNS."""
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def signer() -> SnsSigner:
    return SnsSigner()


@pytest.fixture
def aws_cert_dir(tmp_path: Path) -> Path:
    """A certificate cache seeded with the AWS sample certificate, as an operator would."""
    cert_dir = tmp_path / "sns-certs"
    cert_dir.mkdir()
    (cert_dir / AWS_CERT).write_bytes((DATA / AWS_CERT).read_bytes())
    return cert_dir


@pytest.fixture
def seeded(tmp_path: Path, signer: SnsSigner) -> Path:
    """A certificate cache seeded with the test signer's certificate."""
    cert_dir = tmp_path / "sns-certs"
    cert_dir.mkdir()
    (cert_dir / TEST_CERT_NAME).write_bytes(signer.cert_pem)
    return cert_dir


def verifier(
    cert_dir: Path,
    *,
    allowed_topics: frozenset[str] | None = None,
    max_age: float | None = 3600,
    fetch: RecordingFetch | None = None,
) -> SnsVerifier:
    return SnsVerifier(cert_dir, allowed_topics, max_age, fetch=fetch or RecordingFetch())


async def refused(checker: SnsVerifier, payload: bytes, status: int) -> str:
    """Verifying `payload` fails with `status`; the reason."""
    with pytest.raises(SnsError) as caught:
        await checker.verify(payload)
    assert caught.value.status == status, caught.value
    return str(caught.value)


# The real deliveries SNS signed (tests/data/sns)


@pytest.mark.parametrize("name", AWS_VALID)
async def test_real_aws_deliveries_verify(aws_cert_dir: Path, name: str) -> None:
    payload = (DATA / name).read_bytes()
    envelope = json.loads(payload)

    message = await verifier(aws_cert_dir, max_age=None).verify(payload)

    assert message.type == envelope["Type"]
    assert message.message_id == envelope["MessageId"]
    assert message.topic_arn == envelope["TopicArn"]
    assert message.message == envelope["Message"]
    assert message.subject == envelope.get("Subject")
    assert message.timestamp.tzinfo is not None
    assert message.timestamp.isoformat(timespec="milliseconds") == envelope["Timestamp"].replace(
        "Z", "+00:00"
    )
    assert message.signature_version == envelope["SignatureVersion"]
    assert message.signing_cert_url == envelope["SigningCertURL"]
    assert message.subscribe_url == envelope.get("SubscribeURL")
    assert message.token == envelope.get("Token")


async def test_real_aws_confirmation_of_another_topic_is_refused(aws_cert_dir: Path) -> None:
    payload = (DATA / "subscription_confirmation_invalid_sns_body.json").read_bytes()
    ours = verifier(aws_cert_dir, allowed_topics=frozenset({TOPIC_ARN}), max_age=None)

    reason = await refused(ours, payload, 403)

    assert AWS_CONFIRMATION_TOPIC in reason
    assert "not allowed" in reason
    allowed = verifier(
        aws_cert_dir, allowed_topics=frozenset({AWS_CONFIRMATION_TOPIC}), max_age=None
    )
    assert (await allowed.verify(payload)).type == "SubscriptionConfirmation"


@pytest.mark.parametrize("name", AWS_EDITED)
async def test_real_aws_deliveries_edited_after_signing_are_refused(
    aws_cert_dir: Path, name: str
) -> None:
    reason = await refused(verifier(aws_cert_dir, max_age=None), (DATA / name).read_bytes(), 403)
    assert "Signature does not verify" in reason


async def test_real_aws_deliveries_are_too_old_with_the_default_max_age(aws_cert_dir: Path) -> None:
    payload = (DATA / "hello_v2_sns_body.json").read_bytes()
    assert "SNS_MAX_AGE" in await refused(verifier(aws_cert_dir, max_age=3600), payload, 403)


def test_string_to_sign_of_a_real_notification() -> None:
    envelope = json.loads((DATA / "hello_v1_subject_sns_body.json").read_bytes())
    assert string_to_sign(envelope) == (
        b"Message\nHello world\n"
        b"MessageId\n11405cc3-9ac7-56d5-b45d-079e8f7a8edf\n"
        b"Subject\nHello world\n"
        b"Timestamp\n2022-07-28T22:53:49.654Z\n"
        b"TopicArn\narn:aws:sns:us-east-2:295079676684:"
        b"publish-and-verify-6e11fed2-fcdf-4c52-9dc4-36ef43f37f84\n"
        b"Type\nNotification\n"
    )


# Messages signed by the tests' CA


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", [None, "Amazon SES Email Event Notification"])
async def test_signed_notification_verifies(
    seeded: Path, signer: SnsSigner, version: str, subject: str | None
) -> None:
    envelope = signer.notification('{"eventType":"Send"}', subject=subject, version=version)

    message = await verifier(seeded).verify(body(envelope))

    assert message.type == "Notification"
    assert message.message == '{"eventType":"Send"}'
    assert message.subject == subject
    assert message.signature_version == version
    assert message.subscribe_url is None
    assert message.token is None


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
async def test_signed_confirmation_verifies(
    seeded: Path, signer: SnsSigner, version: str, kind: str
) -> None:
    envelope = signer.confirmation(kind, version=version)

    message = await verifier(seeded, allowed_topics=frozenset({TOPIC_ARN})).verify(body(envelope))

    assert message.type == kind
    assert message.subscribe_url == envelope["SubscribeURL"]
    assert message.token == envelope["Token"]


async def test_non_ascii_message_verifies(seeded: Path, signer: SnsSigner) -> None:
    envelope = signer.notification('{"subject":"Grüße 📨"}', subject="Ünïcode", version="2")
    assert (await verifier(seeded).verify(body(envelope))).subject == "Ünïcode"


@pytest.mark.parametrize(
    ("kind", "key", "value"),
    [
        ("Notification", "Message", '{"eventType":"Bounce"}'),
        ("Notification", "MessageId", "00000000-0000-0000-0000-000000000000"),
        ("Notification", "Subject", "changed"),
        ("Notification", "Timestamp", "2000-01-01T00:00:00.000Z"),
        ("Notification", "TopicArn", "arn:aws:sns:us-east-1:123456789012:other"),
        ("Notification", "SignatureVersion", "2"),
        ("Notification", "Signature", "AAAA"),
        ("SubscriptionConfirmation", "SubscribeURL", "https://sns.us-east-1.amazonaws.com/?x=1"),
        ("SubscriptionConfirmation", "Token", "0123"),
        ("SubscriptionConfirmation", "Type", "UnsubscribeConfirmation"),
    ],
)
async def test_a_changed_signed_field_is_refused(
    seeded: Path, signer: SnsSigner, kind: str, key: str, value: str
) -> None:
    if kind == "Notification":
        envelope = signer.notification(subject="original", timestamp=datetime.now(UTC))
    else:
        envelope = signer.confirmation(kind)

    changed = {**envelope, key: value}

    assert "Signature does not verify" in await refused(
        verifier(seeded, max_age=None), body(changed), 403
    )


async def test_adding_or_removing_the_subject_is_refused(seeded: Path, signer: SnsSigner) -> None:
    without = signer.notification()
    with_subject = signer.notification(subject="hi")
    removed = {k: v for k, v in with_subject.items() if k != "Subject"}

    await refused(verifier(seeded), body({**without, "Subject": ""}), 403)
    await refused(verifier(seeded), body(removed), 403)


async def test_unsigned_fields_are_ignored(seeded: Path, signer: SnsSigner) -> None:
    plain = signer.notification()
    envelope = {**plain, "UnsubscribeURL": "https://evil.example/", "Extra": 1}
    assert await verifier(seeded).verify(body(envelope)) == parse(body(plain))


@pytest.mark.parametrize("version", ["3", "", "1.0", "SHA256"])
async def test_unknown_signature_version_is_refused(
    seeded: Path, signer: SnsSigner, version: str
) -> None:
    envelope = {**signer.notification(), "SignatureVersion": version}
    assert "SignatureVersion" in await refused(verifier(seeded), body(envelope), 403)


async def test_signature_that_is_not_base64_is_refused(seeded: Path, signer: SnsSigner) -> None:
    envelope = {**signer.notification(), "Signature": "not base64!"}
    assert "base64" in await refused(verifier(seeded), body(envelope), 403)


async def test_signature_with_characters_outside_base64_is_refused(
    seeded: Path, signer: SnsSigner
) -> None:
    """Not read past them: the genuine signature with a `*` inside is not a signature."""
    envelope = signer.notification()
    signature = envelope["Signature"]
    envelope["Signature"] = f"{signature[:10]}*{signature[10:]}"
    reason = await refused(verifier(seeded), body(envelope), 403)
    assert reason == "the Signature is not base64"


async def test_signature_by_another_key_is_refused(tmp_path: Path, signer: SnsSigner) -> None:
    """The AWS certificate seeded under the test certificate's name: right URL, wrong key."""
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    (cert_dir / TEST_CERT_NAME).write_bytes((DATA / AWS_CERT).read_bytes())
    await refused(verifier(cert_dir), body(signer.notification()), 403)


# Topics and age


async def test_allowed_topic_is_accepted_and_others_refused(
    seeded: Path, signer: SnsSigner
) -> None:
    other = "arn:aws:sns:us-east-1:999999999999:someone-elses"
    checker = verifier(seeded, allowed_topics=frozenset({TOPIC_ARN}))

    await checker.verify(body(signer.notification()))
    reason = await refused(checker, body(signer.notification(topic_arn=other)), 403)

    assert other in reason
    checker.allowed_topics = frozenset({TOPIC_ARN, other})  # a topic the gateway just created
    await checker.verify(body(signer.notification(topic_arn=other)))


async def test_empty_allowlist_refuses_every_topic(seeded: Path, signer: SnsSigner) -> None:
    await refused(verifier(seeded, allowed_topics=frozenset()), body(signer.notification()), 403)


async def test_too_old_is_refused(seeded: Path, signer: SnsSigner) -> None:
    old = signer.notification(timestamp=datetime.now(UTC) - timedelta(seconds=61))
    recent = signer.notification(timestamp=datetime.now(UTC) - timedelta(seconds=50))

    reason = await refused(verifier(seeded, max_age=60), body(old), 403)

    assert "SNS_MAX_AGE" in reason
    await verifier(seeded, max_age=60).verify(body(recent))


async def test_far_future_is_refused(seeded: Path, signer: SnsSigner) -> None:
    future = signer.notification(timestamp=datetime.now(UTC) + timedelta(minutes=6))
    near = signer.notification(timestamp=datetime.now(UTC) + timedelta(minutes=4))

    assert "future" in await refused(verifier(seeded), body(future), 403)
    await verifier(seeded).verify(body(near))


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The verifier's clock stopped at a whole second (SNS timestamps have milliseconds)."""
    now = datetime.now(UTC).replace(microsecond=0)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Clock:
            return cls.fromtimestamp(now.timestamp(), tz)

    monkeypatch.setattr(sns, "datetime", Clock)
    return now


async def test_exactly_max_age_old_or_max_skew_ahead_is_accepted(
    seeded: Path, signer: SnsSigner, frozen_now: datetime
) -> None:
    checker = verifier(seeded, max_age=60)
    oldest = frozen_now - timedelta(seconds=60)
    latest = frozen_now + timedelta(seconds=MAX_CLOCK_SKEW)
    await checker.verify(body(signer.notification(timestamp=oldest)))
    await checker.verify(body(signer.notification(timestamp=latest)))
    too_old = oldest - timedelta(milliseconds=1)
    assert "SNS_MAX_AGE" in await refused(
        checker, body(signer.notification(timestamp=too_old)), 403
    )
    ahead = latest + timedelta(milliseconds=1)
    assert "future" in await refused(checker, body(signer.notification(timestamp=ahead)), 403)


@pytest.mark.parametrize("off", [None, 0])
async def test_max_age_off_accepts_any_time(
    seeded: Path, signer: SnsSigner, off: float | None
) -> None:
    for moment in (datetime(2001, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)):
        await verifier(seeded, max_age=off).verify(body(signer.notification(timestamp=moment)))


# SigningCertURL and SubscribeURL rules

NAME = "SimpleNotificationService-0123456789abcdef.pem"
BAD_CERT_URLS = [
    f"http://sns.us-east-1.amazonaws.com/{NAME}",
    f"https://s3.amazonaws.com/{NAME}",
    f"https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/{NAME}",
    f"https://sns.us-east-1.amazonaws.com.evil.com/{NAME}",
    f"https://sns.us-east-1.amazonaws.com.cn.evil.com/{NAME}",
    f"https://evil.com/sns.us-east-1.amazonaws.com/{NAME}",
    f"https://sns.us-east-1.amazonaws.com@evil.com/{NAME}",
    f"https://user@sns.us-east-1.amazonaws.com/{NAME}",
    f"https://user:pw@sns.us-east-1.amazonaws.com/{NAME}",
    f"https://sns.us-east-1.amazonaws.com:8443/{NAME}",
    f"https://sns.us-east-1.amazonaws.com:80/{NAME}",
    f"https://sns.us-east-1.amazonaws.com:/{NAME}",
    f"https://sns.us-east-1.amazonaws.com./{NAME}",
    f"https://SNS.US-EAST-1.AMAZONAWS.COM/{NAME}",
    f"https://sns.amazonaws.com/{NAME}",
    f"https://sns.us_east_1.amazonaws.com/{NAME}",
    f"https://sns.evil.amazonaws.com/{NAME}",
    f"https://xsns.us-east-1.amazonaws.com/{NAME}",
    f"https://sns.us-east-1.amazonaws.co/{NAME}",
    f"https://sns.us-east-1.amazonaws.com.cn.com/{NAME}",
    f"https://sns.us-east-1.amazonaws.com/{NAME}?x=1",
    f"https://sns.us-east-1.amazonaws.com/{NAME}#x",
    f"https://sns.us-east-1.amazonaws.com/{NAME}\n",
    f"https://sns.us-east-1.amazonaws.com/../{NAME}",
    f"https://sns.us-east-1.amazonaws.com/x/../{NAME}",
    f"https://sns.us-east-1.amazonaws.com//{NAME}",
    f"https://sns.us-east-1.amazonaws.com/a/{NAME}",
    f"https://sns.us-east-1.amazonaws.com\\@evil.com/{NAME}",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-%2e%2e.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-a.b.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem.exe",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.txt",
    "https://sns.us-east-1.amazonaws.com/other-abc.pem",
    "https://sns.us-east-1.amazonaws.com/",
    " https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "//sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "",
    # Look-alikes, each a host (or name) anyone can register, one per `.` of the rule:
    f"https://sns.us-east-1-amazonaws.com/{NAME}",
    f"https://sns-us-east-1.amazonaws.com/{NAME}",
    f"https://sns.us-east-1.amazonaws-com/{NAME}",
    f"https://sns.us-east-1.amazonaws.com-cn/{NAME}",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc-pem",
]


@pytest.mark.parametrize("url", BAD_CERT_URLS)
async def test_bad_cert_url_is_refused_without_fetching(
    tmp_path: Path, signer: SnsSigner, url: str
) -> None:
    """The fetch would serve a good certificate for any URL: only the URL rule stops it."""
    fetch = RecordingFetch(dict.fromkeys(BAD_CERT_URLS, signer.cert_pem))
    envelope = signer.notification(cert_url=url)

    reason = await refused(verifier(tmp_path, fetch=fetch), body(envelope), 403)

    assert "SigningCertURL" in reason
    assert fetch.calls == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (f"https://sns.us-east-1.amazonaws.com/{NAME}", NAME),
        (f"https://sns.us-east-1.amazonaws.com:443/{NAME}", NAME),
        (f"https://sns.cn-north-1.amazonaws.com.cn/{NAME}", NAME),
        (f"https://sns.us-gov-west-1.amazonaws.com/{NAME}", NAME),
        (f"https://sns.ap-southeast-2.amazonaws.com/{NAME}", NAME),
        (f"https://sns.il-central-1.amazonaws.com/{AWS_CERT}", AWS_CERT),
        ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-dev_cert-2.pem", None),
    ],
)
def test_sns_cert_urls_are_accepted(url: str, name: str | None) -> None:
    assert check_signing_cert_url(url) == (name or url.rsplit("/", 1)[1])


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=1",
        "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription&Token=1",
        "https://evil.com/?Action=ConfirmSubscription&Token=1",
        "https://s3.amazonaws.com/?Action=ConfirmSubscription",
        "https://user@sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com@evil.com/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com:8443/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription#x",
        "https://sns.us-east-1.amazonaws.com/?Action=Confirm Subscription",
        "https://sns.us-east-1.amazonaws.com\\@evil.com/",
        "https://sns.us-east-1.amazonaws.com?@evil.com/",
        "https://sns.us-east-1-amazonaws.com/?Action=ConfirmSubscription",
        "javascript:alert(1)",
    ],
)
def test_non_sns_subscribe_urls_are_refused(url: str) -> None:
    with pytest.raises(SnsError) as caught:
        check_subscribe_url(url)
    assert caught.value.status == 403


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
        "arn:aws:sns:us-east-1:032756942992:dev-relay-2022-04&Token=2336412f37fb",
        "https://sns.cn-north-1.amazonaws.com.cn:443/?Action=ConfirmSubscription&Token=1",
        "https://sns.us-gov-west-1.amazonaws.com",
    ],
)
def test_sns_subscribe_urls_are_accepted(url: str) -> None:
    check_subscribe_url(url)


# The certificate cache


async def test_fetched_certificate_is_kept_in_memory_and_on_disk(
    tmp_path: Path, signer: SnsSigner
) -> None:
    cert_dir = tmp_path / "data" / "sns-certs"  # made when first needed
    fetch = RecordingFetch({signer.cert_url: signer.cert_pem})
    checker = verifier(cert_dir, fetch=fetch)

    await checker.verify(body(signer.notification()))
    (cert_dir / TEST_CERT_NAME).unlink()
    await checker.verify(body(signer.notification(version="2")))

    assert fetch.calls == [signer.cert_url]
    await checker.verify(body(signer.notification()))  # memory, though the file is gone
    assert fetch.calls == [signer.cert_url]


async def test_certificate_on_disk_is_used_without_fetching(
    tmp_path: Path, signer: SnsSigner
) -> None:
    cert_dir = tmp_path / "certs"
    fetch = RecordingFetch({signer.cert_url: signer.cert_pem})
    await verifier(cert_dir, fetch=fetch).verify(body(signer.notification()))

    assert (cert_dir / TEST_CERT_NAME).read_bytes() == signer.cert_pem
    assert [p.name for p in cert_dir.iterdir()] == [TEST_CERT_NAME]  # no temporary files left
    await verifier(cert_dir).verify(body(signer.notification()))  # a new process: no fetch


async def test_certificate_is_cached_by_file_name_across_regions(
    seeded: Path, signer: SnsSigner
) -> None:
    """Like the AWS samples (us-east-1 and us-east-2 name the same file)."""
    elsewhere = SnsSigner(region="eu-west-1")
    await verifier(seeded).verify(body(elsewhere.notification()))


async def test_certificate_sns_does_not_have_is_refused(tmp_path: Path, signer: SnsSigner) -> None:
    fetch = RecordingFetch({})  # 404 for everything

    reason = await refused(verifier(tmp_path, fetch=fetch), body(signer.notification()), 403)

    assert "no certificate" in reason
    assert list(tmp_path.iterdir()) == []


async def test_sns_unreachable_is_502(tmp_path: Path, signer: SnsSigner) -> None:
    async def down(url: str) -> bytes:
        raise FetchError(f"GET {url}: no answer within 5 s")

    checker = SnsVerifier(tmp_path, None, 3600, fetch=down)
    await refused(checker, body(signer.notification()), 502)


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_sns_failing_to_serve_the_certificate_is_502_so_sns_retries(
    tmp_path: Path, signer: SnsSigner, status: int
) -> None:
    """A 5xx or a 429 from SNS says nothing about the certificate: not 403, which is final."""

    async def failing(url: str) -> bytes:
        raise FetchError(f"GET {url}: HTTP {status}", status)

    checker = SnsVerifier(tmp_path, None, 3600, fetch=failing)
    reason = await refused(checker, body(signer.notification()), 502)
    assert reason == f"GET {signer.cert_url}: HTTP {status}"


@pytest.mark.parametrize("status", [400, 403, 404, 410])
async def test_a_certificate_sns_refuses_to_serve_is_403(
    tmp_path: Path, signer: SnsSigner, status: int
) -> None:
    async def refusing(url: str) -> bytes:
        raise FetchError(f"GET {url}: HTTP {status}", status)

    checker = SnsVerifier(tmp_path, None, 3600, fetch=refusing)
    reason = await refused(checker, body(signer.notification()), 403)
    assert (
        reason
        == f"SNS has no certificate at {signer.cert_url} (GET {signer.cert_url}: HTTP {status})"
    )


async def test_a_certificate_without_an_rsa_key_is_refused(
    tmp_path: Path, signer: SnsSigner
) -> None:
    """Fetched from SNS: 502 (SNS retries); in the operator's `cert_dir`: 500 (fix the file)."""
    ec_pem = pem(authority().issue(tls_key(), "sns.amazonaws.com"))
    fetch = RecordingFetch({signer.cert_url: ec_pem})
    reason = await refused(verifier(tmp_path, fetch=fetch), body(signer.notification()), 502)
    assert reason == (
        f"{signer.cert_url} is not a PEM certificate with an RSA key: "
        "the certificate's key is not an RSA key"
    )
    assert list(tmp_path.iterdir()) == []
    (tmp_path / TEST_CERT_NAME).write_bytes(ec_pem)
    reason = await refused(verifier(tmp_path), body(signer.notification()), 500)
    assert reason == (
        f"{tmp_path / TEST_CERT_NAME} is not a PEM certificate with an RSA key: "
        "the certificate's key is not an RSA key"
    )


async def test_an_unreadable_certificate_file_is_500(tmp_path: Path, signer: SnsSigner) -> None:
    (tmp_path / TEST_CERT_NAME).mkdir()  # a directory where the file should be
    reason = await refused(verifier(tmp_path), body(signer.notification()), 500)
    assert reason.startswith(f"cannot read {tmp_path / TEST_CERT_NAME}: [Errno 21] Is a directory")


async def test_fetched_non_certificate_is_502_and_not_saved(
    tmp_path: Path, signer: SnsSigner
) -> None:
    fetch = RecordingFetch({signer.cert_url: b"<html>hello</html>"})
    await refused(verifier(tmp_path, fetch=fetch), body(signer.notification()), 502)
    assert list(tmp_path.iterdir()) == []


async def test_broken_seeded_file_is_500(tmp_path: Path, signer: SnsSigner) -> None:
    (tmp_path / TEST_CERT_NAME).write_bytes(b"-----BEGIN CERTIFICATE-----\ntruncated")
    reason = await refused(verifier(tmp_path), body(signer.notification()), 500)
    assert TEST_CERT_NAME in reason


async def test_unwritable_cert_dir_still_verifies(
    tmp_path: Path, signer: SnsSigner, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    fetch = RecordingFetch({signer.cert_url: signer.cert_pem})

    await verifier(blocker / "certs", fetch=fetch).verify(body(signer.notification()))

    assert "sns-certificate-not-saved" in caplog.text


async def test_trusted_certificates_replace_fetching_and_are_not_saved(
    tmp_path: Path, signer: SnsSigner
) -> None:
    dev = SnsVerifier(
        tmp_path,
        None,
        3600,
        fetch=RecordingFetch(),
        trusted_certificates={signer.cert_url: signer.cert_pem},
    )
    await dev.verify(body(signer.notification()))
    assert list(tmp_path.iterdir()) == []

    await refused(verifier(tmp_path, fetch=RecordingFetch({})), body(signer.notification()), 403)


def test_trusted_certificate_url_must_follow_the_rule(tmp_path: Path, signer: SnsSigner) -> None:
    with pytest.raises(ValueError, match="SigningCertURL"):
        SnsVerifier(
            tmp_path, None, None, trusted_certificates={"https://localhost/x.pem": signer.cert_pem}
        )


# Malformed bodies


def test_body_over_256_kib_is_413(signer: SnsSigner) -> None:
    envelope = signer.notification("x" * MAX_BODY_SIZE)
    with pytest.raises(SnsError) as caught:
        parse(body(envelope))
    assert caught.value.status == 413


def test_body_of_exactly_256_kib_is_read(signer: SnsSigner) -> None:
    envelope = signer.notification("")
    padding = MAX_BODY_SIZE - len(body(envelope))
    payload = body({**envelope, "Message": "x" * padding})
    assert len(payload) == MAX_BODY_SIZE
    assert len(parse(payload).message) == padding


async def test_oversize_is_refused_before_anything_else(tmp_path: Path) -> None:
    await refused(verifier(tmp_path), b"[" * (MAX_BODY_SIZE + 1), 413)


def _without(key: str) -> dict[str, object]:
    envelope: dict[str, object] = dict(SnsSigner().confirmation())
    del envelope[key]
    return envelope


MALFORMED = {
    "empty": b"",
    "not utf-8": b'{"Type": "Notification\xff"}',
    "not json": b"Type=Notification",
    "truncated": b'{"Type": "Notification", "Message": "',
    "array": b'["Notification"]',
    "string": b'"Notification"',
    "deeply nested": b'{"Type": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "unknown type": json.dumps({"Type": "Publish", "Signature": "x"}).encode(),
    "type not a string": json.dumps({"Type": 1, "Signature": "x"}).encode(),
    "no message": body(_without("Message")),
    "no message id": body(_without("MessageId")),
    "no timestamp": body(_without("Timestamp")),
    "no topic": body(_without("TopicArn")),
    "no signature": body(_without("Signature")),
    "no signature version": body(_without("SignatureVersion")),
    "no cert url": body(_without("SigningCertURL")),
    "confirmation without token": body(_without("Token")),
    "confirmation without subscribe url": body(_without("SubscribeURL")),
    "message not a string": body({**SnsSigner().notification(), "Message": {"eventType": "Send"}}),
    "subject null": body({**SnsSigner().notification(), "Subject": None}),
    "bad timestamp": body({**SnsSigner().notification(), "Timestamp": "yesterday"}),
    "naive timestamp": body({**SnsSigner().notification(), "Timestamp": "2024-01-01T00:00:00"}),
    "timestamp out of range": body(
        {**SnsSigner().notification(), "Timestamp": "0001-01-01T00:00:00+01:00"}
    ),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_body_is_400(tmp_path: Path, payload: bytes) -> None:
    await refused(verifier(tmp_path), payload, 400)


@pytest.mark.parametrize(
    "name",
    ["bounce_event_example_ses_body.json", "bounce_notification_with_dsn_example_ses_body.json"],
)
async def test_raw_message_delivery_is_400_with_the_fix(tmp_path: Path, name: str) -> None:
    reason = await refused(verifier(tmp_path), (DATA / "raw-delivery" / name).read_bytes(), 400)
    assert "turn raw message delivery off" in reason


async def test_any_json_without_envelope_mentions_raw_delivery(tmp_path: Path) -> None:
    assert "raw message delivery" in await refused(verifier(tmp_path), b'{"hello": "world"}', 400)


def test_parse_does_not_verify(signer: SnsSigner) -> None:
    envelope = {**signer.notification(subject="s"), "Signature": "forged"}
    message = parse(body(envelope))
    assert message == SnsMessage(
        type="Notification",
        message_id=envelope["MessageId"],
        topic_arn=TOPIC_ARN,
        message=envelope["Message"],
        subject="s",
        timestamp=datetime.fromisoformat(envelope["Timestamp"]),
        signature_version="1",
        signature="forged",
        signing_cert_url=signer.cert_url,
    )
    assert message.timestamp.utcoffset() == timedelta(0)


# Real HTTPS: https_fetch against a stand-in SNS on loopback, trusted through the test CA


async def test_certificate_fetched_over_https_and_cached(tmp_path: Path, signer: SnsSigner) -> None:
    async with fake_sns() as sns:
        sns.certificates[TEST_CERT_NAME] = signer.cert_pem
        checker = SnsVerifier(tmp_path, None, 3600, fetch=sns.fetch())

        await checker.verify(body(signer.notification()))
        await SnsVerifier(tmp_path, None, 3600, fetch=sns.fetch()).verify(
            body(signer.notification())
        )

    assert sns.requests == [f"/{TEST_CERT_NAME}"]
    assert (tmp_path / TEST_CERT_NAME).read_bytes() == signer.cert_pem


async def test_certificate_missing_at_sns_is_403(tmp_path: Path, signer: SnsSigner) -> None:
    async with fake_sns() as sns:
        checker = SnsVerifier(tmp_path, None, 3600, fetch=sns.fetch())
        await refused(checker, body(signer.notification()), 403)


async def test_https_fetch_verifies_the_servers_certificate(signer: SnsSigner) -> None:
    async with fake_sns() as sns:
        sns.certificates[TEST_CERT_NAME] = signer.cert_pem
        default_trust = sns.fetch(ssl_context=None)  # the system's CAs do not know the test CA

        with pytest.raises(FetchError) as caught:
            await default_trust(signer.cert_url)

    assert caught.value.status == 502
    assert caught.value.http_status is None
    assert "certificate" in str(caught.value).lower()


async def test_https_fetch_checks_the_host_name(signer: SnsSigner) -> None:
    served = ["sns.us-east-1.amazonaws.com", "sns.eu-west-2.amazonaws.com"]
    async with fake_sns(served, certificate_for=["sns.us-east-1.amazonaws.com"]) as sns:
        sns.certificates[TEST_CERT_NAME] = signer.cert_pem

        assert await sns.fetch()(signer.cert_url) == signer.cert_pem
        with pytest.raises(FetchError):  # the server's certificate is not for this name
            await sns.fetch()(f"https://sns.eu-west-2.amazonaws.com/{TEST_CERT_NAME}")


async def test_https_fetch_does_not_follow_redirects(signer: SnsSigner) -> None:
    async with fake_sns() as sns:
        sns.answer = (302, b"")
        with pytest.raises(FetchError) as caught:
            await sns.fetch()(signer.cert_url)
    assert caught.value.http_status == 302
    assert sns.requests == [f"/{TEST_CERT_NAME}"]


async def test_https_fetch_gives_up_after_its_timeout(signer: SnsSigner) -> None:
    async with fake_sns() as sns:
        sns.delay = 2
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"no answer within 0\.2 s"):
            await sns.fetch(timeout=0.2)(signer.cert_url)
    assert time.monotonic() - started < 1.5


async def test_https_fetch_limits_the_size(signer: SnsSigner) -> None:
    async with fake_sns() as sns:
        sns.answer = (200, b"x" * 2000)
        assert len(await sns.fetch(max_size=2000)(signer.cert_url)) == 2000
        with pytest.raises(FetchError, match="over 1999 bytes"):
            await sns.fetch(max_size=1999)(signer.cert_url)


async def test_https_fetch_reaches_no_other_host(signer: SnsSigner) -> None:
    async with fake_sns() as sns:
        with pytest.raises(FetchError):
            await sns.fetch()("https://sns.ap-south-1.amazonaws.com/x")
    assert sns.requests == []


# Confirming subscriptions


async def test_subscription_is_confirmed_at_its_subscribe_url(
    seeded: Path, signer: SnsSigner
) -> None:
    envelope = signer.confirmation(version="2")
    async with fake_sns() as sns:
        checker = SnsVerifier(seeded, frozenset({TOPIC_ARN}), 3600, fetch=sns.fetch())
        message = await checker.verify(body(envelope))

        subscription = await checker.confirm_subscription(message)

    assert subscription == sns.confirmed[0]
    assert subscription.startswith(TOPIC_ARN + ":")
    expected = envelope["SubscribeURL"].removeprefix("https://sns.us-east-1.amazonaws.com")
    assert sns.requests == [expected]


async def test_confirmation_failure_is_502(seeded: Path, signer: SnsSigner) -> None:
    async with fake_sns() as sns:
        sns.answer = (403, b"<ErrorResponse><Error><Code>AuthorizationError</Code></Error>")
        checker = SnsVerifier(seeded, None, 3600, fetch=sns.fetch())
        message = await checker.verify(body(signer.confirmation()))

        with pytest.raises(SnsError) as caught:
            await checker.confirm_subscription(message)

    assert caught.value.status == 502
    assert TOPIC_ARN in str(caught.value)


async def test_confirmation_answer_without_arn_returns_none(
    seeded: Path, signer: SnsSigner
) -> None:
    fetch = RecordingFetch()
    checker = verifier(seeded, fetch=fetch)
    message = await checker.verify(body(signer.confirmation()))
    fetch.answers = {message.subscribe_url or "": b"<ok/>"}

    assert await checker.confirm_subscription(message) is None
    assert fetch.calls == [message.subscribe_url]


async def test_confirmation_answer_that_is_not_utf8_still_gives_the_arn(
    seeded: Path, signer: SnsSigner
) -> None:
    fetch = RecordingFetch()
    checker = verifier(seeded, fetch=fetch)
    message = await checker.verify(body(signer.confirmation()))
    arn = f"{TOPIC_ARN}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
    answer = f"<SubscriptionArn>{arn}</SubscriptionArn><x>\xff</x>".encode("latin-1")
    fetch.answers = {message.subscribe_url or "": answer}

    assert await checker.confirm_subscription(message) == arn


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
        "https://127.0.0.1/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com:444/?Action=ConfirmSubscription",
    ],
)
async def test_subscription_is_not_confirmed_at_another_host(
    seeded: Path, signer: SnsSigner, url: str
) -> None:
    fetch = RecordingFetch()
    checker = verifier(seeded, fetch=fetch)
    message = await checker.verify(body(signer.confirmation(subscribe_url=url)))

    with pytest.raises(SnsError) as caught:
        await checker.confirm_subscription(message)

    assert caught.value.status == 403
    assert fetch.calls == []


async def test_subscription_to_a_topic_not_allowed_is_not_confirmed(
    aws_cert_dir: Path,
) -> None:
    payload = (DATA / "subscription_confirmation_invalid_sns_body.json").read_bytes()
    fetch = RecordingFetch()
    checker = verifier(aws_cert_dir, max_age=None, fetch=fetch)
    message = await checker.verify(payload)
    checker.allowed_topics = frozenset({TOPIC_ARN})

    with pytest.raises(SnsError) as caught:
        await checker.confirm_subscription(message)

    assert caught.value.status == 403
    assert fetch.calls == []


@pytest.mark.parametrize("kind", ["Notification", "UnsubscribeConfirmation"])
async def test_only_subscription_confirmations_are_confirmed(
    seeded: Path, signer: SnsSigner, kind: str
) -> None:
    envelope = signer.notification() if kind == "Notification" else signer.confirmation(kind)
    fetch = RecordingFetch()
    checker = verifier(seeded, fetch=fetch)
    message = await checker.verify(body(envelope))

    with pytest.raises(SnsError) as caught:
        await checker.confirm_subscription(message)

    assert caught.value.status == 400
    assert fetch.calls == []


# Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SES_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("clean_env")
def test_settings_sns_defaults() -> None:
    settings = load_settings()
    assert settings.sns_topic_arns == []
    assert settings.sns_max_age == 3600


@pytest.mark.usefixtures("clean_env")
def test_settings_topic_arns_comma_separated_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = "arn:aws-cn:sns:cn-north-1:123456789012:x"
    monkeypatch.setenv("SES_GATEWAY_SNS_TOPIC_ARNS", f" {TOPIC_ARN}, {other} ,")
    monkeypatch.setenv("SES_GATEWAY_SNS_MAX_AGE", "0")
    settings = load_settings()
    assert settings.sns_topic_arns == [TOPIC_ARN, other]
    assert settings.sns_max_age == 0


@pytest.mark.usefixtures("clean_env")
def test_settings_topic_arns_as_a_toml_list(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'sns_topic_arns = ["{TOPIC_ARN}"]\nsns_max_age = 600\n')
    settings = load_settings(config)
    assert settings.sns_topic_arns == [TOPIC_ARN]
    assert settings.sns_max_age == 600


@pytest.mark.usefixtures("clean_env")
def test_settings_negative_max_age_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SES_GATEWAY_SNS_MAX_AGE", "-1")
    with pytest.raises(ConfigError, match="SES_GATEWAY_SNS_MAX_AGE"):
        load_settings()
