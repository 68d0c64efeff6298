"""Reading the command line's `--json` answers in tests: the document of a command that
succeeded, the error message of one that was refused."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Cli


def document(cli: Cli, *args: str) -> Any:
    """The `--json` document of a command that must succeed."""
    status, out, err = cli(*args, "--json")
    assert status == 0, err or out
    return json.loads(out)


def refused(cli: Cli, *args: str) -> str:
    """The error message of a command that must be refused (exit status 1)."""
    status, out, _ = cli(*args, "--json")
    assert status == 1, out
    return str(json.loads(out)["error"]["message"])
