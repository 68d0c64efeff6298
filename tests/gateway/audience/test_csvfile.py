"""The streamed CSV reader: any chunking gives the same rows, with their line numbers."""

from __future__ import annotations

import pytest

from gateway.audience.csvfile import MAX_RECORD, CsvReader, Row
from gateway.core.exceptions import InvalidInputError


def read(data: bytes, chunk: int) -> tuple[list[Row], str | None]:
    reader = CsvReader()
    rows: list[Row] = []
    for start in range(0, len(data), chunk):
        rows += reader.feed(data[start : start + chunk])
    rows += reader.feed(b"", final=True)
    return rows, reader.delimiter


SAMPLE = (
    "\ufeffemail,name,note\r\n"
    'a@example.com,Ann,"two\r\nlines"\r\n'
    "\r\n"
    'b@example.com,"Bob ""the"" builder",\r\n'
    "c@example.com,Cé,last"
).encode()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 100_000])
def test_rows_and_line_numbers_do_not_depend_on_the_chunks(chunk: int) -> None:
    rows, delimiter = read(SAMPLE, chunk)
    assert delimiter == ","
    assert [(r.line, r.cells, r.error) for r in rows] == [
        (1, ["email", "name", "note"], None),
        (2, ["a@example.com", "Ann", "two\r\nlines"], None),
        (4, [], None),
        (5, ["b@example.com", 'Bob "the" builder', ""], None),
        (6, ["c@example.com", "Cé", "last"], None),
    ]


def test_the_delimiter_is_the_one_the_header_holds_more_of() -> None:
    rows, delimiter = read(b"email;name\nx@example.com;Doe, Jane\n", 5)
    assert delimiter == ";"
    assert rows[1].cells == ["x@example.com", "Doe, Jane"]


def test_a_malformed_row_is_only_that_row() -> None:
    rows, _ = read(b'email,name\n"a@example.com"x,1\nb@example.com,2\n', 4)
    assert rows[1].error
    assert "unreadable CSV" in rows[1].error
    assert rows[2].cells == ["b@example.com", "2"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"email\n\xe9@example.com\n", "not UTF-8 text \\(line 2"),
        (b"\xff\xfee\x00m\x00", "not UTF-8"),
        (b"email\n" + b"x" * (MAX_RECORD + 1), "line 2: a record longer than 65,536 characters"),
        (b"email\n" + b"x" * (MAX_RECORD + 1) + b"\n", "line 2: a record longer"),
        (b'email\n"open\n' + b"y\n" * 10, "line 2: a quoted field is never closed"),
        (b'email\n"open\n' + b"y" * 70_000, "longer than 65,536"),
    ],
)
def test_an_unreadable_file_is_refused_as_a_whole(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as refused:
        read(data, 1000)
    assert "nothing was imported" in str(refused.value)
    assert refused.value.field == "file"


def test_a_10_mb_single_line_is_refused_before_it_is_held() -> None:
    reader = CsvReader()

    def feed_10_mb() -> None:
        for _ in range(160):
            reader.feed(b"z" * 65_536)

    with pytest.raises(InvalidInputError, match="longer than"):
        feed_10_mb()
    assert len(reader._pending) <= MAX_RECORD + 65_536
