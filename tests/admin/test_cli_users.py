"""`ses-gateway user` and `ses-gateway apikey`."""

from __future__ import annotations

import json

from tests.conftest import Cli


def test_a_user_created_without_a_terminal_gets_a_password_printed_once(cli: Cli) -> None:
    status, out, _ = cli("user", "create", "Boss@Example.com", "--role", "admin", "--json")
    assert status == 0
    created = json.loads(out)
    assert created["email"] == "boss@example.com"
    assert created["role"] == "admin"
    assert len(created["password"]) == 32
    status, out, _ = cli("user", "list", "--json")
    assert [u["email"] for u in json.loads(out)["users"]] == ["boss@example.com"]
    assert "password" not in out


def test_roles_and_tenants_must_fit(cli: Cli) -> None:
    assert cli("tenant", "create", "acme")[0] == 0
    status, _, err = cli("user", "create", "o@acme.test", "--role", "owner")
    assert (status, "an owner belongs to one tenant" in err) == (1, True)
    status, _, err = cli("user", "create", "a@acme.test", "--role", "admin", "--tenant", "acme")
    assert (status, "give no tenant" in err) == (1, True)
    status, _, err = cli("user", "create", "o@acme.test", "--role", "owner", "--tenant", "nope")
    assert (status, "no tenant named 'nope'" in err) == (1, True)
    status, _, err = cli("user", "create", "not-an-email", "--role", "admin")
    assert (status, "is not an email address" in err) == (1, True)
    assert cli("user", "create", "o@acme.test", "--role", "owner", "--tenant", "acme")[0] == 0
    status, _, err = cli("user", "create", "O@acme.test", "--role", "viewer", "--tenant", "acme")
    assert (status, "already exists" in err) == (1, True)


def test_api_keys_are_created_listed_and_revoked(cli: Cli) -> None:
    cli("tenant", "create", "acme")
    status, out, _ = cli("apikey", "create", "--tenant", "acme", "--json")
    assert status == 0
    key = json.loads(out)
    assert key["key"].startswith(f"sgw_{key['prefix']}_")
    assert key["tenant"] == "acme"
    status, out, _ = cli("apikey", "create", "--admin", "--json")
    assert json.loads(out)["tenant"] is None
    status, _, err = cli("apikey", "create")
    assert (status, "--tenant NAME" in err) == (1, True)
    status, out, _ = cli("apikey", "list", "--json")
    listed = json.loads(out)["api_keys"]
    assert len(listed) == 2
    assert key["key"] not in out
    assert cli("apikey", "revoke", str(key["id"]))[0] == 0
    status, _, err = cli("apikey", "revoke", str(key["id"]))
    assert (status, "already revoked" in err) == (1, True)
