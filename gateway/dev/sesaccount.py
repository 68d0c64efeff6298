"""`serve --dev`: the SES account's own calls that moto lacks, answered offline as SES would.

moto 5.2 has no `PutAccountDetails` and no account-level suppression list
(`PutSuppressedDestination`, `GetSuppressedDestination`, `DeleteSuppressedDestination`,
`ListSuppressedDestinations`): without them, unsuppressing an address in dev mode would report
an SES failure, and the production request form could not be tried. `AccountState` keeps both
(REST-JSON, after botocore's sesv2 model); `AccountLayer` serves it in front of moto. The
project's SES stand-in for tests (`tests/support/fakeses.py`) serves the same state.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from gateway.dev.identities import Environ, StartResponse, WsgiApp

ACCOUNT = "/v2/email/account"
SUPPRESSION = "/v2/email/suppression/addresses"
REASONS = ("BOUNCE", "COMPLAINT")


class SesApiError(Exception):
    """An SES error to answer with (`code` goes into `x-amzn-ErrorType`)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _request(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        raise SesApiError("SerializationException", "Malformed JSON request body") from None
    if not isinstance(request, dict):
        raise SesApiError("SerializationException", "Expected a JSON object")
    return request


def _time(value: str) -> float:
    """A query timestamp as botocore sends it (ISO 8601, or epoch seconds)."""
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def operation(method: str, path: str) -> str | None:
    """The operation a request is, if it is one of these."""
    if path == f"{ACCOUNT}/details" and method == "POST":
        return "PutAccountDetails"
    if path == SUPPRESSION:
        return {"PUT": "PutSuppressedDestination", "GET": "ListSuppressedDestinations"}.get(method)
    if path.startswith(f"{SUPPRESSION}/") and len(path) > len(SUPPRESSION) + 1:
        return {"GET": "GetSuppressedDestination", "DELETE": "DeleteSuppressedDestination"}.get(
            method
        )
    return None


class AccountState:
    """The production request and the suppression list of one SES account; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._details: dict[str, Any] | None = None
        self._suppressed: dict[str, tuple[str, float]] = {}
        """address -> (reason, epoch seconds of the last update)"""

    def clear(self) -> None:
        with self._lock:
            self._details = None
            self._suppressed.clear()

    def overlay(self, account: dict[str, Any]) -> dict[str, Any]:
        """A `GetAccount` answer with the request's details (a granted one: production)."""
        with self._lock:
            if self._details is None:
                return account
            answer = {**account, "Details": copy.deepcopy(self._details)}
            if self._details["ReviewDetails"]["Status"] == "GRANTED":
                answer["ProductionAccessEnabled"] = True
            return answer

    def handle(
        self, method: str, path: str, query: str, body: bytes
    ) -> tuple[int, dict[str, Any]] | None:
        """Answer one request of these operations (None: not one of them); `SesApiError`."""
        called = operation(method, path)
        if called is None:
            return None
        request = _request(body) if method in ("POST", "PUT") else {}
        with self._lock:
            if called == "PutAccountDetails":
                return 200, self._put_details(request)
            if called == "PutSuppressedDestination":
                reason = request.get("Reason")
                if reason not in REASONS or not request.get("EmailAddress"):
                    raise SesApiError(
                        "BadRequestException", "EmailAddress and Reason are required."
                    )
                self._suppressed[str(request["EmailAddress"])] = (str(reason), time.time())
                return 200, {}
            if called == "ListSuppressedDestinations":
                return 200, self._list(parse_qs(query))
            address = unquote(path[len(SUPPRESSION) + 1 :])
            if address not in self._suppressed:
                raise SesApiError(
                    "NotFoundException", f"Email address {address} does not exist.", 404
                )
            if called == "DeleteSuppressedDestination":
                del self._suppressed[address]
                return 200, {}
            reason, at = self._suppressed[address]
            destination = {"EmailAddress": address, "Reason": reason, "LastUpdateTime": at}
            return 200, {"SuppressedDestination": destination}

    def _put_details(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("MailType") not in ("MARKETING", "TRANSACTIONAL"):
            raise SesApiError("BadRequestException", "MailType must be MARKETING or TRANSACTIONAL.")
        if not request.get("WebsiteURL"):
            raise SesApiError("BadRequestException", "WebsiteURL is required.")
        if self._details is not None and self._details["ReviewDetails"]["Status"] == "PENDING":
            raise SesApiError(
                "ConflictException",
                "A request to update your account details is already in progress.",
                409,
            )
        self._details = {
            "MailType": request["MailType"],
            "WebsiteURL": request["WebsiteURL"],
            "ContactLanguage": request.get("ContactLanguage", "EN"),
            "UseCaseDescription": request.get("UseCaseDescription", ""),
            "AdditionalContactEmailAddresses": request.get("AdditionalContactEmailAddresses", []),
            "ReviewDetails": {"Status": "PENDING", "CaseId": str(time.time_ns() // 1_000_000)},
        }
        return {}

    def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """Oldest update first; `NextToken` is the offset of the next page."""
        reasons = query.get("Reason") or list(REASONS)
        start = _time(query["StartDate"][0]) if "StartDate" in query else None
        end = _time(query["EndDate"][0]) if "EndDate" in query else None
        size = int((query.get("PageSize") or ["1000"])[0])
        if not 1 <= size <= 1000:
            raise SesApiError("BadRequestException", "PageSize must be between 1 and 1000.")
        found = sorted(
            (at, address, reason)
            for address, (reason, at) in self._suppressed.items()
            if reason in reasons and (start is None or at >= start) and (end is None or at < end)
        )
        try:
            offset = int((query.get("NextToken") or ["0"])[0])
        except ValueError:
            raise SesApiError("InvalidNextTokenException", "The NextToken is not valid.") from None
        page = found[offset : offset + size]
        answer: dict[str, Any] = {
            "SuppressedDestinationSummaries": [
                {"EmailAddress": address, "Reason": reason, "LastUpdateTime": at}
                for at, address, reason in page
            ]
        }
        if offset + size < len(found):
            answer["NextToken"] = str(offset + size)
        return answer


class AccountLayer:
    """The WSGI app in front of the emulator: these operations answered from `state`;
    everything else passed on."""

    def __init__(self, app: WsgiApp, state: AccountState | None = None) -> None:
        self._app = app
        self.state = state or AccountState()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if operation(method, path) is None:
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = [("Content-Type", "application/json")]
        try:
            answered = self.state.handle(method, path, environ.get("QUERY_STRING", ""), body)
            assert answered is not None
            status, document = answered
        except SesApiError as exc:
            status, document = exc.status, {"message": exc.message}
            headers.append(("x-amzn-ErrorType", exc.code))
        data = json.dumps(document).encode()
        headers.append(("Content-Length", str(len(data))))
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", headers)
        return [data]
