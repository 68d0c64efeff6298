"""`kill -9` of the gateway under load, again and again, loses no message that a client saw
`250` for, and sends twice only what the dead process held.

The short version of the campaign `bench/faults.py kill9` (tests/support/faults.py): the
gateway (`serve --role smtp --role worker`) is killed twice while clients send and the
fake SES answers each send after a moment, and started again each time. Each crash's figures
are printed (`-s`): what the dead process held, what it had sent that was sent again, and how
long until another process took its messages over (a short lease here: 2 s).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults import kill_cycles

pytestmark = pytest.mark.slow

CYCLES = 2
LEASE = 2.0


def test_kill_9_cycles_under_load_lose_nothing(tmp_path: Path, database_url: str) -> None:
    sqlite = database_url.startswith("sqlite")
    report = kill_cycles(tmp_path, None if sqlite else database_url, CYCLES, lease=LEASE)
    print(f"\n{report.summary()}")
    assert not report.failures()
    assert report.accepted > 0
    assert report.lost == []
    assert len(report.crashes) == CYCLES
    for crash in report.crashes:
        assert crash.held, "no send was in flight at the kill"
        assert crash.duplicates <= len(crash.held)
        # Taken over once the lease ran out after the restart (which takes seconds here).
        assert crash.recovery is not None
        assert crash.recovery < LEASE + 30
    # Sent twice: only messages held by a dead process, each at most once per crash.
    assert report.unexplained == {}
    assert report.sends == report.committed + report.duplicated
