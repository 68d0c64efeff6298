"""`domain publish` from the command line: SES is the stand-in (DKIM tokens, MAIL FROM), Route 53
is moto (through `Route53Stand`), and the loopback DNS server serves the zone moto holds once
Route 53 says INSYNC, so the live DNS check sees exactly what was published."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from admin.cli import main
from gateway.core.types.domains import PublishedRecord
from gateway.storage import domains as domain_store
from gateway.storage.database import Database
from gateway.storage.published import published_records
from tests.support.dnsserver import DnsServer
from tests.support.fakeses import FakeSes
from tests.support.motoaccounts import BETA, allow, keys_in
from tests.support.route53 import Route53Stand, create_zone, put, zone_records

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

AMAZONSES_SPF = '"v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 -all"'


@pytest.fixture
def stand() -> Iterator[Route53Stand]:
    with Route53Stand() as running:
        yield running


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.add("amazonses.com", "TXT", AMAZONSES_SPF)  # what `include:amazonses.com` reads
        yield server


@pytest.fixture
def cli(
    cli: Any,
    fake_ses: FakeSes,
    aws_env: pytest.MonkeyPatch,
    stand: Route53Stand,
    dns: DnsServer,
) -> Any:
    """The command line with `--json` (status, document, stderr), tenant acme made."""
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    aws_env.setenv("AWS_ENDPOINT_URL_ROUTE_53", stand.url)
    aws_env.setenv("SES_GATEWAY_DNS_NAMESERVERS", dns.address)
    aws_env.setenv("SES_GATEWAY_DNS_TIMEOUT", "2")

    def run(*args: str) -> tuple[int, Any, str]:
        status, out, err = cli(*args, "--json")
        return status, json.loads(out) if out.strip() else None, err

    assert run("tenant", "create", "acme")[0] == 0
    return run


@pytest.fixture
def domain(request: pytest.FixtureRequest) -> str:
    """A domain of this test's own: moto's zones live as long as the session."""
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:6]
    return f"{request.node.name.replace('_', '-')[5:30].strip('-')}-{digest}.example.org"


def published_zone(cli: Any, stand: Route53Stand, dns: DnsServer, domain: str) -> str:
    """The domain added (with a MAIL FROM) and its zone made, served by the DNS server."""
    status, _, err = cli("domain", "add", domain, "--tenant", "acme", "--mail-from", "mail")
    assert status == 0, err
    zone = create_zone(stand.url, domain)
    stand.nameserver(dns, zone)
    return zone


def expected(added: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """The records the gateway shows, as a zone holds them."""
    found: dict[tuple[str, str], list[str]] = {}
    for record in added["records"]:
        value = record["value"]
        value = f'"{value}"' if record["type"] == "TXT" else value + "."
        found[(record["name"], record["type"])] = [value]
    return found


def stored(database_url: str, domain: str) -> list[PublishedRecord]:
    """What the gateway recorded as written to Route 53 for the domain."""

    async def read() -> list[PublishedRecord]:
        db = Database(database_url)
        try:
            found = await domain_store.get_domain(db, domain)
            return await published_records(db, found.id)
        finally:
            await db.close()

    return asyncio.run(read())


def test_publish_shows_the_change_set_sends_one_batch_and_checks_dns(
    cli: Any, stand: Route53Stand, dns: DnsServer, domain: str, database_url: str
) -> None:
    zone = published_zone(cli, stand, dns, domain)
    _, shown, _ = cli("domain", "show", domain)

    status, dry, _ = cli("domain", "publish", domain, "--dry-run")
    assert status == 0
    assert (dry["dry_run"], dry["zone"]["id"], dry["change_id"]) == (True, zone, None)
    assert [s["action"] for s in dry["steps"]] == ["create"] * 6
    assert [(s["type"], s["name"], s["value"]) for s in dry["steps"]] == [
        (r["type"], r["name"], r["value"]) for r in shown["records"]
    ]
    assert zone_records(stand.url, zone) == {}
    assert "ChangeResourceRecordSets" not in stand.calls

    status, done, err = cli("domain", "publish", domain)
    assert status == 0, err
    assert (done["dry_run"], done["status"]) == (False, "INSYNC")
    assert stand.calls.count("ChangeResourceRecordSets") == 1
    assert zone_records(stand.url, zone) == expected(shown)
    assert {c["status"] for c in done["check"]} == {"ok"}, done["check"]
    assert all(c["nameserver"] == dns.address for c in done["check"])
    assert all(r.values and r.pending is None for r in stored(database_url, domain))

    status, again, _ = cli("domain", "publish", domain)
    assert (status, again["change_id"], again["status"]) == (0, None, "INSYNC")
    assert {s["action"] for s in again["steps"]} == {"present"}
    assert stand.calls.count("ChangeResourceRecordSets") == 1
    _, activity, _ = cli("activity", "list")
    published = [e for e in activity["activity"] if e["kind"] == "domain.published"]
    assert len(published) == 1
    assert f"zone {domain} ({zone})" in published[0]["detail"]


def test_conflicts_are_left_alone_and_named_and_nothing_not_ours_is_touched(
    cli: Any,
    stand: Route53Stand,
    dns: DnsServer,
    domain: str,
    fake_ses: FakeSes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    zone = published_zone(cli, stand, dns, domain)
    token = fake_ses.identities[domain].dkim_tokens[0]
    theirs = {
        (f"mail.{domain}", "TXT"): ['"v=spf1 ip4:192.0.2.0/24 -all"'],
        (f"_dmarc.{domain}", "TXT"): ['"v=DMARC1; p=quarantine;"'],
        (f"www.{domain}", "A"): ["192.0.2.10"],
        (domain, "TXT"): ['"v=spf1 mx -all"', '"site-verification=abc"'],
    }
    for (name, kind), values in theirs.items():
        put(stand.url, zone, name, kind, values)
    put(stand.url, zone, f"{token}._domainkey.{domain}", "CNAME", ["old.dkim.example.net."])

    status, done, err = cli("domain", "publish", domain)
    assert status == 0, err
    steps = {(s["type"], s["name"]): s for s in done["steps"]}
    assert steps[("CNAME", f"{token}._domainkey.{domain}")]["action"] == "update"
    spf = steps[("TXT", f"mail.{domain}")]
    assert spf["action"] == "conflict"
    assert "merge include:amazonses.com into it by hand" in spf["detail"]
    assert steps[("TXT", f"_dmarc.{domain}")]["action"] == "conflict"
    assert (
        "a DMARC policy is there already (v=DMARC1; p=quarantine;): kept"
        in (steps[("TXT", f"_dmarc.{domain}")]["detail"])
    )
    held = zone_records(stand.url, zone)
    for key, values in theirs.items():
        assert held[key] == values
    assert held[(f"{token}._domainkey.{domain}", "CNAME")] == [f"{token}.dkim.amazonses.com."]
    check = {(c["type"], c["name"]): c["status"] for c in done["check"]}
    assert check[("TXT", f"mail.{domain}")] == "wrong"  # the SPF record lacks amazonses.com
    assert check[("CNAME", f"{token}._domainkey.{domain}")] == "ok"

    assert main(["domain", "publish", domain, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"Route 53 hosted zone {domain} ({zone}, public):" in text
    assert "dry run: nothing sent (0 changes to make)" in text
    assert "2 left alone: see their detail above" in text


def test_a_refused_batch_leaves_the_zone_as_it_was_and_nothing_recorded(
    cli: Any, stand: Route53Stand, dns: DnsServer, domain: str, fake_ses: FakeSes, database_url: str
) -> None:
    zone = published_zone(cli, stand, dns, domain)
    token = fake_ses.identities[domain].dkim_tokens[1]
    dkim = f"{token}._domainkey.{domain}"
    # Another editor puts a TXT record at a DKIM name between the gateway's read and its write:
    # Route 53 refuses the CNAME beside it, and with it the whole batch.
    stand.after_read = lambda: put(stand.url, zone, dkim, "TXT", ['"edited meanwhile"'])
    status, refused, _ = cli("domain", "publish", domain)
    assert status == 1
    assert refused["error"]["message"] == (
        "Route 53 refused the change batch, changing nothing: RRSet of type CNAME with DNS name "
        f"{dkim}. is not permitted as it conflicts with other records with the same DNS name "
        f"in zone {domain}."
    )
    assert zone_records(stand.url, zone) == {(dkim, "TXT"): ['"edited meanwhile"']}
    assert stored(database_url, domain) == []

    status, blocked, _ = cli("domain", "publish", domain)  # now the gateway sees it first
    assert status == 0
    [step] = [s for s in blocked["steps"] if s["name"] == dkim]
    assert step["action"] == "conflict"
    assert "a CNAME cannot sit beside them" in step["detail"]
    assert zone_records(stand.url, zone)[(dkim, "TXT")] == ['"edited meanwhile"']


def test_a_change_still_pending_when_the_wait_ends_is_said_and_not_checked(
    cli: Any, stand: Route53Stand, dns: DnsServer, domain: str, capsys: pytest.CaptureFixture[str]
) -> None:
    published_zone(cli, stand, dns, domain)
    stand.pending_for(30)
    assert main(["domain", "publish", domain, "--wait", "0.5"]) == 0
    text = capsys.readouterr().out
    assert "sent as one batch, still PENDING: Route 53 applies it within minutes" in text
    assert "DNS check:" not in text
    assert stand.calls.count("GetChange") == 2


@pytest.mark.parametrize(
    ("zones", "refusal"),
    [
        ([], "no Route 53 hosted zone in this AWS account holds {domain}: create one"),
        (
            [False, False],
            "several hosted zones named {domain} hold {domain}: {a} (public), {b} (public); "
            "choose one with --zone-id",
        ),
        ([True], "only a private hosted zone named {domain} hold {domain}: {a} (private)"),
    ],
)
def test_a_zone_that_cannot_be_chosen_is_one_line(
    cli: Any, stand: Route53Stand, domain: str, zones: list[bool], refusal: str
) -> None:
    assert cli("domain", "add", domain, "--tenant", "acme")[0] == 0
    made = [create_zone(stand.url, domain, private=private) for private in zones]
    status, refused, _ = cli("domain", "publish", domain)
    assert status == 1
    ids = dict(zip("ab", made, strict=False))
    assert refusal.format(domain=domain, **ids) in refused["error"]["message"]
    if made:
        status, chosen, _ = cli("domain", "publish", domain, "--zone-id", made[-1], "--dry-run")
        assert (status, chosen["zone"]["id"]) == (0, made[-1])
    status, refused, _ = cli("domain", "publish", domain, "--zone-id", "ZNOSUCH")
    assert refused["error"]["message"] == "no hosted zone ZNOSUCH in this AWS account"


def test_add_publish_publishes_when_a_zone_holds_the_domain(
    cli: Any, stand: Route53Stand, dns: DnsServer, domain: str
) -> None:
    zone = create_zone(stand.url, domain)
    stand.nameserver(dns, zone)
    status, added, err = cli("domain", "add", domain, "--tenant", "acme", "--publish")
    assert status == 0, err
    assert added["published"]["status"] == "INSYNC"
    assert len(zone_records(stand.url, zone)) == len(added["records"])
    status, alone, _ = cli("domain", "add", f"other-{domain}", "--tenant", "acme", "--publish")
    assert status == 0
    assert alone["published"]["error"].startswith(
        "not published to Route 53: no Route 53 hosted zone in this AWS account holds other-"
    )


def test_a_batch_without_an_answer_is_settled_by_the_next_publish(
    cli: Any, stand: Route53Stand, dns: DnsServer, domain: str, database_url: str
) -> None:
    zone = published_zone(cli, stand, dns, domain)
    stand.failing_changes = 2  # the client's one retry too
    status, failed, _ = cli("domain", "publish", domain)
    assert status == 1
    assert failed["error"]["message"] == (
        "Route 53 refused ChangeResourceRecordSets (InternalFailure: try again); whether Route "
        f"53 made the change is not known: `domain publish {domain}` again finds out from the "
        "zone and goes on"
    )
    assert all(r.pending and r.values is None for r in stored(database_url, domain))
    assert zone_records(stand.url, zone) == {}

    status, done, _ = cli("domain", "publish", domain)
    assert (status, done["status"]) == (0, "INSYNC")
    assert {s["action"] for s in done["steps"]} == {"create"}
    assert all(r.values and r.pending is None for r in stored(database_url, domain))


def test_a_dns_account_holds_the_zones_whichever_account_a_tenant_is_on(
    cli: Any, stand: Route53Stand, dns: DnsServer, domain: str, aws_env: pytest.MonkeyPatch
) -> None:
    """`DNS_AWS_ACCOUNT`: the zones are in one stored account (not the tenant's): publish
    finds and changes them there, and only there."""
    key_id, secret = keys_in(stand.url, BETA, "dns", allow("route53:*", "ses:*"))
    aws_env.setattr("sys.stdin", io.StringIO(secret + "\n"))
    status, _, err = cli(
        "aws-account", "add", "dns", "--region", "us-east-1", "--access-key-id", key_id
    )
    assert status == 0, err
    assert cli("domain", "add", domain, "--tenant", "acme", "--mail-from", "mail")[0] == 0
    beta = boto3.client(
        "route53",
        region_name="us-east-1",
        endpoint_url=stand.url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    zone = beta.create_hosted_zone(Name=domain, CallerReference=domain)["HostedZone"]["Id"]
    stand.nameserver(dns, zone.rsplit("/", 1)[-1])

    status, refusal, _ = cli("domain", "publish", domain, "--dry-run")
    assert status == 1  # the tenant's (default) account has no such zone
    assert "no Route 53 hosted zone in this AWS account" in refusal["error"]["message"]

    aws_env.setenv("SES_GATEWAY_DNS_AWS_ACCOUNT", "dns")
    status, done, err = cli("domain", "publish", domain)
    assert status == 0, done
    assert done["zone"]["id"] == zone.rsplit("/", 1)[-1]
    assert {c["status"] for c in done["check"]} == {"ok"}, done["check"]
    names = {
        rrset["Name"].rstrip(".")
        for rrset in beta.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        if rrset["Type"] not in ("SOA", "NS")
    }
    assert {f"_dmarc.{domain}", f"mail.{domain}"} <= names
