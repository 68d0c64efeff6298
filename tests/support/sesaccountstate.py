"""The SES account's own state, as the fake SES endpoint (``fakeses.py``) serves it: the
production request (``PutAccountDetails``, its review shown by ``GetAccount``) and the
account-level suppression list, kept by the dev emulator's ``gateway.dev.sesaccount`` (moto 5.2
has none of these operations, nor ``GetAccount``), with what tests need besides: addresses
put on the list as SES would (``suppress``), AWS's answer to the request (``review``), the calls
made, and faults scripted by operation name (``fail_next``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

from gateway.dev.sesaccount import AccountState, SesApiError, operation

from .sesidentities import ApiError


class ScriptedAccountState(AccountState):
    """`AccountState` that records its calls and answers scripted faults first."""

    def __init__(self) -> None:
        super().__init__()
        self._script_lock = threading.Lock()
        self._faults: deque[tuple[str, ApiError]] = deque()
        #: The operations answered, in order (``PutAccountDetails``...), with their request.
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def clear(self) -> None:
        super().clear()
        with self._script_lock:
            self._faults.clear()
            self.calls.clear()

    def suppress(self, address: str, reason: str = "BOUNCE", at: float | None = None) -> None:
        """Put an address on the list, as SES does after a hard bounce or a complaint."""
        with self._lock:
            self._suppressed[address] = (reason, time.time() if at is None else at)

    @property
    def suppressed(self) -> dict[str, str]:
        """A copy of the list: address -> reason."""
        with self._lock:
            return {address: reason for address, (reason, _) in self._suppressed.items()}

    def review(self, status: str) -> None:
        """AWS's answer to the production request: ``GRANTED`` takes the account out of the
        sandbox (``ProductionAccessEnabled``), ``DENIED`` leaves it there."""
        with self._lock:
            assert self._details is not None, "no production request was made"
            self._details["ReviewDetails"]["Status"] = status

    def fail_next(
        self, operation: str, code: str, message: str = "", status: int = 400, n: int = 1
    ) -> None:
        """Answer the next ``n`` calls of ``operation`` (``GetAccount``,
        ``DeleteSuppressedDestination``...) with this error."""
        with self._script_lock:
            self._faults.extend([(operation, ApiError(code, message, status))] * n)

    def raise_fault(self, operation: str) -> None:
        """Raise the error scripted for this call of ``operation``, if there is one."""
        with self._script_lock:
            fault = next((f for f in self._faults if f[0] == operation), None)
            if fault is not None:
                self._faults.remove(fault)
                raise fault[1]

    def handle(
        self, method: str, path: str, query: str, body: bytes
    ) -> tuple[int, dict[str, Any]] | None:
        called = operation(method, path)
        if called is None:
            return None
        self.raise_fault(called)
        try:
            answer = super().handle(method, path, query, body)
        except SesApiError as exc:
            raise ApiError(exc.code, exc.message, exc.status) from None
        with self._script_lock:
            self.calls.append((called, _request_of(method, body)))
        return answer


def _request_of(method: str, body: bytes) -> dict[str, Any]:
    return dict(json.loads(body or b"{}")) if method in ("POST", "PUT") else {}
