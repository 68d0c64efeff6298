"""SES v2 configuration sets and their event destinations, as the fake SES endpoint
(``fakeses.py``) serves them: ``CreateConfigurationSet``, ``GetConfigurationSet``,
``GetConfigurationSetEventDestinations``, ``CreateConfigurationSetEventDestination`` and
``UpdateConfigurationSetEventDestination`` (REST-JSON, after botocore's ``sesv2`` model).
moto 5.2.5 has the configuration sets but none of the event destination operations."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any
from urllib.parse import unquote

from .sesidentities import ApiError

PREFIX = "/v2/email/configuration-sets"
EVENT_TYPES = (
    "SEND",
    "REJECT",
    "BOUNCE",
    "COMPLAINT",
    "DELIVERY",
    "OPEN",
    "CLICK",
    "RENDERING_FAILURE",
    "DELIVERY_DELAY",
    "SUBSCRIPTION",
)


def _request(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        raise ApiError("BadRequestException", "Expected a JSON object") from None
    if not isinstance(request, dict):
        raise ApiError("BadRequestException", "Expected a JSON object")
    return request


def _destination(name: str, request: dict[str, Any]) -> dict[str, Any]:
    """An event destination as SES describes it, from the request's ``EventDestination``."""
    given = request.get("EventDestination")
    if not isinstance(given, dict):
        raise ApiError("BadRequestException", "EventDestination is required.")
    types = given.get("MatchingEventTypes") or []
    unknown = [t for t in types if t not in EVENT_TYPES]
    if not types or unknown:
        raise ApiError("BadRequestException", f"Invalid MatchingEventTypes: {unknown or types}")
    return {"Name": name, "Enabled": bool(given.get("Enabled")), **copy.deepcopy(given)}


class ConfigurationSetStore:
    """Configuration sets by name, each with its event destinations by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict[str, dict[str, dict[str, Any]]] = {}

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Copies: configuration set name -> event destination name -> destination."""
        with self._lock:
            return copy.deepcopy(self._sets)

    def clear(self) -> None:
        with self._lock:
            self._sets.clear()

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]] | None:
        """Answer one ``/v2/email/configuration-sets...`` request (``None``: no such route)."""
        if not path.startswith(PREFIX):
            return None
        parts = [unquote(part) for part in path[len(PREFIX) :].split("/")]
        with self._lock:
            if parts == [""] and method == "POST":
                return self._create(_request(body))
            if len(parts) < 2 or parts[0] or not parts[1]:
                return None
            destinations = self._sets.get(parts[1])
            if destinations is None:
                raise ApiError(
                    "NotFoundException", f"Configuration set <{parts[1]}> does not exist.", 404
                )
            if len(parts) == 2 and method == "GET":
                return 200, {"ConfigurationSetName": parts[1]}
            if parts[2:3] != ["event-destinations"]:
                return None
            if len(parts) == 3 and method == "GET":
                return 200, {"EventDestinations": list(destinations.values())}
            if len(parts) == 3 and method == "POST":
                request = _request(body)
                name = str(request.get("EventDestinationName") or "")
                if name in destinations:
                    raise ApiError("AlreadyExistsException", f"Event destination {name} exists.")
                destinations[name] = _destination(name, request)
                return 200, {}
            if len(parts) == 4 and method == "PUT":
                if parts[3] not in destinations:
                    raise ApiError("NotFoundException", f"No event destination {parts[3]}.", 404)
                destinations[parts[3]] = _destination(parts[3], _request(body))
                return 200, {}
        return None

    def _create(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = request.get("ConfigurationSetName")
        if not isinstance(name, str) or not name:
            raise ApiError("BadRequestException", "ConfigurationSetName is required.")
        if name in self._sets:
            raise ApiError("AlreadyExistsException", f"Configuration set <{name}> already exists.")
        self._sets[name] = {}
        return 200, {}
