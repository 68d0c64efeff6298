"""Regenerate the panel's screenshots (README.md and docs/ show them): `scripts/screenshots`
(or `.venv/bin/python -m scripts.screenshots` from the repository root).

Starts `ses-gateway serve --dev` (moto as SES, the mailbox simulator) in a temporary directory,
makes sample data the way an operator would (through the panel in headless Chromium, and mail
over SMTP to the SES mailbox simulator, whose deliveries, bounces and complaints come back as
events), then saves a PNG of each page into docs/images/ at two widths: `NAME.png` 1400 pixels
wide (a desktop) and `NAME-phone.png` 390 pixels wide. A page the panel does not have yet (404)
is skipped with a note on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, async_playwright

from tests.support.browser import DevPanel, launch, watched
from tests.support.panel import (
    add_domain,
    add_list,
    add_tenant,
    add_user,
    add_webhook,
    create_credential,
    sign_in,
    suppress,
    write_template,
)
from tests.support.process import Processes
from tests.support.webhookreceiver import Receiver

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = {"": {"width": 1400, "height": 900}, "-phone": {"width": 390, "height": 844}}
"""The suffix of each picture's name, and the window it is taken in."""

SIMULATOR = "simulator.amazonses.com"
MAIL = (
    ("success", "Your invoice #1042"),
    ("success", "Welcome to Acme"),
    ("success", "Password reset"),
    ("bounce", "Your order has shipped"),
    ("complaint", "Weekly newsletter"),
    ("ooto", "Meeting on Thursday"),
)
"""(mailbox simulator scenario, subject) of the sample messages."""

LAST_EVENT = {"success": "delivery", "bounce": "bounce", "complaint": "complaint", "ooto": "bounce"}


@dataclass(frozen=True)
class Shot:
    name: str
    path: str
    full_page: bool = False
    signed_in: bool = True


def log(message: str) -> None:
    print(f"[screenshots] {message}", file=sys.stderr, flush=True)


async def exists(page: Page, path: str) -> bool:
    """Whether the panel has the page at `path` (`page` goes there)."""
    response = await page.goto(path)
    return response is not None and response.status != 404


async def sample_data(panel: DevPanel, page: Page, receiver: Receiver) -> dict[str, str]:
    """Tenants, users, domains, credentials, a suppression, a webhook and mail with its events;
    the paths of the pages that show one of them."""
    await sign_in(page, panel.admin, panel.password)
    for tenant in ("acme", "globex"):
        await add_tenant(page, tenant)
    await add_user(page, "owner@acme.example", "owner", "acme")
    await add_user(page, "viewer@acme.example", "viewer", "acme")
    await add_domain(page, "example.com", "acme")  # verified when added (DEV_VERIFY_DELAY 0)
    await add_domain(page, "news.globex.example", "globex")
    await create_credential(page, "globex", "newsletter")
    username, password = await create_credential(page, "acme", "billing app")
    await suppress(page, "unsubscribed@example.net", "acme", "asked us to stop")
    paths = {"domain": "/domains/example.com"}
    if await exists(page, "/webhooks"):
        receiver.secret = await add_webhook(page, receiver.url, "acme")
        paths["webhook"] = await page.locator(".secret a").get_attribute("href") or "/webhooks"

    sent = {}
    for scenario, subject in MAIL:
        recipient = f"{scenario}@{SIMULATOR}"
        sent[subject] = await asyncio.to_thread(
            panel.send, username, password, "billing@example.com", recipient, subject
        )
    for scenario, subject in MAIL:
        pattern = rf"ses-event kind={LAST_EVENT[scenario]} .*queue_id={sent[subject]} "
        await asyncio.to_thread(panel.server.wait_for_log, pattern)
    log(f"sent {len(sent)} messages; their events arrived")
    paths["message"] = f"/messages/{sent['Meeting on Thursday']}"  # its auto-reply
    if await exists(page, "/campaigns/new"):
        paths |= await sample_campaign(page)
    return paths


async def sample_campaign(page: Page) -> dict[str, str]:
    """A template, two lists and a campaign to them, launched and sent to the mailbox
    simulator; the paths of its page, of its form and of a list's figures."""
    await write_template(
        page, "newsletter", "acme", "Acme news for {{name}}", 'Hello {{name | default("there")}}.'
    )
    people = {"customers": ("ann", "bob", "cy"), "partners": ("bob", "dee")}
    lists = {
        name: await add_list(
            page, name, "acme", {f"success+{p}@{SIMULATOR}": p.title() for p in who}
        )
        for name, who in people.items()
    }
    await page.goto("/campaigns/new?tenant=acme")
    await page.get_by_label("Name").fill("December newsletter")
    await page.get_by_label("Template").select_option("newsletter")
    for name in people:
        await page.get_by_role("checkbox", name=name).check()
    await page.get_by_label("From").fill("news@example.com")
    await page.get_by_role("button", name="Create the draft").click()
    campaign = urlsplit(page.url).path
    await page.get_by_role("button", name="Launch").click()
    await page.locator('td[data-figure="sent"]').filter(has_text="4").wait_for(timeout=60_000)
    log("sent the sample campaign")
    return {"campaign": campaign, "list-figures": urlsplit(lists["customers"]).path + "/figures"}


def shots(paths: dict[str, str]) -> list[Shot]:
    return [
        Shot("login", "/login", signed_in=False),
        Shot("dashboard", "/", full_page=True),
        Shot("domains", "/domains"),
        Shot("domain", paths["domain"], full_page=True),
        Shot("credentials", "/credentials"),
        Shot("messages", "/messages"),
        Shot("events", "/events"),
        Shot("message", paths["message"], full_page=True),
        Shot("suppressions", "/suppressions"),
        Shot("webhooks", "/webhooks"),
        *([Shot("webhook", paths["webhook"])] if "webhook" in paths else []),
        Shot("campaigns", "/campaigns"),
        Shot("campaign-new", "/campaigns/new?tenant=acme", full_page=True),
        *([Shot("campaign", paths["campaign"], full_page=True)] if "campaign" in paths else []),
        *([Shot("list-figures", paths["list-figures"])] if "list-figures" in paths else []),
        Shot("activity", "/activity"),
        Shot("settings", "/settings", full_page=True),
        Shot("tenants", "/tenants"),
        Shot("users", "/users"),
    ]


async def take(browser: Browser, panel: DevPanel, receiver: Receiver, out: Path) -> list[str]:
    """Every screenshot into `out`; the names of the pages missing from the panel."""
    async with watched(browser, panel.url) as context:
        paths = await sample_data(panel, await context.new_page(), receiver)
        state = await context.storage_state()
    missing = []
    for shot in shots(paths):
        async with watched(browser, panel.url, state if shot.signed_in else None) as context:
            page = await context.new_page()
            if not await exists(page, shot.path):
                missing.append(shot.name)
                log(f"skipped {shot.name}: the panel has no {shot.path} yet")
                continue
            for suffix, viewport in WIDTHS.items():
                await page.set_viewport_size(viewport)
                await page.reload()
                name = f"{shot.name}{suffix}.png"
                await page.screenshot(path=out / name, full_page=shot.full_page)
                log(f"saved {name} ({shot.path})")
    return missing


async def run(panel: DevPanel, receiver: Receiver, out: Path) -> list[str]:
    await receiver.start()
    try:
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            try:
                return await take(browser, panel, receiver, out)
            finally:
                await browser.close()
    finally:
        await receiver.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "images", help="default: docs/images"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ses-gateway-screenshots-") as temporary:
        directory = Path(temporary)
        processes = Processes(directory)
        # The webhook receiver: HTTPS on loopback, with a certificate of a throwaway CA.
        receiver = Receiver(directory / "receiver")
        try:
            panel = DevPanel.start(
                processes,
                directory / "gw",
                webhook_allow_private="true",
                webhook_ca_file=receiver.ca_file,
                # A campaign's unsubscribe links need an https address (never visited here).
                public_url="https://gateway.example",
            )
            log(f"serve --dev at {panel.url}")
            missing = asyncio.run(run(panel, receiver, args.out))
        finally:
            processes.close()
    if missing:
        log(f"pages not in the panel yet: {', '.join(missing)}")


if __name__ == "__main__":
    main()
