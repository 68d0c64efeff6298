"""How times given by people are read: the CLI, the panel and the API read them alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.core.exceptions import InvalidInputError
from gateway.core.times import parse_time, spoken_duration


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T12:30", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),
        ("2026-03-01 12:30:00", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),
        ("2026-03-01T12:30:00+02:00", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
        ("2026-03-01T12:30:00Z", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_dates_are_iso_in_utc(given: str, expected: datetime) -> None:
    assert parse_time(given) == expected


def test_a_date_that_ends_a_range_includes_its_day() -> None:
    assert parse_time("2026-03-01", end_of_day=True) == datetime(2026, 3, 2, tzinfo=UTC)
    assert parse_time("2026-03-01T10:00", end_of_day=True) == datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("next week", "--expires 'next week' is not an ISO date"),
        ("9999-12-31T23:59-05:00", "is out of range"),
        ("9999-12-31", "is out of range"),
    ],
)
def test_a_bad_date_is_refused_naming_the_field(given: str, says: str) -> None:
    with pytest.raises(InvalidInputError, match=says) as refused:
        parse_time(given, "--expires", "expires", end_of_day=True)
    assert refused.value.field == "expires"


@pytest.mark.parametrize(
    ("seconds", "spoken"),
    [
        (86400.0, "24 h"),
        (43200, "12 h"),
        (5400, "1 h 30 min"),
        (90061, "25 h 1 min"),
        (172800, "2 d"),
        (604800.0, "7 d"),
        (300, "5 min"),
        (45, "45 s"),
        (0.5, "0.5 s"),
    ],
)
def test_a_duration_reads_in_the_two_largest_units(seconds: float, spoken: str) -> None:
    assert spoken_duration(seconds) == spoken
