"""`/metrics` scraped over real HTTP and read back with prometheus_client's own parser.

The registry is per process and tests share a process: compare counters before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

PREFIX = "ses_gateway_"


@dataclass(frozen=True)
class Scrape:
    families: frozenset[str]
    """Every metric named, with or without a sample yet (prometheus_client drops `_total`)."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        families = list(text_string_to_metric_families(text))
        return cls(
            frozenset(family.name for family in families),
            {
                (sample.name, frozenset(sample.labels.items())): sample.value
                for family in families
                for sample in family.samples
            },
        )

    def value(self, name: str, **labels: str) -> float:
        """The sample `ses_gateway_<name>` with exactly these labels; 0 when there is none yet."""
        return self.samples.get((PREFIX + name, frozenset(labels.items())), 0.0)


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _read(response: httpx.Response) -> Scrape:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version="), response.headers
    return Scrape.parse(response.text)


def scrape_now(url: str, token: str | None = None) -> Scrape:
    """GET `url` (a `/metrics` URL) from a test that runs no event loop (a served process)."""
    return _read(httpx.get(url, headers=_auth(token), timeout=10))


async def scrape(url: str, token: str | None = None) -> Scrape:
    """GET `url` without blocking the event loop (an app served by this test's loop)."""
    async with httpx.AsyncClient(timeout=10) as client:
        return _read(await client.get(url, headers=_auth(token)))
