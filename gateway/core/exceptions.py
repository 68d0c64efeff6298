"""Errors of the gateway. A leaf module: it imports nothing of ours.

GatewayError
├── NotFoundError         a named tenant, credential or message does not exist
│   └── InvalidTokenError     a tracking token this gateway did not make, or altered
├── ConflictError         a name that must be unique is taken
├── InvalidInputError     a value given by an operator is not acceptable (`field`: which one)
│   └── MissingVariables      a template's variables without a value and without a default
├── AccessDenied          a signed-in user or API key may not do or see this
│   └── LoginRefused          wrong email or password, or too many failed logins
├── DatabaseError         the database could not be reached or refused a statement
├── SchemaError           the schema is not the one this version needs
├── DecryptionError       a stored secret written with an unknown key
├── SesSetupError         no AWS region: no SES endpoint can be chosen
├── SesError              SES refused or could not be reached
│   ├── SesTransientError     try again later (throttling, 5xx, timeouts, connection)
│   │   ├── DailyQuotaReached     no room left in Max24HourSend
│   │   └── AccountPaced          the AWS account's next turn to send is too far: wait queued
│   └── SesPermanentError     do not retry (MessageRejected, account suspended, ...)
├── Route53Error          Route 53 refused a call or could not be reached (`domain publish`)
└── SnsError              an SNS delivery refused (with the HTTP status to answer)
    └── FetchError            a GET from SNS failed
"""


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class NotFoundError(GatewayError):
    pass


class ConflictError(GatewayError):
    pass


class InvalidInputError(GatewayError):
    """`field`, when given, names the input at fault (a form field, a JSON member)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MissingVariables(InvalidInputError):
    """Variables of a template that have no value and no `default`: `missing` maps each to how
    many contacts lack it (1 at a preview). Nothing is sent with a blank in their place."""

    def __init__(self, missing: dict[str, int], contacts: int | None = None) -> None:
        said = ", ".join(
            f"{name} ({count} of {contacts} contacts)" if contacts is not None else name
            for name, count in missing.items()
        )
        super().__init__(
            f"no value and no default for {said}: give a value, or write a fallback such as "
            f'{{{{{next(iter(missing))} | default("...")}}}}',
            "variables",
        )
        self.missing = missing


class AccessDenied(GatewayError):
    """The user's role or tenant, or the API key's scope, does not allow this."""


class LoginRefused(AccessDenied):
    """A wrong email or password (never saying which), or a login throttled; `retry_after` is
    the seconds until the next attempt may succeed (0 when not throttled)."""

    def __init__(self, message: str, retry_after: float = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SesError(GatewayError):
    """`code` is SES's error code (or the connection error's name); str() is SES's words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


class SesTransientError(SesError):
    pass


class SesPermanentError(SesError):
    pass


class Route53Error(GatewayError):
    """`code` is Route 53's error code (or the connection error's name); str() says what it
    refused and, where the operator can act, what to do. `refused`: Route 53 answered that it
    did not do it (an error below 500); False: no answer, or a fault of Route 53's, so a change
    may have been made."""

    def __init__(self, code: str, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.refused = refused


class DatabaseError(GatewayError):
    """The database could not be reached or refused a statement."""


class SchemaError(GatewayError):
    """The database schema is not the one this version needs."""


class InvalidTokenError(NotFoundError):
    """The token was not made by this gateway (with the current or a previous key), or altered."""


class DecryptionError(GatewayError):
    """A stored secret cannot be read: it was written with a key that is neither `SECRET_KEY`
    nor one of `PREVIOUS_SECRET_KEYS`."""


class SesSetupError(GatewayError):
    """The AWS chain gives no region, so no SES endpoint can be chosen."""


class DailyQuotaReached(SesTransientError):
    """SES's daily sending quota has no room for a call: its recipients wait (deferred)."""

    def __init__(self, limit: int) -> None:
        super().__init__("DailyQuotaReached", f"Max24HourSend {limit}")
        self.limit = limit

    def __str__(self) -> str:
        return f"SES daily sending quota reached (Max24HourSend {self.limit}): deferred"


class AccountPaced(SesTransientError):
    """The AWS account's pace leaves no turn for a call within the wait allowed (several
    accounts share the worker's slots): its recipients wait in the queue, not in a slot, for
    `retry_after` seconds."""

    def __init__(self, account: str, retry_after: float) -> None:
        super().__init__("AccountPaced", f"AWS account {account}: next turn in {retry_after:.1f} s")
        self.retry_after = retry_after


class SnsError(GatewayError):
    """An SNS delivery refused, or a fetch from SNS failed; `status`: the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FetchError(SnsError):
    """A GET from SNS failed (status 502); `http_status` is SNS's answer when there was one."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(502, message)
        self.http_status = http_status
