"""Scale-out in miniature (issue 15, target 5): the gateway on a durable PostgreSQL in 1, 2 and 3
processes, the CPU each role spends on a message, and what a model built from those figures
predicts.

    .venv/bin/python bench/scaleout.py                     # 3 layouts x 2 rounds, 3,000 messages
    .venv/bin/python bench/scaleout.py --rounds 3 -n 5000 --nice -10
    .venv/bin/python bench/scaleout.py --json

The layouts (each a `bench/run.py` run on a throwaway PostgreSQL with fsync, synchronous commit
and full-page writes on; the layouts alternate within a round, so that each round's runs share
the machine's period):

1. one `serve` (SMTP, web and worker in one process);
2. `serve --role smtp --role web` and `serve --role worker`;
3. the same and a second `serve --role worker`.

From each run: the CPU seconds per delivered message of each gateway process (SMTP, workers),
of PostgreSQL (the postmaster and all its backends, from /proc), of the load generator and the
fake SES, and of the rest of the machine; the transactions that wrote (the next transaction id,
exact), the WAL flushes and the WAL bytes PostgreSQL made per message.

Then the database's own ceiling: `pgbench` on another throwaway durable PostgreSQL, one-row
INSERTs each committed alone, at 1 to 32 clients (group commit lets one WAL flush carry the
commits of several clients), and once more at 8 clients with `commit_delay`.

The model (docs/performance.md, "Scale-out"): throughput = the least of, for each resource, what
it can serve: the cores left to the benchmark / the CPU all parts spend on a message; one SMTP
process (one core: the GIL) / its CPU per message; the worker processes / theirs; the database's
commits per second / the writing transactions per message. It prints the model's prediction
beside each measured run, and what it predicts for 8, 16 and 64 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import run as bench

LAYOUTS: dict[int, list[str]] = {
    1: [],
    2: ["--split-roles", "--workers", "1"],
    3: ["--split-roles", "--workers", "2"],
}
PROBE_CLIENTS = (1, 2, 4, 8, 16, 32)
COMMIT_DELAY = ("commit_delay=200", "commit_siblings=2")  # µs; a flush waits for company
EXTRAPOLATE = (2, 8, 16, 64)


def log(message: str) -> None:
    print(f"[scaleout] {message}", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace, processes: int) -> dict[str, Any]:
    """One `bench/run.py` run of a layout, reduced to CPU per message per role."""
    argv = ["--database", "postgresql", "-n", str(args.messages), *LAYOUTS[processes]]
    argv += ["-c", str(args.connections)]
    argv += [x for item in args.env for x in ("--env", item)]
    if args.commit:
        argv += ["--commit", args.commit]
    ns = bench.build_parser().parse_args(argv)
    ns.nice = args.nice
    log(f"{processes} process(es): bench/run.py {' '.join(argv)}")
    result = bench.run(ns)
    if result["failed"]:
        raise bench.BenchError(f"{result['failed']} messages failed: {result['failures']}")
    n: int = result["delivered"]
    cpu = result["cpu_seconds"]
    window = result["cpu_window_seconds"]

    def per_message(seconds: float) -> float:
        return round(1000 * seconds / n, 3)

    workers = [name for name in cpu if name.startswith("worker-")]
    pg = result["postgresql"]
    return {
        "processes": processes,
        "started": time.strftime("%H:%M:%S", time.gmtime()),
        "loadavg": result["machine"]["loadavg"],
        "code": result["code"],
        "end_to_end_per_second": result["end_to_end_per_second"],
        "accepted_per_second": result["accepted_per_second"],
        "end_of_data_to_250_ms": result["end_of_data_to_250_ms"],
        "ms_per_message": {
            # In the one-process layout every role is in "gateway".
            ("all roles" if processes == 1 else "smtp"): per_message(cpu["gateway"]),
            **({"worker": per_message(sum(cpu[w] for w in workers))} if workers else {}),
            "postgresql": per_message(cpu["postgresql"]),
            "bench": per_message(cpu["clients"] + cpu["fake-ses"]),
        },
        "other_cores": round(cpu["other processes"] / window, 2),
        "per_message": {
            "write_transactions": round(pg["write_transactions"] / n, 3),
            "wal_flushes": round(pg["wal_syncs"] / n, 3),
            "wal_kib": round(pg["wal_bytes"] / n / 1024, 2),
        },
    }


def pgbench(pg: bench.Postgres, clients: int, seconds: float, options: Sequence[str]) -> float:
    """Transactions per second of `pgbench` running tiny committed INSERTs."""
    script = Path(tempfile.mkdtemp(prefix="scaleout-")) / "commit.sql"
    script.write_text("INSERT INTO commits (at) VALUES (now());\n")
    env = {**os.environ, "PGOPTIONS": " ".join(f"-c {o}" for o in options)}
    argv = [str(pg.bindir / "pgbench"), *pg.connect, "-n", "-f", str(script)]
    argv += ["-c", str(clients), "-j", str(min(clients, 4)), "-T", str(int(seconds))]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60)
    script.unlink()
    script.parent.rmdir()
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    if done.returncode != 0 or found is None:
        raise bench.BenchError(f"pgbench failed: {done.stdout}{done.stderr}")
    return float(found.group(1))


def fdatasyncs(bindir: Path) -> float:
    """`pg_test_fsync`'s `fdatasync` of one 8 kB write per second (PostgreSQL's WAL flush on
    Linux), in the temporary folder: the most WAL flushes a second this disk allows one
    writer."""
    with tempfile.TemporaryDirectory(prefix="scaleout-") as folder:
        argv = [str(bindir / "pg_test_fsync"), "-s", "2", "-f", f"{folder}/test"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    found = re.search(r"^\s+fdatasync\s+([\d.]+) ops/sec", done.stdout, re.MULTILINE)
    if found is None:
        raise bench.BenchError(f"pg_test_fsync failed: {done.stdout}{done.stderr}")
    return float(found.group(1))


def commit_ceiling(seconds: float) -> dict[str, Any]:
    """Committed one-row transactions per second on a durable throwaway PostgreSQL, and the
    disk's flushes per second."""
    with bench.postgres(durable=True) as pg:
        flushes = round(fdatasyncs(pg.bindir), 1)
        log(f"pg_test_fsync: {flushes} fdatasyncs/s")
        pg.query("CREATE TABLE commits (id bigserial PRIMARY KEY, at timestamptz)")
        rates: dict[str, float] = {}
        for clients in PROBE_CLIENTS:
            rates[str(clients)] = round(pgbench(pg, clients, seconds, ()), 1)
            log(f"pgbench, {clients} client(s): {rates[str(clients)]} commits/s")
        delayed = round(pgbench(pg, 8, seconds, COMMIT_DELAY), 1)
        log(f"pgbench, 8 clients, {' '.join(COMMIT_DELAY)}: {delayed} commits/s")
    return {
        "fdatasyncs_per_second": flushes,
        "clients": rates,
        "commit_delay_8_clients": delayed,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def model_inputs(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Median CPU per message of each role over the runs of one layout, and writing
    transactions. Per layout: a second worker is not free (a worker that is not the bottleneck
    claims fewer messages a claim, polls and runs its own periodic tasks)."""

    def median(key: str) -> float:
        values = [r["ms_per_message"][key] for r in runs if key in r["ms_per_message"]]
        return round(statistics.median(values), 3) if values else 0.0

    return {
        "smtp": median("smtp"),
        "worker": median("worker"),
        "all roles": median("all roles"),
        "postgresql": median("postgresql"),
        "bench": median("bench"),
        "write_transactions": round(
            statistics.median(r["per_message"]["write_transactions"] for r in runs), 3
        ),
    }


def predict(
    m: dict[str, float], processes: int, cores: float, commits_per_second: float, bench_cpu: bool
) -> tuple[float, str, dict[str, float]]:
    """The model: the least of what each resource can serve, in messages per second, and which
    resource that is. `bench_cpu`: the load generator and the fake SES share the cores."""
    gateway = m["all roles"] if processes == 1 else m["smtp"] + m["worker"]
    total = gateway + m["postgresql"] + (m["bench"] if bench_cpu else 0.0)
    limits = {"cores": 1000 * cores / total}
    if processes == 1:
        limits["the one process (one core)"] = 1000 / m["all roles"]
    else:
        limits["the SMTP process (one core)"] = 1000 / m["smtp"]
        limits[f"{processes - 1} worker process(es)"] = 1000 * (processes - 1) / m["worker"]
    limits["database commits"] = commits_per_second / m["write_transactions"]
    name = min(limits, key=lambda k: limits[k])
    return limits[name], name, {k: round(v) for k, v in limits.items()}


def extrapolate(m: dict[str, float], ceiling: float) -> list[dict[str, Any]]:
    """N cores for the gateway and PostgreSQL, clients and SES elsewhere, as many SMTP and
    worker processes as the roles' CPU shares need (several SMTP processes: one per instance,
    or one per listener)."""
    gateway_and_db = m["smtp"] + m["worker"] + m["postgresql"]
    rows = []
    for cores in EXTRAPOLATE:
        cpu_limit = 1000 * cores / gateway_and_db
        db_limit = ceiling / m["write_transactions"]
        rate = min(cpu_limit, db_limit)
        rows.append(
            {
                "cores": cores,
                "cpu_limit": round(cpu_limit),
                "database_limit": round(db_limit),
                "predicted": round(rate),
                "limited_by": "cores" if cpu_limit <= db_limit else "database commits",
                "smtp_processes": round(rate * m["smtp"] / 1000, 1),
                "worker_processes": round(rate * m["worker"] / 1000, 1),
                "postgresql_cores": round(rate * m["postgresql"] / 1000, 1),
                "commits_per_second": round(rate * m["write_transactions"]),
            }
        )
    return rows


def render(report: dict[str, Any]) -> str:
    lines = ["Runs (CPU per delivered message, ms):"]
    for r in report["runs"]:
        roles = ", ".join(f"{k} {v}" for k, v in r["ms_per_message"].items())
        pm = r["per_message"]
        lines.append(
            f"  {r['started']} load {' '.join(r['loadavg'])}: {r['processes']} process(es) "
            f"{r['end_to_end_per_second']:.0f} msgs/s end to end (model {r['predicted']:.0f}, "
            f"limit: {r['limited_by']}); {roles}; other processes {r['other_cores']} cores; "
            f"{pm['write_transactions']} write transactions, {pm['wal_flushes']} WAL flushes, "
            f"{pm['wal_kib']} KiB WAL a message; end of DATA -> 250 p99 "
            f"{r['end_of_data_to_250_ms']['p99']} ms"
        )
    c = report["commit_ceiling"]
    rates = ", ".join(f"{k}: {v:.0f}" for k, v in c["clients"].items())
    lines.append(
        f"WAL flushes/s of the disk (pg_test_fsync, fdatasync): {c.get('fdatasyncs_per_second')}; "
        f"commits/s of a durable PostgreSQL (pgbench, clients: rate): {rates}; 8 clients with "
        f"{' '.join(COMMIT_DELAY)}: {c['commit_delay_8_clients']:.0f} "
        f"(load {' '.join(c['loadavg'])})"
    )
    for k, m in report["model"].items():
        lines.append(f"Model inputs, {k} process(es) (medians): {json.dumps(m)}")
    lines.append(
        f"Predicted, gateway and PostgreSQL on N cores (two-process figures), commit ceiling "
        f"{report['ceiling']:.0f}/s:"
    )
    for row in report["extrapolation"]:
        lines.append(
            f"  {row['cores']:>2} cores: {row['predicted']} msgs/s ({row['limited_by']}; cores "
            f"allow {row['cpu_limit']}, commits {row['database_limit']}), SMTP processes "
            f"{row['smtp_processes']}, workers {row['worker_processes']}, PostgreSQL cores "
            f"{row['postgresql_cores']}, {row['commits_per_second']} commits/s"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=3000, help="per run (default 3000)")
    parser.add_argument("-c", "--connections", type=int, default=20, help="default 20")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each layout (default 2)")
    parser.add_argument(
        "--layouts", default="1,2,3", help="process counts to run, of 1,2,3 (default all)"
    )
    parser.add_argument(
        "--probe-seconds", type=float, default=5, help="pgbench per client count (default 5)"
    )
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--commit", metavar="REV", help="measure this commit (bench/run.py)")
    parser.add_argument("--nice", type=int, default=0, help="as bench/run.py --nice")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--replay", metavar="FILE", help="no runs: the model again from a --json report"
    )
    args = parser.parse_args(argv)
    if args.replay:
        report = model(json.loads(Path(args.replay).read_text()))
        print(json.dumps(report, indent=2) if args.json else render(report))
        return 0
    layouts = [int(x) for x in args.layouts.split(",")]
    if not set(layouts) <= set(LAYOUTS) or args.rounds < 1:
        parser.error("--layouts takes 1, 2 and 3; --rounds at least 1")
    if not bench.prepare_process(args.nice):
        return 2
    try:
        ceiling = commit_ceiling(args.probe_seconds)
        runs = [measure(args, k) for _ in range(args.rounds) for k in layouts]
    except bench.BenchError as exc:
        print(f"scaleout: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, bench.Interrupted):
        print("scaleout: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    report = model({"runs": runs, "commit_ceiling": ceiling})
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def model(report: dict[str, Any]) -> dict[str, Any]:
    """The model's inputs, its prediction for each run (with the cores the rest of the machine
    left it) and for more cores (from the two-process layout: one SMTP process and workers)."""
    runs = report["runs"]
    inputs = {
        str(k): model_inputs([r for r in runs if r["processes"] == k])
        for k in sorted({r["processes"] for r in runs})
    }
    # The gateway's commits come from several connections at once (SMTP, claims, outcomes).
    top = max(report["commit_ceiling"]["clients"].values())
    nproc = os.cpu_count() or 1
    for r in runs:
        m = inputs[str(r["processes"])]
        rate, name, limits = predict(m, r["processes"], nproc - r["other_cores"], top, True)
        r.update(predicted=round(rate), limited_by=name, limits=limits)
    return {
        **report,
        "ceiling": top,
        "model": inputs,
        "extrapolation": extrapolate(inputs["2"], top) if "2" in inputs else [],
    }


if __name__ == "__main__":
    sys.exit(main())
