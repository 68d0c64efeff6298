"""`kill -9` of `ses-gateway domain publish` while its change batch is in flight: Route 53 then
applies the batch whole or not at all, the zone is either as it was or fully published, and a
second run converges (it finds out from the zone what became of the batch, and records as the
gateway's what the batch wrote)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.types.domains import PublishedRecord
from gateway.storage import domains as domain_store
from gateway.storage.database import Database
from gateway.storage.published import published_records
from tests.support.dnsserver import DnsServer
from tests.support.fakeses import FakeSes
from tests.support.process import Gateway, Processes, gateway_command
from tests.support.route53 import Route53Stand, create_zone, zone_records

pytestmark = pytest.mark.slow


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    pool = Processes(tmp_path)
    yield pool
    pool.close()


def stored(database_url: str, domain: str) -> list[PublishedRecord]:
    async def read() -> list[PublishedRecord]:
        db = Database(database_url)
        try:
            return await published_records(db, (await domain_store.get_domain(db, domain)).id)
        finally:
            await db.close()

    return asyncio.run(read())


@pytest.mark.parametrize("applied", [True, False], ids=["batch-applied", "batch-lost"])
def test_kill_9_during_publish_leaves_the_zone_whole_and_a_rerun_converges(
    processes: Processes, tmp_path: Path, fake_ses: FakeSes, applied: bool
) -> None:
    domain = f"crash-{'applied' if applied else 'lost'}.example.org"
    with Route53Stand() as stand, DnsServer() as dns:
        dns.add("amazonses.com", "TXT", '"v=spf1 ip4:199.255.192.0/22 -all"')
        gateway = Gateway.create(
            processes, tmp_path / "gw", ses_url=fake_ses.url, dns_nameservers=dns.address
        )
        gateway.env["AWS_ENDPOINT_URL_ROUTE_53"] = stand.url
        (tmp_path / "gw" / "data").mkdir()  # a gateway's data folder, as `init` makes
        gateway.cli("tenant", "create", "acme")
        added = gateway.cli("domain", "add", domain, "--tenant", "acme", "--mail-from", "mail")
        zone = create_zone(stand.url, domain)
        stand.nameserver(dns, zone)

        stand.hold_changes()
        publishing = processes.start(
            "publish", [*gateway_command(), "domain", "publish", domain], gateway.env
        )
        assert stand.arrived.wait(60), publishing.log()
        assert [r.pending is not None for r in stored(gateway.database_url, domain)] == [True] * 6
        assert publishing.kill() == -9
        stand.release(apply=applied)

        whole = {
            (r["name"], r["type"]): [f'"{r["value"]}"' if r["type"] == "TXT" else r["value"] + "."]
            for r in added["records"]
        }
        deadline = time.monotonic() + 10
        while applied and zone_records(stand.url, zone) != whole and time.monotonic() < deadline:
            time.sleep(0.05)
        assert zone_records(stand.url, zone) == (whole if applied else {})

        rerun = gateway.cli("domain", "publish", domain)
        assert rerun["status"] == "INSYNC"
        assert (rerun["change_id"] is None) is applied  # the batch's records found, not resent
        assert {s["action"] for s in rerun["steps"]} == ({"present"} if applied else {"create"})
        assert zone_records(stand.url, zone) == whole
        assert {c["status"] for c in rerun["check"]} == {"ok"}, rerun["check"]
        records = stored(gateway.database_url, domain)
        assert len(records) == 6
        assert all(r.values and r.pending is None for r in records)
        kinds = [e["detail"] for e in gateway.cli("activity", "list")["activity"]]
        settled = [d for d in kinds if d.startswith("settled an interrupted publish")]
        assert len(settled) == 1
