"""`read_data` against a line-at-a-time reading of the same stream (aiosmtpd's rules), however
the stream arrives in pieces."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.intake.data import Data, DataError, read_data

LINE_LIMIT = 24
SIZE_LIMIT = 80
SPILL_THRESHOLD = 10


def by_lines(stream: bytes, size_limit: int, line_limit: int) -> tuple[Data, bytes] | None:
    """aiosmtpd's reading, a line at a time: (the answer, what follows the end), or None when
    the stream has no end of data."""
    lines: list[bytes] = []
    position = 0
    while True:
        end = stream.find(b"\r\n", position)
        if end < 0:
            return None
        line, position = stream[position : end + 2], end + 2
        if line == b".\r\n":
            break
        lines.append(line)
    size, error = 0, None
    for line in lines:
        size += len(line)
        if error is None and size_limit and size > size_limit:
            error = DataError.TOO_MUCH
        if error is None and len(line) > line_limit:
            error = DataError.TOO_LONG
    if error is not None:
        return Data(b"", error), stream[position:]
    content = b"".join(line[1:] if line.startswith(b".") else line for line in lines)
    return Data(content), stream[position:]


async def read_in_pieces(
    stream: bytes, cuts: list[int], size_limit: int = SIZE_LIMIT, spill_to: Path | None = None
) -> tuple[Data, bytes]:
    reader = asyncio.StreamReader(limit=LINE_LIMIT)

    async def feed() -> None:
        start = 0
        for cut in [*sorted(set(cuts)), len(stream)]:
            reader.feed_data(stream[start:cut])
            start = max(start, cut)
            await asyncio.sleep(0)
        reader.feed_eof()

    feeder = asyncio.create_task(feed())
    data = await read_data(
        reader, size_limit, LINE_LIMIT, spill_threshold=SPILL_THRESHOLD, spill_directory=spill_to
    )
    await feeder
    if data.spilled is not None:  # what is on disk, as it would be in memory
        content = data.spilled.read(0, data.spilled.size)
        data.spilled.close()
        data = Data(content)
    return data, await reader.read()


LINES = st.lists(
    st.sampled_from([b"", b".", b"..", b"a", b"a.", b".a", b"\n", b"\r", b"x" * 30, b"y" * 22]),
    max_size=12,
).map(lambda parts: b"\r\n".join(parts))
STREAMS = st.tuples(LINES, st.sampled_from([b"\r\n.\r\n", b".\r\n", b"\n.\r\n"]), LINES).map(
    lambda parts: b"".join(parts) + b"\r\n.\r\nQUIT\r\n"
)


@settings(max_examples=400, deadline=None)
@given(STREAMS, st.lists(st.integers(0, 200), max_size=6), st.sampled_from([0, SIZE_LIMIT]))
@example(b".\r\nQUIT\r\n", [], SIZE_LIMIT)
@example(b"a\r\n..\r\n.\r\n", [1, 2, 3, 4, 5], SIZE_LIMIT)
@example(b"a\n.\r\nb\r\n.\r\n", [], SIZE_LIMIT)
@example(b"\r\n\r\n\r\n\r\n\r\n\r\n.\r\nQUIT\r\n", [], 0)  # past OCTETS read one at a time
@example(b"\r\r\r\r\r\r\r\n.\r\nQUIT\r\n", [3], 0)
@example(b"\r\n.\r\r\n.\r\n", [1, 2, 3, 4, 5, 6], 0)  # a dot and a CR that are not the end
@example(b"a.\r\n.\r\n", [2, 3], 0)
def test_read_data_agrees_with_reading_line_by_line(
    stream: bytes, cuts: list[int], size_limit: int
) -> None:
    expected = by_lines(stream, size_limit, LINE_LIMIT)
    assert expected is not None
    assert asyncio.run(read_in_pieces(stream, cuts, size_limit)) == expected


@settings(max_examples=200, deadline=None)
@given(STREAMS, st.lists(st.integers(0, 200), max_size=6), st.sampled_from([0, SIZE_LIMIT]))
@example(b"a\r\n..\r\n.\r\n", [1, 2, 3, 4, 5], 0)
def test_read_data_spilled_to_a_file_gives_the_same_content(
    tmp_path_factory: pytest.TempPathFactory, stream: bytes, cuts: list[int], size_limit: int
) -> None:
    """Past `SPILL_THRESHOLD` octets the content goes to a file: the same content, unstuffed
    across the pieces it was written in, and the same refusals."""
    expected = by_lines(stream, size_limit, LINE_LIMIT)
    directory = tmp_path_factory.mktemp("spill")
    assert asyncio.run(read_in_pieces(stream, cuts, size_limit, directory)) == expected


@pytest.mark.parametrize(
    ("stream", "content"),
    [
        (b".\r\n", b""),
        (b"Subject: x\r\n\r\n..leading dot\r\n.\r\n", b"Subject: x\r\n\r\n.leading dot\r\n"),
        (b"a\n.\r\nb\r\n.\r\n", b"a\n.\r\nb\r\n"),  # a bare LF does not end a line
        (b"end.\r\n.\r\n", b"end.\r\n"),
    ],
)
async def test_read_data_reads_up_to_the_lone_dot(stream: bytes, content: bytes) -> None:
    assert await read_in_pieces(stream + b"NOOP\r\n", []) == (Data(content), b"NOOP\r\n")


async def test_read_data_searches_for_the_end_not_for_each_line_ending_in_a_dot() -> None:
    """Lines that end in a full stop (prose) are not read one at a time: once the first octet
    shows that the data does not begin with the end, the rest is searched for the end whole."""
    reads: list[object] = []

    class Counted(asyncio.StreamReader):
        async def readuntil(self, separator: Any = b"\n") -> bytes:
            reads.append(separator)
            return await super().readuntil(separator)

    reader = Counted(limit=2**16)
    reader.feed_data(b"Subject: x\r\n\r\n" + b"A sentence.\r\n" * 50 + b".\r\nQUIT\r\n")
    reader.feed_eof()
    data = await read_data(reader, 0, 1000)
    assert data.content == b"Subject: x\r\n\r\n" + b"A sentence.\r\n" * 50
    assert reads == [b"\r\n.\r\n"]
    assert await reader.read() == b"QUIT\r\n"


async def test_read_data_refuses_after_reading_to_the_end() -> None:
    long_line = b"x" * 30 + b"\r\n.\r\nNOOP\r\n"
    assert await read_in_pieces(long_line, []) == (Data(b"", DataError.TOO_LONG), b"NOOP\r\n")
    too_much = b"abcdefghij\r\n" * 10 + b".\r\nNOOP\r\n"
    assert await read_in_pieces(too_much, [7, 50]) == (Data(b"", DataError.TOO_MUCH), b"NOOP\r\n")


async def test_read_data_drains_what_it_cannot_keep_on_disk(tmp_path: Path) -> None:
    """A spill file that cannot be written (here: its folder is a file; in life, a full disk):
    the data is read to its end all the same, so that the session can answer and go on."""
    (tmp_path / "not a folder").write_bytes(b"")
    stream = b"abcdefghij\r\n" * 5 + b".\r\nNOOP\r\n"
    data, after = await read_in_pieces(stream, [7, 30], 0, tmp_path / "not a folder")
    assert (data.error, data.content, after) == (DataError.NOT_KEPT, b"", b"NOOP\r\n")
    assert "not a folder" in data.cause


async def test_read_data_at_the_end_of_the_stream() -> None:
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    reader.feed_data(b"half a message\r\n")
    reader.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError):
        await read_data(reader, SIZE_LIMIT, LINE_LIMIT)
