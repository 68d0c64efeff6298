"""Amazon Route 53: the calls `domain publish` makes, and their errors in ours (`Route53Error`).

The client is the tenant's, from the same seam as SES's (`SesClientProvider.for_tenant(tenant)`),
so a tenant on its own AWS account publishes to the zones of that account. A
refusal names what to do: the IAM action missing, Route 53's own words for a batch it refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import CREDENTIAL_CODES, DENIED_CODES
from gateway.core.exceptions import Route53Error
from gateway.core.types.domains import HostedZone, RecordSet

_BUSY = frozenset({"Throttling", "ThrottlingException", "PriorRequestNotComplete"})


def translate(exc: BaseException, operation: str) -> Route53Error:
    """Our error for an exception of a Route 53 call (`operation`: its API name)."""
    if isinstance(exc, BotoCoreError | OSError):
        return Route53Error(type(exc).__name__, f"cannot reach Route 53: {exc}")
    if not isinstance(exc, ClientError):
        raise TypeError(f"not a Route 53 client error: {exc!r}") from exc
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    said = str(error.get("Message") or "").strip()
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400)
    if code in _BUSY:
        message = f"Route 53 is busy ({code}: {said or 'slow down'}): try again in a minute"
    elif code in DENIED_CODES:
        message = (
            f"AWS denied route53:{operation} ({code}): allow it in the IAM policy of the "
            "account's credentials (docs/aws-accounts.md, Route 53 publish)"
        )
    elif code in CREDENTIAL_CODES:
        message = f"AWS refused the credentials ({code}: {said})"
    elif code == "NoSuchHostedZone":
        message = f"Route 53 has no such hosted zone: {said}"
    elif code == "InvalidChangeBatch":
        message = f"Route 53 refused the change batch, changing nothing: {said}"
    else:
        message = f"Route 53 refused {operation} ({code}: {said})"
    return Route53Error(code, message, refused=status < 500)


async def _call(client: Any, operation: str, **request: Any) -> dict[str, Any]:
    """`client.<operation>(**request)`, its errors translated."""
    name = "".join(part.capitalize() for part in operation.split("_"))
    try:
        response: dict[str, Any] = await getattr(client, operation)(**request)
    except (ClientError, BotoCoreError, OSError) as exc:  # TimeoutError is an OSError
        raise translate(exc, name) from exc
    return response


def _bare(identifier: str) -> str:
    """`/hostedzone/Z123` or `/change/C456` as `Z123`, `C456`."""
    return identifier.rsplit("/", 1)[-1]


def _record_set(rrset: dict[str, Any]) -> RecordSet:
    special = bool(
        rrset.get("AliasTarget")
        or rrset.get("SetIdentifier")
        or rrset.get("TrafficPolicyInstanceId")
    )
    values = tuple(str(r["Value"]) for r in rrset.get("ResourceRecords") or ())
    return RecordSet(str(rrset["Name"]).rstrip(".").lower(), str(rrset["Type"]), values, special)


class Route53:
    """The hosted zones of the tenant's AWS account (or of the one account that holds every
    zone, `DNS_AWS_ACCOUNT`), their record sets, and changes to them."""

    def __init__(self, provider: SesClientProvider, dns_account: str | None = None) -> None:
        self._provider = provider
        self._dns_account = dns_account

    async def _call(self, tenant: str, operation: str, **request: Any) -> dict[str, Any]:
        """`operation` with the Route 53 client of the DNS account, else the tenant's."""
        if self._dns_account:
            clients = await self._provider.account(self._dns_account)
        else:
            clients = await self._provider.for_tenant(tenant)
        with clients:
            return await _call(clients.client("route53"), operation, **request)

    async def zones(self, tenant: str) -> list[HostedZone]:
        """Every hosted zone of the account (`ListHostedZones`, page by page)."""
        found: list[HostedZone] = []
        request: dict[str, Any] = {}
        while True:
            response = await self._call(tenant, "list_hosted_zones", **request)
            for zone in response.get("HostedZones") or ():
                private = bool((zone.get("Config") or {}).get("PrivateZone"))
                name = str(zone["Name"]).rstrip(".").lower()
                found.append(HostedZone(_bare(str(zone["Id"])), name, private))
            if not response.get("IsTruncated"):
                return found
            request["Marker"] = response["NextMarker"]

    async def record_sets(self, tenant: str, zone_id: str) -> list[RecordSet]:
        """Every record set of the zone (`ListResourceRecordSets`, page by page)."""
        found: list[RecordSet] = []
        request: dict[str, Any] = {"HostedZoneId": zone_id}
        while True:
            response = await self._call(tenant, "list_resource_record_sets", **request)
            found += [_record_set(r) for r in response.get("ResourceRecordSets") or ()]
            if not response.get("IsTruncated"):
                return found
            request["StartRecordName"] = response["NextRecordName"]
            request["StartRecordType"] = response["NextRecordType"]
            if response.get("NextRecordIdentifier"):
                request["StartRecordIdentifier"] = response["NextRecordIdentifier"]
            else:
                request.pop("StartRecordIdentifier", None)

    async def change(
        self,
        tenant: str,
        zone_id: str,
        changes: Sequence[tuple[str, RecordSet]],
        ttl: int,
        comment: str,
    ) -> str:
        """Apply (action, record set) pairs, `CREATE` or `UPSERT`, as ONE batch: Route 53 makes
        all of them or none. The change's id (for `status`)."""
        batch = [
            {
                "Action": action,
                "ResourceRecordSet": {
                    "Name": rrset.name + ".",
                    "Type": rrset.type,
                    "TTL": ttl,
                    "ResourceRecords": [{"Value": value} for value in rrset.values],
                },
            }
            for action, rrset in changes
        ]
        response = await self._call(
            tenant,
            "change_resource_record_sets",
            HostedZoneId=zone_id,
            ChangeBatch={"Comment": comment[:256], "Changes": batch},
        )
        return _bare(str(response["ChangeInfo"]["Id"]))

    async def status(self, tenant: str, change_id: str) -> str:
        """`PENDING` until every Route 53 nameserver answers with the change, then `INSYNC`."""
        response = await self._call(tenant, "get_change", Id=change_id)
        return str(response["ChangeInfo"]["Status"])
