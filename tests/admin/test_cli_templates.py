"""`ses-gateway template`: create, list, show, edit, preview, test, delete, each with `--json`;
refusals say why; every change is in the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import document, refused

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HTML = '<h1>Hi {{name | default("there")}}</h1><p>At {{company}}</p><script>alert(1)</script>'


@pytest.fixture
def cli(cli: Any) -> Any:
    """The command line, with tenant acme made."""
    assert cli("tenant", "create", "acme")[0] == 0
    return cli


@pytest.fixture
def html_file(tmp_path: Path) -> Path:
    path = tmp_path / "welcome.html"
    path.write_text(HTML, encoding="utf-8")
    return path


def test_create_list_show_preview_edit_delete(cli: Any, html_file: Path, tmp_path: Path) -> None:
    created = document(
        cli, "template", "create", "welcome", "--tenant", "acme",
        "--subject", "Welcome, {{name}}", "--html-file", str(html_file),
    )  # fmt: skip
    assert created["html"] == '<h1>Hi {{name | default("there")}}</h1><p>At {{company}}</p>'
    assert (created["tenant"], created["text"], created["variables"]) == (
        "acme",
        None,
        ["name", "company"],
    )
    assert [t["name"] for t in document(cli, "template", "ls")["templates"]] == ["welcome"]
    assert "welcome" in cli("template", "list", "--tenant", "acme")[1]
    shown = cli("template", "show", "welcome", "--tenant", "acme")[1]
    assert "required: name, company" in shown
    assert "(made from the HTML)" in shown

    previewed = document(
        cli, "template", "preview", "welcome", "--tenant", "acme",
        "--var", "name=<Bo>", "--var", "company=A&B",
    )  # fmt: skip
    assert previewed == {
        "subject": "Welcome, <Bo>",
        "html": "<h1>Hi &lt;Bo&gt;</h1><p>At A&amp;B</p>",
        "text": "Hi <Bo>\n\nAt A&B\n",
    }
    says = refused(cli, "template", "preview", "welcome", "--tenant", "acme", "--var", "name=x")
    assert "no value and no default for company" in says

    text_file = tmp_path / "welcome.txt"
    text_file.write_text("Dear {{name|default('friend')}} of {{company}}", encoding="utf-8")
    edited = document(
        cli, "template", "edit", "welcome", "--tenant", "acme", "--rename", "hello",
        "--subject", 'Hello {{name | default("you")}}', "--text-file", str(text_file),
    )  # fmt: skip
    assert (edited["name"], edited["text"]) == (
        "hello",
        "Dear {{name|default('friend')}} of {{company}}",
    )
    previewed = document(
        cli, "template", "preview", "hello", "--tenant", "acme", "--var", "company=Acme"
    )
    assert (previewed["subject"], previewed["text"]) == ("Hello you", "Dear friend of Acme")
    assert document(cli, "template", "delete", "hello", "--tenant", "acme")["name"] == "hello"
    assert document(cli, "template", "ls")["templates"] == []
    audit = document(cli, "activity", "list", "--tenant", "acme")["activity"]
    kinds = [e["kind"] for e in audit if e["kind"].startswith("template.")]
    assert sorted(kinds) == ["template.created", "template.deleted", "template.updated"]


def test_refusals_say_why(cli: Any, html_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<p>{{ user.name }}</p>", encoding="utf-8")
    latin = tmp_path / "latin.html"
    latin.write_bytes("<p>café</p>".encode("latin-1"))
    create = ("template", "create", "t", "--tenant", "acme", "--subject", "s", "--html-file")
    assert "html, line 1: {{ user.name }} is not a variable" in refused(cli, *create, str(bad))
    assert "not UTF-8" in refused(cli, *create, str(latin))
    assert "No such file" in refused(cli, *create, str(tmp_path / "none.html"))
    assert "no tenant named 'nobody'" in refused(
        cli, "template", "create", "t", "--tenant", "nobody", "--subject", "s",
        "--html-file", str(html_file),
    )  # fmt: skip
    document(cli, *create, str(html_file))
    assert "exists already" in refused(cli, *create, str(html_file))
    assert "no template named 'nope'" in refused(
        cli, "template", "show", "nope", "--tenant", "acme"
    )
    assert "write NAME=VALUE" in refused(
        cli, "template", "preview", "t", "--tenant", "acme", "--var", "name"
    )
    says = refused(
        cli, "template", "test", "t", "--tenant", "acme", "--to", "a@x.test",
        "--from", "me@unknown.test", "--var", "company=x",
    )  # fmt: skip
    assert "refused (sender-unknown)" in says


def test_preview_with_a_contacts_fields(cli: Any, html_file: Path) -> None:
    document(
        cli, "template", "create", "welcome", "--tenant", "acme",
        "--subject", "For {{email}}", "--html-file", str(html_file),
    )  # fmt: skip
    for name in ("news", "vip"):
        document(cli, "list", "create", name, "--tenant", "acme")
    document(
        cli, "contact", "add", "news", "Eve@Example.org", "--tenant", "acme",
        "--field", "Name=<Eve>", "--field", "company=News & Co",
    )  # fmt: skip
    preview = ("template", "preview", "welcome", "--tenant", "acme", "--contact")
    previewed = document(cli, *preview, "eve@example.org")
    assert previewed["subject"] == "For eve@example.org"
    assert previewed["html"] == "<h1>Hi &lt;Eve&gt;</h1><p>At News &amp; Co</p>"
    overridden = document(cli, *preview, "EVE@example.org", "--var", "company=Given")
    assert overridden["text"] == "Hi <Eve>\n\nAt Given\n"

    document(cli, "contact", "add", "vip", "eve@example.org", "--tenant", "acme")
    says = refused(cli, *preview, "eve@example.org")
    assert says == "eve@example.org is on 2 lists: name one of 'news', 'vip'"
    on_vip = refused(cli, *preview, "eve@example.org", "--list", "vip")
    assert "no value and no default for company" in on_vip
    on_news = document(cli, *preview, "eve@example.org", "--list", "news")
    assert on_news == previewed

    assert "on no list of tenant acme" in refused(cli, *preview, "nobody@example.org")
    assert "no list named 'none'" in refused(cli, *preview, "eve@example.org", "--list", "none")
    assert "name the contact too" in refused(
        cli, "template", "preview", "welcome", "--tenant", "acme", "--list", "news"
    )
    # Another tenant's contact is not found, even when the address is the same.
    cli("tenant", "create", "globex")
    document(cli, "list", "create", "theirs", "--tenant", "globex")
    document(cli, "contact", "add", "theirs", "zed@example.org", "--tenant", "globex")
    assert "on no list of tenant acme" in refused(cli, *preview, "zed@example.org")
    assert "no list named 'theirs'" in refused(cli, *preview, "zed@example.org", "--list", "theirs")
