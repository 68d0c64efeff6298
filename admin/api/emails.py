"""`POST /api/v1/emails` and `POST /api/v1/emails/batch`: mail sent by HTTP, through the policy
and the spool of SMTP. A refusal is answered in the API's error shape, its `code` the policy's
rule (`sender_not_verified`, `suppressed`...) and its `message` the words of the SMTP reply.

The request's members map onto the message's parts (`gateway.compose.mime.Draft`); a `template`
of the tenant (its id or name) rendered with `variables` gives the subject, html and text
instead (`admin.ops.templates.rendered`, the path of a template's test send)."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from starlette.responses import Response

from admin.api.base import Api, ApiError, Call
from admin.ops import emails, templates
from admin.ops.context import Context
from config import Settings
from gateway.compose.mime import Attachment
from gateway.compose.submit import Refused, Submitted
from gateway.core.exceptions import GatewayError
from gateway.endpoints.errors import answer
from gateway.policy.rules import shown_rule

api = Api()

IDEMPOTENCY = (
    (
        "Idempotency-Key",
        "the same key from the same tenant within 24 hours gets the first answer again, and "
        "nothing more is sent; with another body it is refused (409)",
    ),
)
MAX_BATCH = 100
_STATUS = {
    "size": 413,
    "rate": 429,
    "daily-cap": 429,
    "paused": 403,
    "sender-unknown": 403,
    "sender-not-owned": 403,
    "sender-not-verified": 403,
    "sender-not-listed": 403,
    "credential-scope": 403,
}
"""The HTTP status of a refusal, by the policy's rule; any other rule: 422."""
ERRORS = (
    (413, "the message is over the size limit, or the body is too large to read"),
    (404, "no template of the tenant with that id or name"),
    (422, "refused by the sending policy (`code`: the rule), or every recipient refused"),
)


def body_limit(settings: Settings) -> int:
    """The largest request body read: the size limit with room for JSON and base64 (a message
    at the limit is mostly base64 in MIME as in JSON), and 64 KiB for the rest."""
    return settings.message_size_limit * 3 // 2 + 65536


def _base64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("give the content in base64")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def _as_base64(content: bytes) -> str:
    return base64.b64encode(content).decode()


Base64 = Annotated[
    bytes,
    BeforeValidator(_base64),
    # In base64 again as JSON (an Idempotency-Key's fingerprint): bytes that are not UTF-8
    # cannot be written out as they are.
    PlainSerializer(_as_base64, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]
AddressText = Annotated[str, Field(min_length=3, max_length=998)]
"""`local@domain` or `Name <local@domain>`."""
Recipients = Annotated[list[AddressText], Field(max_length=1000)]
When = Annotated[AwareDatetime, Field(strict=True)]
TemplateRef = (
    Annotated[int, Field(strict=True, ge=1, lt=2**63)]
    | Annotated[str, Field(min_length=1, max_length=templates.NAME_LENGTH)]
)


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content: Base64 = Field(description="the file's bytes in base64")
    content_type: str = Field(
        default="application/octet-stream",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$",
        description="type/subtype",
    )


class EmailIn(BaseModel):
    """One message. `subject` with `html`, `text` or both, or else a `template` with its
    `variables`; at least one recipient in `to`, `cc` or `bcc`."""

    model_config = ConfigDict(extra="forbid")

    from_: AddressText = Field(
        alias="from", description="the sender: an address of a verified sending domain"
    )
    to: Recipients = Field(default_factory=list)
    cc: Recipients = Field(default_factory=list)
    bcc: Recipients = Field(
        default_factory=list, description="recipients not named in the message's header"
    )
    reply_to: Annotated[list[AddressText], Field(max_length=50)] = Field(default_factory=list)
    subject: str | None = Field(default=None, max_length=998)
    html: str | None = None
    text: str | None = None
    template: TemplateRef | None = Field(
        default=None,
        description="a template of the tenant, by id (an integer) or name (a string): its "
        "subject, html and text rendered with `variables`, instead of those members",
    )
    variables: dict[str, str] = Field(
        default_factory=dict,
        max_length=200,
        description="the template's variables: name to value (one without a value and without "
        "a fallback: 400, naming it)",
    )
    headers: dict[str, Annotated[str, Field(max_length=998)]] = Field(
        default_factory=dict,
        max_length=50,
        description="more header fields (not those the other members make)",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        max_length=50,
        description="SES message tags (`X-SES-MESSAGE-TAGS`); the events about it carry them",
    )
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)
    scheduled_at: When | None = Field(
        default=None,
        description="RFC 3339 with an offset: delivered not before then (at most 30 days "
        "ahead); stored at once",
    )


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emails: list[EmailIn] = Field(min_length=1, max_length=MAX_BATCH)


class ErrorOut(BaseModel):
    """The API's error shape, for one message or recipient of an answer."""

    status: int
    code: str
    message: str
    field: str | None = None


class RefusalOut(BaseModel):
    address: str = Field(description="as given")
    field: str | None = Field(description="the request's member: `to.0`, `bcc.2`")
    reply: str = Field(description="the reply SMTP gives to this recipient")
    error: ErrorOut


class EmailOut(BaseModel):
    id: str = Field(description="the queue id: see `GET /api/v1/messages/{queue_id}`")
    recipients: list[str] = Field(description="accepted: each will be sent (or dropped)")
    refused: list[RefusalOut] = Field(description="recipients refused, as at RCPT TO")
    scheduled_at: AwareDatetime | None = Field(description="not delivered before then")


class BatchItemOut(BaseModel):
    """One message's answer: `status` 202 with what `POST /emails` answers, or an `error`."""

    status: int
    id: str | None = None
    recipients: list[str] = Field(default_factory=list)
    refused: list[RefusalOut] = Field(default_factory=list)
    scheduled_at: AwareDatetime | None = None
    error: ErrorOut | None = None


class BatchOut(BaseModel):
    data: list[BatchItemOut] = Field(description="in the order of the request's `emails`")


async def _email(ctx: Context, body: EmailIn) -> emails.Email:
    attachments = [
        Attachment(a.filename, a.content_type.lower(), a.content) for a in body.attachments
    ]
    rendered = await templates.rendered(ctx, body.template, body.variables)
    draft = emails.draft(
        body.from_,
        body.to,
        body.cc,
        body.bcc,
        body.reply_to,
        body.subject,
        body.html,
        body.text,
        body.headers,
        body.tags,
        attachments,
        rendered,
    )
    return emails.Email(draft, body.scheduled_at)


def _error(refused: Refused) -> ErrorOut:
    rule, reply = refused.refusal.rule, refused.refusal.reply
    words = reply.split(" ", 2)[-1]  # without "550 5.1.1": the SMTP reply's sentence
    code = shown_rule(rule).replace("-", "_")
    return ErrorOut(status=_STATUS.get(rule, 422), code=code, message=words, field=refused.field)


def _refused(submitted: Submitted) -> ApiError:
    """The error answering a message refused as a whole (or all of whose recipients were)."""
    first = _error(submitted.refused[0])
    message = first.message
    if len(submitted.refused) > 1:
        message += f" (and {len(submitted.refused) - 1} more recipients refused)"
    return ApiError(first.status, first.code, message, first.field)


def _accepted(submitted: Submitted) -> EmailOut:
    assert submitted.queue_id is not None
    return EmailOut(
        id=submitted.queue_id,
        recipients=list(submitted.recipients),
        refused=[
            RefusalOut(
                address=r.address or "",
                field=r.field,
                reply=r.refusal.reply,
                error=_error(r),
            )
            for r in submitted.refused
        ],
        scheduled_at=submitted.scheduled_at,
    )


async def _one(ctx: Context, body: EmailIn) -> EmailOut:
    submitted = await emails.send(ctx, await _email(ctx, body))
    if submitted.queue_id is None:
        raise _refused(submitted)
    return _accepted(submitted)


async def _item(ctx: Context, body: EmailIn) -> BatchItemOut:
    """One message of a batch, answered on its own: an error does not stop the others."""
    try:
        return BatchItemOut(status=202, **dict(await _one(ctx, body)))
    except ApiError as exc:
        error = ErrorOut(status=exc.status, code=exc.code, message=str(exc), field=exc.field)
    except GatewayError as exc:
        status, code, message = answer(exc)
        error = ErrorOut(status=status, code=code, message=message, field=_field(exc))
    return BatchItemOut(status=error.status, error=error)


def _field(exc: GatewayError) -> str | None:
    field = getattr(exc, "field", None)
    return field if isinstance(field, str) else None


async def _idempotent(
    ctx: Context, call: Call, status: int, make: Callable[[], Awaitable[BaseModel]]
) -> Response:
    """The answer of `make()` (a model), once per `Idempotency-Key` when one is given."""

    async def answer_once() -> tuple[int, bytes]:
        return status, (await make()).model_dump_json().encode()

    key = call.request.headers.get("idempotency-key")
    if key is None:
        code, body = await answer_once()
        return Response(body, status_code=code, media_type="application/json")
    print_ = emails.fingerprint(call.request.url.path, call.body.model_dump_json())
    code, body, replayed = await emails.once(ctx, key, print_, answer_once)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(body, status_code=code, media_type="application/json", headers=headers)


@api.endpoint(
    "POST",
    "/emails",
    summary="Send a message: policed and queued like one sent by SMTP",
    tag="emails",
    body=EmailIn,
    response=EmailOut,
    status=202,
    max_body=body_limit,
    headers=IDEMPOTENCY,
    errors=ERRORS,
)
async def send_email(ctx: Context, call: Call) -> Response:
    return await _idempotent(ctx, call, 202, lambda: _one(ctx, call.body))


@api.endpoint(
    "POST",
    "/emails/batch",
    summary=f"Send up to {MAX_BATCH} messages, each answered on its own",
    tag="emails",
    body=BatchIn,
    response=BatchOut,
    max_body=body_limit,
    headers=IDEMPOTENCY,
    errors=ERRORS,
)
async def send_batch(ctx: Context, call: Call) -> Response:
    async def batch() -> BatchOut:
        # Together, so that the spool commits them in a few transactions, not one each.
        items = await asyncio.gather(*(_item(ctx, email) for email in call.body.emails))
        return BatchOut(data=list(items))

    return await _idempotent(ctx, call, 200, batch)
