"""DNS checks of a sending domain's records, against a real DNS responder on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from gateway.core.types.domains import CheckStatus, DnsRecord, IdentityState, RecordCheck
from gateway.domains.dnscheck import DnsChecker
from gateway.domains.records import domain_records
from tests.support.dnsserver import DnsServer

OK, MISSING, WRONG = CheckStatus.OK, CheckStatus.MISSING, CheckStatus.WRONG
CONFLICT, UNCHECKED = CheckStatus.CONFLICT, CheckStatus.UNCHECKED
SES_SPF = '"v=spf1 ip4:199.255.192.0/22 ip4:54.240.0.0/18 -all"'  # amazonses.com's, shortened
KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAx" + "A" * 300 + "IDAQAB"

STATE = IdentityState(
    verified_for_sending=False,
    verification_status="PENDING",
    dkim_tokens=("tok1", "tok2"),
    mail_from_domain="mail.example.com",
)
DKIM, DKIM2, MX, SPF, DMARC = domain_records("example.com", "us-east-1", STATE)
BYODKIM = DnsRecord("TXT", "sel._domainkey.example.com", f"p={KEY}", "DKIM", True)


@pytest.fixture
def server() -> Iterator[DnsServer]:
    with DnsServer() as dns_server:
        dns_server.add("amazonses.com", "TXT", SES_SPF)
        yield dns_server


@pytest.fixture
def checker(server: DnsServer) -> DnsChecker:
    return DnsChecker([server.address], timeout=0.5)


def publish_all(server: DnsServer) -> None:
    server.add(DKIM.name, "CNAME", "tok1.dkim.amazonses.com.")
    server.add(DKIM2.name, "CNAME", "TOK2.DKIM.AMAZONSES.COM")  # case and final dot do not matter
    server.add(MX.name, "MX", "10 feedback-smtp.us-east-1.amazonses.com.")
    server.add(SPF.name, "TXT", '"v=spf1 include:amazonses.com ~all"')
    server.add(DMARC.name, "TXT", '"v=DMARC1; p=none;"')


async def check(checker: DnsChecker, record: DnsRecord, **kwargs: bool) -> RecordCheck:
    (result,) = await checker.check([record], **kwargs)
    return result


async def test_every_published_record_is_ok_in_order(
    server: DnsServer, checker: DnsChecker
) -> None:
    publish_all(server)
    results = await checker.check([DKIM, DKIM2, MX, SPF, DMARC])
    assert [(r.type, r.name, r.expected) for r in results] == [
        (r.type, r.name, r.value) for r in (DKIM, DKIM2, MX, SPF, DMARC)
    ]
    assert [r.status for r in results] == [OK] * 5, results
    assert {r.nameserver for r in results} == {server.address}
    assert results[0].found == ("tok1.dkim.amazonses.com",)
    assert results[2].found == ("10 feedback-smtp.us-east-1.amazonses.com",)
    assert results[3].found == ("v=spf1 include:amazonses.com ~all",)
    assert results[4].detail == "the existing policy p=none is kept"


@pytest.mark.parametrize("record", [DKIM, MX, SPF, DMARC, BYODKIM], ids=lambda r: r.purpose)
async def test_missing_for_nxdomain_and_nodata(
    server: DnsServer, checker: DnsChecker, record: DnsRecord
) -> None:
    result = await check(checker, record)
    assert (result.status, result.detail, result.found) == (MISSING, "no such name (NXDOMAIN)", ())
    assert result.nameserver == server.address  # the only nameserver: it must have answered
    server.add(f"below.{record.name}", "A", "192.0.2.1")  # now an empty non-terminal: NODATA
    checker.clear_cache()
    result = await check(checker, record)
    assert (result.status, result.detail) == (MISSING, f"no {record.type} record (NODATA)")
    assert result.nameserver == server.address


async def test_cname_wrong_target_or_other_records_instead(
    server: DnsServer, checker: DnsChecker
) -> None:
    server.add(DKIM.name, "CNAME", "tok1.dkim.example.net.")
    result = await check(checker, DKIM)
    assert (result.status, result.found) == (WRONG, ("tok1.dkim.example.net",))
    server.remove(DKIM.name)
    server.add(DKIM.name, "TXT", '"p=abc"')
    server.add(DKIM.name, "A", "192.0.2.7")
    checker.clear_cache()
    result = await check(checker, DKIM)
    assert (result.status, result.detail) == (WRONG, "A, TXT, not CNAME")
    assert result.found == ("TXT p=abc", "A 192.0.2.7")


async def test_cname_chain_is_followed(server: DnsServer, checker: DnsChecker) -> None:
    server.add(DKIM.name, "CNAME", "dkim1.example.net.")
    server.add("dkim1.example.net", "CNAME", "dkim2.example.org.")
    server.add("dkim2.example.org", "CNAME", "tok1.dkim.amazonses.com.")
    result = await check(checker, DKIM)
    assert (result.status, result.found) == (OK, ("tok1.dkim.amazonses.com",))
    assert result.detail == (
        f"CNAME chain {DKIM.name} -> dkim1.example.net -> dkim2.example.org"
        " -> tok1.dkim.amazonses.com"
    )
    server.remove("dkim2.example.org")
    server.add("dkim2.example.org", "CNAME", "elsewhere.example.org.")
    checker.clear_cache()
    result = await check(checker, DKIM)
    assert (result.status, result.found) == (WRONG, ("elsewhere.example.org",))
    server.add("elsewhere.example.org", "CNAME", "dkim1.example.net.")
    checker.clear_cache()
    result = await check(checker, DKIM)
    assert result.status == WRONG
    assert result.detail.endswith(", a loop back to dkim1.example.net")


async def test_byodkim_key_compared_without_whitespace_across_strings(
    server: DnsServer, checker: DnsChecker
) -> None:
    half = len(KEY) // 2
    server.add(BYODKIM.name, "TXT", f'"v=DKIM1; k=rsa; p={KEY[:half]}" " {KEY[half:]}"')
    result = await check(checker, BYODKIM)
    assert result.status == OK
    assert result.found == (f"v=DKIM1; k=rsa; p={KEY[:half]} {KEY[half:]}",)
    server.remove(BYODKIM.name)
    server.add(BYODKIM.name, "TXT", '"v=DKIM1; k=rsa; p=MIIBother"')
    checker.clear_cache()
    assert (await check(checker, BYODKIM)).status == WRONG


async def test_mx_preference_and_exchange_must_match(
    server: DnsServer, checker: DnsChecker
) -> None:
    server.add(MX.name, "MX", "20 feedback-smtp.us-east-1.amazonses.com.")
    server.add(MX.name, "MX", "10 mx.example.com.")
    result = await check(checker, MX)
    assert result.status == WRONG
    assert sorted(result.found) == [
        "10 mx.example.com",
        "20 feedback-smtp.us-east-1.amazonses.com",
    ]
    server.add(MX.name, "MX", "10 Feedback-SMTP.us-east-1.amazonses.com.")
    checker.clear_cache()
    assert (await check(checker, MX)).status == OK


async def test_spf_missing_wrong_and_two_records(server: DnsServer, checker: DnsChecker) -> None:
    server.add(SPF.name, "TXT", '"google-site-verification=abc"')
    result = await check(checker, SPF)
    assert (result.status, result.found) == (MISSING, ())
    assert result.detail == "no matching record among 1 TXT records"
    server.add(SPF.name, "TXT", '"v=spf1 " "include:_spf.google.com ~all"')
    server.add("_spf.google.com", "TXT", '"v=spf1 ip4:192.0.2.0/24 ~all"')
    checker.clear_cache()
    result = await check(checker, SPF)
    assert (result.status, result.found) == (WRONG, ("v=spf1 include:_spf.google.com ~all",))
    assert result.detail == "the SPF record lacks include:amazonses.com"
    server.add(SPF.name, "TXT", '"v=spf1 include:amazonses.com ~all"')
    checker.clear_cache()
    result = await check(checker, SPF)
    assert result.status == CONFLICT
    assert len(result.found) == 2
    assert result.detail == (
        "two SPF records at one name: receivers treat this as a permanent error"
    )


async def test_spf_over_ten_lookups_through_a_chain_of_includes(
    server: DnsServer, checker: DnsChecker
) -> None:
    server.add(SPF.name, "TXT", '"v=spf1 a mx include:amazonses.com include:s1.example.net ~all"')
    for i in range(1, 7):  # s1 .. s6 each include the next: 6 lookups, s7 ends it with ptr
        server.add(f"s{i}.example.net", "TXT", f'"v=spf1 include:s{i + 1}.example.net -all"')
    server.add("s7.example.net", "TXT", '"v=spf1 ptr -all"')
    result = await check(checker, SPF)  # a, mx, amazonses, s1 .. s7, ptr: 11
    assert result.status == CONFLICT
    assert result.detail == "SPF needs 11 DNS lookups, over the limit of 10"
    server.remove("s7.example.net")
    server.add("s7.example.net", "TXT", '"v=spf1 ip4:192.0.2.1 -all"')
    checker.clear_cache()
    assert (await check(checker, SPF)).status == OK  # exactly 10


async def test_spf_include_loop_and_void_include_are_conflicts(
    server: DnsServer, checker: DnsChecker
) -> None:
    server.add(SPF.name, "TXT", '"v=spf1 include:amazonses.com include:loop.example.net ~all"')
    server.add("loop.example.net", "TXT", f'"v=spf1 include:{SPF.name} -all"')
    result = await check(checker, SPF)
    assert result.status == CONFLICT
    assert result.detail.startswith(
        f"SPF include loop {SPF.name} -> loop.example.net -> {SPF.name}"
    )
    server.remove("loop.example.net")
    checker.clear_cache()
    result = await check(checker, SPF)
    assert result.status == CONFLICT
    assert result.detail.startswith("include loop.example.net has no SPF record")


@pytest.mark.parametrize(
    ("value", "dkim_verified", "status", "detail"),
    [
        ("v=DMARC1; p=none; rua=mailto:d@example.com", False, OK, "the existing policy p=none"),
        ("v=DMARC1; p=reject", True, OK, "the existing policy p=reject"),
        ("v=DMARC1;p=reject", False, CONFLICT, "p=reject: receivers will reject this domain's"),
        ("v=DMARC1; p=Quarantine", False, CONFLICT, "p=quarantine: receivers will quarantine"),
    ],
)
async def test_dmarc_policy(
    server: DnsServer,
    checker: DnsChecker,
    value: str,
    dkim_verified: bool,
    status: CheckStatus,
    detail: str,
) -> None:
    server.add(DMARC.name, "TXT", f'"{value}"')
    server.add(DMARC.name, "TXT", '"not a v=DMARC1 record"')
    result = await check(checker, DMARC, dkim_verified=dkim_verified)
    assert (result.status, result.found) == (status, (value,))
    assert result.detail.startswith(detail)


async def test_two_dmarc_records_conflict(server: DnsServer, checker: DnsChecker) -> None:
    server.add(DMARC.name, "TXT", '"v=DMARC1; p=none"')
    server.add(DMARC.name, "TXT", '"v=DMARC1; p=none; rua=mailto:d@example.com"')
    result = await check(checker, DMARC)
    assert result.status == CONFLICT
    assert result.detail == "two DMARC records at one name: receivers ignore them all"


@pytest.mark.parametrize("record", [DKIM, MX, SPF, DMARC, BYODKIM], ids=lambda r: r.purpose)
async def test_servfail_is_unchecked_not_missing(
    server: DnsServer, checker: DnsChecker, record: DnsRecord
) -> None:
    server.servfail(record.name)
    result = await check(checker, record)
    assert result.status == UNCHECKED
    assert result.detail == f"SERVFAIL from {server.address}"
    assert (result.found, result.nameserver) == ((), None)
    server.heal()  # failures are not cached
    assert (await check(checker, record)).status == MISSING


async def test_spf_include_that_fails_leaves_a_correct_record_unchecked(
    server: DnsServer, checker: DnsChecker
) -> None:
    server.add(SPF.name, "TXT", '"v=spf1 include:amazonses.com include:down.example.net ~all"')
    server.servfail("down.example.net")
    result = await check(checker, SPF)
    assert result.status == UNCHECKED
    assert result.detail == f"cannot count the SPF lookups: SERVFAIL from {server.address}"


async def test_silent_server_times_out_concurrently(server: DnsServer, checker: DnsChecker) -> None:
    for record in (DKIM, DKIM2, MX, DMARC):
        server.blackhole(record.name)
    started = time.monotonic()
    results = await checker.check([DKIM, DKIM2, MX, SPF, DMARC])
    assert time.monotonic() - started < 1.5  # one timeout of 0.5 s, not four in a row
    assert [r.status for r in results] == [UNCHECKED] * 5  # MX and SPF share the silent name
    assert {r.detail for r in results} == {"timed out after 0.5s"}


async def test_unreachable_nameserver_is_unchecked_and_the_next_one_is_asked(
    server: DnsServer,
) -> None:
    with DnsServer() as gone:
        address = gone.address
    result = await check(DnsChecker([address], timeout=0.3), MX)
    assert (result.status, result.detail) == (UNCHECKED, "timed out after 0.3s")
    publish_all(server)
    result = await check(DnsChecker([address, server.address], timeout=0.6), MX)
    assert (result.status, result.nameserver) == (OK, server.address)


async def test_truncated_udp_answer_is_read_over_tcp(
    server: DnsServer, checker: DnsChecker
) -> None:
    server.add(DMARC.name, "TXT", '"v=DMARC1; p=none"')
    server.truncate_udp(DMARC.name)
    assert (await check(checker, DMARC)).status == OK
    assert server.queries() == [(DMARC.name, "TXT", "udp"), (DMARC.name, "TXT", "tcp")]


async def test_cache_respects_ttl(server: DnsServer, checker: DnsChecker) -> None:
    server.add(DKIM.name, "CNAME", "tok1.dkim.amazonses.com.", ttl=1)
    server.add(MX.name, "MX", "10 feedback-smtp.us-east-1.amazonses.com.", ttl=300)
    assert [r.status for r in await checker.check([DKIM, MX, DMARC])] == [OK, OK, MISSING]
    server.remove(DKIM.name)
    server.remove(MX.name)
    server.add(DKIM.name, "CNAME", "other.example.net.", ttl=1)
    server.add(MX.name, "MX", "10 other.example.net.", ttl=300)
    server.add(DMARC.name, "TXT", '"v=DMARC1; p=none"')
    server.queries(clear=True)
    assert [r.status for r in await checker.check([DKIM, MX, DMARC])] == [OK, OK, MISSING]
    assert server.queries() == []  # all from the cache, NXDOMAIN too
    await asyncio.sleep(1.1)
    assert [r.status for r in await checker.check([DKIM, MX, DMARC])] == [WRONG, OK, MISSING]
    checker.clear_cache()
    assert [r.status for r in await checker.check([DKIM, MX, DMARC])] == [WRONG, WRONG, OK]


@pytest.mark.parametrize("given", ["192.0.2.1", "192.0.2.2:5353", "[2001:db8::1]:5353"])
async def test_each_nameserver_form_is_the_server_asked(given: str) -> None:
    """Documentation addresses, where nothing answers: the check waits for that server alone
    and ends unchecked, rather than being answered by another resolver."""
    result = await check(DnsChecker([given], timeout=0.2), MX)
    assert (result.status, result.found, result.nameserver) == (UNCHECKED, (), None)


async def test_without_nameservers_the_system_resolver_is_read_and_nothing_asked_yet() -> None:
    checker = DnsChecker([], timeout=1)  # reads /etc/resolv.conf
    assert await checker.check([]) == []
