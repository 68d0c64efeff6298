"""`ses-gateway list` and `ses-gateway contact`: lists, a CSV import with its report under
`--json`, contacts added, edited, listed, exported and removed, each change audited."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import document

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli(cli: Any) -> Any:
    """The command line, with tenant acme and its list `news` made."""
    assert cli("tenant", "create", "acme")[0] == 0
    assert cli("list", "create", "news", "--tenant", "acme")[0] == 0
    return cli


def test_import_reports_its_counts_under_json(cli: Any, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_bytes(
        "\ufeffemail;First Name\nann@example.com;Ann\nbad;x\nANN@example.com;Again\n".encode()
    )
    invalid = tmp_path / "invalid.csv"
    report = document(
        cli, "contact", "import", "news", str(source), "--tenant", "acme", "--invalid", str(invalid)
    )
    assert {k: report[k] for k in ("added", "updated", "duplicates", "invalid")} == {
        "added": 1,
        "updated": 0,
        "duplicates": 1,
        "invalid": 1,
    }
    assert (report["state"], report["rows"], report["filename"]) == ("done", 3, "people.csv")
    assert list(csv.reader(io.StringIO(invalid.read_text()))) == [
        ["line", "reason"],
        ["3", "'bad' is not a mail address: expected local-part@domain"],
    ]
    status, out, _ = cli("contact", "import", "news", str(source), "--tenant", "acme")
    assert status == 0
    assert out.splitlines() == [
        "import 2: 3 rows, added 0, updated 1, duplicates 1, invalid 1",
        "line 3: 'bad' is not a mail address: expected local-part@domain",
    ]


def test_a_refused_file_fails_with_its_reason(cli: Any, tmp_path: Path) -> None:
    source = tmp_path / "names.csv"
    source.write_text("name\nAnn\n")
    status, out, _ = cli("contact", "import", "news", str(source), "--tenant", "acme", "--json")
    assert status == 1
    message = json.loads(out)["error"]["message"]
    assert "no `email` column" in message
    assert "nothing was imported" in message
    assert document(cli, "list", "show", "news", "--tenant", "acme")["counts"]["total"] == 0


def test_contacts_added_edited_listed_exported_and_removed(cli: Any, tmp_path: Path) -> None:
    added = document(
        cli, "contact", "add", "news", "Eve@Bücher.example", "--tenant", "acme",
        "--field", "First Name=Eve", "--field", "plan==pro",
    )  # fmt: skip
    assert added["email"] == "eve@xn--bcher-kva.example"
    assert added["fields"] == {"first_name": "Eve", "plan": "=pro"}
    assert added["status"] == "subscribed"
    edited = document(
        cli, "contact", "edit", "news", "eve@bücher.example", "--tenant", "acme",
        "--unset", "plan", "--field", "city=Oslo", "--status", "unsubscribed",
    )  # fmt: skip
    assert edited["fields"] == {"first_name": "Eve", "city": "Oslo"}
    assert (edited["status"], edited["unsubscribed_how"]) == ("unsubscribed", "manual")
    listed = document(cli, "contact", "ls", "news", "--tenant", "acme", "--status", "unsubscribed")
    assert [c["email"] for c in listed["contacts"]] == ["eve@xn--bcher-kva.example"]
    exported = document(cli, "contact", "export", "news", "--tenant", "acme")
    assert exported["exported"] == 1
    rows = list(csv.DictReader(io.StringIO(exported["csv"])))
    assert (rows[0]["email"], rows[0]["city"], rows[0]["status"]) == (
        "eve@xn--bcher-kva.example",
        "Oslo",
        "unsubscribed",
    )
    target = tmp_path / "out.csv"
    assert document(cli, "contact", "export", "news", str(target), "--tenant", "acme") == {
        "file": str(target),
        "exported": 1,
    }
    shown = document(cli, "list", "show", "news", "--tenant", "acme")
    assert shown["counts"] == {"total": 1, "subscribed": 0, "unsubscribed": 1, "suppressed": 0}
    assert document(
        cli, "contact", "remove", "news", "eve@xn--bcher-kva.example", "--tenant", "acme"
    )
    status, _, err = cli("contact", "show", "news", "eve@xn--bcher-kva.example", "--tenant", "acme")
    assert (status, err.strip()) == (
        1,
        "ses-gateway: eve@xn--bcher-kva.example is not on this list",
    )
    audit = document(cli, "activity", "list", "--limit", "20")
    kinds = [entry["kind"] for entry in audit["activity"]]
    assert {"list.created", "contact.added", "contact.updated", "contact.removed"} <= set(kinds)


def test_lists_are_listed_and_deleted(cli: Any) -> None:
    assert cli("tenant", "create", "globex")[0] == 0
    document(cli, "list", "create", "other", "--tenant", "globex")
    assert [(x["tenant"], x["name"]) for x in document(cli, "list", "ls")["lists"]] == [
        ("acme", "news"),
        ("globex", "other"),
    ]
    assert [x["name"] for x in document(cli, "list", "ls", "--tenant", "globex")["lists"]] == [
        "other"
    ]
    status, out, _ = cli("list", "create", "news", "--tenant", "acme", "--json")
    assert (status, json.loads(out)["error"]["message"]) == (
        1,
        "a list named 'news' exists already",
    )
    assert document(cli, "list", "delete", "news", "--tenant", "acme")["name"] == "news"
    assert [x["name"] for x in document(cli, "list", "ls")["lists"]] == ["other"]
