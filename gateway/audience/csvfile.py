"""Reading an uploaded CSV file as it arrives, chunk by chunk, never whole.

The bytes are decoded as UTF-8 (a byte order mark is dropped) with an incremental decoder. Each
chunk's text is cut at the last line break that ends a record: where the count of `"` so far is
even (a `""` inside a quoted field counts two, so the parity tells whether a quoted field is
open). The text before the cut is parsed by the `csv` module in one go, which numbers the lines;
the rest waits for the next chunk. A malformed row is only that row.

What makes the whole file unreadable raises `InvalidInputError` (field `file`): bytes that are
not UTF-8, a record longer than `MAX_RECORD` characters (a 10 MB single line is not a contact;
waiting for its end would hold it in memory), a quoted field never closed. The delimiter is `,`
or `;`, whichever the first line (the header) holds more of.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

from gateway.core.exceptions import InvalidInputError

MAX_RECORD = 64 * 1024
"""Characters in one record (one row, with its quoted line breaks) at most."""


@dataclass(frozen=True, slots=True)
class Row:
    """A record of the file: its first line's number and its cells, or what is wrong with it."""

    line: int
    cells: list[str]
    error: str | None = None


def refused(message: str) -> InvalidInputError:
    return InvalidInputError(f"{message}: nothing was imported", "file")


class CsvReader:
    """Feed it the file's bytes in chunks of any size; it returns the rows each chunk completes."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._started = False
        self._pending = ""
        """The text read after the last complete record."""
        self._line = 1
        """The number of the first line of `_pending`."""
        self.delimiter: str | None = None

    def feed(self, data: bytes, final: bool = False) -> list[Row]:
        """The rows completed by `data` (`final`: the end of the file)."""
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            line = self._line + self._pending.count("\n") + exc.object[: exc.start].count(b"\n")
            raise refused(
                f"the file is not UTF-8 text (line {line}: {exc.reason}); "
                "save it as \u201cCSV UTF-8\u201d"
            ) from exc
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        block = self._pending + text
        cut = len(block) if final else _record_end(block)
        if final and block.count('"') % 2:
            raise refused(f"line {self._line}: a quoted field is never closed")
        self._pending = block[cut:]
        if len(self._pending) > MAX_RECORD:
            raise refused(
                f"line {self._line}: a record longer than {MAX_RECORD:,} characters "
                "(a line that long, or a quote left open)"
            )
        return self._parse(block[:cut]) if cut else []

    def _parse(self, complete: str) -> list[Row]:
        if self.delimiter is None:
            header = complete.partition("\n")[0]
            self.delimiter = ";" if header.count(";") > header.count(",") else ","
        first = self._line
        reader = csv.reader(
            io.StringIO(complete, newline=""), delimiter=self.delimiter, strict=True
        )
        rows: list[Row] = []
        start = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                rows.append(Row(first + start, [], f"unreadable CSV: {exc}"))
            else:
                if sum(map(len, cells)) > MAX_RECORD:
                    raise refused(
                        f"line {first + start}: a record longer than {MAX_RECORD:,} characters"
                    )
                rows.append(Row(first + start, cells))
            start = reader.line_num
        self._line = first + reader.line_num
        return rows


def _record_end(block: str) -> int:
    """Where the last complete record of `block` ends (after its line break): the last line
    break with an even count of quotes before it; 0 when there is none."""
    cut = block.rfind("\n") + 1
    quotes = block.count('"', 0, cut)
    while cut and quotes % 2:
        previous = block.rfind("\n", 0, cut - 1) + 1
        quotes -= block.count('"', previous, cut)
        cut = previous
    return cut
