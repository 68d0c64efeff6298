"""Times given by people (the CLI's options, the panel's filters, the API's queries): one
reading everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from gateway.core.exceptions import InvalidInputError


def check_period(since: datetime | None, until: datetime | None) -> None:
    """Refuse (on `until`) a period whose end, both being given, is not after its start."""
    if since is not None and until is not None and until <= since:
        raise InvalidInputError("the end of the period must come after its start", "until")


def parse_time(
    value: str, what: str = "date", field: str | None = None, end_of_day: bool = False
) -> datetime:
    """An ISO date (`2026-03-01`: midnight UTC, or with `end_of_day` the next midnight, so that
    a date given as the end of a range includes that day) or datetime (UTC unless it gives an
    offset), in UTC; `field` names the input in the error."""
    text = value.strip()
    try:
        day = datetime.combine(date.fromisoformat(text), time(), UTC)
        return day + timedelta(days=1) if end_of_day else day
    except ValueError:
        pass
    except OverflowError:
        raise InvalidInputError(f"{what} {value!r} is out of range", field) from None
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise InvalidInputError(
            f"{what} {value!r} is not an ISO date or datetime "
            "(2026-03-01, 2026-03-01T12:00 or 2026-03-01T12:00:00+02:00)",
            field,
        ) from None
    except OverflowError:
        raise InvalidInputError(f"{what} {value!r} is out of range", field) from None


def spoken_duration(seconds: float) -> str:
    """A length of time as people read it: `24 h`, `1 h 30 min`, `7 d`, `45 s`, `0.5 s`
    (the two largest units, whole ones; days from two days on; under a minute, the seconds
    as given)."""
    if seconds < 60:
        return f"{seconds:g} s"
    whole = round(seconds)
    units = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))
    parts = []
    for size, unit in units if whole >= 2 * 86400 else units[1:]:
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2])
