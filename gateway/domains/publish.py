"""What `domain publish` changes in a Route 53 hosted zone: pure functions, no I/O.

The records are the ones the gateway shows for the domain (`gateway.domains.records`). Each gets
a `Step` naming what becomes of it: created where nothing is, updated (one UPSERT) where a record
the gateway manages differs, left as it is where it is there already, or left alone as a
conflict, with what to do by hand, where something the gateway did not make is in the way.
Nothing is ever deleted: an UPSERT keeps the values of a record set that are not of the kind
the gateway writes (other TXT strings at the same name).

"The gateway manages" a record set when it wrote it and the zone still holds what it wrote
(`PublishedRecord`), and a DKIM CNAME always: its name is made of the token SES gave this
identity, so nothing else can use it.

The ops layer (`admin.ops.publish`) reads the zone, calls these, and sends the changes as one
`ChangeResourceRecordSets` batch, which Route 53 applies whole or not at all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from gateway.core.exceptions import InvalidInputError
from gateway.core.types.domains import DnsRecord, HostedZone, PublishedRecord, RecordSet
from gateway.domains.records import SPF_VALUE, rdata


class Action(StrEnum):
    CREATE = "create"
    """Nothing of this type at the name: the record is added."""
    UPDATE = "update"
    """An UPSERT: a record set the gateway manages differs, or a TXT record set lacks ours."""
    PRESENT = "present"
    """The zone holds it already."""
    CONFLICT = "conflict"
    """Something the gateway did not make is in the way: left alone, named with what to do."""


@dataclass(frozen=True, slots=True)
class Step:
    """What becomes of one record the domain needs."""

    record: DnsRecord
    action: Action
    found: tuple[str, ...]
    """What the zone holds at the record's name and type (presentation form)."""
    values: tuple[str, ...]
    """The record set written by a CREATE or UPDATE; () otherwise."""
    detail: str


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """A domain's records against one hosted zone: a step for each, in the records' order."""

    zone: HostedZone
    steps: tuple[Step, ...]

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.action in (Action.CREATE, Action.UPDATE)]

    @property
    def conflicts(self) -> list[Step]:
        return [s for s in self.steps if s.action is Action.CONFLICT]

    @property
    def fingerprint(self) -> str:
        """Short digest of the changes: the panel's confirmation applies the change set shown,
        not one the zone has turned into since."""
        text = "\n".join(
            f"{s.action}|{s.record.name}|{s.record.type}|{'|'.join(s.values)}" for s in self.changes
        )
        return hashlib.sha256(f"{self.zone.id}\n{text}".encode()).hexdigest()[:16]


def zone_name(name: str) -> str:
    """A DNS name as compared here: lower-case, without the final dot, Route 53's `\\052` as `*`."""
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), name).rstrip(".").lower()


def choose_zone(domain: str, zones: Sequence[HostedZone], zone_id: str | None) -> HostedZone:
    """The hosted zone that holds `domain`: the one named by `zone_id`, else the public one with
    the longest name containing it. Several zones of that name, or only a private one, need
    `zone_id` (refused, naming them)."""
    if zone_id:
        wanted = zone_id.strip().removeprefix("/hostedzone/")
        chosen = next((z for z in zones if z.id == wanted), None)
        if chosen is None:
            raise InvalidInputError(f"no hosted zone {wanted} in this AWS account", "zone_id")
        if not _within(domain, chosen.name):
            raise InvalidInputError(
                f"hosted zone {chosen.id} is {chosen.name}: it cannot hold {domain}", "zone_id"
            )
        return chosen
    holding = [z for z in zones if _within(domain, z.name)]
    if not holding:
        raise InvalidInputError(
            f"no Route 53 hosted zone in this AWS account holds {domain}: create one, or "
            "publish the records by hand (`domain show --format zone`)",
            "zone_id",
        )
    longest = max(len(z.name) for z in holding)
    best = [z for z in holding if len(z.name) == longest]
    if len(best) > 1 or best[0].private:
        said = ", ".join(f"{z.id} ({'private' if z.private else 'public'})" for z in best)
        why = "several hosted zones" if len(best) > 1 else "only a private hosted zone"
        raise InvalidInputError(
            f"{why} named {best[0].name} hold {domain}: {said}; choose one with --zone-id",
            "zone_id",
        )
    return best[0]


def _within(domain: str, zone: str) -> bool:
    return domain == zone or domain.endswith("." + zone)


def txt_text(value: str) -> str:
    """A TXT value in presentation form (`"v=spf1 " "include:..."`) as the text it holds: the
    quoted strings joined (RFC 7208 §3.3), `\\"`, `\\\\` and `\\ddd` read."""
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', value)
    if not strings:
        return value
    text = "".join(strings)
    return re.sub(r"\\(\d{3}|.)", lambda m: _unescape(m.group(1)), text)


def _unescape(escaped: str) -> str:
    return chr(int(escaped)) if escaped.isdigit() else escaped


def _host(value: str) -> str:
    return value.strip().rstrip(".").lower()


def _key(record_type: str, value: str) -> str:
    """A value as compared: TXT as its text, host names without case or the final dot."""
    if record_type == "TXT":
        return txt_text(value)
    if record_type == "MX":
        preference, _, host = value.strip().partition(" ")
        return f"{preference} {_host(host)}"
    return _host(value)


def _same(record_type: str, one: Iterable[str], other: Iterable[str]) -> bool:
    return sorted(_key(record_type, v) for v in one) == sorted(_key(record_type, v) for v in other)


def _kind(record: DnsRecord) -> str:
    """What a TXT record of ours is: at most one of each kind sits at a name."""
    if record.name.startswith("_dmarc."):
        return "DMARC"
    if record.value.startswith("v=spf1"):
        return "SPF"
    return "DKIM key"


def _of_kind(kind: str, text: str) -> bool:
    lowered = text.strip().lower()
    if kind == "DMARC":
        return lowered.replace(" ", "").startswith("v=dmarc1")
    if kind == "SPF":
        return lowered == "v=spf1" or lowered.startswith("v=spf1 ")
    return lowered.startswith(("p=", "v=dkim1")) or "; p=" in lowered


def plan(
    zone: HostedZone,
    domain: str,
    records: Sequence[DnsRecord],
    rrsets: Sequence[RecordSet],
    published: Sequence[PublishedRecord],
) -> ChangeSet:
    """The step of each record against what the zone holds and what the gateway wrote."""
    by_name: dict[str, dict[str, RecordSet]] = {}
    for rrset in rrsets:
        at_name = by_name.setdefault(zone_name(rrset.name), {})
        if rrset.type in at_name:  # several sets of a name and type: a routing policy
            rrset = RecordSet(rrset.name, rrset.type, rrset.values, special=True)
        at_name[rrset.type] = rrset
    ours = {(p.name, p.type): p.values for p in published if p.zone_id == zone.id and p.values}
    steps = []
    for record in records:
        at_name = by_name.get(record.name.lower(), {})
        written = ours.get((record.name.lower(), record.type))
        steps.append(_step(record, domain, at_name, written))
    return ChangeSet(zone, tuple(steps))


def _step(
    record: DnsRecord,
    domain: str,
    at_name: dict[str, RecordSet],
    written: tuple[str, ...] | None,
) -> Step:
    wanted = rdata(record)
    found = at_name.get(record.type)
    if found is None:
        others = sorted(t for t in at_name if t != record.type)
        if record.type == "CNAME" and others:
            return Step(
                record,
                Action.CONFLICT,
                (),
                (),
                f"{', '.join(others)} records at {record.name}: a CNAME cannot sit beside "
                "them; remove them by hand, then publish again",
            )
        if "CNAME" in at_name:
            target = ", ".join(at_name["CNAME"].values)
            return Step(
                record,
                Action.CONFLICT,
                (),
                (),
                f"a CNAME at {record.name} (to {target}): no other record may sit beside it; "
                "remove it by hand, then publish again",
            )
        return Step(record, Action.CREATE, (), (wanted,), "added")
    if found.special:
        return Step(
            record,
            Action.CONFLICT,
            found.values,
            (),
            f"an alias or routing-policy {record.type} record set at {record.name}: left alone; "
            f"set it to {wanted} by hand",
        )
    key = _key(record.type, wanted)
    if key in {_key(record.type, v) for v in found.values}:
        return Step(record, Action.PRESENT, found.values, (), "already there")
    managed = written is not None and _same(record.type, written, found.values)
    if record.type != "TXT":
        dkim = record.type == "CNAME" and record.name.endswith(f"._domainkey.{domain}")
        if managed or dkim:
            return Step(
                record, Action.UPDATE, found.values, (wanted,), f"was {', '.join(found.values)}"
            )
        return Step(record, Action.CONFLICT, found.values, (), _not_ours(record, found))
    kind = _kind(record)
    same_kind = [v for v in found.values if _of_kind(kind, txt_text(v))]
    kept = tuple(v for v in found.values if v not in same_kind)
    if not same_kind:
        return Step(
            record,
            Action.UPDATE,
            found.values,
            (*kept, wanted),
            f"added beside the {len(kept)} other TXT values there (kept)",
        )
    if managed:
        was = ", ".join(txt_text(v) for v in same_kind)
        return Step(record, Action.UPDATE, found.values, (*kept, wanted), f"was {was}")
    return Step(record, Action.CONFLICT, found.values, (), _txt_conflict(record, kind, same_kind))


def _not_ours(record: DnsRecord, found: RecordSet) -> str:
    there = ", ".join(found.values)
    if record.type == "MX":
        return (
            f"MX records at {record.name} ({there}) the gateway did not make: SES needs "
            f"{record.value} there for the custom MAIL FROM; replace them by hand, or choose "
            "another MAIL FROM subdomain"
        )
    return f"{record.type} {there} at {record.name} the gateway did not make: set it by hand"


def _txt_conflict(record: DnsRecord, kind: str, present: list[str]) -> str:
    there = "; ".join(txt_text(v) for v in present)
    if kind == "SPF":
        include = " ".join(t for t in SPF_VALUE.split() if t.startswith("include:"))
        return (
            f"an SPF record is there already ({there}): left alone; merge {include} into it by "
            "hand (a name may hold one SPF record)"
        )
    if kind == "DMARC":
        merge = [t.strip() for t in record.value.split(";") if t.strip().startswith("rua=")]
        hint = f"; merge {merge[0]} into it by hand for the reports" if merge else ""
        return f"a DMARC policy is there already ({there}): kept{hint}"
    return (
        f"another DKIM key is at {record.name} ({there[:60]}...): left alone; replace it by hand "
        "with the key shown"
    )


def settle(
    published: Sequence[PublishedRecord], rrsets: Sequence[RecordSet]
) -> list[PublishedRecord]:
    """The records of a batch whose outcome was not known (the process stopped while it was
    sent), decided from the zone: Route 53 applied the batch whole or not at all, so a record
    set that holds what was sent was written by it (`values` become `pending`), any other was
    not (`pending` dropped). Records without `pending` are returned as they are."""
    held = {(zone_name(r.name), r.type): r.values for r in rrsets}
    settled = []
    for record in published:
        if record.pending is None:
            settled.append(record)
            continue
        now = held.get((record.name, record.type))
        applied = now is not None and _same(record.type, now, record.pending)
        values = record.pending if applied else record.values
        settled.append(PublishedRecord(record.name, record.type, record.zone_id, values, None))
    return settled
