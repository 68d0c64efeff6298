"""`gateway.webhooks.client`: the signature of a POST, and the receiver's documented check."""

from __future__ import annotations

import hashlib
import hmac
import time

from gateway.webhooks import manage
from gateway.webhooks.client import sign
from tests.support.webhookreceiver import docs_verify


def test_the_signature_is_an_hmac_of_timestamp_and_body() -> None:
    signed = sign("whsec_s3cret", 1700000000, b'{"a":1}')
    expected = hmac.new(b"whsec_s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert signed == f"v1={expected}"


def test_the_documented_check_refuses_tampering_and_replays() -> None:
    verify = docs_verify()
    secret, payload = manage.new_secret(), b'{"version":1}'
    now = int(time.time())
    good = sign(secret, now, payload)
    assert verify(secret, str(now), good, payload)
    assert not verify(secret, str(now), good, b'{"version":2}')
    assert not verify("whsec_other", str(now), good, payload)
    assert not verify(secret, str(now + 1), good, payload)
    stale = now - 301
    assert not verify(secret, str(stale), sign(secret, stale, payload), payload)
    assert verify(secret, str(now - 299), sign(secret, now - 299, payload), payload)
