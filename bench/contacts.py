"""CSV import of contacts through `ses-gateway contact import`: rows per second and peak memory.

    .venv/bin/python bench/contacts.py                          # 1,000,000 rows, SQLite
    .venv/bin/python bench/contacts.py --rows 100000            # a smaller file
    .venv/bin/python bench/contacts.py --database postgresql    # a throwaway PostgreSQL
    .venv/bin/python bench/contacts.py --json
    .venv/bin/python bench/contacts.py --commit HEAD~3          # that commit's code

A CSV file of --rows contacts (email, first_name, last_name, company, city; 1 in 50 addresses
with an IDN domain, 1 in 1,000 rows invalid, 1 in 500 a duplicate) is written to a temporary
directory, then imported twice into one list by the CLI in a child process: the first import
adds every contact, the second updates them all. For each, the wall time, rows per second and
the child's peak resident memory (`ru_maxrss` from wait4) are reported, with the CPU time the
import took (the CLI's, and PostgreSQL's server processes'): on a machine shared with other
work, rows per CPU second say more than rows per second. A flat memory shows as the same peak
for 100,000 and 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import code_under_test, tree_cpu_seconds  # noqa: E402 (after the path is set)

CLI = Path(sys.executable).parent / "ses-gateway"
DOMAINS = [f"mail{n}.example.com" for n in range(40)] + ["bücher.example", "例え.テスト"]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def write_file(path: Path, rows: int) -> int:
    """The CSV file; its size in bytes."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,first_name,last_name,company,city\r\n")
        for n in range(rows):
            if n % 1000 == 999:
                out.write(f"not-an-address-{n},x,y,z,w\r\n")
                continue
            number = n - 1 if n % 500 == 499 else n
            domain = DOMAINS[number % 50] if number % 50 < len(DOMAINS) else DOMAINS[0]
            out.write(
                f'person{number}@{domain},Name{number},"Family, {number % 97}",'
                f"Company {number % 1013},City {number % 211}\r\n"
            )
    return path.stat().st_size


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str, int]]:
    """A throwaway PostgreSQL: the URL of a fresh database and the postmaster's PID."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    log("starting PostgreSQL (fsync=off, synchronous_commit=off)")
    server.start()
    try:
        url = server.create_database("bench")
        yield url, int((server.datadir / "postmaster.pid").read_text().split()[0])
    finally:
        server.stop()


@dataclass
class Run:
    document: dict[str, Any]
    seconds: float
    cpu_seconds: float
    """The CLI process's CPU time (user and system): on SQLite, the database's work too."""
    peak_rss_kib: int


def cli(env: dict[str, str], *args: str) -> Run:
    """Run `ses-gateway --json ARGS`, reaped with wait4, which gives its own resource usage."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen([str(CLI), "--json", *args], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        document, problems = out.read().decode(), err.read().decode()
    if child.returncode:
        raise SystemExit(f"ses-gateway {' '.join(args)} failed: {document} {problems}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(json.loads(document), seconds, cpu, usage.ru_maxrss)


def run(rows: int, database: str, work: Path, source: Path) -> dict[str, object]:
    csv_file = work / "contacts.csv"
    size = write_file(csv_file, rows)
    log(f"{rows:,} rows, {size / 1e6:.1f} MB")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SES_GATEWAY_")}
    env |= {"SES_GATEWAY_DATA_DIR": str(work / "data"), "SES_GATEWAY_LOG_LEVEL": "WARNING"}
    env["PYTHONPATH"] = str(source)  # before the installed package: the code under test
    (work / "data").mkdir(exist_ok=True)  # a gateway's data folder (`ses-gateway init`)
    with contextlib.ExitStack() as stack:
        postmaster = None
        if database == "postgresql":
            env["SES_GATEWAY_DATABASE_URL"], postmaster = stack.enter_context(postgres())
        cli(env, "tenant", "create", "bench")
        cli(env, "list", "create", "bench", "--tenant", "bench")
        results: dict[str, object] = {"rows": rows, "bytes": size, "database": database}
        results["load_average_before"] = os.getloadavg()[0]
        for name in ("first", "again"):
            log(f"import ({name})")
            server_before = tree_cpu_seconds(postmaster) if postmaster else 0.0
            run = cli(env, "contact", "import", "bench", str(csv_file), "--tenant", "bench")
            server_cpu = (tree_cpu_seconds(postmaster) if postmaster else 0.0) - server_before
            cpu = run.cpu_seconds + server_cpu
            results[name] = {
                "seconds": round(run.seconds, 1),
                "rows_per_second": round(rows / run.seconds),
                "cpu_seconds": round(cpu, 1),
                "postgresql_cpu_seconds": round(server_cpu, 1),
                "rows_per_cpu_second": round(rows / cpu),
                "peak_rss_mib": round(run.peak_rss_kib / 1024, 1),
                **{k: run.document[k] for k in ("added", "updated", "duplicates", "invalid")},
            }
            log(f"{name}: {results[name]}")
        results["load_average_after"] = os.getloadavg()[0]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--commit", help="run this commit's code, not the working tree")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-contacts-") as work:
        source, code = code_under_test(args, Path(work))
        log(f"code: {code}")
        results = {"code": code, **run(args.rows, args.database, Path(work), source)}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name in ("first", "again"):
            print(f"{name}: {results[name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
