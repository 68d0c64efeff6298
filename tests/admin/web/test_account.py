"""Signing in and out, sessions, CSRF and the security headers, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from admin.security import CSP
from tests.support.site import LOGIN_TOKEN, PASSWORD, Site, csrf_token


async def test_signing_in_lands_on_the_page_asked_for(site: Site) -> None:
    email = await site.user("admin")
    browser = await site.browser()
    asked = await browser.get("/tenants")
    assert (asked.status_code, asked.headers["location"]) == (303, "/login?next=/tenants")
    login = await browser.get("/login?next=/tenants")
    token = LOGIN_TOKEN.search(login.text)
    assert token
    done = await browser.post(
        "/login?next=/tenants",
        data={"email": email.upper(), "password": PASSWORD, "login_token": token.group(1)},
    )
    assert (done.status_code, done.headers["location"]) == (303, "/tenants")
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert (await browser.get("/tenants")).status_code == 200


@pytest.mark.parametrize("target", ["//evil.test/", "https://evil.test/", "/\\evil.test"])
async def test_sign_in_never_redirects_to_another_site(site: Site, target: str) -> None:
    email = await site.user("admin")
    browser = await site.browser()
    token = LOGIN_TOKEN.search((await browser.get("/login")).text)
    assert token
    done = await browser.post(
        "/login",
        params={"next": target},
        data={"email": email, "password": PASSWORD, "login_token": token.group(1)},
    )
    assert done.headers["location"] == "/"


async def test_a_wrong_password_is_refused_without_saying_which_part(site: Site) -> None:
    email = await site.user("admin")
    browser = await site.browser()
    for who in (email, "nobody@people.test"):
        token = LOGIN_TOKEN.search((await browser.get("/login")).text)
        assert token
        refused = await browser.post(
            "/login", data={"email": who, "password": "wrong", "login_token": token.group(1)}
        )
        assert refused.status_code == 400
        assert "wrong email or password" in refused.text


async def test_logins_are_throttled_per_account(site: Site) -> None:
    email = await site.user("admin")
    browser = await site.browser()
    for _ in range(site.services.settings.auth_max_failures):
        token = LOGIN_TOKEN.search((await browser.get("/login")).text)
        assert token
        await browser.post(
            "/login", data={"email": email, "password": "wrong", "login_token": token.group(1)}
        )
    token = LOGIN_TOKEN.search((await browser.get("/login")).text)
    assert token
    throttled = await browser.post(
        "/login", data={"email": email, "password": PASSWORD, "login_token": token.group(1)}
    )
    assert throttled.status_code == 429
    assert "too many failed attempts" in throttled.text


async def test_the_login_form_needs_its_own_token(site: Site) -> None:
    email = await site.user("admin")
    browser = await site.browser()
    forged = await browser.post(
        "/login", data={"email": email, "password": PASSWORD, "login_token": "forged"}
    )
    assert forged.status_code == 403


async def test_a_form_without_the_session_token_is_refused(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    refused = await browser.post("/tenants", data={"name": "forged"})
    assert refused.status_code == 403
    assert "expired or came from another site" in refused.text
    wrong = await browser.post("/tenants", data={"name": "forged", "csrf_token": "x" * 32})
    assert wrong.status_code == 403
    listed = await browser.get("/tenants")
    assert "forged" not in listed.text


async def test_signing_out_ends_the_session_even_for_a_kept_cookie(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    kept = await site.browser()
    kept.cookies = httpx.Cookies(browser.cookies)
    assert (await kept.get("/tenants")).status_code == 200
    out = await site.post_form(browser, "/logout", {}, page="/tenants")
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert (await browser.get("/tenants")).status_code == 303
    assert (await kept.get("/tenants")).status_code == 303


async def test_a_password_change_ends_the_other_sessions(site: Site) -> None:
    email = await site.user("owner", "acme")
    here, elsewhere = await site.browser(email), await site.browser(email)
    wrong = await site.post_form(
        here,
        "/account",
        {"current_password": "nope", "new_password": "x" * 12, "repeat_password": "x" * 12},
    )
    assert wrong.status_code == 400
    assert "this is not your current password" in wrong.text
    short = await site.post_form(
        here,
        "/account",
        {"current_password": PASSWORD, "new_password": "short", "repeat_password": "short"},
    )
    assert "at least 12 characters" in short.text
    changed = await site.post_form(
        here,
        "/account",
        {
            "current_password": PASSWORD,
            "new_password": "a new long password",
            "repeat_password": "a new long password",
        },
    )
    assert changed.status_code == 303
    assert (await here.get("/account")).status_code == 200
    assert (await elsewhere.get("/account")).status_code == 303


async def test_every_answer_has_the_security_headers(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    for path in ("/login", "/tenants", "/api/v1/tenants", "/static/app.css", "/healthz"):
        response = await browser.get(path)
        assert response.headers["content-security-policy"] == CSP, path
        assert "unsafe-inline" not in CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"


async def test_pages_escape_what_users_typed(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    page = await site.post_form(browser, "/tenants", {"name": "<script>alert(1)</script>"})
    assert page.status_code == 400
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_the_csrf_token_is_tied_to_the_session(site: Site) -> None:
    one = await site.browser(await site.user("admin"))
    other = await site.browser(await site.user("admin"))
    token = csrf_token((await one.get("/tenants")).text)
    refused = await other.post("/tenants", data={"name": "crossed", "csrf_token": token})
    assert refused.status_code == 403


async def test_nul_characters_in_a_form_or_query_are_refused(site: Site) -> None:
    browser = await site.browser(await site.user("admin"))
    assert (await browser.get("/messages", params={"sender": "a\x00"})).status_code == 400
    refused = await site.post_form(browser, "/tenants", {"name": "a\x00b"})
    assert refused.status_code == 400
    assert "NUL" in refused.text
