"""Progress of a long command (a CSV import or export) on the terminal: one line on standard
error, rewritten in place a few times a second, and cleared at the end. Nothing is written when
standard error is not a terminal (a pipe, a log file, a cron job), so output meant for programs
(`--json`, an export on standard output) never carries it."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import AnyStr, TextIO

INTERVAL = 0.2
"""Seconds between two rewrites of the line."""


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


class Progress:
    """`what` (e.g. `reading contacts.csv`), done so far of `total` bytes (None: unknown)."""

    def __init__(
        self,
        what: str,
        total: int | None = None,
        stream: TextIO | None = None,
        shown: bool | None = None,
    ) -> None:
        self._what = what
        self._total = total
        self._stream = stream or sys.stderr
        self._shown = self._stream.isatty() if shown is None else shown
        self._done = 0
        self._written = 0
        self._last = 0.0

    def line(self) -> str:
        if self._total:
            share = min(100, 100 * self._done // self._total)
            return f"{self._what}: {share}% ({_megabytes(self._done)} of {_megabytes(self._total)})"
        return f"{self._what}: {_megabytes(self._done)}"

    def add(self, size: int) -> None:
        self._done += size
        now = time.monotonic()
        if self._shown and now - self._last >= INTERVAL:
            self._last = now
            self._write(self.line())

    def say(self, what: str) -> None:
        """Another step (`merging the rows`), with no figure."""
        if self._shown:
            self._write(what)

    def finish(self) -> None:
        """Clear the line: the command's own answer follows."""
        if self._shown and self._written:
            self._stream.write("\r" + " " * self._written + "\r")
            self._stream.flush()

    def _write(self, text: str) -> None:
        self._stream.write("\r" + text.ljust(self._written))
        self._stream.flush()
        self._written = max(self._written, len(text))

    async def counting(self, chunks: AsyncIterable[AnyStr]) -> AsyncIterator[AnyStr]:
        """`chunks` as they are, each counted on its way."""
        async for chunk in chunks:
            self.add(len(chunk))
            yield chunk
