"""A contact list in Chromium: a CSV file uploaded with its progress shown, the import's report,
its invalid rows downloaded, the list then deleted through the confirmation dialog."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.panel import add_tenant, confirm_in_dialog, form_with

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

RECORD_PROGRESS = """() => {
  const status = document.querySelector("#upload-status");
  const bar = document.querySelector("#upload-progress");
  const seen = [];
  new MutationObserver(() => {
    seen.push(`${status.textContent}|${bar.hidden ? "hidden" : "shown"}`);
    sessionStorage.setItem("upload-seen", JSON.stringify(seen));
  }).observe(status, { childList: true, characterData: true, subtree: true });
}"""
"""Keeps what the upload's status said in sessionStorage, which outlives the page's navigation
to the report (run through the DevTools protocol: no inline script under the CSP)."""


async def test_an_upload_shows_its_progress_then_the_report(admin: Page, tmp_path: Path) -> None:
    await add_tenant(admin, "umbrella")
    await admin.goto("/lists")
    form = form_with(admin, "Create list")
    await form.locator("[name=name]").fill("Newsletter")
    await form.locator("[name=tenant]").select_option("umbrella")
    await form.get_by_role("button").click()
    await expect(admin.get_by_role("status").first).to_have_text("Created the list Newsletter.")
    list_url = admin.url

    rows = [f"reader{n}@example.com,Reader {n},=1+{n}" for n in range(50_000)]
    rows[10] = "not an address,x,y"
    rows[20] = rows[19]
    upload = tmp_path / "readers.csv"
    upload.write_text("email,name,note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    await admin.evaluate(RECORD_PROGRESS)
    importing = form_with(admin, "Import")
    await importing.locator("input[type=file]").set_input_files(upload)
    await importing.get_by_role("button", name="Import", exact=True).click()
    await expect(admin).to_have_url(re.compile(r"/lists/\d+/imports/\d+$"), timeout=120_000)
    seen = await admin.evaluate("() => JSON.parse(sessionStorage.getItem('upload-seen'))")
    assert any(s.startswith("Uploading: ") and s.endswith("|shown") for s in seen), seen
    assert "Uploaded. Checking and importing the rows…|shown" in seen

    await expect(admin.locator("#count-rows")).to_have_text("50000")
    await expect(admin.locator("#count-added")).to_have_text("49998")
    await expect(admin.locator("#count-duplicates")).to_have_text("1")
    await expect(admin.locator("#count-invalid")).to_have_text("1")
    await expect(admin.get_by_role("row").filter(has_text="not an address")).to_contain_text("12")
    async with admin.expect_download() as waiting:
        await admin.get_by_role("link", name="Download the invalid rows (CSV)").click()
    download = await waiting.value
    saved = await download.path()
    assert saved is not None
    invalid = list(csv.reader(io.StringIO(Path(saved).read_text())))
    assert invalid[0] == ["line", "reason"]
    assert invalid[1][0] == "12"

    await admin.goto(list_url)
    await expect(admin.locator("main")).to_contain_text("49998 contacts: 49998 subscribed")
    await confirm_in_dialog(admin.locator("main"), "Delete this list")
    await expect(admin).to_have_url(re.compile(r"/lists$"))
    await expect(admin.get_by_role("link", name="Newsletter")).to_have_count(0)
