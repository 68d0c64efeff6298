"""The progress line of long commands: shown on a terminal only, cleared at the end."""

from __future__ import annotations

import io

from admin.cli.progress import Progress


async def test_the_line_says_how_far_and_is_cleared_at_the_end() -> None:
    stream = io.StringIO()
    progress = Progress("reading contacts.csv", 4_000_000, stream, shown=True)

    async def chunks() -> object:
        for _ in range(4):
            yield b"x" * 1_000_000

    seen = [len(chunk) async for chunk in progress.counting(chunks())]  # type: ignore[attr-defined]
    assert seen == [1_000_000] * 4
    assert progress.line() == "reading contacts.csv: 100% (4.0 MB of 4.0 MB)"
    assert stream.getvalue().startswith("\rreading contacts.csv: 25% (1.0 MB of 4.0 MB)")
    progress.finish()
    assert stream.getvalue().endswith(
        "\r" + " " * len("reading contacts.csv: 25% (1.0 MB of 4.0 MB)") + "\r"
    )


def test_nothing_is_written_when_standard_error_is_no_terminal() -> None:
    stream = io.StringIO()  # isatty() is False: a pipe or a log
    progress = Progress("writing out.csv", stream=stream)
    progress.add(5_000_000)
    progress.say("merging the rows")
    progress.finish()
    assert stream.getvalue() == ""
    assert progress.line() == "writing out.csv: 5.0 MB"
