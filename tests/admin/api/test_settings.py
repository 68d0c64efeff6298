"""`/api/v1/settings`: for admins only, the SNS wiring as SNS (moto) says, and never a secret."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.aws.ses import SesEventPublishing
from gateway.storage import snssetups
from tests.support.site import Site

SECRETS = {
    "secret_key": "an-installation-secret-key-value",
    "previous_secret_keys": "an-older-secret-key-value",
    "metrics_token": "a-metrics-token-of-some-length",
}
SETTINGS = {**SECRETS, "public_url": "https://gw.example.com", "event_retention_days": 30}


@pytest.mark.parametrize("site_settings", [SETTINGS])
async def test_an_admin_reads_the_settings_without_secrets(site: Site) -> None:
    answer = await (await site.api(await site.key())).get("/settings")
    assert answer.status_code == 200
    for secret in SECRETS.values():
        assert secret not in answer.text
    body = answer.json()
    assert body["region"] == site.services.provider.region
    assert body["public_url"] == "https://gw.example.com"
    assert (body["event_retention_days"], body["body_retention_days"]) == (30, 0)
    assert (body["configuration_set"], body["sns"]) == (None, [])
    assert "ses-gateway sns setup --public-url https://gw.example.com" in body["sns_todo"]
    shown = {s["env"]: s["value"] for s in body["settings"]}
    assert shown["SES_GATEWAY_EVENT_RETENTION_DAYS"] == "30"
    assert shown["SES_GATEWAY_DEFAULT_MAX_PER_DAY"] is None
    assert not {"SES_GATEWAY_SECRET_KEY", "SES_GATEWAY_METRICS_TOKEN"} & shown.keys()


async def test_the_sns_wiring_says_what_sns_says(site: Site) -> None:
    topic = await SesEventPublishing(site.services.provider).create_topic("settings-test")
    now = datetime.now(UTC)
    await snssetups.save_topic(
        site.db, "default", "cs1", topic, "https://gw.example.com/sns/ses", now
    )
    await snssetups.make_default(site.db, "default", "cs1", now)
    body = (await (await site.api(await site.key())).get("/settings")).json()
    assert (body["configuration_set"], body["configuration_set_source"]) == ("cs1", "sns setup")
    [wiring] = body["sns"]
    assert (wiring["aws_account"], wiring["topic_arn"], wiring["subscription"]) == (
        "default",
        topic,
        "missing: run `ses-gateway sns setup` again",
    )
    assert "not confirmed" in body["sns_todo"]


async def test_tenant_keys_may_not_read_the_settings(site: Site) -> None:
    refused = await (await site.api(await site.key("acme"))).get("/settings")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
