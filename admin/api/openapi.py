"""The OpenAPI 3.1 document of the JSON API, built from the endpoints' own models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from admin.api.base import Endpoint
from gateway.endpoints.errors import ERRORS

_PATH_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _parameters(endpoint: Endpoint, schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer"} if kind == "int" else {"type": "string"},
        }
        for name, kind in _PATH_PARAM.findall(endpoint.path)
    ]
    params += [
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
        }
        for name, description in endpoint.headers
    ]
    if schema is not None:
        required = set(schema.get("required", ()))
        params += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        ]
    return params


def openapi(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for e in endpoints:
        if e.body is not None:
            models.append((e.body, "validation"))
        if e.response is not None:
            models.append((e.response, "serialization"))
    refs, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        query = e.query.model_json_schema(mode="validation") if e.query else None
        success: dict[str, Any] = {"description": e.summary}
        if e.response is not None:
            success["content"] = {
                "application/json": {"schema": refs[(e.response, "serialization")]}
            }
        elif e.content_type != "application/json":
            text = e.content_type.startswith("text/")
            schema = {"type": "string"} if text else {"type": "string", "format": "binary"}
            success["content"] = {e.content_type: {"schema": schema}}
        operation: dict[str, Any] = {
            "summary": e.summary,
            "tags": [e.tag],
            "operationId": f"{e.method.lower()}_{e.handler.__name__}",
            "parameters": _parameters(e, query),
            "responses": {
                str(e.status): success,
                "401": _error("no API key, or an unknown or revoked one"),
                "429": _error("the key's rate limit: wait for Retry-After seconds"),
                **{str(status): _error(code) for _, status, code in ERRORS},
                **{str(status): _error(when) for status, when in e.errors},
            },
        }
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(e.body, "validation")]}},
            }
        elif e.accepts is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {e.accepts: {"schema": {"type": "string"}}},
            }
        path = "/api/v1" + _PATH_PARAM.sub(r"{\1}", e.path)
        paths.setdefault(path, {})[e.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SES Gateway API",
            "version": version,
            "description": "Send mail (composed, or from a template with variables), and "
            "manage tenants, domains, credentials, suppressions, templates, contact lists, "
            "messages, events and webhooks. Every request needs `Authorization: Bearer <key>`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": {**defs.get("$defs", {}), "Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
