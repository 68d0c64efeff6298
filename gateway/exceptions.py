"""Errors of the gateway. A leaf module: it imports nothing of ours.

GatewayError
├── NotFoundError         a named tenant, credential or message does not exist
├── ConflictError         a name that must be unique is taken
├── InvalidInputError     a value given by an operator is not acceptable
└── SesError              SES refused or could not be reached
    ├── SesTransientError     try again later (throttling, 5xx, timeouts, connection)
    └── SesPermanentError     do not retry (MessageRejected, account suspended, ...)
"""


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class NotFoundError(GatewayError):
    pass


class ConflictError(GatewayError):
    pass


class InvalidInputError(GatewayError):
    pass


class SesError(GatewayError):
    """`code` is SES's error code (or the connection error's name); str() is SES's words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


class SesTransientError(SesError):
    pass


class SesPermanentError(SesError):
    pass
