"""The admin panel and JSON API served on loopback over a fresh database, with SES in moto:
users, API keys and signed-in HTTP clients for the tests of pages and endpoints."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx

from admin.app import create_app
from admin.ops.context import Services
from config import Settings
from gateway.aws.clients import SesClientProvider
from gateway.campaigns.sender import CampaignSender
from gateway.compose.submit import Submitter
from gateway.endpoints.health import Readiness
from gateway.identity import accounts, apikeys, users
from gateway.policy.senders import Directory
from gateway.storage import tenants
from gateway.storage.database import Database
from tests.support.http import serving
from tests.support.messages import SEALER, SEALER_KEY

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
PASSWORD = "correct horse battery"

TIMEOUT = 30.0
"""Seconds an answer may take: generous, for a suite running in parallel on two busy cores
(httpx's default of 5 timed out there)."""


def csrf_token(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


UNLIMITED_API = {"api_rate_limit": 1000, "api_rate_burst": 1000}
"""`site_settings` for a test that asks faster than a key's default rate, where a `429` would
hide the answer it checks."""


@dataclass
class Site:
    url: str
    db: Database
    services: Services
    _stack: AsyncExitStack
    _counter: list[int] = field(default_factory=lambda: [0])

    async def tenant(self, name: str) -> int:
        """The tenant's id, creating it on first use."""
        found = {t.name: t.id for t in await tenants.list_tenants(self.db)}
        if name in found:
            return found[name]
        return (await accounts.create_tenant(self.db, name)).id

    async def make_campaign_messages(self) -> None:
        """The campaign sender's rounds until no launched campaign has a message left to make."""
        settings = self.services.settings
        sender = CampaignSender(self.db, settings, Submitter(self.db, settings, SEALER))
        sender.start()
        try:
            while await sender.run():
                pass
        finally:
            await sender.stop()

    async def user(self, role: str = "admin", tenant: str | None = None) -> str:
        """A new user's email (its password is `PASSWORD`)."""
        if tenant:
            await self.tenant(tenant)
        self._counter[0] += 1
        email = f"{role}{self._counter[0]}@people.test"
        await users.create_user(self.db, email, role, tenant, PASSWORD)
        return email

    async def key(self, tenant: str | None = None) -> str:
        if tenant:
            await self.tenant(tenant)
        return (await apikeys.create_api_key(self.db, tenant)).key

    async def browser(self, email: str | None = None) -> httpx.AsyncClient:
        """An HTTP client that signed in as `email` (not signed in when None)."""
        client = await self._stack.enter_async_context(
            httpx.AsyncClient(base_url=self.url, headers={"accept": "text/html"}, timeout=TIMEOUT)
        )
        if email is not None:
            page = await client.get("/login")
            token = LOGIN_TOKEN.search(page.text)
            assert token
            done = await client.post(
                "/login",
                data={"email": email, "password": PASSWORD, "login_token": token.group(1)},
            )
            assert done.status_code == 303, done.text
        return client

    async def api(self, key: str | None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return await self._stack.enter_async_context(
            httpx.AsyncClient(base_url=f"{self.url}/api/v1", headers=headers, timeout=TIMEOUT)
        )

    async def post_form(
        self, client: httpx.AsyncClient, path: str, data: dict[str, str], page: str | None = None
    ) -> httpx.Response:
        """POST a form with the CSRF token of `page` (default: `path` itself)."""
        html = (await client.get(page or path)).text
        return await client.post(path, data={"csrf_token": csrf_token(html), **data})


@asynccontextmanager
async def site(db: Database, settings: Settings) -> AsyncIterator[Site]:
    async with AsyncExitStack() as stack:
        provider = await stack.enter_async_context(SesClientProvider(settings))
        services = Services(db, settings, lambda: SEALER_KEY, lambda: SEALER, provider)
        # The send API's, as the web role makes it; its policy facts never cached, so that a
        # test's pause or suppression counts at once.
        services.submitter = Submitter(db, settings, SEALER, directory=Directory(db, ttl=0))
        services.submitter.start()
        stack.push_async_callback(services.submitter.stop)
        app = create_app(Readiness(db), services=services)
        url = await stack.enter_async_context(serving(app))
        yield Site(url, db, services, stack)
