"""Reading the message after DATA: everything up to the line that holds a lone dot.

aiosmtpd reads it one line at a time (an `await` per line, 70 for a 5 KB message, half a million
for one of 40 MB); `read_data` takes what the stream has buffered up to each `.<CRLF>` and gives
the same answer: the content with dot-stuffing undone, or why it is refused. Only `<CRLF>.<CRLF>`
ends the data (a dot after a bare LF does not). Data with more than `size_limit` octets, or with
a line longer than `line_limit` octets with its CRLF, is refused once the end has been read (RFC
5321 4.2.5); with both, the long line is the reason if it ended within the size limit.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

_END = b".\r\n"


class DataError(enum.Enum):
    TOO_LONG = "line too long"
    TOO_MUCH = "too much data"


@dataclass(frozen=True, slots=True)
class Data:
    content: bytes
    """Without the final `.<CRLF>`, dot-stuffing undone; empty when `error` is set."""
    error: DataError | None = None


def _longest_line(data: bytes) -> int:
    """The longest line of `data`, with its CRLF (the last one may lack it)."""
    return max(map(len, data.split(b"\r\n"))) + 2


async def read_data(reader: asyncio.StreamReader, size_limit: int, line_limit: int) -> Data:
    """Read up to the end of the data. `size_limit` 0 means no limit. At the end of the stream
    raises `asyncio.IncompleteReadError` (the client went away: nothing was received)."""
    chunks: list[bytes] = []
    before = b"\r\n"  # the two octets before the next one: the data starts at a line start
    size = 0
    error: DataError | None = None
    while True:
        try:
            chunk = await reader.readuntil(_END)
        except asyncio.LimitOverrunError as exc:  # no `.<CRLF>` within the stream's limit
            chunk = await reader.read(max(exc.consumed, 1))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", None) from None
            ended = False
        else:
            ended = (chunk[-5:-3] if len(chunk) >= 5 else (before + chunk[:-3])[-2:]) == b"\r\n"
        body = chunk[:-3] if ended else chunk
        size += len(body)
        if error is None:
            chunks.append(body)
            if size_limit and size > size_limit:
                within = b"".join(chunks)[:size_limit]
                complete = within[: within.rfind(b"\r\n") + 2]
                too_long = complete and _longest_line(complete[:-2]) > line_limit
                error = DataError.TOO_LONG if too_long else DataError.TOO_MUCH
                chunks = []
        before = (before + chunk[-2:])[-2:]
        if ended:
            break
    if error is not None:
        return Data(b"", error)
    content = b"".join(chunks)
    chunks.clear()  # the message is held once, not twice, while it is checked
    if content and _longest_line(content) > line_limit:  # it ends with CRLF: no need to cut
        return Data(b"", DataError.TOO_LONG)
    # Undo dot-stuffing: a line that starts with a dot loses that dot.
    return Data(content.replace(b"\r\n.", b"\r\n").removeprefix(b"."))
