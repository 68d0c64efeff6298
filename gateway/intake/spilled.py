"""The end-of-DATA steps for a message kept in a `SpillFile`, a piece at a time.

A message over `SPILL_THRESHOLD` is never read into memory whole: its line ends are checked (or
normalized into a new file) a piece at a time, its header block is read from the first
`HEADER_LIMIT` octets, and the relayed copy is the new header block (`prepare`) followed by the
rest of the file, which the spool stores in chunks (`SpilledRest`). The messages held in memory
go through the same functions of `gateway.intake.message` and `gateway.core.headers`, so both
kinds are checked alike.
"""

from __future__ import annotations

from pathlib import Path

from gateway.core.headers import Header, normalize_newlines, read_header
from gateway.core.spill import PIECE, SpilledRest, SpillFile
from gateway.policy.rules import Refusal, check_line_endings

HEADER_LIMIT = 1 << 20
"""A message's header block must end within its first MiB (real ones take a few KB; Postfix
keeps 100 KB): one that does not is refused rather than read whole."""


def normalized(file: SpillFile, directory: Path) -> SpillFile:
    """`file`, or (when it has a bare CR or LF) a new file with every line ended by CRLF, the
    old one closed (`BARE_NEWLINE=normalize`)."""
    if check_bare_newlines(file) is None:
        return file
    copy = SpillFile(directory)
    try:
        for piece in file.pieces():  # never cut inside a CRLF: each piece normalizes alone
            copy.write(normalize_newlines(piece))
    except BaseException:
        copy.close()
        raise
    file.close()
    return copy


def check_bare_newlines(file: SpillFile) -> Refusal | None:
    """`check_line_endings` over the whole file."""
    return next(filter(None, map(check_line_endings, file.pieces())), None)


def header_too_long(data: bytes, header: Header) -> bool:
    """Whether the header block read from `data`, a whole message, is over `HEADER_LIMIT`."""
    return len(data) - len(header.rest) > HEADER_LIMIT


def split_spilled(file: SpillFile) -> tuple[Header, SpilledRest] | None:
    """The header block of the message in `file` and the rest after it, with `Header.rest` the
    blank line that separates them (when there is one): what `prepare` needs to put its fields
    and the separation in front of the rest. None when the header block is too long
    (it does not end within `HEADER_LIMIT` octets, the line after it included)."""
    for length in (PIECE, HEADER_LIMIT):  # a few KB are the norm: a MiB only when needed
        start = file.read(0, length)
        header = read_header(start)
        if len(start) == file.size or b"\n" in header.rest:
            break
    else:
        return None
    offset = len(start) - len(header.rest)
    blank = b"\r\n" if header.rest.startswith(b"\r\n") else b""
    return Header(header.fields, header.names, blank), SpilledRest(file, offset + len(blank))
