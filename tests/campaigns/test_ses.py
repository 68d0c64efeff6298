"""The SES fault campaign (`python -m bench.campaigns.ses`), short: seconds of outage."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.campaigns.ses import campaign

pytestmark = pytest.mark.slow


def test_an_ses_outage_loses_nothing_bounces_nothing_and_drains(tmp_path: Path) -> None:
    figures = campaign(
        tmp_path,
        outage=6,
        rate=10,
        delay=2,
        seed=1,
        drain_timeout=60,
        retry_base_delay=1,
        retry_max_delay=4,
    )
    assert figures.ok, figures.render()
    assert figures.sent >= 30, figures.render()
    assert set(figures.faults) == {"slow", "Throttling", "InternalFailure", "reset"}
    assert not figures.refused, figures.render()
