"""The database goes away under load: clients get `451` with an enhanced code, never a `250` for
a message that was not stored, and the gateway resumes by itself when the database is back.

The short versions of the campaigns `bench/faults.py postgres-restart` and `disk-full`
(tests/support/faults.py): PostgreSQL crashed (`pg_ctl stop -m immediate`) and started again
after two seconds; SQLite's data directory on a small tmpfs, filled to the last byte, then
freed (skipped where a tmpfs cannot be mounted: it needs root). Figures printed with `-s`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.intake.replies import DATABASE_UNAVAILABLE, STORE_FAILED
from tests.support.faults import FaultUnavailable, OutageReport, database_outages

pytestmark = pytest.mark.slow


def check(report: OutageReport) -> None:
    print(f"\n{report.summary()}")
    assert not report.failures()
    assert report.lost == []
    assert len(report.resumed) == 1  # a 250 again after the fault, and no restart
    # What a client may hear while the database is gone: the message was not stored, or a
    # check before DATA could not read the database (and AUTH's own limits).
    allowed = {str(STORE_FAILED), str(DATABASE_UNAVAILABLE)}
    assert {r for r in report.replies if r.startswith("451")} <= allowed
    assert str(STORE_FAILED) in report.replies


def test_postgresql_crash_and_restart_under_load(tmp_path: Path) -> None:
    check(database_outages(tmp_path, "postgresql", down=2, between=1))


def test_sqlite_disk_full_under_load(tmp_path: Path) -> None:
    try:
        report = database_outages(tmp_path, "disk-full", down=2, between=1)
    except FaultUnavailable as exc:
        pytest.skip(str(exc))
    check(report)
    # The disk is full: one line says so, no traceback.
    assert report.tracebacks == 0, report.traceback
