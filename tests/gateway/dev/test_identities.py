"""The dev emulator's identities, through the gateway's own SESv2 client: what SES would answer,
pending until their records count as published."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.aws.clients import SesClientProvider
from gateway.aws.ses import SesIdentities
from gateway.core.exceptions import NotFoundError
from gateway.dev.emulator import Emulator, publish_records, start_emulator
from tests.conftest import make_settings


@pytest.fixture
async def identities(emulator: Emulator, tmp_path: Path) -> AsyncIterator[SesIdentities]:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    async with SesClientProvider(settings) as provider:
        yield SesIdentities(provider)


async def test_a_domain_is_pending_with_easy_dkim_tokens_until_published(
    emulator: Emulator, identities: SesIdentities
) -> None:
    created = await identities.create("acme", "acme.test")
    assert (created.verified_for_sending, created.verification_status) == (False, "PENDING")
    assert (created.dkim_status, created.signing_origin) == ("PENDING", "AWS_SES")
    assert len(created.dkim_tokens) == 3
    assert len(set(created.dkim_tokens)) == 3
    await identities.set_mail_from("acme", "acme.test", "mail.acme.test")
    pending = await identities.get("acme", "acme.test")
    assert pending is not None
    assert (pending.mail_from_domain, pending.mail_from_status) == ("mail.acme.test", "PENDING")

    await publish_records(emulator.url, "us-east-1", "acme.test")
    verified = await identities.get("acme", "acme.test")
    assert verified is not None
    assert (verified.verified_for_sending, verified.verification_status) == (True, "SUCCESS")
    assert (verified.dkim_status, verified.mail_from_status) == ("SUCCESS", "SUCCESS")
    assert verified.dkim_tokens == created.dkim_tokens

    await identities.delete("acme", "acme.test")
    assert await identities.get("acme", "acme.test") is None
    with pytest.raises(NotFoundError, match=r"no identity acme\.test"):
        await publish_records(emulator.url, "us-east-1", "acme.test")


async def test_byodkim_keeps_its_selector_and_a_mail_from_set_later_waits_for_its_mx(
    emulator: Emulator, identities: SesIdentities
) -> None:
    created = await identities.create("acme", "own.test", ("gw202612", "MIIEvQ-key"))
    assert (created.signing_origin, created.dkim_tokens) == ("EXTERNAL", ("gw202612",))
    await publish_records(emulator.url, "us-east-1", "own.test")
    # On a verified domain, a new MAIL FROM is pending until its own records are found.
    await identities.set_mail_from("acme", "own.test", "bounce.own.test")
    later = await identities.get("acme", "own.test")
    assert later is not None
    assert (later.verified_for_sending, later.mail_from_status) == (True, "PENDING")


async def test_the_delay_runs_out(aws_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The emulator's own clock, moved by the test: a loaded machine's pauses between requests
    # cannot run the delay out early.
    now = [1000.0]
    aws_env.delenv("AWS_ENDPOINT_URL", raising=False)
    emulator = start_emulator(verify_delay=30, clock=lambda: now[0])
    try:
        settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
        async with SesClientProvider(settings) as provider:
            identities = SesIdentities(provider)
            assert not (await identities.create("acme", "soon.test")).verified_for_sending
            now[0] += 29
            almost = await identities.get("acme", "soon.test")
            assert almost is not None
            assert not almost.verified_for_sending
            now[0] += 1
            state = await identities.get("acme", "soon.test")
            assert state is not None
            assert state.verified_for_sending
    finally:
        emulator.stop()
