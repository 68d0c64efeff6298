"""The panel in real headless Chromium (Debian's, driven by Playwright), for the browser tests
in tests/browser/ and for scripts/screenshots.

- `DevPanel`: `ses-gateway serve --dev` (moto as SES, the mailbox simulator) in a directory of
  its own, with an admin made by `ses-gateway user create`; `send()` submits a message to it.
- `launch()`: Debian's Chromium, headless, making no connection of its own.
- `Problems`, `watched()`: what a browser context reported that a page must never cause:
  Content Security Policy violations and uncaught script errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Playwright,
    StorageState,
)

from tests.support.process import Gateway, Process, Processes, send, smtp_client

__all__ = ["CHROMIUM", "VIEWPORT", "DevPanel", "Problems", "launch", "watched"]

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's `chromium` (Playwright cannot download its own browser here)."""

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps connecting to Google's hosts, which a closed network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

VIEWPORT = {"width": 1280, "height": 800}


async def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with a fresh profile."""
    if not CHROMIUM.is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `scripts/install --dev` installs it")
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
    )


@dataclass
class DevPanel:
    """A running `serve --dev` and the admin who signs in to it."""

    gateway: Gateway
    server: Process
    admin: str
    password: str

    @classmethod
    def start(
        cls,
        processes: Processes,
        directory: Path,
        admin: str = "admin@example.org",
        **settings: object,
    ) -> DevPanel:
        """`settings`: gateway settings by their lower-case names."""
        # No AWS variable: the emulator starts; it verifies domains when added, so that a domain
        # added in the browser sends at once (tests/admin/test_dev_domains.py has the delay).
        gateway = Gateway.create(processes, directory, **{"dev_verify_delay": 0, **settings})
        server = gateway.serve("--dev")
        server.wait_for_log(r"dev-mode simulator=")
        created = gateway.cli("user", "create", admin, "--role", "admin")
        return cls(gateway, server, admin, str(created["password"]))

    @property
    def url(self) -> str:
        return self.gateway.http_url

    def send(self, username: str, password: str, sender: str, recipient: str, subject: str) -> str:
        """One message over SMTP (STARTTLS, AUTH) from `sender` to `recipient`: its queue id."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = recipient
        message["Subject"] = subject
        message.set_content(f"{subject}\n\nSent by the browser tests of SES Gateway.\n")
        with smtp_client(self.gateway.smtp_port, username, password) as client:
            data = message.as_bytes(policy=SMTP)
            return send(client, subject, sender=sender, recipient=recipient, data=data)


@dataclass
class Problems:
    """Content Security Policy violations and uncaught script errors of a browser context."""

    found: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.found.append(f"script error: {error.error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            page = message.page.url if message.page else "?"
            self.found.append(f"{page}: {message.text}")


@asynccontextmanager
async def watched(
    browser: Browser, base_url: str, state: StorageState | None = None
) -> AsyncIterator[BrowserContext]:
    """A fresh context (with the cookies of `state`, if given) that raises, once closed, if a
    page of it reported a `Problems` entry."""
    problems = Problems()
    context = await browser.new_context(base_url=base_url, viewport=VIEWPORT, storage_state=state)
    problems.watch(context)
    try:
        yield context
    finally:
        await context.close()
    assert not problems.found, "\n".join(problems.found)
