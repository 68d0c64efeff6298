"""`gateway.feedback.storedsetup`: the topics `sns setup` stored are allowed when asked about,
and the default configuration set is read again after its time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.core.types.aws import AwsAccountSpec
from gateway.feedback.sns import SnsVerifier
from gateway.feedback.storedsetup import StoredSnsSetup
from gateway.storage import awsaccounts, snssetups
from gateway.storage.database import Database
from tests.support.messages import SEALER

URL = "https://gw.example.com"


async def test_stored_topics_are_allowed_when_asked_about(db: Database, tmp_path: Path) -> None:
    stored = StoredSnsSetup(db)
    verifier = SnsVerifier(tmp_path, frozenset({"arn:configured"}), None)
    await snssetups.save_topic(db, "default", "cs", "arn:stored", URL, datetime.now(UTC))

    assert await stored.allow(verifier, "arn:unknown") is None
    assert verifier.allowed_topics == {"arn:configured"}
    assert await stored.allow(verifier, "arn:stored") == "default"
    assert verifier.allowed_topics == {"arn:configured", "arn:stored"}


async def test_the_default_is_read_again_after_the_ttl(db: Database) -> None:
    stored = StoredSnsSetup(db, ttl=3600)
    assert await stored.configuration_set() is None
    now = datetime.now(UTC)
    await snssetups.save_topic(db, "default", "cs", "arn:cs", URL, now)
    await snssetups.make_default(db, "default", "cs", now)

    assert await stored.configuration_set() is None  # still cached
    assert await StoredSnsSetup(db, ttl=0).configuration_set() == "cs"


async def test_each_aws_account_has_its_default_and_its_topics(db: Database) -> None:
    now = datetime.now(UTC)
    spec = AwsAccountSpec("alpha", "eu-west-1", "AKIAALPHA", "secret")
    await awsaccounts.add_account(db, SEALER, spec, now)
    for account, name in (("default", "home"), ("alpha", "cs"), ("alpha", "other")):
        await snssetups.save_topic(db, account, name, f"arn:{account}:{name}", URL, now)
    await snssetups.make_default(db, "default", "home", now)
    await snssetups.make_default(db, "alpha", "cs", now)
    stored = StoredSnsSetup(db, ttl=3600)

    assert await stored.configuration_set() == "home"
    assert await stored.configuration_set("alpha") == "cs"
    assert await stored.configuration_set("beta") is None
    assert await stored.topic_account("arn:alpha:other") == "alpha"
    await awsaccounts.remove_account(db, "alpha")
    assert await stored.topic_account("arn:alpha:other") == "alpha", "cached"
    stored.forget()  # the change bus says alpha changed
    assert await stored.topic_account("arn:alpha:other") is None
    assert await stored.configuration_set("alpha") == "cs", "harmless: nobody sends through it"
