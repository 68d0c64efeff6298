"""`POST /sns/ses`: where Amazon SNS delivers SES events (the URL operators subscribe).

Only genuine SNS deliveries of allowed topics get through (`gateway.sns`); their SES events are
recorded by `gateway.events`, for the tenants of the AWS account whose topic brought them (a
topic `sns setup` made in an account; a configured one, `SNS_TOPIC_ARNS`, speaks for every
account); subscription and unsubscription confirmations are stored beside
them, so that each SNS MessageId is handled once. Answers, each with a JSON body: 200 (done, or a
repeat), 400 malformed, 403 not genuine or not allowed, 413 too large, 502 when SNS itself could
not be reached (SNS retries 5xx answers), 503 when the database is down or anything else failed
(SNS retries).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from config import Settings
from gateway.core.exceptions import DatabaseError, SnsError
from gateway.core.logs import log_event
from gateway.core.types.events import EventKind
from gateway.dev.simulator import DevSns
from gateway.endpoints.errors import error
from gateway.feedback import events
from gateway.feedback.record import record_event
from gateway.feedback.sns import (
    MAX_BODY_SIZE,
    NOTIFICATION,
    RAW_DELIVERY_HINT,
    SUBSCRIPTION_CONFIRMATION,
    SnsMessage,
    SnsVerifier,
    parse,
)
from gateway.feedback.storedsetup import StoredSnsSetup
from gateway.storage import events as event_store
from gateway.storage.activity import record_activity
from gateway.storage.database import Database

log = logging.getLogger("gateway.sns")


@dataclass(frozen=True)
class SnsEndpoint:
    db: Database
    settings: Settings
    verifier: SnsVerifier
    stored: StoredSnsSetup
    configured: frozenset[str] = frozenset()
    """`SNS_TOPIC_ARNS` (and the dev simulator's topic): allowed for every account's tenants."""

    @classmethod
    def from_settings(
        cls, db: Database, settings: Settings, dev: DevSns | None = None
    ) -> SnsEndpoint:
        """Allowed topics: `SNS_TOPIC_ARNS` and those `sns setup` set up. With none nothing is
        accepted, since any AWS account can make SNS sign messages for its own topics. `dev`
        (`serve --dev` only): the mailbox simulator's topic is allowed too, and its certificate
        trusted."""
        configured = frozenset(settings.sns_topic_arns) | ({dev.topic_arn} if dev else set())
        verifier = SnsVerifier(
            settings.data_dir / "sns-certs",
            configured,
            settings.sns_max_age,
            trusted_certificates=dev.trusted_certificates if dev else None,
        )
        return cls(db, settings, verifier, StoredSnsSetup(db), configured)

    async def handle(self, request: Request) -> Response:
        if request.headers.get("x-amz-sns-rawdelivery", "").lower() == "true":
            return error(400, RAW_DELIVERY_HINT)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_SIZE:
                return error(413, f"the body is over {MAX_BODY_SIZE} bytes: not an SNS delivery")
        try:
            account = await self.stored.allow(self.verifier, parse(body).topic_arn)
            message = await self.verifier.verify(body)
            if account is None and message.topic_arn not in self.configured:
                raise SnsError(
                    403,
                    f"topic {message.topic_arn} was set up in an AWS account that was removed",
                )
            now = datetime.now(UTC)
            if message.type == NOTIFICATION:
                result = await events.ingest(
                    self.db,
                    self.settings,
                    message.message_id,
                    message.topic_arn,
                    message.message,
                    now,
                    account,
                )
                return JSONResponse(
                    {"status": "ok", "duplicate": result.duplicate, "kind": str(result.kind)}
                )
            return await self._confirmation(message, now)
        except SnsError as exc:
            log_event(log, "sns-refused", level=logging.WARNING, status=exc.status, reason=str(exc))
            return error(exc.status, str(exc))
        except DatabaseError:
            log.exception("recording an SNS delivery failed")
            return error(503, "the database is unavailable: SNS will retry")
        except Exception:
            log.exception("handling an SNS delivery failed")
            return error(503, "internal error (the gateway's log has the details): SNS will retry")

    async def _confirmation(self, message: SnsMessage, now: datetime) -> Response:
        """A subscription confirmed, or an unsubscription raised as a notification: once per
        SNS MessageId, as SNS retries them too."""
        confirming = message.type == SUBSCRIPTION_CONFIRMATION
        status = "confirmed" if confirming else "unsubscribed"
        if await event_store.find_event(self.db, message.message_id) is not None:
            return JSONResponse({"status": status, "duplicate": True})
        if confirming:
            subscription = await self.verifier.confirm_subscription(message)
            detail = "confirmed the subscription to /sns/ses" + (
                f": {subscription}" if subscription else ""
            )
            duplicate = not await self._record(message, "sns.subscribed", detail, now)
            return JSONResponse(
                {"status": status, "duplicate": duplicate, "subscription": subscription}
            )
        detail = "SNS says this endpoint was unsubscribed: SES events no longer arrive"
        duplicate = not await self._record(message, "sns.unsubscribed", detail, now, notify=True)
        if not duplicate:
            log_event(log, "sns-unsubscribed", level=logging.WARNING, topic=message.topic_arn)
        return JSONResponse({"status": status, "duplicate": duplicate})

    async def _record(
        self, message: SnsMessage, kind: str, detail: str, now: datetime, notify: bool = False
    ) -> bool:
        """Store a confirmation under its SNS MessageId (as an `unknown` SES event), and record
        its activity, once; False for a repeat stored meanwhile by a simultaneous delivery."""
        stored = await record_event(
            self.db,
            sns_message_id=message.message_id,
            topic_arn=message.topic_arn,
            kind=EventKind.UNKNOWN,
            ses_type=message.type,
            ses_message_id=None,
            tenant_id=None,
            queue_id=None,
            occurred_at=message.timestamp,
            received_at=now,
            note=f"SNS {message.type}, not an SES event: {detail}",
            payload=message.message,
        )
        if stored is None:
            return False
        await record_activity(self.db, None, kind, message.topic_arn, detail, now, notify=notify)
        return True
