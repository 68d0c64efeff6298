"""Route 53 for the tests: moto's, on loopback, and the zone it holds served by the loopback DNS
server (`serve_zone`), so that the live DNS check sees exactly what was published.

`Route53Stand` serves moto (the same in-process backends as the `moto_server` fixture) through
a thin layer that adds what moto lacks and the tests need:

- Route 53's rule that a CNAME shares its name with no other record: a batch that breaks it is
  refused whole, with Route 53's words (`InvalidChangeBatch`), and changes nothing;
- `after_read`: something run once the next `ListResourceRecordSets` has been answered (another
  editor changing the zone between the gateway's read and its write);
- `hold_changes`: the next `ChangeResourceRecordSets` waits until `release(apply)` (to kill the
  client in the middle of the call); `failing_changes`: batches answered with a 500, unapplied;
  `pending_for`: `GetChange` answers `PENDING` for a while;
- `calls`: the Route 53 operations asked, in order;
- `nameserver(dns, zone_id)`: the zone served by the loopback DNS server once a change is in
  sync (at once, or when `pending_for` has passed and `GetChange` says `INSYNC`), as Route
  53's nameservers serve it.
"""

from __future__ import annotations

import io
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any, Self

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.route53.models import route53_backends
from werkzeug.serving import make_server

from tests.support.dnsserver import DnsServer

__all__ = ["Route53Stand", "client", "serve_zone", "zone_records"]

_CHANGE_PATH = "/rrset/"
_ERROR = (
    '<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
    "<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>stand</RequestId></ErrorResponse>"
)


def client(url: str) -> Any:
    """A boto3 Route 53 client at `url`, as an operator's tools would be."""
    return boto3.client(
        "route53",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def zone_records(url: str, zone_id: str) -> dict[tuple[str, str], list[str]]:
    """What the zone holds, (name without the final dot, type) → values; SOA and NS left out."""
    found: dict[tuple[str, str], list[str]] = {}
    pages = client(url).get_paginator("list_resource_record_sets")
    for page in pages.paginate(HostedZoneId=zone_id):
        for rrset in page["ResourceRecordSets"]:
            if rrset["Type"] in ("SOA", "NS"):
                continue
            values = [r["Value"] for r in rrset.get("ResourceRecords", [])]
            found[(rrset["Name"].rstrip(".").lower(), rrset["Type"])] = values
    return found


def _zone(zone_id: str) -> Any:
    """The hosted zone of that id, in whichever of moto's accounts holds it."""
    for account_id in (DEFAULT_ACCOUNT_ID, *route53_backends.keys()):
        zone = route53_backends[account_id]["aws"].zones.get(zone_id)
        if zone is not None:
            return zone
    raise KeyError(zone_id)


def serve_zone(dns: DnsServer, zone_id: str) -> None:
    """Load the record sets moto holds for the zone into the DNS server (replacing what it
    served at those names): the bridge from the zone to what resolvers see."""
    zone = _zone(zone_id)
    rrsets = [r for r in zone.rrsets if r.type not in ("SOA", "NS")]
    for rrset in rrsets:
        dns.remove(rrset.name)
    for rrset in rrsets:
        for value in rrset.records:
            dns.add(rrset.name, rrset.type, value)


def create_zone(url: str, name: str, private: bool = False) -> str:
    """A hosted zone (a private one in a made-up VPC): its id, without `/hostedzone/`."""
    request: dict[str, Any] = {"Name": name, "CallerReference": f"{name}-{time.monotonic_ns()}"}
    if private:
        request["HostedZoneConfig"] = {"PrivateZone": True, "Comment": "private"}
        request["VPC"] = {"VPCRegion": "us-east-1", "VPCId": "vpc-12345678"}
    return str(client(url).create_hosted_zone(**request)["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def put(url: str, zone_id: str, name: str, record_type: str, values: Iterable[str]) -> None:
    """Set a record set by hand (UPSERT), as the zone's owner would."""
    rrset = {
        "Name": name,
        "Type": record_type,
        "TTL": 300,
        "ResourceRecords": [{"Value": v} for v in values],
    }
    client(url).change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]},
    )


def _operation(method: str, path: str) -> str | None:
    if not path.startswith("/2013-04-01/"):
        return None
    if path.startswith("/2013-04-01/change/"):
        return "GetChange"
    if path.endswith(_CHANGE_PATH) and method == "POST":
        return "ChangeResourceRecordSets"
    if path.rstrip("/").endswith("/rrset"):
        return "ListResourceRecordSets"
    if path.rstrip("/").endswith("/hostedzone"):
        return "ListHostedZones" if method == "GET" else "CreateHostedZone"
    return "other"


def _cname_conflict(zone_id: str, body: bytes) -> str | None:
    """Route 53's refusal of a batch that would leave a CNAME beside other records."""
    zone = _zone(zone_id)
    types: dict[str, set[str]] = {}
    for rrset in zone.rrsets:
        types.setdefault(rrset.name.rstrip(".").lower(), set()).add(rrset.type)
    for change in ET.fromstring(body).iterfind(".//{*}Change"):  # noqa: S314 - the tests' own requests
        if change.findtext("{*}Action") == "DELETE":
            continue
        name = (change.findtext("{*}ResourceRecordSet/{*}Name") or "").rstrip(".").lower()
        types.setdefault(name, set()).add(change.findtext("{*}ResourceRecordSet/{*}Type") or "")
    for name, kinds in types.items():
        if "CNAME" in kinds and len(kinds) > 1:
            return (
                f"RRSet of type CNAME with DNS name {name}. is not permitted as it conflicts "
                f"with other records with the same DNS name in zone {zone.name}"
            )
    return None


class Route53Stand:
    """moto's Route 53 (and the rest of moto) on `127.0.0.1`, through the layer above."""

    def __init__(self) -> None:
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.calls: list[str] = []
        self.after_read: Callable[[], None] | None = None
        self.pending_until = 0.0
        self.arrived = threading.Event()
        """Set when a held change batch has arrived."""
        self._holding = False
        self._released = threading.Event()
        self._apply = True
        self._dns: tuple[DnsServer, str] | None = None
        self.failing_changes = 0
        """How many change batches to answer with a fault of Route 53's (500), unapplied."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> None:
        self._server = make_server(
            "127.0.0.1", 0, self, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release(apply=False)
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def nameserver(self, dns: DnsServer, zone_id: str) -> None:
        self._dns = (dns, zone_id)
        serve_zone(dns, zone_id)

    def pending_for(self, seconds: float) -> None:
        self.pending_until = time.monotonic() + seconds

    def hold_changes(self) -> None:
        self._holding, self._apply = True, True
        self._released.clear()
        self.arrived.clear()

    def release(self, apply: bool) -> None:
        """Let the held batch go on to moto (`apply`), or refuse it without changing anything."""
        self._apply = apply
        self._holding = False
        self._released.set()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        operation = _operation(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
        if operation is not None:
            self.calls.append(operation)
        if operation == "ChangeResourceRecordSets":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            zone_id = environ["PATH_INFO"].split("/hostedzone/")[1].split("/")[0]
            refusal = _cname_conflict(zone_id, body)
            if refusal is not None:
                return _error(start_response, "InvalidChangeBatch", refusal)
            if self.failing_changes > 0:
                self.failing_changes -= 1
                return _error(start_response, "InternalFailure", "try again", 500)
            if self._holding:
                self.arrived.set()
                self._released.wait()
                if not self._apply:
                    return _error(start_response, "InternalFailure", "held and dropped", 500)
        pending = operation == "GetChange" and time.monotonic() < self.pending_until
        answer = self._answer(environ, start_response, pending)
        in_sync = time.monotonic() >= self.pending_until
        if operation in ("GetChange", "ChangeResourceRecordSets") and in_sync and self._dns:
            serve_zone(*self._dns)  # in sync: Route 53's nameservers answer with the change
        if operation == "ListResourceRecordSets" and self.after_read is not None:
            edit, self.after_read = self.after_read, None
            edit()
        return [answer]

    def _answer(self, environ: dict[str, Any], start_response: Any, pending: bool) -> bytes:
        """moto's answer, whole; `pending`: a change's status said to be `PENDING`."""
        captured: list[Any] = []

        def keep(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            captured.append((status, headers))
            return lambda data: None

        body = b"".join(self._app(environ, keep))
        if pending:
            body = body.replace(b"<Status>INSYNC</Status>", b"<Status>PENDING</Status>")
        status, headers = captured[0]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return body


def _error(start_response: Any, code: str, message: str, status: int = 400) -> list[bytes]:
    body = _ERROR.format(code=code, message=message).encode()
    start_response(
        f"{status} {'Bad Request' if status == 400 else 'Internal Server Error'}",
        [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]
