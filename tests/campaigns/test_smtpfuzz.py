"""The SMTP fuzzer campaign (`python -m bench.campaigns.smtpfuzz`), short: 150 sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.campaigns.smtpfuzz import campaign

pytestmark = pytest.mark.slow


def test_hostile_sessions_get_no_internal_error_and_leave_the_gateway_serving(
    tmp_path: Path,
) -> None:
    # RSS after 15 sessions of warm-up says little: the long run checks that memory stays flat.
    figures = campaign(tmp_path, sessions=150, seed=1, max_growth_mib=200)
    assert figures.ok, figures.render()
    assert figures.sessions == 150
    assert figures.replies.get("354", 0) > 5, figures.render()  # DATA and MIME were reached
