"""Fault campaigns, by hand: the gateway under SMTP load while something breaks, with figures.

    .venv/bin/python bench/faults.py kill9 --database sqlite --cycles 100
    .venv/bin/python bench/faults.py kill9 --database postgresql --cycles 100
    .venv/bin/python bench/faults.py postgres-restart --outages 10
    .venv/bin/python bench/faults.py disk-full --outages 10      # root: mounts a tmpfs

Loopback only: the fake SES, the gateway (`ses-gateway serve`) and a throwaway PostgreSQL run as
processes here; everything is stopped and the temporary directory removed at the end. Exits 0
when the campaign kept its promises (no message lost; only crashes explain duplicates; only
`4xx` replies with an enhanced code during a database fault), 1 otherwise, 2 when the fault
cannot be made here. The campaigns are `tests/support/faults.py`; short versions run in the test
suite (tests/admin/test_crash.py, tests/admin/test_database_faults.py). Figures and what they
mean: docs/operations.md, "Crash safety".
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.faults import FaultUnavailable, database_outages, kill_cycles  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402


def log(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def interrupted(signum: int, _: object) -> None:
    """Ctrl-C and SIGTERM stop the campaign wherever it is (asyncio.run, which each database
    read uses, would otherwise take SIGINT for its own task), and everything is cleaned up."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="SMTP clients sending at once")
    parser.add_argument("--keep", action="store_true", help="keep the directory (logs, database)")
    campaigns = parser.add_subparsers(dest="campaign", required=True)
    kill9 = campaigns.add_parser("kill9", help="kill -9 cycles under load")
    kill9.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    kill9.add_argument("--cycles", type=int, default=100)
    kill9.add_argument(
        "--run", type=float, default=1.0, help="seconds each process runs before its kill"
    )
    kill9.add_argument(
        "--lease", type=float, default=None, help="DELIVERY_LEASE (default: the gateway's)"
    )
    kill9.add_argument(
        "--minutes", type=float, default=None, help="start no cycle after that long (default: none)"
    )
    for name, what in (
        ("postgres-restart", "PostgreSQL crashed and started again under load"),
        ("disk-full", "SQLite's disk full under load (a tmpfs: needs root)"),
    ):
        outage = campaigns.add_parser(name, help=what)
        outage.add_argument("--outages", type=int, default=10)
        outage.add_argument("--down", type=float, default=3.0, help="seconds each fault lasts")
        outage.add_argument("--between", type=float, default=3.0, help="seconds between faults")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="faults-"))
    log(f"working in {directory}")
    try:
        if args.campaign == "kill9":
            if args.database == "postgresql":
                with PostgresServer() as server:
                    report = kill_cycles(
                        directory,
                        server.create_database("faults"),
                        args.cycles,
                        run=args.run,
                        lease=args.lease,
                        clients=args.clients,
                        minutes=args.minutes,
                        log=log,
                    )
            else:
                report = kill_cycles(
                    directory,
                    None,
                    args.cycles,
                    run=args.run,
                    lease=args.lease,
                    clients=args.clients,
                    minutes=args.minutes,
                    log=log,
                )
            summary, failures = report.summary(), report.failures()
        else:
            kind = "postgresql" if args.campaign == "postgres-restart" else "disk-full"
            outages = database_outages(
                directory,
                kind,
                args.outages,
                down=args.down,
                between=args.between,
                clients=args.clients,
                log=log,
            )
            summary, failures = outages.summary(), outages.failures()
    except FaultUnavailable as exc:
        log(f"cannot run this campaign here: {exc}")
        return 2
    finally:
        if args.keep:
            log(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    print(summary)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
