"""`ses-gateway suppression`: add, list, remove, CSV import and export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import document

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HEADER = "address,tenant,reason,detail,created_at,expires_at"


@pytest.fixture
def cli(cli: Any) -> Any:
    """The command line, with tenant acme made."""
    assert cli("tenant", "create", "acme")[0] == 0
    return cli


def test_add_list_remove(cli: Any) -> None:
    added = document(
        cli,
        "suppression",
        "add",
        "Bob@Bücher.example",
        "--reason",
        "bounce",
        "--detail",
        "550 5.1.1 mailbox unknown",
        "--expires",
        "2099-01-01",
    )
    assert added["address"] == "bob@xn--bcher-kva.example"
    assert added["tenant"] is None
    assert added["reason"] == "bounce"
    assert added["expires_at"] == "2099-01-01T00:00:00+00:00"
    assert added["added"] is True
    again = document(cli, "suppression", "add", "BOB@xn--bcher-kva.example", "--tenant", "acme")
    assert (again["tenant"], again["reason"], again["added"]) == ("acme", "manual", True)
    replaced = document(cli, "suppression", "add", "bob@bücher.example", "--reason", "complaint")
    assert (replaced["id"], replaced["added"]) == (added["id"], False)
    assert set(replaced) == {
        "id",
        "tenant",
        "address",
        "reason",
        "detail",
        "created_at",
        "expires_at",
        "added",
    }

    listed = document(cli, "suppression", "list")["suppressions"]
    assert [(e["tenant"], e["reason"]) for e in listed] == [(None, "complaint"), ("acme", "manual")]
    assert len(document(cli, "suppression", "list", "--tenant", "acme")["suppressions"]) == 1
    assert document(cli, "suppression", "list", "--reason", "bounce")["suppressions"] == []
    status, out, _ = cli("suppression", "list")
    assert status == 0
    assert out.splitlines()[0].split() == [
        "ADDRESS",
        "TENANT",
        "REASON",
        "DETAIL",
        "CREATED_AT",
        "EXPIRES_AT",
    ]
    assert "(all)" in out

    status, out, _ = cli("suppression", "remove", "bob@bücher.example", "--tenant", "acme")
    assert (status, out.splitlines()) == (
        0,
        [
            "bob@xn--bcher-kva.example is no longer suppressed for tenant acme",
            "bob@xn--bcher-kva.example is still suppressed for every tenant here, so SES's "
            "account-level suppression list keeps it",
        ],
    )
    status, _, err = cli("suppression", "remove", "bob@bücher.example", "--tenant", "acme")
    assert status == 1
    assert "bob@xn--bcher-kva.example is not suppressed for tenant acme" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nobody",), "'nobody' is not a mail address: expected local-part@domain"),
        (("x@localhost",), "is not a valid mail address: domain 'localhost'"),
        (("x@example.org", "--tenant", "ghost"), "no tenant named 'ghost'"),
        (("x@example.org", "--expires", "soon"), "--expires 'soon' is not an ISO date"),
        (("x@example.org", "--expires", "2001-01-01"), "is in the past"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(
    cli: Any, args: tuple[str, ...], message: str
) -> None:
    status, out, _ = cli("suppression", "add", *args, "--json")
    assert status == 1
    assert message in json.loads(out)["error"]["message"]


def test_import_reports_bad_rows_then_export_round_trips(cli: Any, tmp_path: Path) -> None:
    source = tmp_path / "suppressions.csv"
    # Excel writes a byte order mark and CRLF line ends
    source.write_text(
        "\ufeff"
        + "\r\n".join(
            [
                HEADER,
                "a@example.org,,bounce,hard bounce,2026-01-17T08:00:00+00:00,",
                "b@example.org,acme,unsubscribe,list-unsubscribe,,2099-06-01",
                "bad row,,bounce,,,",
                "c@example.org,,nonsense,,,",
                "A@EXAMPLE.ORG,,complaint,,,",
            ]
        )
        + "\r\n",
        encoding="utf-8",
    )
    report = document(cli, "suppression", "import", str(source))
    assert report == {
        "added": 2,
        "updated": 1,
        "skipped": [
            {"line": 4, "error": "'bad row' is not a mail address: expected local-part@domain"},
            {
                "line": 5,
                "error": "unknown reason 'nonsense': use one of bounce, complaint, "
                "unsubscribe, manual",
            },
        ],
    }
    status, out, _ = cli("suppression", "import", str(source))
    assert status == 0
    assert out.splitlines()[:2] == [
        "added 0, updated 3, skipped 2",
        "line 4: 'bad row' is not a mail address: expected local-part@domain",
    ]

    exported = tmp_path / "out.csv"
    assert document(cli, "suppression", "export", str(exported)) == {
        "file": str(exported),
        "exported": 2,
    }
    rows = list(csv.DictReader(io.StringIO(exported.read_text(encoding="utf-8"))))
    assert [(r["address"], r["tenant"], r["reason"], r["expires_at"]) for r in rows] == [
        ("a@example.org", "", "complaint", ""),
        ("b@example.org", "acme", "unsubscribe", "2099-06-01T00:00:00+00:00"),
    ]
    status, stdout, _ = cli("suppression", "export", "--tenant", "acme")
    assert status == 0
    assert stdout.splitlines()[0] == HEADER
    assert [line.split(",")[0] for line in stdout.splitlines()[1:]] == ["b@example.org"]
    assert document(cli, "suppression", "export")["csv"] == exported.read_text(encoding="utf-8")

    for row in rows:
        scope = ("--tenant", row["tenant"]) if row["tenant"] else ()
        assert cli("suppression", "remove", row["address"], *scope)[0] == 0
    assert document(cli, "suppression", "import", str(exported)) == {
        "added": 2,
        "updated": 0,
        "skipped": [],
    }
    assert document(cli, "suppression", "export")["csv"] == exported.read_text(encoding="utf-8")


def test_import_of_a_missing_file_names_it(cli: Any, tmp_path: Path) -> None:
    status, _, err = cli("suppression", "import", str(tmp_path / "nope.csv"))
    assert status == 1
    assert f"cannot read {tmp_path / 'nope.csv'}: No such file or directory" in err
