"""Every SMTP reply the gateway sends, as named constants: code, enhanced status code, text.

aiosmtpd's own replies lack enhanced status codes (RFC 2034 requires them once
ENHANCEDSTATUSCODES is advertised); `complete()` is the one place that adds them.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Reply(NamedTuple):
    code: int
    enhanced: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"

    def format(self, code: int | None = None, **values: object) -> str:
        """The reply line with `values` filled in (and `code` for replies used at two stages)."""
        return f"{code or self.code} {self.enhanced} {self.text.format(**values)}"


SENDER_OK = Reply(250, "2.1.0", "Sender ok")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient ok")
QUEUED = Reply(250, "2.0.0", "Ok: queued as {queue_id}")
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required: log in with AUTH first")
ENVELOPE_SENDER_CODE = 553
HEADER_SENDER_CODE = 550
SENDER_UNKNOWN = Reply(
    0, "5.7.1", "Sender domain {domain} is not a sending domain of this account: add it first"
)
SENDER_NOT_VERIFIED = Reply(
    0,
    "5.7.1",
    "Sender domain {domain} is not verified by SES yet: publish its DNS records "
    "(`ses-gateway domain check {domain}`)",
)
SENDER_NOT_LISTED = Reply(
    0, "5.7.1", "Sender address {address} is not one of the listed senders of {domain}"
)
SENDER_OUT_OF_SCOPE = Reply(0, "5.7.1", "This credential may not send from {address}")
PAUSED = Reply(550, "5.7.1", "sending paused: {reason}")
NULL_SENDER = Reply(
    553,
    "5.1.7",
    "A null sender (MAIL FROM:<>) cannot be relayed through SES: give the sender address",
)
BAD_SENDER = Reply(553, "5.1.7", "Bad sender address syntax: expected local-part@domain")
BAD_ADDRESS = Reply(553, "5.1.3", "Bad recipient address syntax: expected local-part@domain")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients: at most {limit} per message")
RECIPIENT_SUPPRESSED = Reply(550, "5.1.1", "Recipient {address} is suppressed ({reason} on {date})")
STORE_FAILED = Reply(451, "4.3.0", "Temporary failure storing the message: try again later")
INTERNAL_ERROR = Reply(451, "4.3.0", "Internal error: try again later")
DATABASE_UNAVAILABLE = Reply(451, "4.3.0", "Temporary local problem: try again later")
MESSAGE_TOO_BIG = Reply(552, "5.3.4", "Message too big: the limit is {limit} bytes")
HEADER_TOO_BIG = Reply(
    552, "5.3.4", "Message refused: its header fields take more than {limit} bytes"
)
TIMEOUT = Reply(421, "4.4.2", "{hostname} Timeout: closing the connection")
DATA_TOO_SLOW = Reply(
    421,
    "4.4.2",
    "{hostname} Timeout: the message came slower than {rate} bytes a second: "
    "closing the connection",
)
LOGIN_TIMEOUT = Reply(
    421,
    "4.4.2",
    "{hostname} Timeout: not logged in within {seconds:g} seconds: closing the connection",
)
SHUTTING_DOWN = Reply(421, "4.3.2", "{hostname} Service shutting down: try again later")
LINE_TOO_LONG = Reply(
    500,
    "5.5.2",
    "Line too long: lines may be at most 998 characters; encode long lines "
    "with quoted-printable or base64",
)
NON_ASCII_ADDRESS = Reply(
    553, "5.6.7", "Non-ASCII local part in {address}: SES cannot deliver it (no SMTPUTF8)"
)
NOT_UTF8_ADDRESS = Reply(
    553, "5.6.7", "The address is not valid UTF-8: SES accepts ASCII addresses only"
)
NOT_UTF8 = Reply(501, "5.5.2", "Syntax error: the command has bytes that are not UTF-8")
BARE_NEWLINE = Reply(
    550,
    "5.5.2",
    "Message refused: it has a bare CR or LF (a line not ended by CRLF); end every line with CRLF",
)
SMTPUTF8_UNSUPPORTED = Reply(555, "5.6.7", "SMTPUTF8 is not supported: SES cannot deliver it")
NULL_MX = Reply(556, "5.1.10", "Recipient domain {domain} accepts no mail (null MX, RFC 7505)")
NO_MAIL_DOMAIN = Reply(
    550, "5.1.2", "Recipient domain {domain} does not exist or has no mail server"
)
RATE_LIMITED = Reply(
    451, "4.7.1", "Sending rate limit of {rate} messages per second reached: try again shortly"
)
DAILY_CAP = Reply(
    451, "4.7.1", "Daily limit of {cap} messages reached: try again after midnight UTC"
)
TOO_MANY_CONNECTIONS = Reply(
    421, "4.7.0", "{hostname} Too many connections for this account (at most {limit}): try later"
)
TOO_MANY_CLIENT_CONNECTIONS = Reply(
    421,
    "4.7.0",
    "{hostname} Too many connections from your address (at most {limit}): try again later",
)
LOCKED_OUT = Reply(
    454, "4.7.0", "Too many failed logins from your address: try again in {minutes} minutes"
)
LOCKED_OUT_CLOSING = Reply(
    421,
    "4.7.0",
    "{hostname} Too many failed logins from your address: try again in {minutes} minutes",
)
STARTTLS_FIRST = Reply(530, "5.7.0", "Must issue a STARTTLS command first")

_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}( |$)")
_UNPRINTABLE = re.compile(r"[^ -~]")
"""What aiosmtpd may echo of a command (`command "X" not recognized`, `Could not VRFY X`) that
a reply must not carry: control characters, non-ASCII."""
_SUCCESS = {
    "250 OK": "250 2.0.0 Ok",
    "221 Bye": "221 2.0.0 Bye",
    "220 Ready to start TLS": "220 2.0.0 Ready to start TLS",
}
_DEFAULT_ENHANCED = {
    421: "4.3.0",
    451: "4.3.0",
    500: "5.5.2",
    501: "5.5.4",
    502: "5.5.1",
    503: "5.5.1",
    504: "5.5.4",
    530: "5.7.0",
    535: "5.7.8",
    552: "5.3.4",
    553: "5.1.3",
    555: "5.5.4",
}


def complete(status: str, size_limit: int) -> str:
    """The reply to send for `status`, with an enhanced status code and a clear sentence."""
    if status in _SUCCESS:
        return _SUCCESS[status]
    code = int(status[:3]) if status[:3].isdigit() else 0
    if code < 400 or _ENHANCED.match(status):
        return status
    text = status[4:]
    if code == 552:
        return MESSAGE_TOO_BIG.format(limit=size_limit)
    if text.startswith("Must issue a STARTTLS"):
        return str(STARTTLS_FIRST)
    enhanced = _DEFAULT_ENHANCED.get(code, f"{str(code)[0]}.0.0")
    return f"{code} {enhanced} {_UNPRINTABLE.sub('?', text.removeprefix('Error: '))}"
