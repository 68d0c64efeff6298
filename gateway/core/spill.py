"""A large message kept on disk rather than in memory, from DATA until its spool commit.

Small messages are the norm and stay in memory. Past `SPILL_THRESHOLD` octets `read_data` moves
the content into an unnamed temporary file in `DATA_DIR`: created with mode 0600 and unlinked at
once, so that it disappears with its last descriptor, whatever ends the process (kill -9
included) and however the transaction ends. Its readers take it a piece at a time, so each
message costs about a piece of memory, not its size; the spool stores it in sealed chunks
(`gateway.storage.queue`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PIECE = 256 * 1024
"""Octets read or written at a time (about)."""


class SpillFile:
    """Content written once, then read in pieces; `close` (idempotent) frees the disk space."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by close()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` octets from `offset` (what was written, flushed first if need be)."""
        self._file.flush()
        return os.pread(self._file.fileno(), length, offset)

    def pieces(self, start: int = 0, size: int = PIECE) -> Iterator[bytes]:
        """The content from `start` on, in pieces of about `size` octets, never cut between a
        CR and the LF after it (so that a check of line ends can take the pieces one by one)."""
        position = start
        while position < self.size:
            piece = self.read(position, size)
            while piece.endswith(b"\r") and position + len(piece) < self.size:
                piece += self.read(position + len(piece), 1)
            position += len(piece)
            yield piece

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed


@dataclass(frozen=True, slots=True)
class SpilledRest:
    """The part of a message past its header block that is still in its `SpillFile`: the
    file's content from `offset` on."""

    file: SpillFile
    offset: int

    @property
    def size(self) -> int:
        return self.file.size - self.offset

    def pieces(self, size: int = PIECE) -> Iterator[bytes]:
        return self.file.pieces(self.offset, size)
