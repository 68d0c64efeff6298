"""What DNS really says about a sending domain's records: the one module that uses dnspython.

dnspython's errors stop here. A lookup that gets no answer (timeout, SERVFAIL, REFUSED, no reachable
nameserver) leaves its record `unchecked` with the reason, never `missing`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.SOA import SOA
from dns.rdtypes.mxbase import MXBase
from dns.rdtypes.nsbase import NSBase
from dns.rdtypes.txtbase import TXTBase

from config.settings import parse_nameserver
from gateway.core.types.domains import CheckStatus, DnsRecord, RecordCheck

MAX_CNAME_HOPS = 8
SPF_LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4: include, a, mx, ptr, exists and redirect together
SPF_COUNT_CAP = 50  # counting stops here: a huge include tree costs a bounded number of queries
NEGATIVE_TTL = 60.0  # NXDOMAIN and NODATA without an SOA in the answer
MAX_NEGATIVE_TTL = 300.0  # a record just published shows up within minutes, whatever the SOA says
CACHE_SIZE = 1024

_PERMANENT = "receivers treat this as a permanent error"
_SPF_LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
_SPF = re.compile(r"v=spf1( |$)", re.IGNORECASE)  # RFC 7208 §4.5
_DMARC = re.compile(r"[vV]\s*=\s*DMARC1\s*(;|$)")


class MailDomain(StrEnum):
    ACCEPTS = "accepts"
    NULL_MX = "null-mx"
    """RFC 7505: the domain says it accepts no mail."""
    NO_MAIL = "no-mail"
    """No such domain, or neither MX nor address records."""
    UNKNOWN = "unknown"
    """No answer in time: mail goes through rather than being blocked."""


class _Unanswered(Exception):
    """No nameserver answered; str() says why."""


class _SpfBroken(Exception):
    """Receivers would find the SPF record a permanent error; str() says why."""


@dataclass(frozen=True, slots=True)
class _Answer:
    values: tuple[str, ...]
    """Presentation values (TXT strings joined); empty for NXDOMAIN and NODATA."""
    nxdomain: bool
    nameserver: str | None


class DnsChecker:
    """Checks expected records with real lookups; no `nameservers`: the system's resolv.conf."""

    def __init__(self, nameservers: list[str], timeout: float) -> None:
        self._timeout = timeout
        self._cache: OrderedDict[tuple[str, str], tuple[float, _Answer]] = OrderedDict()
        self._unusable: str | None = None
        if nameservers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(*parse_nameserver(server)) for server in nameservers
            ]
        else:
            try:
                self._resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration as exc:
                self._resolver = dns.asyncresolver.Resolver(configure=False)
                self._unusable = f"no nameserver to ask (/etc/resolv.conf: {exc})"
        servers = [  # resolv.conf's are plain addresses; ours are nameserver objects
            _host_port(server, self._resolver.port) if isinstance(server, str) else str(server)
            for server in self._resolver.nameservers
        ]
        self._only_server = _server_label(servers[0]) if len(servers) == 1 else None
        self._resolver.lifetime = timeout  # a silent first server leaves time for the others
        self._resolver.timeout = timeout / max(len(servers), 1)
        self._resolver.use_edns(0, 0, 1232)  # long DKIM keys fit in UDP; TC falls back to TCP

    def clear_cache(self) -> None:
        self._cache.clear()

    async def check(
        self, records: Sequence[DnsRecord], *, dkim_verified: bool = False
    ) -> list[RecordCheck]:
        """One check per expected record, in order; the lookups run concurrently."""
        return list(await asyncio.gather(*(self._check(r, dkim_verified) for r in records)))

    async def _check(self, record: DnsRecord, dkim_verified: bool) -> RecordCheck:
        try:
            if record.type == "CNAME":
                return await self._check_cname(record)
            if record.type == "MX":
                answer = await self._lookup(record.name, "MX")
                wanted = _mx(record.value) in map(_mx, answer.values)
                return _result(record, answer, answer.values, _verdict(answer, wanted))
            if record.type == "TXT":
                return await self._check_txt(record, dkim_verified)
            raise _Unanswered(f"{record.type} records are not checked")
        except _Unanswered as exc:
            return RecordCheck(
                record.type, record.name, record.value, (), CheckStatus.UNCHECKED, str(exc), None
            )

    async def _check_cname(self, record: DnsRecord) -> RecordCheck:
        answer = await self._lookup(record.name, "CNAME")
        if not answer.values:
            others = () if answer.nxdomain else await self._other_records(record.name)
            if others:
                kinds = ", ".join(sorted({other.split()[0] for other in others}))
                return _result(record, answer, others, CheckStatus.WRONG, f"{kinds}, not CNAME")
            return _result(record, answer, (), CheckStatus.MISSING)
        expected, chain, problem = _host(record.value), [answer.values[0]], ""
        while _host(chain[-1]) != expected:  # follow the chain until it reaches the target
            if len(chain) > MAX_CNAME_HOPS:
                problem = f", longer than {MAX_CNAME_HOPS} hops"
                break
            try:
                hop = await self._lookup(chain[-1], "CNAME")
            except _Unanswered as exc:
                raise _Unanswered(f"CNAME chain {_arrows(record.name, *chain)}: {exc}") from exc
            if not hop.values:
                break
            if _host(hop.values[0]) in {_host(name) for name in (record.name, *chain)}:
                problem = f", a loop back to {hop.values[0]}"
                break
            chain.append(hop.values[0])
        status = CheckStatus.OK if _host(chain[-1]) == expected else CheckStatus.WRONG
        detail = f"CNAME chain {_arrows(record.name, *chain)}" if len(chain) > 1 else ""
        return _result(record, answer, (chain[-1],), status, detail + problem)

    async def _other_records(self, name: str) -> tuple[str, ...]:
        """What a name without a CNAME holds instead (failed lookups count as nothing)."""

        async def values(rdtype: str) -> list[str]:
            try:
                return [f"{rdtype} {value}" for value in (await self._lookup(name, rdtype)).values]
            except _Unanswered:
                return []

        found = await asyncio.gather(*(values(rdtype) for rdtype in ("TXT", "A", "AAAA")))
        return tuple(value for values_ in found for value in values_)

    async def _check_txt(self, record: DnsRecord, dkim_verified: bool) -> RecordCheck:
        answer = await self._lookup(record.name, "TXT")
        if record.name.lower().startswith("_dmarc."):
            return _check_dmarc(record, answer, dkim_verified)
        if _SPF.match(record.value):
            return await self._check_spf(record, answer)
        if record.value.startswith("p=") or "._domainkey." in record.name.lower():
            key = _tags(record.value).get("p")
            if not key:
                raise _Unanswered("no public key to compare with (SES verifies the key)")
            wanted = key in {_tags(value).get("p") for value in answer.values}
        else:
            wanted = record.value in answer.values
        return _result(record, answer, answer.values, _verdict(answer, wanted))

    async def _check_spf(self, record: DnsRecord, answer: _Answer) -> RecordCheck:
        spf = tuple(value for value in answer.values if _SPF.match(value))
        if len(spf) != 1:
            if not spf:
                return _result(record, answer, (), CheckStatus.MISSING)
            detail = f"{_count(spf)} SPF records at one name: {_PERMANENT}"
            return _result(record, answer, spf, CheckStatus.CONFLICT, detail)
        unchecked = ""
        try:
            lookups = await self._spf_lookups(spf[0], (_host(record.name),))
        except _SpfBroken as exc:
            return _result(record, answer, spf, CheckStatus.CONFLICT, str(exc))
        except _Unanswered as exc:
            lookups, unchecked = 0, f"cannot count the SPF lookups: {exc}"
        if lookups > SPF_LOOKUP_LIMIT:
            needs = f"more than {SPF_COUNT_CAP}" if lookups > SPF_COUNT_CAP else str(lookups)
            detail = f"SPF needs {needs} DNS lookups, over the limit of {SPF_LOOKUP_LIMIT}"
            return _result(record, answer, spf, CheckStatus.CONFLICT, detail)
        lacking = {t for t in _spf_terms(record.value) if t.startswith("include:")}
        lacking -= {term.lower().removeprefix("+") for term in spf[0].split()}  # "~include": no
        if lacking:
            detail = f"the SPF record lacks {' '.join(sorted(lacking))}"
            return _result(record, answer, spf, CheckStatus.WRONG, detail)
        status = CheckStatus.UNCHECKED if unchecked else CheckStatus.OK
        return _result(record, answer, spf, status, unchecked)

    async def _spf_lookups(self, text: str, path: tuple[str, ...], total: int = 0) -> int:
        """`total` plus the DNS-querying terms of an SPF record and of the records it includes."""
        terms = _spf_terms(text)
        for term in terms:
            mechanism, target = _spf_term(term)
            if mechanism not in _SPF_LOOKUP_TERMS or (mechanism == "redirect" and "all" in terms):
                continue  # RFC 7208 §6.1: redirect is ignored when the record has "all"
            total += 1
            if total > SPF_COUNT_CAP:
                return total
            if mechanism not in ("include", "redirect") or not target or "%" in target:
                continue  # a, mx, ptr, exists; or a macro, which depends on the message
            if target in path:
                raise _SpfBroken(f"SPF include loop {_arrows(*path, target)}: {_PERMANENT}")
            included = [v for v in (await self._lookup(target, "TXT")).values if _SPF.match(v)]
            if len(included) != 1:
                problem = "several SPF records" if included else "no SPF record"
                raise _SpfBroken(f"{mechanism} {target} has {problem}: {_PERMANENT}")
            total = await self._spf_lookups(included[0], (*path, target), total)
        return total

    async def mail_domain(self, domain: str) -> MailDomain:
        """Can `domain` receive mail: an MX (RFC 7505's null MX says no), else an address?"""
        try:
            mx = await self._lookup(domain, "MX")
            if mx.nxdomain:
                return MailDomain.NO_MAIL
            if mx.values:
                if all(value.split() == ["0", "."] for value in mx.values):
                    return MailDomain.NULL_MX
                return MailDomain.ACCEPTS
            for rdtype in ("A", "AAAA"):
                if (await self._lookup(domain, rdtype)).values:
                    return MailDomain.ACCEPTS
        except _Unanswered:
            return MailDomain.UNKNOWN
        return MailDomain.NO_MAIL

    async def _lookup(self, name: str, rdtype: str) -> _Answer:
        """From the cache, else from the nameservers (then cached until its TTL)."""
        if self._unusable:
            raise _Unanswered(self._unusable)
        key, now = (name.lower().rstrip("."), rdtype), time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(key)
            return cached[1]
        answer, ttl = await self._query(key[0], rdtype)
        if ttl > 0:
            self._cache[key] = (now + ttl, answer)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return answer

    async def _query(self, name: str, rdtype: str) -> tuple[_Answer, float]:
        """One lookup and how long it may be cached; dnspython's errors become `_Unanswered`."""
        try:
            answer = await self._resolver.resolve(
                dns.name.from_text(name), rdtype, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN as exc:  # it names no nameserver: only one can be named
            responses: dict[Any, dns.message.Message] = exc.kwargs.get("responses", {})
            ttl = min(map(_negative_ttl, responses.values()), default=NEGATIVE_TTL)
            return _Answer((), True, self._only_server), ttl
        except dns.resolver.LifetimeTimeout as exc:
            reasons = _reasons(exc.kwargs.get("errors", []))
            extra = f" ({'; '.join(reasons)})" if reasons else ""
            raise _Unanswered(f"timed out after {self._timeout:g}s{extra}") from exc
        except dns.resolver.NoNameservers as exc:  # SERVFAIL, REFUSED, unreachable: every server
            reasons = _reasons(exc.kwargs.get("errors", []))
            raise _Unanswered("; ".join(reasons) or "no nameserver answered") from exc
        except dns.exception.DNSException as exc:  # a bad name, YXDOMAIN, a CNAME chain too long
            raise _Unanswered(f"{name} {rdtype}: {exc}") from exc
        server = None
        if answer.nameserver is not None and answer.port is not None:
            server = _host_port(answer.nameserver, answer.port)
        if answer.rrset is None:  # NODATA
            return _Answer((), False, server), _negative_ttl(answer.response)
        values = tuple(_text(rdata) for rdata in answer.rrset)
        return _Answer(values, False, server), answer.chaining_result.minimum_ttl


def _check_dmarc(record: DnsRecord, answer: _Answer, dkim_verified: bool) -> RecordCheck:
    dmarc = tuple(value for value in answer.values if _DMARC.match(value))
    if len(dmarc) != 1:
        if not dmarc:
            return _result(record, answer, (), CheckStatus.MISSING)
        detail = f"{_count(dmarc)} DMARC records at one name: receivers ignore them all"
        return _result(record, answer, dmarc, CheckStatus.CONFLICT, detail)
    policy = _tags(dmarc[0]).get("p", "").lower()
    if policy in ("quarantine", "reject") and not dkim_verified:
        detail = f"p={policy}: receivers will {policy} this domain's mail until DKIM is verified"
        return _result(record, answer, dmarc, CheckStatus.CONFLICT, detail)
    return _result(record, answer, dmarc, CheckStatus.OK, f"the existing policy p={policy} is kept")


def _result(
    record: DnsRecord,
    answer: _Answer,
    found: tuple[str, ...],
    status: CheckStatus,
    detail: str = "",
) -> RecordCheck:
    if status is CheckStatus.MISSING and not detail:
        detail = f"no {record.type} record (NODATA)"
        if answer.nxdomain:
            detail = "no such name (NXDOMAIN)"
        elif answer.values:
            detail = f"no matching record among {len(answer.values)} {record.type} records"
    elif status is CheckStatus.WRONG and not detail:
        detail = f"none of the {len(found)} {record.type} records matches"
    return RecordCheck(
        record.type, record.name, record.value, found, status, detail, answer.nameserver
    )


def _verdict(answer: _Answer, wanted: bool) -> CheckStatus:
    if wanted:
        return CheckStatus.OK
    return CheckStatus.WRONG if answer.values else CheckStatus.MISSING


def _text(rdata: dns.rdata.Rdata) -> str:
    if isinstance(rdata, TXTBase):
        return b"".join(rdata.strings).decode("utf-8", "replace")  # RFC 7208 §3.3, RFC 6376 §3.6.2
    if isinstance(rdata, MXBase):
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    if isinstance(rdata, NSBase):  # CNAME
        return rdata.target.to_text(omit_final_dot=True)
    return rdata.to_text()


def _count(values: tuple[str, ...]) -> str:
    return "two" if len(values) == 2 else str(len(values))


def _host(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _arrows(*names: str) -> str:
    return " -> ".join(names)


def _mx(value: str) -> tuple[str, str]:
    preference, _, exchange = value.strip().partition(" ")
    return preference, _host(exchange)


def _tags(value: str) -> dict[str, str]:
    """`k=v; k=v` tags (DKIM, DMARC), values without whitespace; the first of a tag counts."""
    tags: dict[str, str] = {}
    for part in value.split(";"):
        tag, sep, tag_value = part.partition("=")
        if sep:
            tags.setdefault(tag.strip().lower(), "".join(tag_value.split()))
    return tags


def _spf_terms(value: str) -> list[str]:
    """The terms after `v=spf1`, lower-case, without their qualifier."""
    return [term.lower().lstrip("+-~?") for term in value.split()[1:]]


def _spf_term(term: str) -> tuple[str, str]:
    """`include:example.com` as (`include`, `example.com`); `a/24` as (`a`, ``)."""
    mechanism = re.split(r"[:=/]", term, maxsplit=1)[0]
    separator, target = term[len(mechanism) : len(mechanism) + 1], term[len(mechanism) + 1 :]
    return mechanism, target.partition("/")[0].rstrip(".") if separator in (":", "=") else ""


def _negative_ttl(response: dns.message.Message) -> float:
    """RFC 2308 §5: the SOA's TTL or MINIMUM, whichever is less (capped)."""
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and isinstance(rrset[0], SOA):
            return float(min(rrset.ttl, rrset[0].minimum, MAX_NEGATIVE_TTL))
    return NEGATIVE_TTL


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _server_label(server: str) -> str:
    """`Do53:127.0.0.1@5353` (dnspython's str of a nameserver) as `127.0.0.1:5353`."""
    kind, _, rest = server.partition(":")
    address, at, port = rest.rpartition("@")
    return _host_port(address, int(port)) if kind == "Do53" and at and port.isdigit() else server


def _reasons(errors: list[tuple[Any, ...]]) -> list[str]:
    """dnspython's error tuples (server, tcp, port, exception or rcode, response) as text."""
    reasons: list[str] = []
    for server, _tcp, _port, error, _response in errors:
        where = _server_label(str(server))
        if isinstance(error, dns.exception.Timeout):
            continue  # the caller says it
        if isinstance(error, str):
            reason = f"{error} from {where}"
        elif isinstance(error, OSError):
            reason = f"{where}: {error.strerror or error}"
        else:
            reason = f"{where}: {error}"
        if reason not in reasons:
            reasons.append(reason)
    return reasons
