"""Browser tests: the panel of a real `ses-gateway serve --dev`, in real headless Chromium.

One gateway for the package (so every test makes tenants of names no other test uses), one
browser per module (each module starts with
`pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]`, so that its tests
share the browser's event loop), a fresh browser context per test. A test fails if a page it
visited broke the Content Security Policy or raised a script error, and the last test fails
if the gateway logged an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, StorageState, async_playwright

from tests.support.browser import DevPanel, launch, watched
from tests.support.panel import sign_in
from tests.support.process import Processes, problems
from tests.support.webhookreceiver import make_tls


@pytest.fixture(scope="package")
def panel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevPanel]:
    directory = tmp_path_factory.mktemp("panel")
    processes = Processes(directory)
    try:
        # Webhooks may go to a receiver on loopback, whose certificate the tests' CA issued.
        ca_file, _ = make_tls(directory / "webhook-ca")
        started = DevPanel.start(
            processes, directory / "gw", webhook_allow_private="true", webhook_ca_file=ca_file
        )
        yield started
        if problems(started.server.log()):
            raise started.server.fail("logged an error")
    finally:
        processes.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def context(browser: Browser, panel: DevPanel) -> AsyncIterator[BrowserContext]:
    """A fresh context, not signed in."""
    async with watched(browser, panel.url) as fresh:
        yield fresh


@pytest_asyncio.fixture(loop_scope="module")
async def page(context: BrowserContext) -> Page:
    """A page, not signed in."""
    return await context.new_page()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin_state(browser: Browser, panel: DevPanel) -> StorageState:
    """The cookies of the admin, signed in once for the module."""
    async with watched(browser, panel.url) as signing_in:
        await sign_in(await signing_in.new_page(), panel.admin, panel.password)
        return await signing_in.storage_state()


@pytest_asyncio.fixture(loop_scope="module")
async def admin(
    browser: Browser, panel: DevPanel, admin_state: StorageState
) -> AsyncIterator[Page]:
    """A page of a fresh context, signed in as the admin."""
    async with watched(browser, panel.url, admin_state) as signed_in:
        yield await signed_in.new_page()
