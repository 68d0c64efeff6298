"""The SES mailbox simulator, offline, for `serve --dev`.

Mail sent to `success@`, `bounce@`, `ooto@`, `complaint@` or
`suppressionlist@simulator.amazonses.com` (with an optional `+label` in the local part, as SES
allows) gets the events SES would publish for it, about a second after the send: `Send`, then

| Address | Events after `Send` |
| --- | --- |
| `success@` | `Delivery` |
| `bounce@` | `Bounce`: Permanent/General, `5.1.1`, `smtp; 550 5.1.1 user unknown` |
| `ooto@` | `Delivery`, then `Bounce`: Transient/General (the out-of-office reply) |
| `complaint@` | `Delivery`, then `Complaint`: `abuse` |
| `suppressionlist@` | `Bounce`: Permanent/OnAccountSuppressionList |

Each event is an SNS `Notification` of the topic `ses-gateway-dev-simulator`, signed
(SignatureVersion 2) with a key and certificate made once in `DATA_DIR/dev-sns/`, and posted to the
gateway's own `/sns/ses`: the path SNS takes. Only a gateway in dev mode trusts that certificate
and that topic (`DevSns.trusted_certificates`, `DevSns.topic_arn`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import formataddr, getaddresses
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.aws.ses import Outgoing
from gateway.core.logs import log_event, utc_iso
from gateway.feedback.sns import NOTIFICATION, string_to_sign
from gateway.intake.tls import make_self_signed

log = logging.getLogger("gateway.simulator")

SIMULATOR_DOMAIN: Final = "simulator.amazonses.com"
SCENARIOS: Final = frozenset({"success", "bounce", "ooto", "complaint", "suppressionlist"})
ACCOUNT_ID: Final = "123456789012"
"""The AWS account of moto's emulator."""
TOPIC_NAME: Final = "ses-gateway-dev-simulator"
CERT_NAME: Final = "SimpleNotificationService-dev-simulator.pem"
DELAY: Final = 1.0
"""Seconds between a send and its first event, as with SES."""
ATTEMPTS: Final = 6
"""Tries per event while `/sns/ses` does not answer, 1 s apart and doubling (about 30 s)."""
POST_TIMEOUT: Final = 10.0
HEADERS_LIMIT: Final = 10 * 1024
"""SES truncates `mail.headers` past 10 KB (`headersTruncated`)."""

_SMTP_RESPONSE: Final = "250 2.6.0 Message received"
_REPORTING_MTA: Final = "a8-1.smtp-out.amazonses.com"
_SUPPRESSED: Final = (
    "Amazon SES did not send the message to this address because it is on the suppression list "
    "for your account. For more information about removing addresses from the suppression list, "
    "see the Amazon SES Developer Guide at "
    "https://docs.aws.amazon.com/ses/latest/DeveloperGuide/sending-email-suppression-list.html"
)


def scenario(address: str) -> str | None:
    """`bounce` for `Bounce+label@Simulator.AmazonSES.com`; None for any other address."""
    local, _, domain = address.rpartition("@")
    name = local.split("+", 1)[0].lower()
    return name if domain.lower() == SIMULATOR_DOMAIN and name in SCENARIOS else None


def _feedback_id(moment: datetime) -> str:
    return f"{int(moment.timestamp() * 1000):016x}-{uuid.uuid4()}-000000"


def _headers(raw: bytes) -> tuple[list[dict[str, str]], bool]:
    """The message's header fields, unfolded, as SES lists them; and whether they were cut."""
    fields: list[dict[str, str]] = []
    size = 0
    for name, value in BytesHeaderParser().parsebytes(raw).items():
        text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        text = " ".join(text.split())
        size += len(name) + len(text)
        if size > HEADERS_LIMIT:
            return fields, True
        fields.append({"name": name, "value": text})
    return fields, False


def _common_headers(fields: list[dict[str, str]], ses_message_id: str) -> dict[str, Any]:
    values: dict[str, list[str]] = {}
    for field in fields:
        values.setdefault(field["name"].lower(), []).append(field["value"])
    common: dict[str, Any] = {}
    for name in ("from", "to", "cc", "bcc", "reply-to"):
        if name in values:
            key = "replyTo" if name == "reply-to" else name
            common[key] = [formataddr(pair) for pair in getaddresses(values[name])]
    for name in ("date", "subject"):
        if name in values:
            common[name] = values[name][0]
    common["messageId"] = ses_message_id
    return common


def _mail(
    outgoing: Outgoing,
    ses_message_id: str,
    sent_at: datetime,
    region: str,
    configuration_set: str | None,
) -> dict[str, Any]:
    """The `mail` object of every event about one send call, with its tags (ours included)."""
    domain = outgoing.sender.rpartition("@")[2]
    fields, truncated = _headers(outgoing.raw)
    tags: dict[str, list[str]] = {}
    if configuration_set:
        tags["ses:configuration-set"] = [configuration_set]
    tags |= {
        "ses:source-ip": ["127.0.0.1"],
        "ses:from-domain": [domain],
        "ses:caller-identity": ["emulator"],
    }
    tags |= {name: [value] for name, value in outgoing.tags.items()}
    return {
        "timestamp": utc_iso(sent_at),
        "source": outgoing.sender,
        "sourceArn": f"arn:aws:ses:{region}:{ACCOUNT_ID}:identity/{domain}",
        "sourceIp": "127.0.0.1",
        "callerIdentity": "emulator",
        "sendingAccountId": ACCOUNT_ID,
        "messageId": ses_message_id,
        "destination": list(outgoing.recipients),
        "headersTruncated": truncated,
        "headers": fields,
        "commonHeaders": _common_headers(fields, ses_message_id),
        "tags": tags,
    }


def _delivery(address: str, at: datetime, sent_at: datetime) -> dict[str, Any]:
    return {
        "timestamp": utc_iso(at),
        "processingTimeMillis": round((at - sent_at).total_seconds() * 1000),
        "recipients": [address],
        "smtpResponse": _SMTP_RESPONSE,
        "remoteMtaIp": "127.0.0.1",
        "reportingMTA": _REPORTING_MTA,
    }


def _bounce(address: str, at: datetime, bounce_type: str, subtype: str) -> dict[str, Any]:
    bounce: dict[str, Any] = {
        "feedbackId": _feedback_id(at),
        "bounceType": bounce_type,
        "bounceSubType": subtype,
        "bouncedRecipients": [{"emailAddress": address}],
        "timestamp": utc_iso(at),
    }
    if bounce_type == "Permanent":
        suppressed = subtype == "OnAccountSuppressionList"
        bounce["bouncedRecipients"][0] |= {
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": _SUPPRESSED if suppressed else "smtp; 550 5.1.1 user unknown",
        }
        bounce["reportingMTA"] = "dns; amazonses.com" if suppressed else f"dns; {_REPORTING_MTA}"
        if not suppressed:
            bounce["remoteMtaIp"] = "127.0.0.1"
    return bounce


def _complaint(address: str, at: datetime) -> dict[str, Any]:
    return {
        "feedbackId": _feedback_id(at),
        "complaintSubType": None,
        "complainedRecipients": [{"emailAddress": address}],
        "timestamp": utc_iso(at),
        "userAgent": "Amazon SES Mailbox Simulator",
        "complaintFeedbackType": "abuse",
        "arrivalDate": utc_iso(at),
    }


def _outcomes(name: str, address: str, sent_at: datetime) -> Iterator[tuple[str, str, Any]]:
    """(eventType, section, section's content) of each event after `Send`, in order."""
    delivered = sent_at + timedelta(milliseconds=450)
    if name in ("success", "ooto", "complaint"):
        yield "Delivery", "delivery", _delivery(address, delivered, sent_at)
    if name == "bounce":
        yield "Bounce", "bounce", _bounce(address, delivered, "Permanent", "General")
    elif name == "suppressionlist":
        bounce = _bounce(address, sent_at, "Permanent", "OnAccountSuppressionList")
        yield "Bounce", "bounce", bounce
    elif name == "ooto":
        yield "Bounce", "bounce", _bounce(address, delivered, "Transient", "General")
    elif name == "complaint":
        yield "Complaint", "complaint", _complaint(address, delivered + timedelta(seconds=0.5))


def ses_events(
    outgoing: Outgoing,
    ses_message_id: str,
    sent_at: datetime,
    region: str,
    configuration_set: str | None = None,
) -> list[dict[str, Any]]:
    """The SES event documents (event publishing) for one send call, in the order SES would
    publish them; none if no recipient is a simulator address."""
    names = [(address, scenario(address)) for address in outgoing.recipients]
    simulated = [(address, name) for address, name in names if name is not None]
    if not simulated:
        return []
    mail = _mail(outgoing, ses_message_id, sent_at, region, configuration_set)
    documents: list[dict[str, Any]] = [{"eventType": "Send", "mail": mail, "send": {}}]
    for address, name in simulated:
        for event_type, section, content in _outcomes(name, address, sent_at):
            documents.append({"eventType": event_type, "mail": mail, section: content})
    return documents


class DevSns:
    """The simulator's stand-in for SNS: its topic, and the key and certificate it signs with,
    made once in `directory` (a self-signed RSA certificate: SNS signs with RSA)."""

    def __init__(self, directory: Path, region: str) -> None:
        cert_file, key_file = directory / CERT_NAME, directory / "signing-key.pem"
        if not (cert_file.is_file() and key_file.is_file()):
            make_self_signed("sns.amazonaws.com", cert_file, key_file, rsa_key=True)
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_file} is not an RSA private key")
        self._key = key
        self.cert_pem = cert_file.read_bytes()
        self.region = region

    @property
    def topic_arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{ACCOUNT_ID}:{TOPIC_NAME}"

    @property
    def cert_url(self) -> str:
        """An SNS certificate URL (never fetched: trusted as given in dev mode)."""
        return f"https://sns.{self.region}.amazonaws.com/{CERT_NAME}"

    @property
    def trusted_certificates(self) -> dict[str, bytes]:
        return {self.cert_url: self.cert_pem}

    def notification(self, message: str, at: datetime) -> dict[str, str]:
        """An SNS `Notification` envelope of `message`, signed as SNS signs (version 2)."""
        envelope = {
            "Type": NOTIFICATION,
            "MessageId": str(uuid.uuid4()),
            "TopicArn": self.topic_arn,
            "Message": message,
            "Timestamp": utc_iso(at),
            "SignatureVersion": "2",
            "SigningCertURL": self.cert_url,
            "UnsubscribeURL": f"https://sns.{self.region}.amazonaws.com/"
            f"?Action=Unsubscribe&SubscriptionArn={self.topic_arn}:{uuid.uuid4()}",
        }
        signature = self._key.sign(string_to_sign(envelope), padding.PKCS1v15(), hashes.SHA256())
        return {**envelope, "Signature": base64.b64encode(signature).decode("ascii")}


def local_url(host: str, port: int) -> str:
    """The gateway's own HTTP listener, on loopback when it listens on every address."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def endpoint_url(host: str, port: int) -> str:
    """The gateway's own `/sns/ses`."""
    return f"{local_url(host, port)}/sns/ses"


class Simulator:
    """Publishes the simulated events of each send to `url`, as SNS would, in the background.

    Use as an async context manager (it holds one HTTP session); leaving it drops the events
    not yet posted. `on_sent` is the delivery worker's hook.
    """

    def __init__(
        self,
        sns: DevSns,
        url: str,
        configuration_set: str | None = None,
        delay: float = DELAY,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.sns = sns
        self.url = url
        self._configuration_set = configuration_set
        self._delay = delay
        self._attempts = attempts
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Simulator:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tasks:
            log_event(log, "simulated-events-dropped", sends=len(self._tasks))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def on_sent(self, tenant: str, outgoing: Outgoing, ses_message_id: str) -> None:
        """SES accepted `outgoing`: publish its events shortly if it went to the simulator."""
        if self._session is None or not any(map(scenario, outgoing.recipients)):
            return
        sent_at = datetime.now(UTC)
        task = asyncio.create_task(
            self._publish(outgoing, ses_message_id, sent_at), name=f"simulate-{ses_message_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, outgoing: Outgoing, ses_message_id: str, sent_at: datetime) -> None:
        await asyncio.sleep(self._delay)
        try:
            documents = ses_events(
                outgoing, ses_message_id, sent_at, self.sns.region, self._configuration_set
            )
        except Exception:
            log.exception("simulating the SES events of %s failed", ses_message_id)
            return
        for document in documents:
            envelope = self.sns.notification(json.dumps(document), datetime.now(UTC))
            status, problem = await self._post(envelope)
            log_event(
                log,
                "simulated-event",
                level=logging.INFO if status == 200 else logging.WARNING,
                event_type=document["eventType"],
                ses_message_id=ses_message_id,
                sns_message_id=envelope["MessageId"],
                status=status,
                error=problem,
            )

    async def _post(self, envelope: dict[str, str]) -> tuple[int | None, str | None]:
        """POST one notification, again while the endpoint is unreachable or answers 5xx (as
        SNS does): the last HTTP status, and what went wrong unless it was 200."""
        assert self._session is not None
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": envelope["Type"],
            "x-amz-sns-message-id": envelope["MessageId"],
            "x-amz-sns-topic-arn": envelope["TopicArn"],
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        data = json.dumps(envelope, indent=2).encode("utf-8")
        status, problem = None, None
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(2 ** (attempt - 1))
            try:
                async with self._session.post(self.url, data=data, headers=headers) as response:
                    status, text = response.status, await response.text()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                status, problem = None, f"{self.url}: {str(exc) or type(exc).__name__}"
                continue
            problem = None if status == 200 else text[:500]
            if status < 500:
                break
        return status, problem
