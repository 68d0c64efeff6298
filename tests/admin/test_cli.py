"""The command line: every command with --json prints one document with stable keys."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from admin.cli import main


def test_tenant_create_and_list(cli: Any) -> None:
    status, out, _ = cli("tenant", "create", "acme", "--json")
    assert status == 0
    assert json.loads(out)["name"] == "acme"
    status, out, _ = cli("--json", "tenant", "list")
    assert [t["name"] for t in json.loads(out)["tenants"]] == ["acme"]
    status, out, _ = cli("tenant", "list")
    assert "acme" in out


def test_credential_create_prints_username_and_password_once(cli: Any) -> None:
    cli("tenant", "create", "acme")
    status, out, _ = cli(
        "credential", "create", "--tenant", "acme", "--description", "app", "--json"
    )
    created = json.loads(out)
    assert status == 0
    assert created["username"].startswith("gw")
    assert len(created["password"]) >= 32
    assert created["tenant"] == "acme"
    _, listed, _ = cli("credential", "list", "--json")
    [credential] = json.loads(listed)["credentials"]
    assert credential["username"] == created["username"]
    assert "password" not in credential
    assert created["password"] not in listed


def test_credential_revoke(cli: Any) -> None:
    cli("tenant", "create", "acme")
    _, out, _ = cli("credential", "create", "--tenant", "acme", "--json")
    credential_id = json.loads(out)["id"]
    status, out, _ = cli("credential", "revoke", str(credential_id), "--json")
    assert status == 0
    assert json.loads(out)["revoked_at"] is not None
    status, _, err = cli("credential", "revoke", "99")
    assert status == 1
    assert "no credential with id 99" in err


def test_refusals_exit_1_with_a_sentence(cli: Any) -> None:
    status, out, _ = cli("credential", "create", "--tenant", "ghost", "--json")
    assert status == 1
    assert json.loads(out) == {"error": {"message": "no tenant named 'ghost'"}}
    status, _, err = cli("message", "show", "NOPE")
    assert (status, err.strip()) == (1, "ses-gateway: no message with queue id 'NOPE'")


def test_bad_setting_exits_2_naming_it(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SES_GATEWAY_SMTP_PORT", "abc")
    status, _, err = cli("tenant", "list")
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("ses-gateway: SES_GATEWAY_SMTP_PORT: ")


def test_db_upgrade_and_current(cli: Any) -> None:
    _, out, _ = cli("db", "current", "--json")
    assert json.loads(out)["revision"] is None
    status, out, _ = cli("db", "upgrade", "--json")
    assert status == 0
    upgraded = json.loads(out)
    assert upgraded["revision"] == upgraded["head"]
    _, out, _ = cli("db", "current")
    assert "up to date" in out


def test_tenant_pause_and_resume(cli: Any) -> None:
    cli("tenant", "create", "acme")
    status, out, _ = cli("tenant", "pause", "acme", "--reason", "bounce rate 6%", "--json")
    assert (status, json.loads(out)["paused_reason"]) == (0, "bounce rate 6%")
    status, out, _ = cli("tenant", "resume", "acme", "--json")
    assert (status, json.loads(out)["paused_reason"]) == (0, None)
    status, _, err = cli("tenant", "pause", "acme", "--reason", " ")
    assert (status, err.strip()) == (
        1,
        "ses-gateway: give a reason for the pause: senders will read it",
    )


def test_credential_narrowed_and_paused(cli: Any) -> None:
    cli("tenant", "create", "acme")
    _, out, _ = cli(
        "credential",
        "create",
        "--tenant",
        "acme",
        "--allow",
        "Example.com",
        "--allow",
        "news@bücher.example",
        "--json",
    )
    created = json.loads(out)
    assert created["allow"] == ["example.com", "news@xn--bcher-kva.example"]
    status, out, _ = cli("credential", "pause", str(created["id"]), "--reason", "leaked", "--json")
    assert (status, json.loads(out)["paused_reason"]) == (0, "leaked")
    status, _, _ = cli("credential", "resume", str(created["id"]))
    assert status == 0
    status, _, err = cli("credential", "create", "--tenant", "acme", "--allow", "co.uk")
    assert status == 1
    assert "public suffix" in err


@pytest.mark.parametrize(
    "command",
    [
        ("credential", "list"),
        ("domain", "list"),
        ("address", "list"),
        ("activity", "list"),
        ("network", "list"),
        ("refusal", "count"),
    ],
)
def test_a_tenant_filter_must_name_a_tenant(cli: Any, command: tuple[str, str]) -> None:
    status, _, err = cli(*command, "--tenant", "nobody")
    assert (status, err.strip()) == (
        1,
        "ses-gateway: no tenant named 'nobody'",
    )


def test_network_add_refuses_a_network_wider_than_the_setting_allows(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("tenant", "create", "acme")
    status, _, err = cli("network", "add", "10.0.0.0/8", "--tenant", "acme")
    assert status == 1
    assert "10.0.0.0/8 is too wide to trust" in err
    assert "TRUSTED_IPV4_MIN_PREFIX" in err
    monkeypatch.setenv("SES_GATEWAY_TRUSTED_IPV4_MIN_PREFIX", "8")
    status, out, _ = cli("network", "add", "10.0.0.0/8", "--tenant", "acme", "--json")
    assert (status, json.loads(out)["cidr"]) == (0, "10.0.0.0/8")


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-per-second", "inf", "max_per_second must be a finite number more than 0"),
        ("--max-per-second", "nan", "max_per_second must be a finite number more than 0"),
        ("--max-per-second", "-1", "max_per_second must be a finite number more than 0"),
        ("--max-per-day", "1.5", "max_per_day must be a whole number more than 0"),
    ],
)
def test_a_limit_is_refused_as_the_api_and_the_panel_refuse_it(
    cli: Any, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    """`inf` and `nan` would switch the limit off; a bad argument exits 2 (argparse)."""
    cli("tenant", "create", "acme")
    with pytest.raises(SystemExit) as exited:
        cli("tenant", "set", "acme", flag, value)
    assert exited.value.code == 2
    assert f"argument {flag}: {message}" in capsys.readouterr().err
    _, out, _ = cli("tenant", "set", "acme", "--max-per-second", "2.5", "--max-per-day", "default")
    assert out.strip() == (
        "acme: max-per-second 2.5, max-per-day default, max-recipients default, "
        "max-connections default, max-size default"
    )


def test_a_command_outside_a_gateway_says_where_it_looked_and_makes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("SES_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert main(["tenant", "list"]) == 2
    said = capsys.readouterr().err
    assert f"{tmp_path / 'data'} does not exist" in said
    assert "SES_GATEWAY_DATA_DIR" in said
    assert "ses-gateway init" in said
    assert not (tmp_path / "data").exists()

    assert main(["--json", "init"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["data_dir"] == str(tmp_path / "data")
    assert made["created"] is True
    assert (tmp_path / "data" / "secret_key").is_file()
    assert main(["--json", "tenant", "list"]) == 0
    assert json.loads(capsys.readouterr().out) == {"tenants": []}
    assert main(["--json", "init"]) == 0  # again: nothing new
    assert json.loads(capsys.readouterr().out)["created"] is False


@pytest.mark.parametrize("name", ["-bad.com", "-news@example.com"])
def test_a_name_beginning_with_a_hyphen_is_refused_as_a_bad_name(cli: Any, name: str) -> None:
    status, out, err = cli("domain", "add", name, "--tenant", "acme")
    assert status == 2
    assert out == ""
    assert err.startswith(f"ses-gateway: {name}: not a valid domain name or address (")
    status, out, _ = cli("--json", "domain", "add", name, "--tenant", "acme")
    assert status == 2
    assert "not a valid domain name" in json.loads(out)["error"]["message"]


def test_a_negative_number_is_still_an_option_value(
    cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):  # argparse's own refusal: the value reached the option
        cli("tenant", "set", "acme", "--max-per-second", "-1.5")
    assert "max_per_second must be a finite number more than 0" in capsys.readouterr().err
