"""`gateway.aws.sesaccount` through the gateway's own aioboto3 client, against the project's SES
stand-in over HTTP: the account-level suppression list in pages, an address taken off it,
the production request checked against botocore's sesv2 model."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.aws import sesaccount
from gateway.aws.clients import SesClientProvider
from gateway.core.exceptions import InvalidInputError, SesPermanentError
from gateway.core.types.aws import DEFAULT_ACCOUNT, ProductionRequest
from tests.conftest import make_settings
from tests.support.fakeses import FakeSes

GOOD = ProductionRequest("MARKETING", "https://shop.example.com", "Newsletters to subscribers.")


@pytest.fixture
async def client(
    aws_env: pytest.MonkeyPatch, fake_ses: FakeSes, tmp_path: Path
) -> AsyncIterator[Any]:
    aws_env.setenv("AWS_ENDPOINT_URL", fake_ses.url)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    async with SesClientProvider(settings) as provider:
        yield (await provider.account(DEFAULT_ACCOUNT)).client("sesv2")


async def test_the_list_comes_in_pages_oldest_first(client: Any, fake_ses: FakeSes) -> None:
    # Whole seconds: a float's sub-microsecond part would be rounded, up half the time, when the
    # `since` below becomes a datetime, and put a3 just before it.
    start = float(int(time.time()) - 100)
    for n in range(5):
        fake_ses.account_state.suppress(
            f"a{n}@example.org", "COMPLAINT" if n else "BOUNCE", start + n
        )

    pages = [page async for page in sesaccount.suppressed_destinations(client, page_size=2)]

    assert [len(page) for page in pages] == [2, 2, 1]
    first = pages[0][0]
    assert (first.address, first.reason) == ("a0@example.org", "BOUNCE")
    assert first.last_update == datetime.fromtimestamp(start, UTC)
    since = datetime.fromtimestamp(start + 3, UTC)
    recent = [d async for page in sesaccount.suppressed_destinations(client, since) for d in page]
    assert [d.address for d in recent] == ["a3@example.org", "a4@example.org"]


async def test_unsuppress_says_whether_ses_held_the_address(client: Any, fake_ses: FakeSes) -> None:
    fake_ses.account_state.suppress("bob@example.org")
    assert await sesaccount.unsuppress(client, "bob@example.org") is True
    assert await sesaccount.unsuppress(client, "bob@example.org") is False
    assert fake_ses.account_state.suppressed == {}


async def test_a_refusal_is_one_line_naming_the_action(client: Any, fake_ses: FakeSes) -> None:
    fake_ses.account_state.fail_next(
        "DeleteSuppressedDestination", "BadRequestException", "Invalid email address."
    )
    with pytest.raises(SesPermanentError) as refused:
        await sesaccount.unsuppress(client, "bob@example.org")
    assert str(refused.value) == (
        "BadRequestException: SES refused ses:DeleteSuppressedDestination: Invalid email address."
    )


def test_the_limits_are_botocore_s() -> None:
    assert sesaccount.production_limits() == {
        "mail_types": ("MARKETING", "TRANSACTIONAL"),
        "contact_languages": ("EN", "JA"),
        "website_url_max": 1000,
        "use_case_max": 5000,
        "contacts_max": 4,
        "contact_min": 6,
        "contact_max": 254,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mail_type": "marketing"}, "mail_type"),
        ({"website_url": "ftp://shop.example.com"}, "website_url"),
        ({"website_url": "https://"}, "website_url"),
        ({"use_case": "x" * 5001}, "use_case"),
        ({"contact_language": "DE"}, "contact_language"),
        ({"additional_contacts": ("a@b",)}, "additional_contacts"),
    ],
)
def test_a_request_ses_would_refuse_is_refused_by_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        sesaccount.check_production_request(dataclasses.replace(GOOD, **change))
    assert refused.value.field == field


def test_a_request_at_the_limits_passes() -> None:
    sesaccount.check_production_request(
        dataclasses.replace(
            GOOD,
            website_url="https://shop.example.com/" + "a" * 975,
            use_case="x" * 5000,
            additional_contacts=tuple(f"ops{n}@shop.example.com" for n in range(4)),
        )
    )
