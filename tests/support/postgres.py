"""A throwaway, real PostgreSQL server for tests (standard library only).

Usage::

    with PostgresServer() as pg:
        url = pg.create_database("app_test")  # postgresql+asyncpg://...

Or by hand: ``python -m tests.support.postgres`` starts one, prints its URL and
keeps it running until Ctrl-C.

The server lives in a temporary directory (data directory, unix socket
directory and log file; in memory with ``in_memory=True``), listens on a
free loopback TCP port, trusts every local connection (superuser ``postgres``, no password) and
runs with durability switched off, so it is fast to start and fast to use.  ``stop()``
kills it and deletes the directory.

``initdb`` refuses to run as root: when this process is root, the server
programs run as the ``postgres`` system user (created by Debian's
``postgresql`` package) through ``runuser`` (or ``setpriv``/``su``).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.support.ports import free_ports

__all__ = ["PostgresError", "PostgresServer", "find_bindir"]

SUPERUSER = "postgres"
SYSTEM_USER = "postgres"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. "
    "Install Debian's `postgresql` package (apt-get install postgresql), "
    "or run scripts/install --dev."
)

# Environment variables that would redirect libpq clients (createdb, psql)
# somewhere else than our server.
_PG_CLIENT_ENV = (
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGDATABASE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGDATA",
)


class PostgresError(RuntimeError):
    """Raised when the PostgreSQL server cannot be found, started or used."""


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _version_key(path: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> numeric version for sorting
    version = Path(path).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_bindir() -> Path:
    """Return the directory holding initdb, pg_ctl and postgres.

    Looks at ``pg_config --bindir`` (if ``pg_config`` is on PATH), then the
    newest ``/usr/lib/postgresql/*/bin``, then wherever ``initdb`` is on PATH.
    """
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        # libpq-dev's pg_config may point at /usr/bin without a server in it.
        if out and _has_server_binaries(Path(out)):
            return Path(out)

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if _has_server_binaries(Path(candidate)):
            return Path(candidate)

    initdb = shutil.which("initdb")
    if initdb:
        bindir = Path(os.path.realpath(initdb)).parent
        if _has_server_binaries(bindir):
            return bindir
        bindir = Path(initdb).parent
        if _has_server_binaries(bindir):
            return bindir

    raise PostgresError(INSTALL_HINT)


MEMORY = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private dir in it
"""Linux's tmpfs, for the test suite's servers (`in_memory`)."""


def _traversable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether every directory from / down to ``path`` can be entered by uid/gid."""
    current = path.resolve()
    for directory in (current, *current.parents):
        st = directory.stat()
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:]) or "(log file is empty)"


class PostgresServer:
    """A temporary PostgreSQL cluster on 127.0.0.1.

    ``start()``/``stop()`` or use as a context manager.  ``url`` is the
    SQLAlchemy asyncpg URL of the ``postgres`` database;
    ``create_database(name)`` makes a fresh database and returns its URL.
    """

    def __init__(
        self,
        *,
        bindir: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        max_connections: int = 200,
        start_timeout: int = 60,
        durable: bool = False,
        in_memory: bool = False,
    ) -> None:
        """`durable`: fsync and synchronous commit on, as in production, so that a crash of
        the server (`shut_down("immediate")`) loses no committed transaction.

        `in_memory`: the server's files in `MEMORY` where there is one, for the test suite. A
        database copied from a template is some 300 files: making them on ext4 took 0.4 s of
        CPU (the kernel's inode allocator), 27 ms in memory. Not for benchmarks: a sync there
        writes nothing to a disk."""
        self._bindir_arg = Path(bindir) if bindir is not None else None
        self._base_dir_arg = Path(base_dir) if base_dir is not None else None
        self.max_connections = max_connections
        self.start_timeout = start_timeout
        self.durable = durable
        self.in_memory = in_memory
        self.bindir: Path | None = None
        self.tmpdir: Path | None = None
        self.port: int | None = None
        self._as_user: pwd.struct_passwd | None = None
        self._running = False

    # -- public API --------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def datadir(self) -> Path:
        return self._require_tmpdir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_tmpdir() / "sock"

    @property
    def logfile(self) -> Path:
        return self._require_tmpdir() / "postgres.log"

    @property
    def user(self) -> str:
        return SUPERUSER

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """``postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres``."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        if not self._running or self.port is None:
            raise PostgresError("PostgresServer is not running; call start() first")
        quoted = urllib.parse.quote(database, safe="")
        return f"postgresql+asyncpg://{SUPERUSER}@{self.host}:{self.port}/{quoted}"

    def start(self) -> PostgresServer:
        if self._running:
            return self
        self.bindir = self._bindir_arg or find_bindir()
        if not _has_server_binaries(self.bindir):
            raise PostgresError(f"{self.bindir}: missing initdb/pg_ctl/postgres. {INSTALL_HINT}")
        self._as_user = self._pick_user()
        try:
            self._make_tmpdir()
            self._initdb()
            self._start_server()
        except BaseException:
            self._cleanup_dir()
            raise
        self._running = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        atexit.unregister(self.stop)
        if self._running and self.tmpdir is not None:
            self._running = False
            self._run(
                [
                    self._bin("pg_ctl"),
                    "stop",
                    "-D",
                    str(self.datadir),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                ],
                as_server=True,
                check=False,
            )
        self._cleanup_dir()
        self.port = None

    def shut_down(self, mode: str = "immediate") -> None:
        """Stop the server but keep its data and port (`pg_ctl stop -m MODE`: `immediate` is
        a crash, `fast` an administrator's clean stop); `start_up()` brings it back."""
        if not self._running:
            raise PostgresError("PostgresServer is not running; call start() first")
        self._run(
            [self._bin("pg_ctl"), "stop", "-D", str(self.datadir), "-m", mode, "-w", "-t", "30"],
            as_server=True,
        )

    def start_up(self) -> None:
        """Start the server again after `shut_down()`, on the same port."""
        if not self._running or self.port is None:
            raise PostgresError("PostgresServer is not running; call start() first")
        self._start_server(port=self.port)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (owned by the superuser); return its asyncpg URL.

        With ``template``, the new database is a copy of that one (which nobody may be
        connected to), which is much quicker than building the same schema again.
        """
        if not self._running:
            raise PostgresError("PostgresServer is not running; call start() first")
        self._run(
            [
                self._bin("createdb"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                *(("--template", template) if template else ()),
                "--",
                name,
            ],
            as_server=False,
        )
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting any sessions still using it."""
        if not self._running:
            raise PostgresError("PostgresServer is not running; call start() first")
        self._run(
            [
                self._bin("dropdb"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "--force",
                "--if-exists",
                "--",
                name,
            ],
            as_server=False,
        )

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self.port}" if self._running else "stopped"
        return f"<PostgresServer {state}>"

    # -- internals ---------------------------------------------------------

    def _require_tmpdir(self) -> Path:
        if self.tmpdir is None:
            raise PostgresError("PostgresServer has no directory; call start() first")
        return self.tmpdir

    def _bin(self, name: str) -> str:
        assert self.bindir is not None
        path = self.bindir / name
        if os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(name)
        if found:
            return found
        raise PostgresError(f"{name} not found in {self.bindir} or on PATH. {INSTALL_HINT}")

    @staticmethod
    def _pick_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresError(
                "Running as root, and initdb refuses to run as root, but there is no "
                f"`{SYSTEM_USER}` system user to run it as. Install Debian's `postgresql` "
                "package (it creates that user), or run the tests as a non-root user."
            ) from None

    def _default_base_dir(self) -> Path:
        """`MEMORY` when asked for (`in_memory`) and usable, else the temporary directory (or
        /tmp, when the server user cannot reach that one)."""
        candidates = ([MEMORY] if self.in_memory else []) + [Path(tempfile.gettempdir())]
        for directory in candidates:
            if not (directory.is_dir() and os.access(directory, os.W_OK | os.X_OK)):
                continue
            user = self._as_user
            if user is None or _traversable_by(directory, user.pw_uid, user.pw_gid):
                return directory
        return Path("/tmp")  # noqa: S108 - mkdtemp below makes a private dir

    def _make_tmpdir(self) -> None:
        parent = self._base_dir_arg or self._default_base_dir()
        self.tmpdir = Path(tempfile.mkdtemp(prefix="ses-pg-", dir=parent))
        self.socket_dir.mkdir()
        if self._as_user is not None:
            uid, gid = self._as_user.pw_uid, self._as_user.pw_gid
            for path in (self.tmpdir, self.socket_dir):
                os.chown(path, uid, gid)
            if not _traversable_by(self.tmpdir, uid, gid):
                raise PostgresError(
                    f"{self.tmpdir} is not reachable by the `{SYSTEM_USER}` user; "
                    "pass base_dir= a world-traversable directory such as /tmp"
                )

    def _cleanup_dir(self) -> None:
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def _wrap(self, argv: Sequence[str]) -> list[str]:
        """Prefix argv so it runs as the server user when we are root."""
        if self._as_user is None:
            return list(argv)
        name = self._as_user.pw_name
        runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
        if runuser:
            return [runuser, "-u", name, "--", *argv]
        setpriv = shutil.which("setpriv", path=f"{os.environ.get('PATH', '')}:/usr/bin:/bin")
        if setpriv:
            return [
                setpriv,
                f"--reuid={self._as_user.pw_uid}",
                f"--regid={self._as_user.pw_gid}",
                "--init-groups",
                "--",
                *argv,
            ]
        su = shutil.which("su", path=f"{os.environ.get('PATH', '')}:/usr/bin:/bin")
        if su:
            return [su, "-s", "/bin/sh", name, "-c", shlex.join(argv)]
        raise PostgresError("Running as root but none of runuser, setpriv or su is available")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _PG_CLIENT_ENV}
        env["LC_ALL"] = "C"
        env.pop("LANG", None)
        if self._as_user is not None and self.tmpdir is not None:
            env["HOME"] = str(self.tmpdir)
        return env

    def _run(
        self,
        argv: Sequence[str],
        *,
        as_server: bool,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        cmd = self._wrap(argv) if as_server else list(argv)
        try:
            result = subprocess.run(
                cmd,
                cwd=self.tmpdir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                # keep the server out of our terminal's process group (Ctrl-C)
                start_new_session=True,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            if not check:
                return subprocess.CompletedProcess(cmd, -1, "", str(e))
            raise PostgresError(f"{shlex.join(cmd)} failed: {e}") from e
        if check and result.returncode != 0:
            raise PostgresError(
                f"{shlex.join(cmd)} exited with status {result.returncode}:\n"
                f"{(result.stdout + result.stderr).strip()}"
            )
        return result

    def _initdb(self) -> None:
        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            as_server=True,
        )

    def _start_server(self, attempts: int = 5, port: int | None = None) -> None:
        """Start on `port`, else on a free port (another one if it was taken meanwhile)."""
        last_error = ""
        durability = "on" if self.durable else "off"
        fixed = port
        for _ in range(1 if fixed else attempts):
            port = fixed or free_ports()[0]
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-p {port}",
                    f"-k {self.socket_dir}",
                    f"-c fsync={durability}",
                    f"-c synchronous_commit={durability}",
                    f"-c full_page_writes={durability}",
                    f"-c max_connections={self.max_connections}",
                ]
            )
            result = self._run(
                [
                    self._bin("pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    str(self.start_timeout),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-o",
                    options,
                ],
                as_server=True,
                check=False,
                timeout=self.start_timeout + 30,
            )
            if result.returncode == 0:
                self.port = port
                return
            log = _tail(self.logfile)
            last_error = (
                f"pg_ctl start exited with status {result.returncode}:\n"
                f"{(result.stdout + result.stderr).strip()}\n"
                f"--- {self.logfile} (tail) ---\n{log}"
            )
            # Make sure nothing is left half-running before any retry.
            self._run(
                [self._bin("pg_ctl"), "stop", "-D", str(self.datadir), "-m", "immediate", "-w"],
                as_server=True,
                check=False,
            )
            if "already in use" not in log and "could not bind" not in log:
                break
        raise PostgresError(f"PostgreSQL failed to start.\n{last_error}")


def main(argv: Sequence[str] | None = None) -> int:
    del argv
    started = time.monotonic()
    with PostgresServer() as pg:
        elapsed = time.monotonic() - started
        print(pg.url, flush=True)
        print(
            f"# started in {elapsed:.2f}s; data in {pg.tmpdir}; "
            f"psql -h 127.0.0.1 -p {pg.port} -U {SUPERUSER}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        # A background job of a non-interactive shell starts with SIGINT ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
