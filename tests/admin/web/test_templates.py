"""The Templates pages: create (typed or uploaded HTML, sanitised), edit, preview with given
fields or a contact's in a sandboxed frame under its own policy, a test send, delete with
confirmation; viewers look only."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import httpx

from gateway.core.types.messages import MessageStatus
from gateway.storage import contacts as contact_store
from gateway.storage import queue
from gateway.storage import templates as store
from tests.conftest import add_verified_domain
from tests.support.messages import SEALER
from tests.support.site import Site, csrf_token

QUEUED = re.compile(r"Test message queued as (\w+)\.")
HTML = '<h1>Hi {{name | default("there")}}</h1><p>At {{company}}</p><script>alert(1)</script>'


async def _queued(site: Site, browser: httpx.AsyncClient, sent: httpx.Response) -> MessageStatus:
    """The message a test send queued, as the page it redirects to names it."""
    assert sent.status_code == 303
    queued = QUEUED.search((await browser.get(sent.headers["location"])).text)
    assert queued
    return await queue.message_status(site.db, SEALER, queued.group(1))


async def test_an_owner_creates_previews_tests_and_deletes_a_template(site: Site) -> None:
    acme = await site.tenant("acme")
    await add_verified_domain(site.db, acme, "acme.test")
    browser = await site.browser(await site.user("owner", "acme"))
    assert "No templates yet." in (await browser.get("/templates")).text
    created = await site.post_form(
        browser,
        "/templates/new",
        {"name": "welcome", "subject": "Hi {{name}}", "html": HTML, "text": ""},
    )
    assert created.status_code == 303, created.text
    [template] = await store.list_templates(site.db, "acme")
    assert created.headers["location"] == f"/templates/{template.id}"
    assert template.html == '<h1>Hi {{name | default("there")}}</h1><p>At {{company}}</p>'
    editor = await browser.get(f"/templates/{template.id}")
    assert "&lt;h1&gt;Hi {{name | default(&#34;there&#34;)}}&lt;/h1&gt;" in editor.text
    assert '<script src="/static/vendor/quill/quill.js" defer></script>' in editor.text

    preview = f"/templates/{template.id}/preview"
    missing = await browser.get(preview, params={"var_name": "Bo"})
    assert "no value and no default for company" in missing.text
    assert "<iframe" not in missing.text
    shown = await browser.get(preview, params={"var_name": "<Bo>", "var_company": "A&B"})
    assert "Hi &lt;Bo&gt;" in shown.text  # the subject, escaped by the page
    frame = f"/templates/{template.id}/frame?var_name=%3CBo%3E&amp;var_company=A%26B"
    assert f'<iframe class="preview" title="The HTML part, rendered" sandbox src="{frame}">' in (
        shown.text
    )
    rendered = await browser.get(html.unescape(frame))
    assert rendered.text == "<h1>Hi &lt;Bo&gt;</h1><p>At A&amp;B</p>"
    policy = rendered.headers["content-security-policy"]
    assert policy.startswith("sandbox; default-src 'none';")
    assert "script-src" not in policy
    assert "frame-ancestors 'self'" in policy
    assert rendered.headers["x-frame-options"] == "SAMEORIGIN"

    token = csrf_token(shown.text)
    form = {"csrf_token": token, "var_name": "Bo", "var_company": "Acme"}
    sent = await browser.post(
        f"/templates/{template.id}/test",
        data={**form, "to": "bo@customer.test", "from": "news@acme.test"},
    )
    status = await _queued(site, browser, sent)
    assert (status.subject, status.recipients[0].address) == ("Hi Bo", "bo@customer.test")
    refused = await browser.post(
        f"/templates/{template.id}/test",
        data={**form, "to": "bo@customer.test", "from": "x@other.test"},
    )
    assert (
        "Not sent: refused (sender-unknown)"
        in (await browser.get(refused.headers["location"])).text
    )

    edited = await site.post_form(
        browser,
        f"/templates/{template.id}",
        {
            "name": "hello",
            "subject": "Yo {{ name | default('you') }}",
            "html": "<p>{{company}}</p>",
            "text": "T",
        },
    )
    assert edited.status_code == 303
    changed = await store.get_template(site.db, template.id)
    assert (changed.name, changed.subject, changed.text) == (
        "hello",
        "Yo {{ name | default('you') }}",
        "T",
    )
    broken = await site.post_form(
        browser,
        f"/templates/{template.id}",
        {"name": "hello", "subject": "s", "html": "<p>{{ x() }}</p>"},
    )
    assert broken.status_code == 400
    assert "is not a variable" in broken.text

    asked = await site.post_form(
        browser, f"/templates/{template.id}/remove", {}, f"/templates/{template.id}"
    )
    assert "Delete the template hello?" in asked.text
    removed = await site.post_form(
        browser,
        f"/templates/{template.id}/remove",
        {"confirmed": "yes"},
        f"/templates/{template.id}",
    )
    assert removed.status_code == 303
    assert await store.list_templates(site.db) == []


async def test_an_uploaded_html_file_replaces_the_typed_html(site: Site) -> None:
    browser = await site.browser(await site.user("owner", "acme"))
    page = await browser.get("/templates/new")
    created = await browser.post(
        "/templates/new",
        data={
            "csrf_token": csrf_token(page.text),
            "name": "up",
            "subject": "s",
            "html": "<p>typed</p>",
        },
        files={
            "html_file": (
                "mail.html",
                b'<p onclick="x()">uploaded {{name}}</p>',
                "text/html",
            )
        },
    )
    assert created.status_code == 303, created.text
    [template] = await store.list_templates(site.db, "acme")
    assert template.html == "<p>uploaded {{name}}</p>"


async def test_a_viewer_looks_but_does_not_change(site: Site) -> None:
    acme = await site.tenant("acme")
    now = datetime.now(UTC)
    template_id = await store.add_template(site.db, acme, "t", "s", "<p>x</p>", None, now)
    browser = await site.browser(await site.user("viewer", "acme"))
    page = await browser.get(f"/templates/{template_id}")
    assert page.status_code == 200
    assert "Save</button>" not in page.text
    refused = await browser.post(
        f"/templates/{template_id}",
        data={
            "csrf_token": csrf_token(page.text),
            "name": "t",
            "subject": "changed",
            "html": "<p>y</p>",
        },
    )
    assert refused.status_code == 403
    assert (await store.get_template(site.db, template_id)).subject == "s"


async def test_a_preview_and_a_test_send_as_a_contact(site: Site) -> None:
    acme = await site.tenant("acme")
    await add_verified_domain(site.db, acme, "acme.test")
    news = await contact_store.create_list(site.db, acme, "news", datetime.now(UTC))
    vip = await contact_store.create_list(site.db, acme, "vip", datetime.now(UTC))
    fields = {"name": "<Eve>", "company": "E&Co"}
    for found, given in ((news, fields), (vip, {})):
        await contact_store.add_contact(
            site.db, acme, found.id, "eve@example.org", given, datetime.now(UTC)
        )
    await store.add_template(
        site.db, acme, "t", "Hi {{name}}", "<p>{{name}} of {{company}}</p>", None, datetime.now(UTC)
    )
    [template] = await store.list_templates(site.db, "acme")
    browser = await site.browser(await site.user("owner", "acme"))
    preview = f"/templates/{template.id}/preview"

    page = (await browser.get(preview)).text
    assert 'name="contact" type="email"' in page
    assert '<option value="vip">vip</option>' in page
    twice = await browser.get(preview, params={"contact": "eve@example.org"})
    assert "is on 2 lists: name one of &#39;news&#39;, &#39;vip&#39;" in twice.text
    shown = await browser.get(preview, params={"contact": "eve@example.org", "list": "news"})
    assert "Hi &lt;Eve&gt;" in shown.text
    frame = f"/templates/{template.id}/frame?contact=eve%40example.org&amp;list=news"
    assert f'sandbox src="{frame}"' in shown.text
    assert (await browser.get(html.unescape(frame))).text == "<p>&lt;Eve&gt; of E&amp;Co</p>"
    assert '<input type="hidden" name="contact" value="eve@example.org">' in shown.text
    absent = await browser.get(preview, params={"contact": "nobody@example.org"})
    assert "nobody@example.org is on no list of tenant acme" in absent.text

    token = csrf_token(shown.text)
    form = {"csrf_token": token, "contact": "eve@example.org", "list": "news"}
    sent = await browser.post(
        f"/templates/{template.id}/test",
        data={**form, "to": "me@customer.test", "from": "news@acme.test"},
    )
    assert sent.headers["location"] == f"{preview}?contact=eve%40example.org&list=news"
    status = await _queued(site, browser, sent)
    assert (status.subject, status.recipients[0].address) == ("Hi <Eve>", "me@customer.test")
