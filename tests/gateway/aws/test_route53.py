"""The Route 53 seam against moto: zones, record sets, one change batch, `GetChange`, and
Route 53's refusals in our words."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ClientError

from gateway.aws.clients import SesClientProvider
from gateway.aws.route53 import Route53, translate
from gateway.core.exceptions import Route53Error
from gateway.core.types.domains import RecordSet
from tests.conftest import make_settings
from tests.support.route53 import create_zone, put, zone_records


@pytest.fixture
async def route53(
    moto_server: str, tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> AsyncIterator[Route53]:
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)
    aws_env.setenv("AWS_REGION", "eu-west-1")  # Route 53's client is us-east-1's whatever SES's
    settings = make_settings(tmp_path, "sqlite+aiosqlite://")
    async with SesClientProvider(settings) as provider:
        clients = await provider.for_tenant("acme")
        assert clients.client("route53").meta.region_name == "us-east-1"
        yield Route53(provider)


async def test_zones_lists_public_and_private_zones(route53: Route53, moto_server: str) -> None:
    public = create_zone(moto_server, "seam-zones.example.org")
    private = create_zone(moto_server, "seam-zones.example.org", private=True)
    found = {z.id: z for z in await route53.zones("acme")}
    assert (found[public].name, found[public].private) == ("seam-zones.example.org", False)
    assert found[private].private is True


async def test_one_batch_is_applied_and_in_sync(route53: Route53, moto_server: str) -> None:
    zone = create_zone(moto_server, "seam-batch.example.org")
    put(moto_server, zone, "www.seam-batch.example.org", "A", ["192.0.2.1"])
    writes = [
        ("CREATE", RecordSet("_dmarc.seam-batch.example.org", "TXT", ('"v=DMARC1; p=none;"',))),
        ("UPSERT", RecordSet("www.seam-batch.example.org", "A", ("192.0.2.2",))),
    ]
    change = await route53.change("acme", zone, writes, 3600, "test")
    assert await route53.status("acme", change) == "INSYNC"
    held = zone_records(moto_server, zone)
    assert held[("_dmarc.seam-batch.example.org", "TXT")] == ['"v=DMARC1; p=none;"']
    assert held[("www.seam-batch.example.org", "A")] == ["192.0.2.2"]
    sets = {(r.name, r.type): r for r in await route53.record_sets("acme", zone)}
    assert sets[("_dmarc.seam-batch.example.org", "TXT")].values == ('"v=DMARC1; p=none;"',)
    assert {"SOA", "NS"} <= {t for _, t in sets}


async def test_record_sets_come_page_by_page(route53: Route53, moto_server: str) -> None:
    zone = create_zone(moto_server, "seam-pages.example.org")
    writes = [
        ("CREATE", RecordSet(f"h{i:03}.seam-pages.example.org", "A", ("192.0.2.1",)))
        for i in range(320)
    ]
    await route53.change("acme", zone, writes, 300, "many")
    names = [r.name for r in await route53.record_sets("acme", zone) if r.type == "A"]
    assert len(names) == len(set(names)) == 320


async def test_a_refused_batch_says_route_53s_words(route53: Route53, moto_server: str) -> None:
    zone = create_zone(moto_server, "seam-refused.example.org")
    dmarc = RecordSet("_dmarc.seam-refused.example.org", "TXT", ('"v=DMARC1; p=none;"',))
    await route53.change("acme", zone, [("CREATE", dmarc)], 3600, "first")
    with pytest.raises(Route53Error) as refused:
        await route53.change("acme", zone, [("CREATE", dmarc)], 3600, "again")
    assert refused.value.code == "InvalidChangeBatch"
    assert str(refused.value) == (
        "Route 53 refused the change batch, changing nothing: Tried to create resource record "
        "set [name='_dmarc.seam-refused.example.org.', type='TXT'] but it already exists"
    )


async def test_an_unknown_zone_is_named(route53: Route53) -> None:
    with pytest.raises(Route53Error, match="Route 53 has no such hosted zone") as refused:
        await route53.record_sets("acme", "ZNOSUCHZONE")
    assert refused.value.code == "NoSuchHostedZone"


async def test_an_unreachable_endpoint_is_one_line(
    tmp_path: Path, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    settings = make_settings(tmp_path, "sqlite+aiosqlite://", ses_timeout=1)
    async with SesClientProvider(settings) as provider:
        with pytest.raises(Route53Error, match="cannot reach Route 53: Could not connect"):
            await Route53(provider).zones("acme")


@pytest.mark.parametrize(
    ("code", "operation", "says"),
    [
        (
            "AccessDenied",
            "ChangeResourceRecordSets",
            "AWS denied route53:ChangeResourceRecordSets (AccessDenied): allow it in the IAM "
            "policy of the account's credentials (docs/aws-accounts.md, Route 53 publish)",
        ),
        ("Throttling", "ListHostedZones", "Route 53 is busy (Throttling: words): try again"),
        ("PriorRequestNotComplete", "ChangeResourceRecordSets", "Route 53 is busy"),
        ("ExpiredToken", "GetChange", "AWS refused the credentials (ExpiredToken: words)"),
        ("InvalidInput", "GetChange", "Route 53 refused GetChange (InvalidInput: words)"),
    ],
)
def test_refusals_say_what_to_do(code: str, operation: str, says: str) -> None:
    error = ClientError({"Error": {"Code": code, "Message": "words"}}, operation)
    translated = translate(error, operation)
    assert translated.code == code
    assert says in str(translated)


def test_the_documented_policy_allows_every_call_the_seam_makes() -> None:
    """docs/aws-accounts.md names Route 53's real actions, and every one `Route53` calls."""
    document = (Path(__file__).parents[3] / "docs" / "aws-accounts.md").read_text()
    section = document.split("## Route 53 publish", 1)[1].split("\n## ", 1)[0]
    policy = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    documented = {
        action.removeprefix("route53:")
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
    }
    model = botocore.session.get_session().get_service_model("route53")
    assert documented <= set(model.operation_names)
    seam = (Path(__file__).parents[3] / "gateway" / "aws" / "route53.py").read_text()
    called = {
        "".join(part.capitalize() for part in name.split("_"))
        for name in re.findall(r'self\._call\(\s*tenant,\s*"(\w+)"', seam)
    }
    assert called == documented


def test_only_an_answer_below_500_says_nothing_was_done() -> None:
    def error(status: int) -> ClientError:
        response = {"Error": {"Code": "X"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(response, "ChangeResourceRecordSets")  # type: ignore[arg-type]

    assert translate(error(400), "ChangeResourceRecordSets").refused is True
    assert translate(error(503), "ChangeResourceRecordSets").refused is False
    assert translate(OSError("reset"), "ChangeResourceRecordSets").refused is False
