"""The data folder's lock: ordinary `serve` processes share it, `serve --dev` holds it alone.

`flock` locks belong to an open file, so two holds in one process conflict as two processes'
would (tests/admin/test_dev_domains.py has them as real processes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.core.exceptions import GatewayError
from gateway.runtime.datalock import LOCK_FILE, hold_data_dir


def test_ordinary_processes_share_the_folder(tmp_path: Path) -> None:
    with hold_data_dir(tmp_path, dev=False), hold_data_dir(tmp_path, dev=False):
        pass


@pytest.mark.parametrize(("first", "second"), [(True, True), (True, False), (False, True)])
def test_dev_holds_the_folder_alone(tmp_path: Path, first: bool, second: bool) -> None:
    with hold_data_dir(tmp_path, dev=first):
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(GatewayError) as refused, hold_data_dir(tmp_path, dev=second):
            pass
    said = str(refused.value)
    assert f"{tmp_path.resolve()} is in use by" in said
    assert f"(PID {os.getpid()})" in said
    assert "SES_GATEWAY_DATA_DIR" in said
    with hold_data_dir(tmp_path, dev=True):  # released with the first hold
        pass


def test_an_ordinary_process_runs_without_a_folder_it_can_make(tmp_path: Path) -> None:
    """As a read-only container (DATABASE_URL, SECRET_KEY and the certificate given) would."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with hold_data_dir(blocked / "data", dev=False):
        pass
    with pytest.raises(NotADirectoryError), hold_data_dir(blocked / "data", dev=True):
        pass
