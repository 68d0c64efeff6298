"""The panel in real headless Chromium (Debian's, driven by Playwright), for the browser tests
in tests/browser/ and for scripts/screenshots.

- `DevPanel`: `ses-gateway serve --dev` (moto as SES, the mailbox simulator) in a directory of
  its own, with an admin made by `ses-gateway user create`; `send()` submits a message to it.
- `launch()`: Debian's Chromium, headless, making no connection of its own.
- `Problems`, `watched()`: what a browser context reported that a page must never cause:
  Content Security Policy violations and uncaught script errors.
- `layout_problems()`, `axe_violations()`: what breaks a page's layout at its width, and its
  serious and critical accessibility violations (axe-core), on an `axe_page()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    StorageState,
)

from tests.support.process import Gateway, Process, Processes, send, smtp_client

__all__ = [
    "CHROMIUM",
    "VIEWPORT",
    "WIDTHS",
    "DevPanel",
    "Problems",
    "axe_violations",
    "launch",
    "layout_problems",
    "watched",
]

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
WIDTHS = {"wide": 1400, "phone": 390}
"""The widths the panel's layout is checked at."""
AXE = Path(__file__).parents[1] / "data" / "axe" / "axe.min.js"


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


async def layout_problems(page: Page) -> list[str]:
    """What breaks the page's layout: the page wider than the window (only a table's box may
    scroll), a time or a clipped value on more than one line, a clipped value without its whole
    text on hover."""
    return list(
        await page.evaluate(
            """() => {
        const found = [];
        const root = document.documentElement;
        if (root.scrollWidth > window.innerWidth + 1) {
            const wide = [...document.querySelectorAll("body *")].filter(
                e => e.getBoundingClientRect().right > window.innerWidth + 1
                    && !e.closest(".table-scroll, pre")
            ).map(e => `${e.tagName}.${e.className}`);
            found.push(`page ${root.scrollWidth}px wide, window ${window.innerWidth}px: ${wide}`);
        }
        for (const el of document.querySelectorAll("main table .when, main table .clip")) {
            if (el.getClientRects().length !== 1)
                found.push(`${el.className} on several lines: ${el.textContent}`);
        }
        for (const el of document.querySelectorAll(".clip")) {
            if (el.title !== el.textContent) found.push(`clipped without title: ${el.textContent}`);
        }
        for (const table of document.querySelectorAll("main table")) {
            const box = table.closest(".table-scroll");
            if (!box) found.push(`table outside a .table-scroll: ${table.className}`);
        }
        return found;
    }"""
        )
    )


@asynccontextmanager
async def axe_page(
    browser: Browser, base_url: str, storage_state: StorageState, width: int
) -> AsyncIterator[Page]:
    """A page at `width` on which `axe_violations` can run: axe is injected as a script, which
    the panel's Content Security Policy would refuse, so its context bypasses the policy (as a
    bookmarklet could)."""
    context = await browser.new_context(
        base_url=base_url,
        storage_state=storage_state,
        bypass_csp=True,
        viewport={"width": width, "height": 900},
    )
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page (WCAG 2 A and AA, best practices)."""
    await page.add_script_tag(content=AXE.read_text())
    found = await page.evaluate(
        """async () => {
        const result = await axe.run(document, {resultTypes: ["violations"]});
        return result.violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" "))}));
    }"""
    )
    return list(found)
