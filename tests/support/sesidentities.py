"""SES v2 email identities and the account, as the fake SES endpoint (``fakeses.py``) serves them.

The wire format follows botocore's ``sesv2`` model (REST-JSON): ``CreateEmailIdentity``,
``GetEmailIdentity``, ``DeleteEmailIdentity``, ``PutEmailIdentityMailFromAttributes`` and
``GetAccount``.  Identities start ``PENDING``; tests move them on with
``IdentityStore.set_status`` or let ``auto_verify_after`` do it.  Domains are stored in lower case;
the local part of an address keeps its case.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr
from typing import Any, Literal, cast
from urllib.parse import unquote

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key

__all__ = [
    "DEFAULT_ACCOUNT",
    "ApiError",
    "Identity",
    "IdentityStore",
    "account_response",
    "sender_address",
]

Status = Literal["PENDING", "SUCCESS", "FAILED", "TEMPORARY_FAILURE", "NOT_STARTED"]
MailFromStatus = Literal["PENDING", "SUCCESS", "FAILED", "TEMPORARY_FAILURE"]
STATUSES: tuple[str, ...] = ("PENDING", "SUCCESS", "FAILED", "TEMPORARY_FAILURE", "NOT_STARTED")
MAIL_FROM_STATUSES: tuple[str, ...] = ("PENDING", "SUCCESS", "FAILED", "TEMPORARY_FAILURE")
KEY_LENGTHS = ("RSA_1024_BIT", "RSA_2048_BIT")
MX_FAILURE = ("USE_DEFAULT_VALUE", "REJECT_MESSAGE")
PREFIX = "/v2/email/identities"

DEFAULT_ACCOUNT: dict[str, Any] = {
    "DedicatedIpAutoWarmupEnabled": False,
    "EnforcementStatus": "HEALTHY",
    "ProductionAccessEnabled": True,
    "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0},
    "SendingEnabled": True,
}

_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # Easy DKIM tokens look like lower-case base32
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})+")
_SELECTOR = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_BASE64 = re.compile(r"[a-zA-Z0-9+/]+={0,2}")


@dataclass(eq=False)
class ApiError(Exception):
    """An SES error to answer with (``code`` goes into ``x-amzn-ErrorType``)."""

    code: str
    message: str
    status: int = 400


def _bad_request(message: str) -> ApiError:
    return ApiError("BadRequestException", message)


def _not_found(name: str) -> ApiError:
    return ApiError("NotFoundException", f"Email identity {name} does not exist.", 404)


@dataclass
class Identity:
    """One email identity, as the fake keeps it."""

    name: str
    identity_type: Literal["DOMAIN", "EMAIL_ADDRESS"]
    verification: Status = "PENDING"
    dkim_status: Status = "NOT_STARTED"
    dkim_origin: Literal["AWS_SES", "EXTERNAL"] = "AWS_SES"
    dkim_tokens: list[str] = field(default_factory=list)
    signing_enabled: bool = False
    next_key_length: str | None = None
    current_key_length: str | None = None
    key_generated_at: float | None = None  # epoch seconds
    mail_from_domain: str | None = None
    mail_from_status: MailFromStatus | None = None
    behavior_on_mx_failure: str = "USE_DEFAULT_VALUE"
    feedback_forwarding: bool = True
    tags: list[dict[str, str]] = field(default_factory=list)
    configuration_set: str | None = None
    created_at: float = field(default_factory=time.monotonic)
    last_success_at: float | None = None  # epoch seconds
    auto_verify: bool = True  # cleared once a test sets the status itself

    @property
    def verified_for_sending(self) -> bool:
        return self.verification == "SUCCESS"

    def copy(self) -> Identity:
        return dataclasses.replace(
            self, dkim_tokens=list(self.dkim_tokens), tags=[dict(tag) for tag in self.tags]
        )

    def dkim_attributes(self, hosted_zone: str | None) -> dict[str, Any]:
        """The ``DkimAttributes`` structure."""
        attributes: dict[str, Any] = {
            "SigningEnabled": self.signing_enabled,
            "Status": self.dkim_status,
            "SigningAttributesOrigin": self.dkim_origin,
        }
        if self.dkim_tokens:
            attributes["Tokens"] = list(self.dkim_tokens)
        if self.next_key_length is not None:
            attributes["NextSigningKeyLength"] = self.next_key_length
        if self.current_key_length is not None:
            attributes["CurrentSigningKeyLength"] = self.current_key_length
        if self.key_generated_at is not None:
            attributes["LastKeyGenerationTimestamp"] = self.key_generated_at
        if hosted_zone is not None and self.dkim_tokens and self.dkim_origin == "AWS_SES":
            attributes["SigningHostedZone"] = hosted_zone  # not in botocore 1.40's model
        return attributes

    def get_response(self, hosted_zone: str | None) -> dict[str, Any]:
        """The ``GetEmailIdentity`` response."""
        mail_from: dict[str, Any] = {"BehaviorOnMxFailure": self.behavior_on_mx_failure}
        if self.mail_from_domain is not None:
            mail_from["MailFromDomain"] = self.mail_from_domain
            mail_from["MailFromDomainStatus"] = self.mail_from_status
        info: dict[str, Any] = {}
        if self.last_success_at is not None:
            info["LastSuccessTimestamp"] = self.last_success_at
        response: dict[str, Any] = {
            "IdentityType": self.identity_type,
            "FeedbackForwardingStatus": self.feedback_forwarding,
            "VerifiedForSendingStatus": self.verified_for_sending,
            "DkimAttributes": self.dkim_attributes(hosted_zone),
            "MailFromAttributes": mail_from,
            "Policies": {},
            "Tags": [dict(tag) for tag in self.tags],
            "VerificationStatus": self.verification,
            "VerificationInfo": info,
        }
        if self.configuration_set is not None:
            response["ConfigurationSetName"] = self.configuration_set
        return response


def normalize(name: str) -> str:
    """The stored form of an identity: the domain (of an address) in lower case."""
    local, at, domain = name.strip().rpartition("@")
    return f"{local}{at}{domain.lower()}"


def sender_address(source: str | None, raw: bytes) -> tuple[str, str]:
    """The sending address as written (``Source``/``FromEmailAddress``, else the ``From``
    header of ``raw``) and its bare address."""
    if source:
        return source, parseaddr(source)[1]
    header = BytesHeaderParser().parsebytes(raw).get("From")
    if header is None:
        return "", ""
    written = str(header).strip()
    addresses = getaddresses([written])
    return written, addresses[0][1] if addresses else ""


def account_response(account: dict[str, Any], sent: int) -> dict[str, Any]:
    """The ``GetAccount`` response: ``account`` with ``SendQuota.SentLast24Hours`` filled in."""
    response = copy.deepcopy(account)
    quota = response.setdefault("SendQuota", {})
    quota.setdefault("SentLast24Hours", float(sent))
    return response


def _easy_dkim_tokens() -> list[str]:
    return ["".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(32)) for _ in range(3)]


def _check_private_key(encoded: object) -> None:
    """``DomainSigningPrivateKey`` must be the base64 DER of a 1024- to 2048-bit RSA key."""
    if not isinstance(encoded, str) or not 1 <= len(encoded) <= 20480:
        raise _bad_request("DomainSigningPrivateKey must be a base64 string of 1 to 20480 chars.")
    if not _BASE64.fullmatch(encoded):
        raise _bad_request("Invalid DomainSigningPrivateKey: not base64 (no PEM armour).")
    try:
        key = load_der_private_key(base64.b64decode(encoded, validate=True), password=None)
    except (binascii.Error, ValueError, TypeError, UnsupportedAlgorithm):
        raise _bad_request("Invalid DomainSigningPrivateKey: not a DER private key.") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _bad_request("Invalid DomainSigningPrivateKey: not an RSA key.")
    if not 1024 <= key.key_size <= 2048:
        raise _bad_request(f"Invalid DomainSigningPrivateKey: {key.key_size}-bit RSA key.")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        raise ApiError("SerializationException", "Malformed JSON request body") from None
    if not isinstance(request, dict):
        raise ApiError("SerializationException", "Expected a JSON object")
    return request


def _enum(value: object, allowed: tuple[str, ...], member: str) -> str:
    if value not in allowed:
        raise _bad_request(f"Invalid {member}: {value!r}; expected one of {', '.join(allowed)}.")
    assert isinstance(value, str)
    return value


class IdentityStore:
    """The identities of one fake SES account; every method is thread-safe."""

    def __init__(
        self,
        *,
        auto_verify_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.auto_verify_after = auto_verify_after
        self.signing_hosted_zone: str | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._identities: dict[str, Identity] = {}

    # --- test controls ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Identity]:
        """Copies of every identity, by stored (normalized) name."""
        with self._lock:
            return {name: self._current(i).copy() for name, i in self._identities.items()}

    def clear(self) -> None:
        with self._lock:
            self._identities.clear()

    def add(self, name: str, *, verified: bool = False) -> Identity:
        """Create an identity as ``CreateEmailIdentity`` would (Easy DKIM for a domain)."""
        self.create({"EmailIdentity": name})
        if verified:
            return self.set_status(name)
        return self.snapshot()[normalize(name)]

    def set_status(
        self,
        name: str,
        verification: str | None = "SUCCESS",
        dkim: str | None = "SUCCESS",
        mail_from: str | None = None,
    ) -> Identity:
        """Set the verification, DKIM (domains only) and MAIL FROM statuses; ``None`` keeps one.

        ``KeyError`` for an unknown identity; ``ValueError`` for an unknown status or a MAIL FROM
        status on an identity without a MAIL FROM domain.
        """
        if verification is not None and verification not in STATUSES:
            raise ValueError(f"unknown verification status {verification!r}")
        if dkim is not None and dkim not in STATUSES:
            raise ValueError(f"unknown DKIM status {dkim!r}")
        if mail_from is not None and mail_from not in MAIL_FROM_STATUSES:
            raise ValueError(f"unknown MAIL FROM status {mail_from!r}")
        with self._lock:
            identity = self._identities.get(normalize(name))
            if identity is None:
                raise KeyError(name)
            if mail_from is not None and identity.mail_from_domain is None:
                raise ValueError(f"{name} has no MAIL FROM domain")
            identity.auto_verify = False
            if verification is not None:
                identity.verification = cast(Status, verification)
                if verification == "SUCCESS":
                    identity.last_success_at = time.time()
            if dkim is not None and identity.identity_type == "DOMAIN":
                identity.dkim_status = cast(Status, dkim)
            if mail_from is not None:
                identity.mail_from_status = cast(MailFromStatus, mail_from)
            return identity.copy()

    def verified_for(self, address: str) -> bool:
        """Whether SES would let ``address`` send: it, its domain or a parent domain is verified."""
        if "@" not in address:
            return False
        address = normalize(address)
        labels = address.rpartition("@")[2].split(".")
        candidates = [address] + [".".join(labels[i:]) for i in range(len(labels) - 1)]
        with self._lock:
            for name in candidates:
                identity = self._identities.get(name)
                if identity is not None and self._current(identity).verified_for_sending:
                    return True
        return False

    # --- the SES v2 API -----------------------------------------------------------------

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]] | None:
        """Answer one ``/v2/email/identities...`` request (``None``: no such route)."""
        if not path.startswith(PREFIX):
            return None
        parts = path[len(PREFIX) :].split("/")
        if parts == [""]:
            return (200, self.create(_json_object(body))) if method == "POST" else None
        if parts[0] or not parts[1]:
            return None
        name = unquote(parts[1])
        if len(parts) == 2 and method == "GET":
            return 200, self.get(name)
        if len(parts) == 2 and method == "DELETE":
            self.delete(name)
            return 200, {}
        if parts[2:] == ["mail-from"] and method == "PUT":
            self.put_mail_from(name, _json_object(body))
            return 200, {}
        return None

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        """``CreateEmailIdentity``."""
        raw_name = request.get("EmailIdentity")
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise _bad_request("EmailIdentity is required.")
        name = normalize(raw_name)
        local, at, domain = name.rpartition("@")
        if not _DOMAIN.fullmatch(domain) or (at and (not local or " " in local)):
            raise _bad_request(f"Invalid email identity: {raw_name}")
        identity = Identity(name=name, identity_type="EMAIL_ADDRESS" if at else "DOMAIN")
        signing = request.get("DkimSigningAttributes")
        if at:
            if signing is not None:
                raise _bad_request("DKIM signing attributes apply to domain identities only.")
            identity.next_key_length = "RSA_1024_BIT"
        else:
            self._configure_dkim(identity, signing or {})
        tags = request.get("Tags") or []
        if not isinstance(tags, list) or not all(
            isinstance(tag, dict) and isinstance(tag.get("Key"), str) for tag in tags
        ):
            raise _bad_request("Tags must be a list of {Key, Value}.")
        identity.tags = [{"Key": tag["Key"], "Value": str(tag.get("Value", ""))} for tag in tags]
        configuration_set = request.get("ConfigurationSetName")
        identity.configuration_set = configuration_set if configuration_set else None
        with self._lock:
            if name in self._identities:
                message = f"Email identity {raw_name} already exist."  # sic, as SES says it
                raise ApiError("AlreadyExistsException", message)
            identity.created_at = self._clock()
            self._identities[name] = identity
            response: dict[str, Any] = {
                "IdentityType": identity.identity_type,
                "VerifiedForSendingStatus": False,
            }
            if identity.identity_type == "DOMAIN":
                response["DkimAttributes"] = identity.dkim_attributes(self.signing_hosted_zone)
            return response

    def get(self, name: str) -> dict[str, Any]:
        """``GetEmailIdentity``."""
        with self._lock:
            identity = self._identities.get(normalize(name))
            if identity is None:
                raise _not_found(name)
            return self._current(identity).get_response(self.signing_hosted_zone)

    def delete(self, name: str) -> None:
        """``DeleteEmailIdentity``."""
        with self._lock:
            if self._identities.pop(normalize(name), None) is None:
                raise _not_found(name)

    def put_mail_from(self, name: str, request: dict[str, Any]) -> None:
        """``PutEmailIdentityMailFromAttributes``: an empty ``MailFromDomain`` turns it off."""
        behavior = _enum(
            request.get("BehaviorOnMxFailure", "USE_DEFAULT_VALUE"),
            MX_FAILURE,
            "BehaviorOnMxFailure",
        )
        mail_from = request.get("MailFromDomain") or None
        if mail_from is not None and not isinstance(mail_from, str):
            raise _bad_request("MailFromDomain must be a string.")
        with self._lock:
            identity = self._identities.get(normalize(name))
            if identity is None:
                raise _not_found(name)
            if mail_from is not None:
                mail_from = mail_from.lower()
                domain = identity.name.rpartition("@")[2]
                if not _DOMAIN.fullmatch(mail_from) or not mail_from.endswith(f".{domain}"):
                    raise _bad_request(
                        f"Invalid MAIL FROM domain {mail_from}: it must be a subdomain of {domain}."
                    )
            identity.mail_from_domain = mail_from
            identity.mail_from_status = "PENDING" if mail_from is not None else None
            identity.behavior_on_mx_failure = behavior

    # --- internals ----------------------------------------------------------------------

    def _current(self, identity: Identity) -> Identity:
        """``identity`` after ``auto_verify_after`` (caller holds the lock)."""
        delay = self.auto_verify_after
        if (
            identity.auto_verify
            and delay is not None
            and self._clock() - identity.created_at >= delay
        ):
            identity.auto_verify = False
            if identity.verification == "PENDING":
                identity.verification = "SUCCESS"
                identity.last_success_at = time.time()
            if identity.dkim_status == "PENDING":
                identity.dkim_status = "SUCCESS"
        return identity

    def _configure_dkim(self, identity: Identity, signing: object) -> None:
        if not isinstance(signing, dict):
            raise _bad_request("DkimSigningAttributes must be an object.")
        selector = signing.get("DomainSigningSelector")
        key = signing.get("DomainSigningPrivateKey")
        origin = signing.get("DomainSigningAttributesOrigin")
        byodkim = selector is not None or key is not None or origin == "EXTERNAL"
        if origin not in (None, "AWS_SES", "EXTERNAL") or (byodkim and origin == "AWS_SES"):
            raise _bad_request(f"Unsupported DomainSigningAttributesOrigin: {origin}")
        identity.signing_enabled = True
        identity.dkim_status = "PENDING"
        if byodkim:
            if selector is None or key is None:
                raise _bad_request(
                    "BYODKIM needs both DomainSigningSelector and DomainSigningPrivateKey."
                )
            if not isinstance(selector, str) or not _SELECTOR.fullmatch(selector):
                raise _bad_request(f"Invalid DomainSigningSelector: {selector!r}")
            _check_private_key(key)
            identity.dkim_origin = "EXTERNAL"
            identity.dkim_tokens = [selector]
            return
        length = _enum(
            signing.get("NextSigningKeyLength", "RSA_2048_BIT"), KEY_LENGTHS, "NextSigningKeyLength"
        )
        identity.dkim_tokens = _easy_dkim_tokens()
        identity.next_key_length = identity.current_key_length = length
        identity.key_generated_at = time.time()
