"""botocore's SigV4 signature of the direct send calls, without the work it repeats per request.

Why: `SigV4Auth(credentials, service, region).add_auth(AWSRequest(...))` was about a fifth of a
delivery worker's CPU (docs/performance.md), and little of it is the signature itself. To read
the body it hashes, the signer prepares the whole request again (`AWSRequest.body`); it parses
the URL again for the Host; the request's headers are an `email.message.Message`; the same path
is normalised and quoted, and the same signing key derived (four HMACs), at every request.

botocore stays the signing authority: the canonical request, the string to sign and the
signature are made by `SigV4Auth`'s own methods, on a request given to it in the shape it reads
(`SigningRequest`), and only what cannot change from one request to the next is kept
(`Signer`). Byte for byte the signatures of `SigV4Auth` on an `AWSRequest` for the same request,
credentials and time (tests/gateway/aws/test_signer.py).
"""

from __future__ import annotations

from typing import Any

from botocore.auth import SigV4Auth


def host_of(url: str) -> str:
    """The `host` the signer signs for `url`, as it derives it when a request has none (without
    the default port, IPv6 in brackets): worked out once per endpoint, not at every request."""
    host: str = SigV4Auth(None, "", "").headers_to_sign(SigningRequest(url, {}, b""))["host"]
    return host


class SigningRequest:
    """A POST as `SigV4Auth` reads an `AWSRequest`: `url`, `method`, `headers` (a plain dict:
    the signer looks names up as it writes them, and lower-cases and sorts them itself),
    `params` (none), `context` (where it notes the time), and `body`, the bytes sent.

    `headers` should hold `Host` (`host_of`), so that the signer does not parse the URL for it;
    the same value must then be the request's `Host` on the wire (aiohttp sends the given one).
    """

    __slots__ = ("body", "context", "headers", "method", "params", "url")

    def __init__(self, url: str, headers: dict[str, str], body: bytes) -> None:
        self.method = "POST"
        self.url = url
        self.headers = headers
        self.body = body
        self.params: dict[str, str] = {}
        self.context: dict[str, Any] = {}


class Signer(SigV4Auth):  # type: ignore[misc]  # botocore has no types
    """`SigV4Auth` for one service in one region, signing with the `credentials` it is given
    before each `add_auth` (frozen ones, from the session's chain: they may change between two
    requests). It keeps the normalised path of each path and the signing key of the last secret
    key and date: the key changes when the credentials or the day (UTC) do."""

    def __init__(self, service_name: str, region_name: str) -> None:
        super().__init__(None, service_name, region_name)
        self._paths: dict[str, str] = {}
        self._key: tuple[str, str, bytes] = ("", "", b"")

    def _normalize_url_path(self, path: str) -> str:
        normalized = self._paths.get(path)
        if normalized is None:
            normalized = self._paths[path] = super()._normalize_url_path(path)
        return normalized

    def signature(self, string_to_sign: str, request: Any) -> str:
        """botocore's `SigV4Auth.signature`, the key derived as it derives it, once a day."""
        secret: str = self.credentials.secret_key
        date: str = request.context["timestamp"][0:8]
        kept_secret, kept_date, key = self._key
        if secret != kept_secret or date != kept_date:
            key = self._sign(f"AWS4{secret}".encode(), date)
            key = self._sign(key, self._region_name)
            key = self._sign(key, self._service_name)
            key = self._sign(key, "aws4_request")
            self._key = (secret, date, key)
        signature: str = self._sign(key, string_to_sign, hex=True)
        return signature
