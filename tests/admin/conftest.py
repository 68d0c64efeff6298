"""The command line in process, on a fresh database and data folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from admin.cli import main

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """`cli("tenant", "list")` runs `ses-gateway` in process: (exit status, stdout, stderr).
    No SES_GATEWAY_* variable of the caller's environment, and no stray `.env`, gets in."""
    for name in list(os.environ):
        if name.startswith("SES_GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SES_GATEWAY_DATABASE_URL", database_url)
    monkeypatch.setenv("SES_GATEWAY_DATA_DIR", str(tmp_path / "data"))

    def run(*args: str) -> tuple[int, str, str]:
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err

    return run
