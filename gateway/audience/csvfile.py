"""Reading an uploaded CSV file as it arrives, chunk by chunk, never whole.

The bytes are decoded as UTF-8 (a byte order mark is dropped) with an incremental decoder, cut
into lines, and lines joined into records while a quoted field is open (an odd count of `"` so
far: `""` inside a field counts two, so the parity tells). Each complete record is then parsed by
the `csv` module, so a row's line number is known and one malformed row is only that row.

What makes the whole file unreadable raises `InvalidInputError` (field `file`): bytes that are
not UTF-8, a record longer than `MAX_RECORD` characters (a 10 MB single line is not a contact),
a quoted field never closed. The delimiter is `,` or `;`, whichever the first line (the header)
holds more of.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.core.exceptions import InvalidInputError

MAX_RECORD = 64 * 1024
"""Characters in one record (one row, with its quoted line breaks) at most."""

DELIMITERS = (",", ";")


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
        """The end of the text read so far, after its last line break."""
        self._record: list[str] = []
        self._record_line = 0
        self._quotes = 0
        self._line = 1
        """The number of the next line to complete."""
        self.delimiter: str | None = None

    def feed(self, data: bytes, final: bool = False) -> list[Row]:
        """The rows completed by `data` (`final`: the end of the file)."""
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            line = self._line + exc.object[: exc.start].count(b"\n")
            raise refused(
                f"the file is not UTF-8 text (line {line}: {exc.reason}); "
                "save it as \u201cCSV UTF-8\u201d"
            ) from exc
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if final and self._pending:
            lines.append(self._pending)
            self._pending = ""
        if len(self._pending) > MAX_RECORD:
            raise refused(f"line {self._line} is longer than {MAX_RECORD:,} characters")
        records = self._records(lines)
        if final and self._record:
            raise refused(f"line {self._record_line}: a quoted field is never closed")
        return self._parse(records)

    def _records(self, lines: list[str]) -> list[tuple[int, str]]:
        """Complete records (first line number, text) of these whole lines."""
        records: list[tuple[int, str]] = []
        for line in lines:
            number = self._line
            self._line += 1
            if not self._record and '"' not in line:
                if len(line) > MAX_RECORD:
                    raise refused(f"line {number} is longer than {MAX_RECORD:,} characters")
                records.append((number, line))
                continue
            if not self._record:
                self._record_line = number
                self._quotes = 0
            self._record.append(line)
            self._quotes += line.count('"')
            if sum(len(part) for part in self._record) > MAX_RECORD:
                raise refused(
                    f"line {self._record_line}: a record longer than {MAX_RECORD:,} characters "
                    "(is a quote left open?)"
                )
            if self._quotes % 2 == 0:
                records.append((self._record_line, "\n".join(self._record)))
                self._record = []
        return records

    def _parse(self, records: list[tuple[int, str]]) -> list[Row]:
        if not records:
            return []
        if self.delimiter is None:
            header = records[0][1]
            self.delimiter = ";" if header.count(";") > header.count(",") else ","
        reader = csv.reader(_texts(records), delimiter=self.delimiter, strict=True)
        rows: list[Row] = []
        for number, _ in records:
            try:
                rows.append(Row(number, next(reader)))
            except csv.Error as exc:
                rows.append(Row(number, [], f"unreadable CSV: {exc}"))
        return rows


def _texts(records: list[tuple[int, str]]) -> Iterator[str]:
    # A record ends with a line break for the reader, which keeps a `\r` of CRLF out of cells.
    for _, text in records:
        yield text.removesuffix("\r") + "\n"
