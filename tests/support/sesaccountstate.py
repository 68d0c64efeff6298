"""The SES account's own state, as the fake SES endpoint (``fakeses.py``) serves it: the
production request (``PutAccountDetails``, its review shown by ``GetAccount``) and the
account-level suppression list, kept by the dev emulator's ``gateway.dev.sesaccount`` (moto 5.2
has none of these operations, nor ``GetAccount``), with what tests need besides: the calls
made, and faults scripted by operation name (``fail_next``).
"""

from __future__ import annotations

import json
import threading
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
