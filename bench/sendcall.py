"""The SES send call alone, in process: CPU time per `SesSender.send` against the fake SES.

    .venv/bin/python bench/sendcall.py                          # 2,000 sends, SESv2, direct
    .venv/bin/python bench/sendcall.py --api v1 --path aioboto3
    .venv/bin/python bench/sendcall.py --commit HEAD~1 --commit HEAD --rounds 3

The fake SES (`tests.support.fakeses`) runs in a process of its own, so that only the sender's
work is counted. Each measurement is a fresh child process that opens the gateway's
`SesClientProvider` (the default account: static credentials, `AWS_ENDPOINT_URL` at the fake),
sends 200 messages to warm up, then `-n` messages of 5 KB with the worker's tags, `--concurrency`
at a time, and reports the CPU time of that process (`time.process_time`) per send. With several
`--commit`s (each exported with `git archive`, as `bench/run.py --commit` does; `tree` or none:
this checkout), the codes alternate within each of `--rounds` rounds, so that a machine whose load
changes affects them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 200


async def measure(count: int, api: str, path: str, concurrency: int) -> dict[str, Any]:
    """In the child: the sends, timed. Imports the gateway of `PYTHONPATH` (the code measured)."""
    from config import Settings
    from gateway.aws.clients import SesClientProvider
    from gateway.aws.ses import Outgoing, SesSender

    raw = (
        b"From: bench@example.com\r\nTo: someone@example.org\r\nSubject: the send call\r\n\r\n"
        + b"The same line of a bench message, again and again, to make 5 KB.\r\n" * 76
    )
    with tempfile.TemporaryDirectory(prefix="bench-sendcall-") as data:
        settings = Settings(
            data_dir=Path(data),
            database_url="sqlite+aiosqlite://",
            hostname="bench.test",
            ses_send_api=api,
            ses_send_path=path,
            delivery_concurrency=concurrency,
        )
        async with SesClientProvider(settings) as provider:
            sender = SesSender(provider, settings)

            async def sends(number: int, first: int) -> None:
                for n in range(first, first + number):
                    tags = {"tenant": "acme", "queue_id": f"01JBENCH{n:018d}"}
                    await sender.send(
                        "acme", Outgoing("bench@example.com", [f"r{n}@example.org"], raw, tags)
                    )

            await asyncio.gather(
                *(sends(WARM_UP // concurrency, i * 10_000) for i in range(concurrency))
            )
            each = count // concurrency
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(
                *(sends(each, 1_000_000 + i * 100_000) for i in range(concurrency))
            )
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    sent = each * concurrency
    return {"sends": sent, "cpu_us_per_send": cpu / sent * 1e6, "sends_per_s": sent / wall}


def child(args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(measure(args.n, args.api, args.path, args.concurrency))))
    return 0


def parent(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from bench.run import code_under_test

    base = {k: v for k, v in os.environ.items() if not k.startswith(("SES_GATEWAY_", "AWS_"))}
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fakeses", "--max-send-rate", "100000"],
        cwd=ROOT,
        env={**base, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().split()[-1]
        with tempfile.TemporaryDirectory(prefix="bench-sendcall-") as work:
            codes = []
            for number, commit in enumerate(args.commit or [None]):
                tmp = Path(work) / str(number)
                tmp.mkdir()
                tree = None if commit == "tree" else commit
                source, code = code_under_test(argparse.Namespace(commit=tree), tmp)
                codes.append(
                    (source, (code["commit"] or "tree")[:10] + ("+" if code["dirty"] else ""))
                )
            env = {
                **base,
                "AWS_ENDPOINT_URL": url,
                "AWS_ACCESS_KEY_ID": "AKIDBENCH",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
                "AWS_REGION": "us-east-1",
            }
            argv = ["-n", str(args.n), "--api", args.api, "--path", args.path]
            argv += ["--concurrency", str(args.concurrency), "--child"]
            columns = ("round", "code", "api", "path", "µs/send", "sends/s", "load")
            print("{:>5}  {:<12} {:<3} {:<8} {:>8} {:>8} {:>5}".format(*columns))
            for round_ in range(1, args.rounds + 1):
                for source, name in codes:
                    done = subprocess.run(
                        [sys.executable, str(Path(__file__).resolve()), *argv],
                        env={**env, "PYTHONPATH": str(source)},
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if done.returncode:
                        print(done.stderr, file=sys.stderr)
                        return 1
                    result = json.loads(done.stdout.splitlines()[-1])
                    print(
                        f"{round_:>5}  {name:<12} {args.api:<3} {args.path:<8} "
                        f"{result['cpu_us_per_send']:>8.1f} {result['sends_per_s']:>8.0f} "
                        f"{os.getloadavg()[0]:>5.2f}",
                        flush=True,
                    )
    finally:
        fake.terminate()
        fake.wait()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="sends measured (after 200 to warm up)")
    parser.add_argument("--api", choices=("v2", "v1"), default="v2")
    parser.add_argument("--path", choices=("direct", "aioboto3"), default="direct")
    parser.add_argument("--concurrency", type=int, default=20, help="sends in flight")
    parser.add_argument(
        "--commit", action="append", help="this commit's code (repeatable; `tree`: this checkout)"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
