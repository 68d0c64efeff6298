"""`gateway.webhooks.manage`: a test event sent now, once, whatever the filter."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.exceptions import NotFoundError
from gateway.storage import webhooks as store
from gateway.storage.database import Database
from gateway.webhooks import manage
from tests.gateway.webhooks.conftest import (
    SECRET_KEY,
    hook,
    settings_for,
)
from tests.support.webhookreceiver import Receiver


async def test_a_test_event_is_sent_once_whatever_the_filter(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    webhook = await hook(db, receiver, events=("complaint",))
    settings = settings_for(tmp_path, db, receiver)
    down = await manage.send_test(db, settings, SECRET_KEY, webhook.id)
    assert down.state == store.FAILED
    assert down.attempt.status_code is None
    await receiver.start()
    up = await manage.send_test(db, settings, SECRET_KEY, webhook.id)
    assert (up.state, up.attempt.status_code) == (store.DELIVERED, 200)
    [received] = receiver.events
    assert (received["type"], received["id"], received["recipients"]) == ("test", up.event_id, [])
    with pytest.raises(NotFoundError):
        await manage.send_test(db, settings, SECRET_KEY, webhook.id + 100)
