"""`gateway.feedback.storedsetup`: the topics `sns setup` stored are allowed when asked about,
and the default configuration set is read again after its time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.feedback.sns import SnsVerifier
from gateway.feedback.storedsetup import StoredSnsSetup
from gateway.storage import snssetups
from gateway.storage.database import Database

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
