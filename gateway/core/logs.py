"""Logging: one line per event, `key=value` for people (default) or JSON (`LOG_FORMAT=json`).

Events carry their fields in `extra={"fields": {...}}`; `log_event` builds that. Never pass a
password or a message body as a field.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


def log_event(
    logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    if logger.isEnabledFor(level):
        clean = {k: v for k, v in fields.items() if v is not None}
        logger.log(level, event, extra={"fields": clean})


def utc_iso(moment: datetime) -> str:
    """`2022-08-03T17:34:54.558Z`: UTC to the millisecond, as logs, SES, SNS and webhooks write
    times."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _timestamp(record: logging.LogRecord) -> str:
    return utc_iso(datetime.fromtimestamp(record.created, UTC))


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' ="\n'):
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        parts = [_timestamp(record), record.levelname, record.name, record.getMessage()]
        parts += [f"{k}={_quote(v)}" for k, v in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        document.update(getattr(record, "fields", {}))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure(log_format: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiosmtpd logs every command at INFO and peers at every step: our session lines replace it.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    for noisy in ("botocore", "aiobotocore", "aioboto3", "urllib3", "werkzeug", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A role that cannot be assumed: the caller is raised the error and says it in one line;
    # botocore would log it first as a warning with its traceback.
    logging.getLogger("aiobotocore.credentials").setLevel(logging.ERROR)
