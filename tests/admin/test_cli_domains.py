"""Domains and addresses from the command line, against the SES stand-in and a real DNS server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from admin.cli import main
from tests.support.dnsserver import DnsServer
from tests.support.fakeses import FakeSes

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli(cli: Any, fake_ses: FakeSes, aws_env: pytest.MonkeyPatch) -> Any:
    """The command line with `--json`, its document parsed, SES at the stand-in, tenant acme."""
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)

    def run(*args: str) -> tuple[int, Any, str]:
        status, out, err = cli(*args, "--json")
        return status, json.loads(out) if out.strip() else None, err

    assert run("tenant", "create", "acme")[0] == 0
    return run


def test_add_prints_the_records_ses_expects(cli: Any, fake_ses: FakeSes) -> None:
    status, added, _ = cli(
        "domain", "add", "example.com", "--tenant", "acme", "--mail-from", "mail"
    )
    assert status == 0
    tokens = fake_ses.identities["example.com"].dkim_tokens
    records = {(r["type"], r["name"]): r["value"] for r in added["records"]}
    for token in tokens:
        assert (
            records[("CNAME", f"{token}._domainkey.example.com")] == f"{token}.dkim.amazonses.com"
        )
    assert records[("MX", "mail.example.com")] == "10 feedback-smtp.us-east-1.amazonses.com"
    assert added["region"] == "us-east-1"
    _, shown, _ = cli("domain", "show", "example.com")
    assert shown["records"] == added["records"]


def test_show_as_zone_lines(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cli("domain", "add", "example.com", "--tenant", "acme")
    assert main(["domain", "show", "example.com", "--format", "zone"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert all("\t3600\tIN\t" in line for line in lines)
    assert lines[-1].endswith('TXT\t"v=DMARC1; p=none;"')


def test_bad_domain_is_refused_with_the_reason(cli: Any) -> None:
    status, document, _ = cli("domain", "add", "co.uk", "--tenant", "acme")
    assert status == 1
    assert "co.uk is a public suffix" in document["error"]["message"]


def test_check_reports_each_record_against_real_dns(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, added, _ = cli("domain", "add", "example.com", "--tenant", "acme", "--mail-from", "mail")
    with DnsServer() as dns:
        monkeypatch.setenv("SES_GATEWAY_DNS_NAMESERVERS", dns.address)
        dns.add("amazonses.com", "TXT", '"v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 -all"')
        for record in added["records"]:
            value = record["value"]
            if record["type"] == "TXT":
                value = f'"{value}"'
            elif record["type"] == "CNAME" or record["type"] == "MX":
                value += "."
            dns.add(record["name"], record["type"], value)
        _, checked, _ = cli("domain", "check", "example.com")
        assert {r["status"] for r in checked["records"]} == {"ok"}, checked["records"]
        assert all(r["nameserver"] == dns.address for r in checked["records"])
        dkim = next(r for r in added["records"] if r["type"] == "CNAME")
        dns.remove(dkim["name"])
        _, checked, _ = cli("domain", "check", "example.com")
    statuses = {r["name"]: r["status"] for r in checked["records"]}
    assert statuses.pop(dkim["name"]) == "missing"
    assert set(statuses.values()) == {"ok"}
    assert set(checked["records"][0]) >= {"type", "name", "expected", "found", "status"}


def test_sync_remove_and_activity(cli: Any, fake_ses: FakeSes) -> None:
    cli("domain", "add", "example.com", "--tenant", "acme")
    fake_ses.set_identity_status("example.com")
    status, synced, _ = cli("domain", "sync", "example.com")
    assert status == 0
    [result] = synced["domains"]
    assert result["verified_for_sending"] is True
    assert "domain.verified" in [e["kind"] for e in result["events"]]
    _, listed, _ = cli("domain", "list")
    assert listed["domains"][0]["state"]["verified_for_sending"] is True
    status, refused, _ = cli("domain", "remove", "example.com")
    assert status == 1
    assert "add --yes to confirm" in refused["error"]["message"]
    status, removed, _ = cli("domain", "remove", "example.com", "--yes")
    assert (status, removed["domain"]) == (0, "example.com")
    _, activity, _ = cli("activity", "list")
    kinds = [e["kind"] for e in activity["activity"]]
    assert kinds[0] == "domain.removed"
    assert "domain.verified" in kinds


def test_addresses(cli: Any, fake_ses: FakeSes) -> None:
    cli("domain", "add", "example.com", "--tenant", "acme")
    status, added, _ = cli("address", "add", "info@example.com", "--verify-email")
    assert (status, added["ses_identity"]) == (0, True)
    assert "info@example.com" in fake_ses.identities
    _, listed, _ = cli("address", "list", "--domain", "example.com")
    assert [a["address"] for a in listed["addresses"]] == ["info@example.com"]
    status, _, _ = cli("domain", "set", "example.com", "--restrict-to-addresses", "yes")
    assert status == 0
    status, _, _ = cli("address", "remove", "info@example.com")
    assert status == 0
    status, missing, _ = cli("address", "add", "x@elsewhere.example")
    assert status == 1
    assert missing["error"]["message"] == "no domain elsewhere.example"
