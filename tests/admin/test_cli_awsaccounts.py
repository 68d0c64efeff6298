"""`ses-gateway aws-account` and `tenant set --aws-account` through the real CLI, against moto's
STS and SES (each account's state apart): checked before stored, secrets never shown again."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from tests.conftest import Cli
from tests.support.motoaccounts import ALPHA, BETA, allow, iam_enforced, keys_in

ROLE = f"arn:aws:iam::{BETA}:role/ses-gateway"


@pytest.fixture
def moto(aws_env: pytest.MonkeyPatch, moto_server: str) -> str:
    aws_env.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


def given(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """What standard input (not a terminal) holds for the command."""
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def run(cli: Cli, *args: str) -> Any:
    status, out, err = cli(*args, "--json")
    assert status == 0, out + err
    return json.loads(out)


def add_keys(cli: Cli, monkeypatch: pytest.MonkeyPatch, moto: str, name: str) -> tuple[str, str]:
    key_id, secret = keys_in(moto, ALPHA, "gateway", allow("ses:*"))
    given(monkeypatch, secret + "\n")
    run(cli, "aws-account", "add", name, "--region", "eu-west-1", "--access-key-id", key_id)
    return key_id, secret


def test_an_account_is_added_checked_and_its_secret_never_shown(
    cli: Cli, moto: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key_id, secret = keys_in(moto, ALPHA, "gateway", allow("ses:*"))
    caplog.set_level(logging.DEBUG)  # every logger, at every level: from here on
    given(monkeypatch, secret + "\n")
    status, out, err = cli(
        "aws-account", "add", "alpha", "--region", "eu-west-1", "--access-key-id", key_id
    )
    assert status == 0, err
    assert out.startswith("added AWS account alpha: SES answered ")
    shown = [out]
    for args in (("list",), ("show", "alpha"), ("test", "alpha"), ("list", "--json")):
        status, out, err = cli("aws-account", *args)
        assert status == 0, err
        shown.append(out + err)
    document = run(cli, "aws-account", "show", "alpha")
    assert (document["kind"], document["access_key_id"], document["region"]) == (
        "keys",
        key_id,
        "eu-west-1",
    )
    assert document["checked_at"] is not None
    assert document["check_error"] is None
    activity = run(cli, "activity", "list")["activity"]
    assert [e["kind"] for e in activity] == ["aws_account.tested", "aws_account.added"]
    shown.append(json.dumps(activity))
    leaked = [r.name for r in caplog.records if secret in r.getMessage() + repr(r.__dict__)]
    assert leaked == []
    assert all(secret not in text for text in shown)


def test_a_role_is_added_with_its_external_id_kept_sealed(cli: Cli, moto: str) -> None:
    document = run(
        cli, "aws-account", "add", "beta", "--region", "us-east-1", "--role-arn", ROLE,
        "--external-id", "tenant-42",
    )  # fmt: skip
    assert (document["kind"], document["role_arn"], document["has_external_id"]) == (
        "role",
        ROLE,
        True,
    )
    assert "tenant-42" not in json.dumps(run(cli, "aws-account", "list"))


def test_an_account_that_fails_its_check_is_not_stored(
    cli: Cli, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = allow("ses:*", deny=("ses:GetAccount", "ses:GetSendQuota"))
    key_id, secret = keys_in(moto, ALPHA, "denied", policy)
    given(monkeypatch, secret + "\n")
    with iam_enforced(moto):
        status, out, err = cli(
            "aws-account", "add", "alpha", "--region", "eu-west-1", "--access-key-id", key_id
        )
    assert status == 1
    assert err.count("\n") == 1
    assert "may not call ses:Get" in err
    assert "allow ses:Get" in err
    assert secret not in out + err
    assert run(cli, "aws-account", "list") == {"aws_accounts": []}


def test_the_secret_is_never_taken_from_the_command_line(cli: Cli) -> None:
    with pytest.raises(SystemExit):
        cli("aws-account", "add", "a", "--region", "eu-west-1", "--secret-access-key", "s")


def test_an_empty_secret_is_refused(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    given(monkeypatch, "")
    status, _, err = cli(
        "aws-account",
        "add",
        "a",
        "--region",
        "eu-west-1",
        "--access-key-id",
        "AKIA1234567890123456",
    )
    assert (status, err.strip()) == (
        1,
        "ses-gateway: no secret access key was given (at the prompt or on standard input)",
    )


def test_tenants_move_between_accounts_and_an_account_in_use_stays(
    cli: Cli, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_keys(cli, monkeypatch, moto, "alpha")
    run(cli, "tenant", "create", "acme")
    moved = run(cli, "tenant", "set", "acme", "--aws-account", "alpha")
    assert moved["aws_account"] == "alpha"
    assert run(cli, "aws-account", "show", "alpha")["tenants"] == ["acme"]
    status, _, err = cli("aws-account", "remove", "alpha")
    assert status == 1
    assert "AWS account alpha is used by tenant acme: move it to another account first" in err
    assert run(cli, "tenant", "set", "acme", "--aws-account", "default")["aws_account"] == "default"
    run(cli, "aws-account", "remove", "alpha")
    assert run(cli, "aws-account", "list") == {"aws_accounts": []}
    kinds = [e["kind"] for e in run(cli, "activity", "list")["activity"]]
    assert kinds[:3] == ["aws_account.removed", "tenant.aws_account", "tenant.aws_account"]


def test_a_tenant_with_domains_is_not_moved(
    cli: Cli, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_keys(cli, monkeypatch, moto, "alpha")
    run(cli, "tenant", "create", "acme")
    run(cli, "domain", "add", "acme.example", "--tenant", "acme")
    status, _, err = cli("tenant", "set", "acme", "--aws-account", "alpha")
    assert status == 1
    assert "tenant acme has sending domains (acme.example)" in err
    assert "remove them (domain remove D --yes), move the tenant, then add them again" in err


def test_a_failed_test_is_recorded_and_exits_1(
    cli: Cli, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = allow("ses:*", deny=("ses:GetAccount", "ses:GetSendQuota"))
    key_id, secret = keys_in(moto, ALPHA, "later-denied", policy)
    given(monkeypatch, secret + "\n")
    run(cli, "aws-account", "add", "alpha", "--region", "eu-west-1", "--access-key-id", key_id)
    with iam_enforced(moto):  # the policy holds from now on
        status, _, err = cli("aws-account", "test", "alpha")
    assert status == 1
    assert "may not call ses:Get" in err
    shown = run(cli, "aws-account", "show", "alpha")
    assert shown["check_error"] == err.strip().removeprefix("ses-gateway: ")
    status, out, _ = cli("aws-account", "list")
    assert "failed" in out
    kinds = [e["kind"] for e in run(cli, "activity", "list")["activity"]]
    assert kinds[0] == "aws_account.tested"
