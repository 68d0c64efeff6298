"""Checking an AWS Signature Version 4 as AWS does, on the request as it arrived: the signed
headers as received, the body as received, the secret looked up by access key id. A sender that
signs one thing and sends another (a Host or a body changed on the way) fails here as at SES."""

from __future__ import annotations

import hmac
import re

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)"
    r"/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def signature_matches(
    method: str, target: str, headers: dict[str, str], body: bytes, secrets: dict[str, str]
) -> bool:
    """Whether the request's `Authorization` is a valid SigV4 signature by one of `secrets`
    (access key id -> secret key); `headers` have lower-case names."""
    match = _AUTHORIZATION.fullmatch(headers.get("authorization", ""))
    if match is None or match["key"] not in secrets or "x-amz-date" not in headers:
        return False
    signed = match["signed"].split(";")
    if "host" not in signed or any(name not in headers for name in signed):
        return False
    request = AWSRequest(
        method,
        f"http://{headers['host']}{target}",
        headers={name: headers[name] for name in signed},
        data=body,
    )
    request.context["timestamp"] = headers["x-amz-date"]
    credentials = ReadOnlyCredentials(
        match["key"], secrets[match["key"]], headers.get("x-amz-security-token")
    )
    signer = SigV4Auth(credentials, match["service"], match["region"])
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    return hmac.compare_digest(expected, match["signature"])
