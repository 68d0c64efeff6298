"""`ses-gateway sns setup` and `sns status` through the real CLI: SNS is moto; SESv2 is the fake
SES, since moto has no event destinations. Then `/sns/ses` confirms the new subscription."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import io
import json
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from admin.app import create_app
from gateway.aws.ses import EVENT_TYPES
from gateway.endpoints.health import Readiness
from gateway.endpoints.sns import SnsEndpoint
from gateway.feedback.eventsetup import DESTINATION_NAME
from gateway.feedback.sns import SnsVerifier
from gateway.storage.database import Database
from gateway.storage.migrate import upgrade
from tests.conftest import Cli, make_settings
from tests.support.fakeses import FakeSes
from tests.support.http import serving
from tests.support.motoaccounts import ALPHA, allow, keys_in
from tests.support.snssigner import TEST_CERT_NAME, SnsSigner, body, fake_sns

URL = "https://gw.example.com"
ENDPOINT = "https://gw.example.com/sns/ses"


@pytest.fixture
def aws(aws_env: pytest.MonkeyPatch, moto_server: str, fake_ses: FakeSes) -> Any:
    """SESv2 at the fake SES, SNS at a freshly reset moto; returns a boto3 SNS client."""
    httpx.post(f"{moto_server}/moto-api/reset").raise_for_status()
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    aws_env.setenv("AWS_ENDPOINT_URL_SNS", moto_server)
    return boto3.client("sns", region_name="us-east-1", endpoint_url=moto_server)


def setup(cli: Cli, *args: str) -> dict[str, Any]:
    status, out, err = cli("sns", "setup", "--public-url", URL, "--json", *args)
    assert status == 0, out + err
    document: dict[str, Any] = json.loads(out)
    return document


def actions(document: dict[str, Any]) -> dict[str, str]:
    return {step["resource"]: step["action"] for step in document["steps"]}


def test_setup_creates_everything_then_reuses_it(cli: Cli, aws: Any, fake_ses: FakeSes) -> None:
    first = setup(cli)
    again = setup(cli)

    assert actions(first) == {
        "configuration set": "created",
        "SNS topic": "created",
        "topic policy": "created",
        "event destination": "created",
        "subscription": "created",
        "default configuration set": "updated",
    }
    assert set(actions(again).values()) == {"reused"}
    topic_arn = first["topic_arn"]
    assert topic_arn.endswith(":ses-gateway")
    assert again["topic_arn"] == topic_arn
    assert first["endpoint"] == ENDPOINT
    destination = fake_ses.configuration_sets["ses-gateway"][DESTINATION_NAME]
    assert destination["Enabled"] is True
    assert destination["SnsDestination"] == {"TopicArn": topic_arn}
    assert sorted(destination["MatchingEventTypes"]) == sorted(EVENT_TYPES)
    assert [t["TopicArn"] for t in aws.list_topics()["Topics"]] == [topic_arn]
    policy = json.loads(aws.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])
    [statement] = [s for s in policy["Statement"] if s["Sid"] == "SesGatewayPublish-ses-gateway"]
    assert statement["Principal"] == {"Service": "ses.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["AWS:SourceArn"].endswith(
        ":configuration-set/ses-gateway"
    )
    subscriptions = aws.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("https", ENDPOINT)]


def test_setup_says_what_it_did_in_text(cli: Cli, aws: Any) -> None:
    status, out, _ = cli("sns", "setup", "--public-url", URL + "/", "--configuration-set", "cs1")
    assert status == 0
    assert "configuration set cs1: created" in out
    assert f"subscription {ENDPOINT}: created" in out
    assert "default configuration set cs1: updated (sending uses it)" in out


def test_setup_is_audited_once_as_the_os_user(cli: Cli, aws: Any) -> None:
    setup(cli, "--configuration-set", "cs1")
    _, out, _ = cli("activity", "list", "--json")
    [entry] = json.loads(out)["activity"]
    assert (entry["kind"], entry["subject"], entry["actor"]) == (
        "sns.setup",
        "cs1",
        f"cli:{getpass.getuser()}",
    )
    assert "configuration set created" in entry["detail"]


def test_setup_names_the_topic_apart_from_the_configuration_set(cli: Cli, aws: Any) -> None:
    document = setup(cli, "--configuration-set", "cs2", "--topic", "events")
    assert document["configuration_set"] == "cs2"
    assert document["topic_arn"].endswith(":events")


def test_setup_warns_when_configuration_set_setting_wins(
    cli: Cli, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SES_GATEWAY_CONFIGURATION_SET", "hand-made")
    document = setup(cli)
    assert "CONFIGURATION_SET is set to hand-made" in document["warnings"][0]
    status, out, _ = cli("sns", "status", "--json")
    assert status == 0
    assert json.loads(out)["sending_configuration_set"] == "hand-made"


def test_setup_refuses_a_plain_http_public_url(cli: Cli, aws: Any) -> None:
    status, out, _ = cli("sns", "setup", "--public-url", "http://gw.example.com", "--json")
    assert status == 1
    assert "https" in json.loads(out)["error"]["message"]


def test_setup_needs_a_public_url(cli: Cli, aws: Any) -> None:
    status, _, err = cli("sns", "setup")
    assert status == 1
    assert "--public-url" in err


def test_status_shows_the_setup_and_its_subscription(cli: Cli, aws: Any) -> None:
    status, out, _ = cli("sns", "status")
    assert "sending without a configuration set" in out
    setup(cli)

    status, out, _ = cli("sns", "status", "--json")

    assert status == 0
    document = json.loads(out)
    assert document["sending_configuration_set"] == "ses-gateway"
    [row] = document["setups"]
    assert row["endpoint"] == ENDPOINT
    assert row["subscription"] == "confirmed"  # moto confirms HTTPS subscriptions at once


def test_against_moto_alone_setup_stops_at_the_event_destination(
    cli: Cli, aws_env: pytest.MonkeyPatch, moto_server: str
) -> None:
    """moto 5.2.5 answers SESv2 event destination calls with 404: setup says so and stops,
    having recorded the topic but made nothing the default."""
    httpx.post(f"{moto_server}/moto-api/reset").raise_for_status()
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)

    status, out, _ = cli("sns", "setup", "--public-url", URL, "--json")
    assert status == 1
    assert "does not support this operation" in json.loads(out)["error"]["message"]
    status, out, _ = cli("sns", "status", "--json")
    document = json.loads(out)
    assert document["sending_configuration_set"] is None
    assert [row["subscription"] for row in document["setups"]] == [
        "missing: run `ses-gateway sns setup` again"
    ]


async def test_the_new_topic_is_confirmed_at_sns_ses_without_sns_topic_arns(
    cli: Cli, aws: Any, database_url: str, tmp_path: Path
) -> None:
    topic_arn = (await asyncio.to_thread(setup, cli))["topic_arn"]  # the CLI runs its own loop
    signer = SnsSigner()
    settings = make_settings(tmp_path, database_url, sns_topic_arns=[])
    db = Database(database_url)
    await upgrade(db)
    try:
        async with fake_sns() as sns:
            sns.certificates[TEST_CERT_NAME] = signer.cert_pem
            sns_endpoint = SnsEndpoint.from_settings(db, settings)
            verifier = SnsVerifier(tmp_path / "certs", frozenset(), 3600, fetch=sns.fetch())
            app = create_app(Readiness(db), dataclasses.replace(sns_endpoint, verifier=verifier))
            async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
                ours = await http.post(
                    "/sns/ses", content=body(signer.confirmation(topic_arn=topic_arn))
                )
                theirs = await http.post(
                    "/sns/ses",
                    content=body(signer.confirmation(topic_arn=topic_arn + "-not-ours")),
                )
    finally:
        await db.close()

    assert ours.status_code == 200, ours.text
    assert ours.json()["status"] == "confirmed"
    assert sns.confirmed[0].startswith(topic_arn + ":")
    assert theirs.status_code == 403
    assert "is not allowed" in theirs.json()["error"]["message"]


def test_setup_in_an_aws_account_makes_its_own_topic_and_default(
    cli: Cli, aws: Any, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_id, secret = keys_in(moto_server, ALPHA, "gateway", allow("ses:*", "sns:*"))
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    added = cli("aws-account", "add", "alpha", "--region", "us-west-2", "--access-key-id", key_id)
    assert added[0] == 0, added[1] + added[2]

    home = setup(cli)
    alpha = setup(cli, "--aws-account", "alpha")

    assert home["topic_arn"] == "arn:aws:sns:us-east-1:123456789012:ses-gateway"
    assert alpha["topic_arn"] == f"arn:aws:sns:us-west-2:{ALPHA}:ses-gateway"
    assert (home["aws_account"], alpha["aws_account"]) == ("default", "alpha")
    assert actions(alpha)["default configuration set"] == "updated", "the account's own default"
    document = json.loads(cli("sns", "status", "--json")[1])
    assert document["sending_configuration_set"] == "ses-gateway"
    assert document["aws_accounts"] == {"alpha": "ses-gateway"}
    assert sorted(
        (r["aws_account"], r["topic_arn"], r["subscription"]) for r in document["setups"]
    ) == [
        ("alpha", alpha["topic_arn"], "confirmed"),
        ("default", home["topic_arn"], "confirmed"),
    ]
    _, out, _ = cli("sns", "status")
    assert "sending through AWS account alpha with configuration set ses-gateway" in out


def test_setup_in_an_unknown_aws_account_is_refused(cli: Cli, aws: Any) -> None:
    status, out, _ = cli("sns", "setup", "--public-url", URL, "--aws-account", "nope", "--json")
    assert status == 1
    assert json.loads(out)["error"]["message"] == "no AWS account named 'nope'"
