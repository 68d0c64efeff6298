"""Which `serve` processes may share a data folder: any number of ordinary ones, or one `--dev`.

`serve --dev` owns its data folder: it writes `dev-emulator.json` there for the CLI, and its
queue is delivered to its emulator only. A second `serve --dev`, or an ordinary `serve` beside it
(which would send the dev queue through whatever SES it is configured with), is refused. Ordinary
processes share the folder, as several processes on one SQLite database, or on PostgreSQL, may.

An advisory lock (`flock`) on `DATA_DIR/serve.lock`, shared by ordinary processes and exclusive
under `--dev`, held as long as the process lives: the kernel releases it when the process ends,
however it ends, so a crashed gateway leaves no stale lock behind. The file holds the PID of the
last process that took it, to name in the refusal.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from config.settings import ENV_PREFIX
from gateway.core.exceptions import GatewayError

LOCK_FILE = "serve.lock"


def _holder(fd: int) -> int | None:
    """The PID written in the lock file, if that process still runs."""
    try:
        pid = int(os.pread(fd, 32, 0).decode().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


@contextlib.contextmanager
def hold_data_dir(data_dir: Path, dev: bool) -> Iterator[None]:
    """Hold the data folder for this `serve` (exclusively with `dev`), or refuse to start.

    An ordinary `serve` whose data folder cannot be written (a read-only container with
    `DATABASE_URL`, `SECRET_KEY` and the certificate given) runs without the lock: no
    `serve --dev` can run there, it writes its files in the folder."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        if dev:
            raise
        yield
        return
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if dev else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder(fd)
            other = f"`ses-gateway serve{'' if dev else ' --dev'}`" + (
                f" (PID {pid})" if pid else ""
            )
            why = "and `serve --dev` needs it to itself" if dev else "which needs it to itself"
            raise GatewayError(
                f"the data folder {data_dir.resolve()} is in use by {other}, {why}: stop that "
                f"one{f' (kill {pid})' if pid else ''}, or give this one another folder with "
                f"{ENV_PREFIX}DATA_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
