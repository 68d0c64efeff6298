"""The README's examples do what it says they do, against a real gateway."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from pathlib import Path
from typing import Any

from tests.conftest import Gateway
from tests.support.smtp import protocol_only

README = Path(__file__).resolve().parent.parent / "README.md"


def python_example() -> str:
    """The README's smtplib example (its one Python block)."""
    [block] = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    return block


@protocol_only
async def test_the_smtplib_example_prints_the_queue_id(start_gateway: Any, fake_ses: Any) -> None:
    gateway: Gateway = await start_gateway(fake_ses.url)
    username, password = await gateway.credential()
    code = (
        python_example()
        .replace("2587", str(gateway.port))
        .replace('"USERNAME"', repr(username))
        .replace('"PASSWORD"', repr(password))
    )
    printed = io.StringIO()

    def run() -> None:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own code

    await asyncio.to_thread(run)
    said = re.fullmatch(r"250 2\.0\.0 Ok: queued as ([0-9A-F]{22})\n", printed.getvalue())
    assert said is not None, printed.getvalue()
    [sent] = await asyncio.to_thread(fake_ses.wait_for, 1)
    assert sent.tags["queue_id"] == said.group(1)
