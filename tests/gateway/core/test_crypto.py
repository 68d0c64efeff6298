"""Secrets at rest: encrypted with SECRET_KEY, still read after SECRET_KEY changes while the old
key is in PREVIOUS_SECRET_KEYS, and a webhook made before the change still signs after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.core import crypto
from gateway.core.exceptions import DecryptionError
from gateway.identity import accounts
from gateway.storage import webhooks as store
from gateway.storage.database import Database
from gateway.webhooks import manage
from tests.conftest import make_settings
from tests.support.webhookreceiver import Receiver

OLD, NEW, OTHER = b"old secret key", b"new secret key", b"someone else's key"


def test_a_secret_reads_back() -> None:
    assert crypto.decrypt(NEW, crypto.encrypt(NEW, "s3cret")) == "s3cret"


def test_a_secret_written_with_a_previous_key_reads_after_rotation() -> None:
    stored = crypto.encrypt(OLD, "s3cret")
    assert crypto.decrypt(NEW, stored, [OTHER, OLD]) == "s3cret"
    with pytest.raises(DecryptionError):
        crypto.decrypt(NEW, stored)


def test_new_secrets_are_written_with_the_current_key() -> None:
    stored = crypto.encrypt(NEW, "s3cret")
    with pytest.raises(DecryptionError):
        crypto.decrypt(OLD, stored)


def test_a_secret_written_with_an_unknown_key_does_not_read() -> None:
    with pytest.raises(DecryptionError, match="PREVIOUS_SECRET_KEYS"):
        crypto.decrypt(NEW, crypto.encrypt(OTHER, "s3cret"), [OLD])


def test_previous_keys_come_from_the_setting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite+aiosqlite://", previous_secret_keys="a, b")
    assert crypto.previous_keys(settings) == (b"a", b"b")


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    found = Receiver(tmp_path / "receiver")
    yield found
    await found.stop()


async def test_a_webhook_made_before_rotation_still_signs(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    await accounts.create_tenant(db, "acme")
    webhook, receiver.secret = await manage.add(
        db, OLD, "acme", receiver.url, (), allow_private=True
    )
    await receiver.start()
    rotated = make_settings(
        tmp_path,
        db.url,
        webhook_ca_file=receiver.ca_file,
        webhook_allow_private=True,
        previous_secret_keys=OLD.decode(),
    )
    sent = await manage.send_test(db, rotated, NEW, webhook.id)
    assert (sent.state, sent.attempt.status_code) == (store.DELIVERED, 200)
    assert [event["id"] for event in receiver.events] == [sent.event_id]


def test_message_content_seals_with_a_fresh_nonce_each_time() -> None:
    sealer = crypto.Sealer(NEW)
    first, second = (sealer.seal(b"body", "Q1", b"hello") for _ in range(2))
    assert first != second
    assert first.startswith(sealer.prefix)
    assert b"hello" not in first
    assert sealer.open(b"body", "Q1", first) == sealer.open(b"body", "Q1", second) == b"hello"


def test_message_content_stored_in_clear_opens_as_it_is() -> None:
    assert (
        crypto.Sealer(NEW).open(b"body", "Q1", b"Subject: s\r\n\r\nhi") == b"Subject: s\r\n\r\nhi"
    )


def test_message_content_cut_short_does_not_open() -> None:
    sealer = crypto.Sealer(NEW)
    with pytest.raises(DecryptionError, match="cut short"):
        sealer.open(b"body", "Q1", sealer.seal(b"body", "Q1", b"hello")[:20])
