"""The dev emulator answers the SES account's calls moto lacks, offline: the production request
and the account-level suppression list, through the gateway's own SESv2 client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.aws import sesaccount
from gateway.aws.clients import SesClientProvider
from gateway.core.exceptions import SesPermanentError
from gateway.core.types.aws import DEFAULT_ACCOUNT, ProductionRequest
from gateway.dev.emulator import Emulator
from tests.conftest import make_settings


@pytest.fixture
async def client(emulator: Emulator, tmp_path: Path) -> AsyncIterator[Any]:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    async with SesClientProvider(settings) as provider:
        yield (await provider.account(DEFAULT_ACCOUNT)).client("sesv2")


async def test_the_suppression_list_and_the_production_request_answer(client: Any) -> None:
    await client.put_suppressed_destination(EmailAddress="bob@example.org", Reason="BOUNCE")
    listed = [d async for page in sesaccount.suppressed_destinations(client) for d in page]
    assert [(d.address, d.reason) for d in listed] == [("bob@example.org", "BOUNCE")]
    assert await sesaccount.unsuppress(client, "bob@example.org") is True
    assert await sesaccount.unsuppress(client, "bob@example.org") is False

    request = ProductionRequest("TRANSACTIONAL", "https://shop.example.com", "Receipts.")
    await sesaccount.request_production(client, request)
    with pytest.raises(SesPermanentError, match="already under review"):
        await sesaccount.request_production(client, request)
