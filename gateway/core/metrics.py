"""Prometheus metrics of this process, in a registry of our own (not prometheus_client's global
one, which would add its process and platform collectors).

The hot paths (SMTP, delivery, SES calls) only bump counters; the queue's gauges are read from
the database when scraped (`gateway.endpoints.metrics.exposition`). Every name starts with
`ses_gateway_`; docs/operations.md lists them.
"""

from __future__ import annotations

import contextlib
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from gateway.core.exceptions import SesError, SesTransientError

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Prometheus text format that `exposition` writes."""

REGISTRY = CollectorRegistry()
_NAMESPACE = "ses_gateway"

smtp_connections = Counter(
    "smtp_connections",
    "SMTP connections accepted, by listener (submission, smtps).",
    ["listener"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
smtp_auth_failures = Counter(
    "smtp_auth_failures",
    "SMTP AUTH attempts refused: unknown username, wrong password, revoked credential.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
messages_accepted = Counter(
    "messages_accepted",
    "Messages stored in the queue and answered 250.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
recipients_accepted = Counter(
    "recipients_accepted",
    "Recipients of the messages stored in the queue.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
messages_refused = Counter(
    "messages_refused",
    "SMTP commands refused by the sending policy, by rule (as in `refusal count`).",
    ["reason"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
recipients_delivered = Counter(
    "recipients_delivered",
    "Outcomes of delivery attempts per recipient: sent, deferred or failed.",
    ["outcome"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
ses_calls = Counter(
    "ses_calls",
    "Calls to the AWS API (SES and SNS), by operation and outcome (ok, transient, permanent).",
    ["operation", "outcome"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
ses_call_seconds = Histogram(
    "ses_call_seconds",
    "Duration of calls to the AWS API, by operation.",
    ["operation"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
delivery_claim_seconds = Histogram(
    "delivery_claim_seconds",
    "Duration of a delivery worker's claim (one transaction: due messages leased, bodies read).",
    namespace=_NAMESPACE,
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ses_errors = Counter(
    "ses_errors",
    "Errors of calls to the AWS API, by SES's error code (or the connection error's name).",
    ["code"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
ses_events = Counter(
    "ses_events",
    "SES events received through SNS and stored, by type (SNS retries not counted again).",
    ["type"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
webhook_attempts = Counter(
    "webhook_attempts",
    "Webhook POSTs, by what became of the delivery: delivered, pending (retried) or failed.",
    ["outcome"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
queue_depth = Gauge(
    "queue_messages",
    "Messages waiting in the queue (every process on the database), read when scraped.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
queue_oldest_age = Gauge(
    "queue_oldest_age_seconds",
    "Age of the oldest message waiting in the queue (0 when none), read when scraped.",
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
governor_pace = Gauge(
    "governor_pace",
    "Messages (recipients) per second this process sends at, by AWS account.",
    ["aws_account"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
ses_quota_readable = Gauge(
    "ses_quota_readable",
    "1 when the last read of the account's SES quota succeeded, else 0, by AWS account.",
    ["aws_account"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
ses_quota_max_24_hour_send = Gauge(
    "ses_quota_max_24_hour_send",
    "SES's Max24HourSend as last read (-1: unlimited), by AWS account.",
    ["aws_account"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
ses_quota_sent_last_24_hours = Gauge(
    "ses_quota_sent_last_24_hours",
    "SES's SentLast24Hours as last read, by AWS account.",
    ["aws_account"],
    namespace=_NAMESPACE,
    registry=REGISTRY,
)
_ACCOUNT_GAUGES = (
    governor_pace,
    ses_quota_readable,
    ses_quota_max_24_hour_send,
    ses_quota_sent_last_24_hours,
)


def forget_account(name: str) -> None:
    """An AWS account no longer in use: its gauges go."""
    for gauge in _ACCOUNT_GAUGES:
        with contextlib.suppress(KeyError):  # never set
            gauge.remove(name)


def ses_call(operation: str, started: float, error: SesError | None) -> None:
    """Count one AWS call that began at `started` (`time.perf_counter()`)."""
    ses_call_seconds.labels(operation).observe(time.perf_counter() - started)
    if error is None:
        outcome = "ok"
    else:
        outcome = "transient" if isinstance(error, SesTransientError) else "permanent"
        ses_errors.labels(error.code).inc()
    ses_calls.labels(operation, outcome).inc()


def text() -> bytes:
    """Every metric in the Prometheus text format."""
    return generate_latest(REGISTRY)
