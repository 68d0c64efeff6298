"""Memory under large messages: N clients (smtplib) each send one message of SIZE bytes at once
to `ses-gateway serve`, and the resident memory (RSS) of the SMTP process is sampled throughout.

    .venv/bin/python bench/bigmessages.py                    # 5 x 39 MB, SQLite
    .venv/bin/python bench/bigmessages.py --commit HEAD~3    # an older commit, to compare
    .venv/bin/python bench/bigmessages.py --database postgresql

The SMTP role runs apart from the delivery worker (`--split-roles`), so that the figures are
those of intake alone (the worker must hold each message whole for SES, see
docs/operations.md). Reports the RSS before, its peak while the messages come in, and after
every `250`; exits 1 unless every message was accepted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import smtplib
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as bench  # noqa: E402 - the helpers of bench/run.py, beside this file


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def message(size: int, number: int) -> bytes:
    head = (
        f"From: bench@{bench.SENDER_DOMAIN}\r\nTo: someone@example.net\r\n"
        f"Subject: large message {number}\r\n\r\n"
    ).encode()
    line = b"A" * 76 + b"\r\n"
    return head + line * ((size - len(head)) // len(line))


def send(port: int, username: str, password: str, data: bytes, replies: list[Any]) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
            client.starttls(context=context)
            client.login(username, password)
            client.sendmail(f"bench@{bench.SENDER_DOMAIN}", ["someone@example.net"], data)
        replies.append(250)
    except smtplib.SMTPException as exc:
        replies.append(repr(exc))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=5, help="default 5")
    parser.add_argument("-s", "--size", type=int, default=39_000_000, help="default 39 MB")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--commit", help="run this commit rather than the working tree")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gateway")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    # What `bench.start_gateway` reads of the options of bench/run.py.
    args.tls, args.connections, args.workers, args.split_roles = "starttls", args.messages, 1, True
    tmp = Path(tempfile.mkdtemp(prefix="bigmessages-"))
    children = bench.Children(tmp)
    deadline = time.monotonic() + 600
    try:
        with contextlib.ExitStack() as stack:
            args.source, report = bench.code_under_test(args, tmp)
            database_url = ""
            if args.database == "postgresql":
                database_url = stack.enter_context(bench.postgres(False)).url
                stack.callback(children.stop_all)
            gateways, target = bench.start_gateway(args, children, tmp, deadline, database_url)
            smtp = next(g for g in gateways if g.name == "gateway")
            bodies = [message(args.size, i) for i in range(args.messages)]
            time.sleep(1)
            before = rss_kib(smtp.pid)
            replies: list[Any] = []
            threads = [
                threading.Thread(
                    target=send,
                    args=(target["port"], target["username"], target["password"], b, replies),
                )
                for b in bodies
            ]
            peak = before
            started = time.monotonic()
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                peak = max(peak, rss_kib(smtp.pid))
                time.sleep(0.02)
            elapsed = time.monotonic() - started
            time.sleep(1)
            after = rss_kib(smtp.pid)
            report |= {
                "messages": args.messages,
                "size": args.size,
                "database": args.database,
                "accepted": replies.count(250),
                "errors": [r for r in replies if r != 250],
                "seconds": round(elapsed, 2),
                "rss_before_mib": round(before / 1024, 1),
                "rss_peak_mib": round(peak / 1024, 1),
                "rss_after_mib": round(after / 1024, 1),
                "rss_rise_mib": round((peak - before) / 1024, 1),
            }
            children.stop_all()
    finally:
        children.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    return 0 if report["accepted"] == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
