"""The two send calls (SESv2 `SendEmail`, v1 `SendRawEmail`) made without aioboto3's client.

Why: through the aioboto3 client one send of 5 KB costs about 0.6 ms of CPU with SESv2 and 1.2 ms
with v1 (its event hooks, endpoint rules, serializer and parser; for v1 the form-encoding of the
whole message a character at a time), over half a delivery worker's CPU; this client takes 0.3-0.4
ms (docs/performance.md). The request of these two operations is simple, so this client builds
it itself and leaves to botocore everything that decides behaviour:

- the endpoint, region, signing name, operation models, timeouts, pool size and retry settings:
  read from the aioboto3 client it is made from (so `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SESV2`,
  FIPS and dual-stack settings, profiles resolve as for every other call);
- the credentials: the session's credential chain (refreshable ones, assumed roles), frozen for
  each attempt as botocore's signer does;
- the signature: botocore's `SigV4Auth`, given the request in the shape it reads, keeping what
  does not change from one request to the next (`gateway.aws.signer`);
- retries: botocore's standard retry policy, built from its own classes with the client's
  attempts (throttling codes, 5xx, connection errors, exponential backoff, retry quota);
- responses and errors: botocore's parsers for the service's protocol; an error answer raises
  the client's own `ClientError` class, so `ses.translate` maps it as before.

The requests go over one pooled aiohttp session (TLS and proxies set up as aiobotocore sets them
up); an aiohttp error becomes the botocore exception aiobotocore raises for it (`_transport_error`).
`SES_SEND_PATH=aioboto3` sends through the aioboto3 client instead, to compare the two.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from botocore.awsrequest import AWSResponse, prepare_request_dict
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import (
    ProxyConfiguration,
    create_urllib3_context,
    get_cert_path,
    mask_proxy_url,
)
from botocore.parsers import create_parser
from botocore.retries import quota, standard
from botocore.utils import get_environ_proxies
from yarl import URL

from gateway.aws.signer import Signer, SigningRequest, host_of

_EMPTY_DATA = '"Data": ""'
_CONTENT_TYPES = {
    "rest-json": "application/json",
    "query": "application/x-www-form-urlencoded; charset=utf-8",
}


def json_body(params: dict[str, Any]) -> bytes:
    """`SendEmail`'s parameters as botocore's rest-json serializer writes them: in the order
    given, the raw message (`Content.Raw.Data`) in base64.

    The base64 text needs no escaping, so it is put as bytes where `json` writes an empty
    `Data` (having `json` scan 7 KB of it a character at a time for escapes was half the cost).
    That place is unambiguous: `json` escapes every quote inside a string, so `"Data": ""` can
    only be a key and its value, and `Data` is a key only in `Content.Raw`."""
    raw = params["Content"]["Raw"]
    content = {**params["Content"], "Raw": {**raw, "Data": ""}}
    head, tail = json.dumps({**params, "Content": content}).split(_EMPTY_DATA, 1)
    data = base64.b64encode(raw["Data"])
    return b"".join((head.encode(), b'"Data": "', data, b'"', tail.encode()))


def _query_pairs(params: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str | bytes]]:
    """The query protocol's flat names: `A.B` for a member, `A.member.N` for a list item (an
    empty list is `A=`), as botocore's query serializer names them; blobs stay bytes."""
    for key, value in params.items():
        name = prefix + key
        if isinstance(value, dict):
            yield from _query_pairs(value, f"{name}.")
        elif isinstance(value, list):
            if not value:
                yield name, ""
            for number, item in enumerate(value, 1):
                if isinstance(item, dict):
                    yield from _query_pairs(item, f"{name}.member.{number}.")
                else:
                    yield f"{name}.member.{number}", item
        else:
            yield name, value


def query_body(operation: str, version: str, params: dict[str, Any]) -> bytes:
    """`SendRawEmail`'s parameters as botocore sends them: form-encoded as its request preparer
    does (`urlencode`: `quote_plus` of each name and value, here called directly). The
    message's base64 needs only `+`, `/` and `=` escaped: done with `replace` on the bytes,
    since percent-encoding 7 KB a character at a time costs more than the rest."""
    fields = [f"Action={quote_plus(operation)}&Version={quote_plus(version)}".encode()]
    for name, value in _query_pairs(params):
        if isinstance(value, bytes):
            b64 = base64.b64encode(value)
            encoded = b64.replace(b"+", b"%2B").replace(b"/", b"%2F").replace(b"=", b"%3D")
            fields.append(quote_plus(name).encode() + b"=" + encoded)
        else:
            fields.append(f"{quote_plus(name)}={quote_plus(str(value))}".encode())
    return b"&".join(fields)


def _transport_error(exc: Exception, url: str, proxy_url: str | None) -> BotoCoreError:
    """The botocore exception that aiobotocore's HTTP session raises for this aiohttp error
    (`aiobotocore.httpsession.AIOHTTPSession.send`, same order of checks), so that botocore's
    retry checks and `ses.translate` see what they see through the aioboto3 client."""
    if isinstance(exc, aiohttp.ClientSSLError):
        return SSLError(endpoint_url=url, error=exc)
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return ProxyConnectionError(proxy_url=mask_proxy_url(proxy_url or ""), error=exc)
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientPayloadError
        | aiohttp.http_exceptions.BadStatusLine,
    ):
        return ConnectionClosedError(error=exc, endpoint_url=url)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        if str(exc).lower().startswith("connect"):
            return ConnectTimeoutError(endpoint_url=url, error=exc)
        return ReadTimeoutError(endpoint_url=url, error=exc)
    if isinstance(
        exc, aiohttp.ClientConnectorError | aiohttp.ClientConnectionError | socket.gaierror
    ):
        return EndpointConnectionError(endpoint_url=url, error=exc)
    if isinstance(exc, asyncio.TimeoutError):
        return ReadTimeoutError(endpoint_url=url, error=exc)
    return HTTPClientError(error=exc)


class SendClient:
    """`send_email(**params)` (SESv2) or `send_raw_email(**params)` (v1), answering and raising
    as the aioboto3 `client` it is made from would; open it with `async with`.

    `credentials` are the session's (`await session.get_credentials()`, the object the client
    signs with); `verify` is the session's `ca_bundle` setting, as the client got it.
    """

    def __init__(self, client: Any, credentials: Any, verify: bool | str | None = None) -> None:
        meta = client.meta
        self._service = meta.service_model
        self._protocol = self._service.resolved_protocol
        if self._protocol not in _CONTENT_TYPES:
            raise ValueError(f"{self._service.service_name}: no direct send over {self._protocol}")
        self._client = client
        self._credentials = credentials
        self._region = meta.region_name
        self._signing_name = self._service.signing_name
        self._endpoint = meta.endpoint_url
        self._parser = create_parser(self._protocol)
        config = meta.config
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=config.connect_timeout, sock_read=config.read_timeout
        )
        self._pool = config.max_pool_connections
        self._user_agent: str | None = config.user_agent
        self._verify = True if verify is None else verify
        # The proxy from the environment, once (the endpoint does not change), as botocore
        # picks it for the client; aiobotocore asks for its headers with the endpoint's URL.
        proxies = ProxyConfiguration(proxies=get_environ_proxies(self._endpoint))
        self._proxy_url: str | None = proxies.proxy_url_for(self._endpoint)
        self._proxy_headers: dict[str, str] = proxies.proxy_headers_for(self._endpoint)
        # botocore's standard retry mode, as `botocore.retries.standard.register_retry_handler`
        # wires it for the client (one retry quota per client).
        if config.retries.get("mode") != "standard":
            raise ValueError("the direct send path follows botocore's standard retry mode only")
        self._quota = standard.RetryQuotaChecker(quota.RetryQuota())
        self._retry = standard.RetryHandler(
            retry_policy=standard.RetryPolicy(
                retry_checker=standard.StandardRetryConditions(
                    max_attempts=config.retries.get(
                        "total_max_attempts", standard.DEFAULT_MAX_ATTEMPTS
                    )
                ),
                retry_backoff=standard.ExponentialBackoff(),
            ),
            retry_event_adapter=standard.RetryEventAdapter(),
            retry_quota=self._quota,
        )
        self._signer = Signer(self._signing_name, self._region)
        self._operations: dict[str, _Operation] = {}
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SendClient:
        ssl_context = None
        if self._verify is not False and self._endpoint.startswith("https:"):
            # Verified against botocore's CA bundle (or `AWS_CA_BUNDLE`), as aiobotocore does.
            ssl_context = create_urllib3_context()
            ssl_context.load_verify_locations(get_cert_path(self._verify))
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._pool, ssl=ssl_context or False),
            timeout=self._timeout,
            skip_auto_headers={"Content-Type"},
            auto_decompress=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send_email(self, **params: Any) -> dict[str, Any]:
        return await self._call("SendEmail", json_body(params))

    async def send_raw_email(self, **params: Any) -> dict[str, Any]:
        body = query_body("SendRawEmail", self._service.api_version, params)
        return await self._call("SendRawEmail", body)

    def _operation(self, name: str) -> _Operation:
        """The operation's request, but for the body and the signature, made once: its URL as
        botocore's request preparer writes it, and its headers (the user agent as the client's,
        `host` as the signer signs it)."""
        operation = self._operations.get(name)
        if operation is None:
            model = self._service.operation_model(name)
            request: dict[str, Any] = {
                "url_path": model.http["requestUri"],
                "query_string": "",
                "headers": {"Content-Type": _CONTENT_TYPES[self._protocol]},
            }
            prepare_request_dict(request, self._endpoint, user_agent=self._user_agent)
            url = request["url"]
            headers = {**request["headers"], "Host": host_of(url)}
            operation = _Operation(model, url, URL(url, encoded=True), headers)
            self._operations[name] = operation
        return operation

    async def _call(self, operation_name: str, body: bytes) -> dict[str, Any]:
        """One API call: attempts, each signed anew, until one succeeds or botocore's retry
        policy says stop; then the parsed answer, or the error as the client raises it."""
        operation = self._operation(operation_name)
        context: dict[str, Any] = {}
        attempts = 1
        while True:
            headers = await self._sign(operation, body)
            response: tuple[AWSResponse, dict[str, Any]] | None = None
            error: BotoCoreError | None = None
            try:
                response = await self._attempt(operation, body, headers)
            except BotoCoreError as exc:  # no answer: as the client's endpoint, maybe retried
                error = exc
            if response is not None and response[0].status_code < 300:
                self._quota.release_retry_quota(context, response[0])
                return response[1]
            delay = self._retry.needs_retry(
                response=response,
                operation=operation.model,
                attempts=attempts,
                caught_exception=error,
                request_dict={"context": context},
            )
            if delay is None:
                break
            await asyncio.sleep(delay)
            attempts += 1
        if error is not None:
            raise error
        assert response is not None
        parsed = response[1]
        error_class = self._client.exceptions.from_code(parsed.get("Error", {}).get("Code"))
        raise error_class(parsed, operation_name)

    async def _sign(self, operation: _Operation, body: bytes) -> dict[str, str]:
        """The request's headers signed by botocore's SigV4 signer, with the credentials of
        this moment (a refreshable chain refreshes them when they near expiry); none raises
        `NoCredentialsError`."""
        credentials = self._credentials
        frozen = None if credentials is None else await credentials.get_frozen_credentials()
        request = SigningRequest(operation.url, operation.headers.copy(), body)
        # No await from here to the signature: no other send signs with these credentials.
        self._signer.credentials = frozen
        self._signer.add_auth(request)
        return request.headers

    async def _attempt(
        self, operation: _Operation, body: bytes, headers: dict[str, str]
    ) -> tuple[AWSResponse, dict[str, Any]]:
        """One HTTP exchange and its answer parsed by botocore; a body that is not the
        protocol's (an HTML page from a proxy) is parsed as botocore does (it may raise
        `ResponseParserError`, as the client does)."""
        if self._http is None:
            raise RuntimeError("the SES send client is not open")
        headers["Accept-Encoding"] = "identity"  # not signed, as aiobotocore adds it
        try:
            async with self._http.post(
                operation.target,
                data=body,
                headers=headers,
                proxy=self._proxy_url,
                proxy_headers=self._proxy_headers,
            ) as answer:
                content = await answer.read()
                status = answer.status
                answer_headers = {
                    name.decode().lower(): value.decode() for name, value in answer.raw_headers
                }
        except Exception as exc:
            raise _transport_error(exc, operation.url, self._proxy_url) from exc
        parsed = self._parser.parse(
            {
                "status_code": status,
                "headers": answer_headers,
                "body": content,
                "context": {"operation_name": operation.model.name},
            },
            operation.model.output_shape,
        )
        return AWSResponse(operation.url, status, answer_headers, None), parsed


@dataclass(frozen=True, slots=True)
class _Operation:
    """What the requests of one operation share."""

    model: Any
    """botocore's `OperationModel`."""
    url: str
    target: URL
    """`url` parsed once, for aiohttp (as aiobotocore parses it: already encoded)."""
    headers: dict[str, str]
    """Copied for each attempt, then signed."""
