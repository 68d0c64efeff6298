"""The panel's lists: create, import a CSV upload (spooled, never read whole) to its report,
the invalid rows and the export as CSV downloads, a contact added with the form, edited and
removed, the list searched by address and status, and tenants' people kept to their own
lists."""

from __future__ import annotations

import csv
import html
import io
import re

from gateway.storage import activity
from tests.support.site import Site, csrf_token


async def test_an_owner_imports_a_file_and_reads_its_report(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    created = await site.post_form(browser, "/lists", {"name": "Customers"})
    assert created.status_code == 303, created.text
    list_url = created.headers["location"]
    page = await browser.get(list_url)
    assert "Customers" in page.text
    assert 'data-upload="#upload-progress"' in page.text
    assert '<script src="/static/upload.js" defer></script>' in page.text

    rows = [f"person{n}@example.com;P{n};=SUM(A{n})" for n in range(60_000)]
    upload = ("email;name;note\n" + "\n".join(rows) + "\nbroken;x;y\n").encode()
    assert len(upload) > 2_000_000  # more than Starlette keeps in memory (1 MB): on disk
    answer = await browser.post(
        f"{list_url}/import",
        data={"csrf_token": csrf_token(page.text)},
        files={"file": ("customers.csv", upload, "text/csv")},
    )
    assert answer.status_code == 303, answer.text
    report_url = answer.headers["location"]
    assert report_url.startswith(f"{list_url}/imports/")
    report = await browser.get(report_url)
    assert 'id="count-added">60000<' in report.text
    assert 'id="count-invalid">1<' in report.text
    assert "60002" in report.text  # the invalid row's line
    invalid = await browser.get(f"{report_url}/invalid")
    assert invalid.headers["content-disposition"].startswith("attachment")
    assert list(csv.reader(io.StringIO(invalid.text)))[1][0] == "60002"

    export = await browser.get(f"{list_url}/export", params={"search": "person59999@"})
    [header, row] = list(csv.reader(io.StringIO(export.text)))
    assert header[:2] == ["email", "status"]
    assert dict(zip(header, row, strict=True))["note"] == "'=SUM(A59999)"

    contact_url = f"{list_url}/contacts/person7@example.com"
    contact = await browser.get(contact_url)
    assert "name: P7" in contact.text
    saved = await site.post_form(
        browser, contact_url, {"fields": "name: Seven\ncity: Oslo", "status": "unsubscribed"}
    )
    assert saved.status_code == 303, saved.text
    shown = await browser.get(contact_url)
    assert "city: Oslo" in shown.text
    assert "note:" not in shown.text
    assert "(manual)" in shown.text
    removed = await site.post_form(
        browser, f"{contact_url}/remove", {"confirmed": "yes"}, page=contact_url
    )
    assert removed.status_code == 303
    assert (await browser.get(contact_url)).status_code == 404

    kinds = {e.kind for e in await activity.list_activity(site.db, limit=50)}
    assert {"list.created", "contacts.imported", "contact.updated", "contact.removed"} <= kinds


async def test_a_refused_file_shows_why_and_imports_nothing(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    list_url = (await site.post_form(browser, "/lists", {"name": "L"})).headers["location"]
    page = await browser.get(list_url)
    answer = await browser.post(
        f"{list_url}/import",
        data={"csrf_token": csrf_token(page.text)},
        files={"file": ("latin1.csv", "email\ncafé@example.com\n".encode("latin-1"), "text/csv")},
    )
    report = await browser.get(answer.headers["location"])
    assert "The file was refused" in report.text
    assert "not UTF-8 text (line 2" in report.text
    assert "0 contacts" in (await browser.get(list_url)).text


async def test_an_upload_without_the_csrf_token_is_refused(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    list_url = (await site.post_form(browser, "/lists", {"name": "L"})).headers["location"]
    answer = await browser.post(
        f"{list_url}/import", files={"file": ("a.csv", b"email\na@example.com\n", "text/csv")}
    )
    assert answer.status_code == 403
    assert "0 contacts" in (await browser.get(list_url)).text


async def test_a_viewer_sees_the_list_but_cannot_change_it(site: Site) -> None:
    owner = await site.browser(await site.user("owner", "acme"))
    list_url = (await site.post_form(owner, "/lists", {"name": "L"})).headers["location"]
    viewer = await site.browser(await site.user("viewer", "acme"))
    page = await viewer.get(list_url)
    assert page.status_code == 200
    assert "Import a CSV file" not in page.text
    refused = await viewer.post(
        f"{list_url}/import",
        data={"csrf_token": csrf_token(page.text)},
        files={"file": ("a.csv", b"email\na@example.com\n", "text/csv")},
    )
    assert refused.status_code == 403


def _rows(html: str) -> list[str]:
    """The addresses of the contacts' table, in order."""
    return re.findall(r'<td class="mono"><a href="/lists/\d+/contacts/[^"]+">([^<]+)</a>', html)


async def test_an_owner_adds_contacts_one_at_a_time_and_searches_them(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    list_url = (await site.post_form(browser, "/lists", {"name": "L"})).headers["location"]
    fields = "First Name: Ann\ncompany: Acme\n"
    added = await site.post_form(
        browser, list_url, {"email": "Ann@Bücher.example", "fields": fields}
    )
    assert added.status_code == 303, added.text
    assert added.headers["location"] == list_url
    page = await browser.get(list_url)
    assert "Added ann@xn--bcher-kva.example." in page.text
    assert _rows(page.text) == ["ann@xn--bcher-kva.example"]
    ann = await browser.get(f"{list_url}/contacts/ann%40xn--bcher-kva.example")
    assert "first_name: Ann" in ann.text
    assert "company: Acme" in ann.text
    bob = await site.post_form(browser, list_url, {"email": "bob@example.com", "fields": ""})
    assert bob.status_code == 303, bob.text

    for form, error in (
        ({"email": "ANN@bücher.example"}, "ann@xn--bcher-kva.example is on this list already"),
        ({"email": "not-an-address"}, "is not a mail address"),
        ({"email": "cy@example.com", "fields": "no colon"}, "line 1 of the fields: write name"),
        ({"email": "cy@example.com", "fields": "status: x"}, "is not a field of its own"),
    ):
        refused = await site.post_form(browser, list_url, form)
        assert refused.status_code == 400, form
        assert error in html.unescape(refused.text), form
        assert f'value="{form["email"]}"' in refused.text, "the form keeps what was typed"
    assert "2 contacts: 2 subscribed" in (await browser.get(list_url)).text

    await site.post_form(
        browser, f"{list_url}/contacts/bob%40example.com", {"fields": "", "status": "unsubscribed"}
    )
    newest_first = await browser.get(list_url)
    assert _rows(newest_first.text) == ["bob@example.com", "ann@xn--bcher-kva.example"]
    found = await browser.get(list_url, params={"search": "XN--BCHER"})
    assert _rows(found.text) == ["ann@xn--bcher-kva.example"]
    assert f'href="{list_url}/export?search=XN--BCHER"' in found.text, "the export keeps it"
    unsubscribed = await browser.get(list_url, params={"status": "unsubscribed"})
    assert _rows(unsubscribed.text) == ["bob@example.com"]
    both = await browser.get(list_url, params={"search": "example", "status": "subscribed"})
    assert _rows(both.text) == ["ann@xn--bcher-kva.example"]
    nothing = await browser.get(list_url, params={"search": "zed"})
    assert _rows(nothing.text) == []
    assert "No contact matches these filters." in nothing.text
    unknown = await browser.get(list_url, params={"status": "gone"})
    assert unknown.status_code == 400
    assert "unknown status &#39;gone&#39;" in unknown.text
