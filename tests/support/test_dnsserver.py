"""The loopback DNS responder, checked with dnspython's real resolvers over real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.nameserver
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from tests.support.dnsserver import DnsServer

DKIM_TARGET = "abc123.dkim.amazonses.com"


@pytest.fixture
def server() -> Iterator[DnsServer]:
    with DnsServer() as dns_server:
        yield dns_server


def txt(answer: dns.resolver.Answer) -> list[bytes]:
    return [b"".join(rdata.strings) for rdata in answer]


async def test_a_record_answer_reports_nameserver_and_port(server: DnsServer) -> None:
    server.add("host.example.com", "A", "192.0.2.10", ttl=60)
    answer = await server.resolver().resolve("host.example.com", "A")
    assert [rdata.address for rdata in answer] == ["192.0.2.10"]
    assert answer.rrset is not None
    assert answer.rrset.ttl == 60
    assert (answer.nameserver, answer.port) == ("127.0.0.1", server.port)
    assert answer.response.flags & dns.flags.AA
    assert server.address == f"127.0.0.1:{server.port}"
    assert server.queries() == [("host.example.com", "A", "udp")]


async def test_plain_nameserver_list_with_resolver_port(server: DnsServer) -> None:
    server.add("Host.Example.com.", "A", "192.0.2.11")  # absolute name, mixed case
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = server.port
    resolver.lifetime = 1
    answer = await resolver.resolve("host.example.COM.", "A")
    assert answer[0].address == "192.0.2.11"


async def test_txt_mx_and_spf(server: DnsServer) -> None:
    server.add("_dmarc.example.com", "TXT", '"v=DMARC1; p=none;"')
    server.add("mail.example.com", "MX", "10 feedback-smtp.us-east-1.amazonses.com.")
    server.add("mail.example.com", "TXT", '"v=spf1 include:amazonses.com ~all"')
    resolver = server.resolver()
    assert txt(await resolver.resolve("_dmarc.example.com", "TXT")) == [b"v=DMARC1; p=none;"]
    mx = await resolver.resolve("mail.example.com", "MX")
    assert [(r.preference, r.exchange.to_text()) for r in mx] == [
        (10, "feedback-smtp.us-east-1.amazonses.com.")
    ]
    spf = await resolver.resolve("mail.example.com", "TXT")
    assert txt(spf) == [b"v=spf1 include:amazonses.com ~all"]


async def test_cname_chain_is_followed_in_one_answer(server: DnsServer) -> None:
    server.add("x._domainkey.example.com", "CNAME", f"{DKIM_TARGET}.")
    server.add(DKIM_TARGET, "CNAME", "key.example.net")  # relative: taken as absolute
    server.add("key.example.net", "TXT", '"p=MIGf"')
    resolver = server.resolver()
    answer = await resolver.resolve("x._domainkey.example.com", "TXT")
    assert txt(answer) == [b"p=MIGf"]
    assert answer.canonical_name.to_text() == "key.example.net."
    assert len(answer.response.answer) == 3
    cname = await resolver.resolve("x._domainkey.example.com", "CNAME")
    assert cname[0].target.to_text() == f"{DKIM_TARGET}."
    assert len(server.queries()) == 2  # the server chained; the resolver never re-asked


async def test_cname_to_an_unserved_target_is_no_answer(server: DnsServer) -> None:
    server.add("x._domainkey.example.com", "CNAME", f"{DKIM_TARGET}.")
    with pytest.raises(dns.resolver.NoAnswer) as caught:
        await server.resolver().resolve("x._domainkey.example.com", "TXT")
    response = caught.value.kwargs["response"]
    assert len(response.answer) == 1  # just the CNAME: a stub resolver does not follow it


async def test_nxdomain_and_nodata(server: DnsServer) -> None:
    server.add("a.b.example.com", "A", "192.0.2.1")
    resolver = server.resolver()
    with pytest.raises(dns.resolver.NXDOMAIN) as nx:
        await resolver.resolve("missing.example.com", "TXT")
    (response,) = nx.value.kwargs["responses"].values()
    assert response.rcode() == dns.rcode.NXDOMAIN
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("a.b.example.com", "TXT")  # the name exists with other types
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("b.example.com", "A")  # empty non-terminal: NODATA
    answer = await resolver.resolve("a.b.example.com", "TXT", raise_on_no_answer=False)
    assert answer.rrset is None
    assert answer.response.rcode() == dns.rcode.NOERROR


async def test_servfail_raises_no_nameservers(server: DnsServer) -> None:
    server.add("broken.example.com", "TXT", '"x"')
    server.servfail("broken.example.com")
    with pytest.raises(dns.resolver.NoNameservers) as caught:
        await server.resolver().resolve("broken.example.com", "TXT")
    ((address, tcp, port, error, response),) = caught.value.kwargs["errors"]
    assert (address, tcp, port, error) == (
        f"Do53:127.0.0.1@{server.port}",
        False,
        server.port,
        "SERVFAIL",
    )
    assert response.rcode() == dns.rcode.SERVFAIL
    server.heal("broken.example.com")
    assert txt(await server.resolver().resolve("broken.example.com", "TXT")) == [b"x"]


async def test_blackhole_times_out_over_udp_and_tcp(server: DnsServer) -> None:
    server.add("slow.example.com", "A", "192.0.2.1")
    server.blackhole("slow.example.com")
    resolver = server.resolver(lifetime=0.3)
    with pytest.raises(dns.resolver.LifetimeTimeout):
        await resolver.resolve("slow.example.com", "A")
    with pytest.raises(dns.resolver.LifetimeTimeout):
        await resolver.resolve("slow.example.com", "A", tcp=True)
    transports = {transport for _, _, transport in server.queries()}
    assert transports == {"udp", "tcp"}


async def test_truncated_udp_answer_is_retried_over_tcp(server: DnsServer) -> None:
    server.add("big.example.com", "TXT", '"hello"')
    server.truncate_udp("big.example.com")
    answer = await server.resolver().resolve("big.example.com", "TXT")
    assert txt(answer) == [b"hello"]
    assert server.queries() == [
        ("big.example.com", "TXT", "udp"),
        ("big.example.com", "TXT", "tcp"),
    ]


async def test_long_txt_is_split_and_oversized_udp_falls_back_to_tcp(server: DnsServer) -> None:
    key = "v=DKIM1; k=rsa; p=" + "A" * 600
    server.add("sel._domainkey.example.com", "TXT", f'"{key}"')
    server.add("chunks.example.com", "TXT", '"first" "second"')
    resolver = server.resolver()
    answer = await resolver.resolve("sel._domainkey.example.com", "TXT")
    assert [len(s) for s in answer[0].strings] == [255, 255, 108]
    assert txt(answer) == [key.encode()]
    assert [t for _, _, t in server.queries()] == ["udp", "tcp"]  # 630 bytes > 512 without EDNS
    server.queries(clear=True)
    resolver.use_edns(0, 0, 1232)
    await resolver.resolve("sel._domainkey.example.com", "TXT")
    assert [t for _, _, t in server.queries()] == ["udp"]
    chunks = await resolver.resolve("chunks.example.com", "TXT")
    assert chunks[0].strings == (b"first", b"second")


async def test_edns_is_echoed_only_when_asked(server: DnsServer) -> None:
    server.add("e.example.com", "A", "192.0.2.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as junk:
        junk.sendto(b"\x00garbage", ("127.0.0.1", server.port))  # dropped, server lives on
    plain = dns.message.make_query("e.example.com", "A")
    with_edns = dns.message.make_query("e.example.com", "A", use_edns=0, payload=1232)
    response = await dns.asyncquery.udp(plain, "127.0.0.1", timeout=1, port=server.port)
    assert response.edns == -1
    response = await dns.asyncquery.udp(with_edns, "127.0.0.1", timeout=1, port=server.port)
    assert response.edns == 0
    response = await dns.asyncquery.tcp(with_edns, "127.0.0.1", timeout=1, port=server.port)
    assert response.edns == 0
    assert response.question == with_edns.question


async def test_concurrent_queries_over_udp_and_tcp(server: DnsServer) -> None:
    for i in range(20):
        server.add(f"h{i}.example.com", "A", f"192.0.2.{i}")
    resolver = server.resolver()
    answers = await asyncio.gather(
        *(resolver.resolve(f"h{i}.example.com", "A", tcp=i % 2 == 1) for i in range(20))
    )
    assert [answer[0].address for answer in answers] == [f"192.0.2.{i}" for i in range(20)]
    assert sorted(t for _, _, t in server.queries()) == ["tcp"] * 10 + ["udp"] * 10


def test_several_messages_on_one_tcp_connection(server: DnsServer) -> None:
    server.add("one.example.com", "A", "192.0.2.1")
    server.add("two.example.com", "A", "192.0.2.2")
    first = dns.message.make_query("one.example.com", "A")
    second = dns.message.make_query("two.example.com", "A")
    with socket.create_connection(("127.0.0.1", server.port), timeout=1) as conn:
        wires = [query.to_wire() for query in (first, second)]
        conn.sendall(b"".join(len(wire).to_bytes(2, "big") + wire for wire in wires))
        replies = [dns.query.receive_tcp(conn, expiration=None)[0] for _ in wires]
    assert [reply.id for reply in replies] == [first.id, second.id]
    assert [reply.answer[0][0].address for reply in replies] == ["192.0.2.1", "192.0.2.2"]


def test_synchronous_resolver_and_record_management(server: DnsServer) -> None:
    server.add("sync.example.com", "A", "192.0.2.1")
    server.add("sync.example.com", "A", "192.0.2.2")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", server.port)]
    resolver.lifetime = 1
    assert sorted(r.address for r in resolver.resolve("sync.example.com", "A")) == [
        "192.0.2.1",
        "192.0.2.2",
    ]
    with pytest.raises(ValueError, match="CNAME"):
        server.add("sync.example.com", "CNAME", "other.example.com.")
    server.remove("sync.example.com", "A")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("sync.example.com", "A")
    server.add("sync.example.com", "TXT", '"t"')
    server.clear()
    assert server.queries() == []
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("sync.example.com", "TXT")


def test_one_port_for_udp_and_tcp_and_restart() -> None:
    dns_server = DnsServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = dns_server.port
    with dns_server:
        port = dns_server.port
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with (
                socket.socket(socket.AF_INET, kind) as probe,
                pytest.raises(OSError, match="in use"),
            ):
                probe.bind(("127.0.0.1", port))
        idle = socket.create_connection(("127.0.0.1", port))  # open while the server stops
    idle.close()
    dns_server.stop()  # idempotent
    with DnsServer(port=port) as again:  # the same port is reusable at once
        again.add("r.example.com", "A", "192.0.2.1")
        query = dns.message.make_query("r.example.com", "A")
        response = dns.query.udp(query, "127.0.0.1", timeout=1, port=again.port)
        assert response.answer[0][0].address == "192.0.2.1"
