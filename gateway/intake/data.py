"""Reading the message after DATA: everything up to the line that holds a lone dot.

aiosmtpd reads it one line at a time (an `await` per line, 70 for a 5 KB message, half a million
for one of 40 MB); `read_data` takes what the stream has buffered up to the end, `<CRLF>.<CRLF>`,
and gives the same answer: the content with dot-stuffing undone, or why it is refused. Only
`<CRLF>.<CRLF>` ends the data (a dot after a bare LF does not).

The stream is searched for the end whole (`<CRLF>.<CRLF>`) whenever what was read last cannot be
the start of it, which is nearly always: searched for `.<CRLF>` instead, a message whose lines end
in full stops came a line at a time (5 KB of them cost four times 5 KB of other lines). At the
start of the data, and where what was read last ends in a CR, a CRLF or a CRLF and a dot, the
end may begin in what was read already: there the stream is read an octet at a time, up to
`OCTETS` of them (a message begins `From:`, not with an empty line; two more after a dot that may
be the end's), then up to the next `.<CRLF>`, so that a stream of empty lines costs no more than
before.

Data with more than `size_limit` octets, or with a line longer than `line_limit` octets with its
CRLF, is refused (RFC 5321 4.2.5) once the end has been read, and is not kept past the point
where it is known to be refused; with both, the long line is the reason if it ended within the
size limit.

The data is checked and unstuffed as it comes, `BATCH` octets at a time, so that the content is
held once: in memory up to `spill_threshold` octets, past that in a `SpillFile`
(gateway.core.spill), written as it comes (a full disk drains the data and answers 451).
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from pathlib import Path

from gateway.core.spill import PIECE, SpillFile

_END = b"\r\n.\r\n"
_DOT_LINE_END = b".\r\n"
_END_BEGUN = (b"\r", b"\r\n", b"\r\n.")
"""Read data ending so may be the start of `_END` (its proper prefixes: `\r\n.\r` ends in `\r`)."""
_DOT_READ = (b"\r\n.", b"\r\n.\r")
"""Read data ending so may hold the dot of `_END`: a search for `.<CRLF>` would miss that end."""
OCTETS = 4
"""Octets read one at a time, at most, while what was read may be the start of the end (but for
the two after a dot that may be the end's)."""


def _one_octet(tail: bytes, octets: int) -> bool:
    """Whether the next read is of one octet, after `octets` such reads, the data read so far
    ending in `tail`."""
    return tail.endswith(_END_BEGUN) and (octets < OCTETS or tail.endswith(_DOT_READ))


BATCH = 64 * 1024
"""Octets read before they are checked and kept: a piece is at most about the stream's limit
(aiosmtpd's line length limit, 1,001 octets) where the end is not yet in the stream, too small to
be worth a check of its own."""


class DataError(enum.Enum):
    TOO_LONG = "line too long"
    TOO_MUCH = "too much data"
    NOT_KEPT = "no room to keep it"
    """The spill file could not be written (a full disk): the data was drained all the same."""


@dataclass(frozen=True, slots=True)
class Data:
    content: bytes
    """Without the final `.<CRLF>`, dot-stuffing undone; empty when `error` or `spilled` is
    set."""
    error: DataError | None = None
    spilled: SpillFile | None = None
    """The content, when it went past the spill threshold: the caller closes it."""
    cause: str = ""
    """With `NOT_KEPT`: why, for the log."""


class _Lines:
    """The longest complete line (with its CRLF) of a stream given a piece at a time."""

    def __init__(self) -> None:
        self.longest = 0
        self._open = 0
        """The length of the line not yet ended (a CR at its end included)."""
        self._cr = False

    def feed(self, piece: bytes) -> None:
        if not piece:
            return
        if self._cr and piece[:1] == b"\n":  # a CRLF cut between two pieces
            self.longest = max(self.longest, self._open + 1)
            self._open, piece = 0, piece[1:]
        lines = piece.split(b"\r\n")
        if len(lines) == 1:
            self._open += len(piece)
        else:
            inner = max(map(len, lines[1:-1]), default=0)
            self.longest = max(self.longest, self._open + len(lines[0]) + 2, inner + 2)
            self._open = len(lines[-1])
        self._cr = piece.endswith(b"\r")


class _Content:
    """The content with dot-stuffing undone: in memory up to `threshold` octets (0: always),
    then written to a `SpillFile` in `directory` about a `PIECE` at a time."""

    def __init__(self, threshold: int, directory: Path | None) -> None:
        self._threshold = threshold if directory is not None else 0
        self._directory = directory
        self._before = b"\r\n"  # the two stuffed octets before the next: the start of a line
        self._pieces: list[bytes] = []
        self._held = 0
        self._file: SpillFile | None = None

    def add(self, stuffed: bytes) -> None:
        joined = self._before + stuffed
        self._before = joined[-2:]
        # A line that starts with a dot loses that dot; the two octets before the piece find
        # the lines that start in it. They are never removed themselves.
        piece = joined.replace(b"\r\n.", b"\r\n")[2:]
        self._pieces.append(piece)
        self._held += len(piece)
        limit = PIECE if self._file is not None else self._threshold
        if limit and self._held > limit:
            if self._file is None:
                assert self._directory is not None
                self._file = SpillFile(self._directory)
            self._file.write(b"".join(self._pieces))
            self._pieces, self._held = [], 0

    def finish(self) -> Data:
        if self._file is None:
            content = b"".join(self._pieces)
            self._pieces.clear()  # the message is held once, not twice, while it is checked
            return Data(content)
        self._file.write(b"".join(self._pieces))
        self._pieces = []
        return Data(b"", spilled=self._file)

    def discard(self) -> None:
        self._pieces, self._held = [], 0
        if self._file is not None:
            self._file.close()


async def read_data(
    reader: asyncio.StreamReader,
    size_limit: int,
    line_limit: int,
    *,
    spill_threshold: int = 0,
    spill_directory: Path | None = None,
) -> Data:
    """Read up to the end of the data. `size_limit` 0 means no limit; content over
    `spill_threshold` octets goes to a file in `spill_directory` (without one: none does). At
    the end of the stream raises `asyncio.IncompleteReadError` (the client went away: nothing
    was received)."""
    lines = _Lines()
    content = _Content(spill_threshold, spill_directory)
    tail = b"\r\n"  # the last octets read (five at most): the data starts at a line start
    held = b""  # octets read one at a time that may be the end's
    octets = 0  # read one at a time since the last larger read
    size = 0
    batch: list[bytes] = []  # pieces not checked yet: one check per `BATCH`, not per piece
    batched = 0
    error: DataError | None = None
    cause = ""
    try:
        while True:
            if _one_octet(tail, octets):
                octet = await reader.readexactly(1)
                octets += 1
                held += octet
                tail = (tail + octet)[-5:]
                ended = tail == _END
                if not ended and _one_octet(tail, octets):
                    continue
                chunk, held = held, b""
            else:
                octets = 0
                # Where the end may have begun in what was read, only a search for `.<CRLF>`
                # finds it (the CRLF before it read already).
                separator = _DOT_LINE_END if tail.endswith(_END_BEGUN) else _END
                try:
                    chunk = await reader.readuntil(separator)
                except asyncio.LimitOverrunError as exc:  # not within the stream's limit
                    # what is left unread holds any start of the separator
                    chunk = await reader.read(max(exc.consumed, 1))
                    if not chunk:
                        raise asyncio.IncompleteReadError(b"", None) from None
                tail = (tail + chunk[-5:])[-5:]
                ended = tail == _END
            body = chunk[:-3] if ended else chunk
            if error is None:
                if size_limit and size + len(body) > size_limit:
                    lines.feed(b"".join(batch))
                    lines.feed(body[: size_limit - size])  # the lines ended within the limit
                    error = DataError.TOO_LONG if lines.longest > line_limit else DataError.TOO_MUCH
                else:
                    batch.append(body)
                    batched += len(body)
                if error is None and (batched >= BATCH or ended):
                    joined = b"".join(batch)
                    batch, batched = [], 0
                    lines.feed(joined)
                    if lines.longest > line_limit:
                        error = DataError.TOO_LONG
                    else:
                        try:
                            content.add(joined)
                        except OSError as exc:  # the disk is full: answered once drained
                            error, cause = DataError.NOT_KEPT, str(exc)
                if error is not None:  # refused at the end: drained from here on, not kept
                    batch = []
                    content.discard()
            size += len(body)
            if ended:
                break
    except BaseException:
        content.discard()
        raise
    if error is not None:
        return Data(b"", error, cause=cause)
    try:
        return content.finish()
    except OSError as exc:
        content.discard()
        return Data(b"", DataError.NOT_KEPT, cause=str(exc))
