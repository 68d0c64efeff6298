"""CPU seconds used, while a command runs, by the processes of given names (any parent): what
Postfix's daemons spend beside the gateway's figures, which `bench/run.py` takes per process.

    .venv/bin/python bench/cpuwatch.py --names master,smtpd,cleanup,qmgr,smtp,trivial-rewrite \\
        -- bash ../shared/bench/postfix-baseline.sh 5000 20 5000

Polls /proc every 0.1 s and keeps each matching process's last reading (a process that lives
less than 0.1 s is missed: Postfix's daemons live on for `max_idle` after their work); processes
running at the start count from their reading then. Prints the CPU seconds so far before each
line the command prints (so that its phases can be told apart) and at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.run import cpu_seconds, system_cpu


def readings(names: set[str]) -> dict[int, tuple[str, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name in names:
                found[int(entry.name)] = (name, cpu_seconds(int(entry.name)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--names", required=True, help="process names (comm), comma-separated")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    names = set(args.names.split(","))
    start = readings(names)
    last = dict(start)
    busy_before = system_cpu()[0]
    began = time.monotonic()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            last.update(readings(names))
            time.sleep(0.1)

    def report(what: str) -> None:
        totals: dict[str, float] = {}
        for pid, (name, seconds) in dict(last).items():
            totals[name] = totals.get(name, 0.0) + seconds - start.get(pid, (name, 0.0))[1]
        own = ", ".join(f"{n} {s:.2f}" for n, s in sorted(totals.items()))
        print(
            f"[cpuwatch {what}] CPU seconds since the start: {own}; all "
            f"{sum(totals.values()):.2f}; the machine busy {system_cpu()[0] - busy_before:.1f} "
            f"in {time.monotonic() - began:.1f} s ({os.cpu_count()} CPUs)",
            flush=True,
        )

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    for line in child.stdout:  # a reading at each line the command prints: its phases
        last.update(readings(names))
        report("at the next line")
        print(line, end="", flush=True)
    child.wait()
    done.set()
    poller.join()
    last.update(readings(names))
    report("at the end")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
