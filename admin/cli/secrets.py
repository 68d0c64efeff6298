"""`secrets rotate`: every secret at rest encrypted again under the current `SECRET_KEY`.

The key it replaced is read once: asked for at a prompt on a terminal, else the first line of
standard input; an empty answer means it is already in `PREVIOUS_SECRET_KEYS`.
"""

from __future__ import annotations

import argparse
from typing import Any

from admin.cli.base import Commands, plain, read_secret, with_ops
from admin.ops import secrets
from config import Settings


async def cmd_rotate(settings: Settings, args: argparse.Namespace) -> tuple[Any, str]:
    old = read_secret(
        "the previous SECRET_KEY (empty: it is in PREVIOUS_SECRET_KEYS)",
        "previous_key",
        required=False,
    )
    done = await with_ops(settings, lambda ctx: secrets.rotate_secrets(ctx, old or None))
    counts = {k: v for k, v in plain(done).items() if k != "unreadable"}
    lines = [f"{k.replace('_', ' ')}: {v} encrypted again" for k, v in counts.items()]
    lines.append("every secret at rest is under the current SECRET_KEY")
    return counts, "\n".join(lines)


def register(cli: Commands) -> None:
    group = cli.group("secrets", "secrets at rest")
    cli.add(
        group,
        "rotate",
        cmd_rotate,
        "encrypt every secret at rest again under the current SECRET_KEY (the old key read once)",
    )
