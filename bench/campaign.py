"""Campaign benchmark: a campaign rendered and spooled while an SMTP client sends transactional
mail, then a campaign delivered end to end to the fake SES.

    .venv/bin/python bench/campaign.py                           # 100,000 recipients, SQLite
    .venv/bin/python bench/campaign.py --database postgresql     # a throwaway PostgreSQL
    .venv/bin/python bench/campaign.py --recipients 20000 --end-to-end 5000 --json
    .venv/bin/python bench/campaign.py --commit HEAD~3           # that commit's code

Two runs, each with its own fake SES and `ses-gateway serve` (all roles in one process, as the
default command runs it), made by `bench/run.py`'s machinery:

1. **spool**: a list of `--recipients` contacts (imported from a generated CSV file with
   `contact import`), a template with variables, non-ASCII text, a fallback and a link, and a
   campaign launched with `campaign launch`. The fake SES reports a quota of `--ses-rate`
   messages a second (an SES account's: delivery is paced by it, as in production) and
   `CAMPAIGN_IN_FLIGHT` is the number of recipients (and `CAMPAIGN_QUEUE_SECONDS` a day), so the
   campaign sender makes every message as fast as it can. Meanwhile one SMTP client
   (`bench/loadgen.py`'s, STARTTLS + AUTH once) sends `--smtp-rate` transactional messages a
   second. Measured: messages spooled a second (from the launch's end to the last one stored,
   read from the gateway's `/metrics`), the gateway's CPU per message, and the client's
   end-of-DATA → `250` times.
2. **end to end**: `--end-to-end` recipients, the fake SES's quota unlimited and the default
   `CAMPAIGN_IN_FLIGHT`: from the launch's end until the fake SES holds every message, the
   figure to compare with `bench/run.py`'s SMTP end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen
import run as machinery

TENANT = "bench"  # bench/run.py's
SENDER = "News <news@example.com>"  # of its verified domain
PUBLIC_URL = "https://mail.bench.example"
SUBJECT = "{{first_name}}, our news for {{company | default('you')}}"
HTML = """<html><head><meta charset="utf-8"><title>News</title></head>
<body>
<h1>Hello {{first_name}},</h1>
<p>Here is what happened this month at {{company | default("your company")}}. Große
Neuigkeiten für alle Kunden, new offers &amp; a new shop in {{city | default("Zürich")}}.</p>
<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.</p>
<p><a href="https://example.com/offers?utm_source=news&amp;utm_campaign=december">See the offers</a></p>
<ul>
<li>Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.</li>
<li>Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.</li>
</ul>
<p>Best regards,<br>The team</p>
</body></html>
"""  # noqa: E501 - a paragraph on one line, as editors write them
QUEUED = "SELECT count(*) FROM campaign_recipients WHERE campaign_id = {} AND state = 'queued'"


def write_contacts(path: Path, rows: int) -> None:
    """email, first_name, company, city; one name in ten non-ASCII, one company in five
    missing (the fallback)."""
    with path.open("w", encoding="utf-8") as out:
        out.write("email,first_name,company,city\n")
        for i in range(rows):
            name = f"Zoë{i}" if i % 10 == 0 else f"Ann{i}"
            company = "" if i % 5 == 0 else f"Company {i % 97}"
            out.write(f"user{i}@example.org,{name},{company},Köln\n")


def made_counter(database_url: str, tmp: Path, campaign: int) -> Callable[[], int]:
    """How many of the campaign's messages are stored (its recipients `queued`), read from the
    gateway's database (every process's work, whatever the roles)."""
    query = QUEUED.format(int(campaign))
    if not database_url:
        path = tmp / "data" / "gateway.db"

        def sqlite_count() -> int:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
                conn.execute("PRAGMA busy_timeout = 5000")
                return int(conn.execute(query).fetchone()[0])

        return sqlite_count
    import asyncpg  # the gateway's own driver for PostgreSQL

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def fetch() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval(query))
        finally:
            await conn.close()

    return lambda: asyncio.run(fetch())


class SteadyClient(threading.Thread):
    """One SMTP connection sending `rate` messages a second until stopped: the transactional
    mail beside the campaign."""

    def __init__(self, target: dict[str, Any], rate: float, deadline: float) -> None:
        super().__init__(daemon=True)
        config = {
            "host": "127.0.0.1",
            "port": target["port"],
            "tls": "starttls",
            "username": target["username"],
            "password": target["password"],
            "pipelining": False,
            "resume": True,
            "io_timeout": 60,
        }
        self.client = loadgen.Client(config, loadgen.tls_context())
        self.client.connect()
        self.rate = rate
        self.deadline = deadline
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        started = time.monotonic()
        for index in range(1 << 40):
            if self.stop.is_set() or time.monotonic() > self.deadline:
                break
            wait = started + index / self.rate - time.monotonic()
            if wait > 0 and self.stop.wait(wait):
                break
            try:
                _, sent, done = self.client.transaction(loadgen.make_message(index, 5000, "tx"))
            except (OSError, loadgen.SmtpError) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                break
            self.latencies.append(done - sent)
        with contextlib.suppress(OSError, loadgen.SmtpError):
            self.client.quit()


def gateway_args(args: argparse.Namespace, ses_rate: float) -> argparse.Namespace:
    """What `bench/run.py`'s `start_gateway` reads: one `serve`, STARTTLS clients."""
    return argparse.Namespace(
        source=args.source,
        code=args.code,
        tls="starttls",
        split_roles=args.split_roles,
        workers=1,
        preload=0,
        connections=4,
        idle=0,
        env=args.env,
        ses_rate=ses_rate,
    )


def make_campaign(
    env: dict[str, str], workdir: Path, tmp: Path, recipients: int, deadline: float
) -> tuple[int, dict[str, float]]:
    """The list imported, the template and the campaign made; its id and the import's times."""
    cli = functools.partial(machinery.gateway_cli, env, workdir)
    csv = tmp / "contacts.csv"
    write_contacts(csv, recipients)
    (tmp / "news.html").write_text(HTML, encoding="utf-8")
    cli("list", "create", "news", "--tenant", TENANT)
    started = time.monotonic()
    report = cli("contact", "import", "news", str(csv), "--tenant", TENANT)
    imported = time.monotonic() - started
    if report.get("added") != recipients:
        raise machinery.BenchError(f"the import added {report.get('added')} of {recipients}")
    html = str(tmp / "news.html")
    cli("template", "create", "news", "--tenant", TENANT, "--subject", SUBJECT, "--html-file", html)
    campaign = cli(
        "campaign", "create", "autumn", "--tenant", TENANT, "--template", "news",
        "--list", "news", "--from", SENDER,
    )  # fmt: skip
    if time.monotonic() > deadline:
        raise machinery.BenchError("timed out making the campaign")
    return int(campaign["id"]), {"import_seconds": round(imported, 2)}


def launch(env: dict[str, str], workdir: Path, campaign: int) -> dict[str, float]:
    """`campaign launch`: the recipients materialised by the CLI; its wall and CPU time."""
    before = os.times()
    started = time.monotonic()
    machinery.gateway_cli(env, workdir, "campaign", "launch", str(campaign))
    after = os.times()
    cpu = after.children_user + after.children_system
    cpu -= before.children_user + before.children_system
    return {
        "launch_seconds": round(time.monotonic() - started, 2),
        "launch_cpu_seconds": round(cpu, 2),
    }


def one_gateway(
    args: argparse.Namespace,
    name: str,
    ses_rate: float,
    extra_env: list[str],
    body: Callable[[dict[str, Any], list[machinery.Child], Path], dict[str, Any]],
) -> dict[str, Any]:
    """A fake SES and a gateway of their own (and a PostgreSQL with `--database postgresql`)
    for `body`; everything stopped after."""
    deadline = time.monotonic() + args.timeout
    tmp = Path(tempfile.mkdtemp(prefix=f"ses-bench-{name}-", dir=args.tmpdir))
    children = machinery.Children(tmp)
    given = gateway_args(args, ses_rate)
    given.env = [*args.env, f"SES_GATEWAY_PUBLIC_URL={PUBLIC_URL}", *extra_env]
    try:
        with contextlib.ExitStack() as stack:
            database_url = ""
            cpu: dict[str, Callable[[], float]] = {}
            if args.database == "postgresql":
                server = stack.enter_context(machinery.postgres(args.pg_durable))
                database_url = server.url
                stack.callback(children.stop_all)
                cpu["postgresql"] = functools.partial(machinery.tree_cpu_seconds, server.postmaster)
            machinery.log(f"{name}: starting the fake SES and the gateway")
            gateways, target = machinery.start_gateway(given, children, tmp, deadline, database_url)
            target["deadline"], target["cpu"], target["database_url"] = deadline, cpu, database_url
            return body(target, gateways, tmp / "work")
    finally:
        children.stop_all()
        if args.keep:
            machinery.log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def spool(args: argparse.Namespace) -> dict[str, Any]:
    def body(
        target: dict[str, Any], gateways: list[machinery.Child], workdir: Path
    ) -> dict[str, Any]:
        env, deadline = target["env"], target["deadline"]
        campaign, made = make_campaign(env, workdir, workdir.parent, args.recipients, deadline)
        stored = made_counter(target["database_url"], workdir.parent, campaign)
        client = SteadyClient(target, args.smtp_rate, deadline)
        client.start()
        time.sleep(2.0)  # the client's steady state before the campaign
        made |= launch(env, workdir, campaign)
        machinery.log(f"launched campaign {campaign}: {args.recipients} recipients")
        # From here the campaign sender makes every message; the clock starts now.
        sent_before = len(client.latencies)
        start, start_base = time.monotonic(), stored()
        cpu_before = sum(machinery.cpu_seconds(g.pid) for g in gateways)
        other_before = {k: f() for k, f in target["cpu"].items()}
        system_before = machinery.system_cpu()[0]
        while (count := stored()) < args.recipients:
            for gateway in gateways:
                gateway.check_alive()
            if time.monotonic() > deadline:
                raise machinery.BenchError(f"timed out: {count} of {args.recipients} stored")
            time.sleep(0.25)
        end = time.monotonic()
        cpu = sum(machinery.cpu_seconds(g.pid) for g in gateways) - cpu_before
        others = {k: round(f() - other_before[k], 2) for k, f in target["cpu"].items()}
        busy = machinery.system_cpu()[0] - system_before
        during = client.latencies[sent_before:]
        time.sleep(2.0)  # and after it
        client.stop.set()
        client.join(30)
        if client.failures:
            raise machinery.BenchError(f"the SMTP client failed: {client.failures[0]}")
        made_in_window = args.recipients - start_base
        seconds = end - start
        return {
            "recipients": args.recipients,
            **made,
            "split_roles": args.split_roles,
            "spooled_during_launch": start_base,
            "spool_seconds": round(seconds, 2),
            "spooled_per_second": round(made_in_window / seconds, 1),
            "gateway_cpu_seconds": round(cpu, 2),
            "gateway_cpu_ms_per_message": round(cpu / made_in_window * 1000, 3),
            "database_cpu_seconds": others,
            "machine_busy_cpu_seconds": round(busy, 2),
            "smtp_rate": args.smtp_rate,
            "smtp_messages_during": len(during),
            "smtp_end_of_data_to_250_ms_during": machinery.ms(during),
            "smtp_end_of_data_to_250_ms_all": machinery.ms(client.latencies),
        }

    return one_gateway(
        args,
        "spool",
        args.ses_rate,
        [
            f"SES_GATEWAY_CAMPAIGN_IN_FLIGHT={args.recipients + 1}",
            "SES_GATEWAY_CAMPAIGN_QUEUE_SECONDS=86400",  # no bound by the SES pace either
        ],
        body,
    )


def end_to_end(args: argparse.Namespace) -> dict[str, Any]:
    def body(
        target: dict[str, Any], gateways: list[machinery.Child], workdir: Path
    ) -> dict[str, Any]:
        env, deadline = target["env"], target["deadline"]
        count = args.end_to_end
        campaign, made = make_campaign(env, workdir, workdir.parent, count, deadline)
        counter = machinery.FakeSesCounter(target["fake_port"])
        made |= launch(env, workdir, campaign)
        start = time.monotonic()
        cpu_before = sum(machinery.cpu_seconds(g.pid) for g in gateways)
        at_launch = counter.count()
        while (delivered := counter.count()) < count:
            for gateway in gateways:
                gateway.check_alive()
            if time.monotonic() > deadline:
                raise machinery.BenchError(f"timed out: the fake SES holds {delivered} of {count}")
            time.sleep(0.02)
        seconds = time.monotonic() - start
        cpu = sum(machinery.cpu_seconds(g.pid) for g in gateways) - cpu_before
        return {
            "recipients": count,
            **made,
            "at_ses_during_launch": at_launch,
            "end_to_end_seconds": round(seconds, 2),
            "end_to_end_per_second": round((count - at_launch) / seconds, 1),
            "gateway_cpu_ms_per_message": round(cpu / (count - at_launch) * 1000, 3),
        }

    return one_gateway(args, "e2e", 100000, [], body)


def render(result: dict[str, Any]) -> str:
    lines = [f"code: {result['code']}, database: {result['database']}, load: {result['load']}"]
    if (s := result.get("spool")) is not None:
        smtp = s["smtp_end_of_data_to_250_ms_during"]
        lines += [
            f"spool: {s['recipients']} recipients in {s['spool_seconds']} s: "
            f"{s['spooled_per_second']} messages/s, gateway CPU "
            f"{s['gateway_cpu_ms_per_message']} ms/message (database: {s['database_cpu_seconds']})",
            f"  import {s['import_seconds']} s, launch {s['launch_seconds']} s "
            f"(CPU {s['launch_cpu_seconds']} s); SES quota {result['ses_rate']}/s",
            f"  SMTP beside it at {s['smtp_rate']}/s: {s['smtp_messages_during']} messages, "
            f"end of DATA -> 250 p50 {smtp['p50']} p90 {smtp['p90']} p99 {smtp['p99']} "
            f"max {smtp['max']} ms",
        ]
    if (e := result.get("end_to_end")) is not None:
        lines.append(
            f"end to end: {e['recipients']} recipients at the fake SES in "
            f"{e['end_to_end_seconds']} s: {e['end_to_end_per_second']} messages/s, gateway CPU "
            f"{e['gateway_cpu_ms_per_message']} ms/message"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000, help="default 100000")
    parser.add_argument(
        "--end-to-end", type=int, default=5000, help="recipients of the end-to-end run (0: none)"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-unsafe",
        dest="pg_durable",
        action="store_false",
        help="PostgreSQL without fsync and synchronous commit (as the tests run it)",
    )
    parser.add_argument("--smtp-rate", type=float, default=20, help="transactional msgs/s")
    parser.add_argument("--ses-rate", type=float, default=10, help="the spool run's SES quota")
    parser.add_argument(
        "--split-roles",
        action="store_true",
        help="serve --role smtp --role web, and serve --role worker (the campaign sender)",
    )
    parser.add_argument("--commit", help="run this commit's code, not the working tree")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gateway")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--tmpdir", help="where to make the temporary directories")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def main() -> int:
    args = build_parser().parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, machinery._interrupt)
    source_tmp = Path(tempfile.mkdtemp(prefix="ses-bench-src-", dir=args.tmpdir))
    try:
        args.source, args.code = machinery.code_under_test(args, source_tmp)
        result: dict[str, Any] = {
            "code": args.code,
            "database": args.database,
            "ses_rate": args.ses_rate,
            "load": Path("/proc/loadavg").read_text().split()[:3],
            "nproc": os.cpu_count(),
        }
        if args.recipients:
            result["spool"] = spool(args)
        if args.end_to_end:
            result["end_to_end"] = end_to_end(args)
        result["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    except machinery.BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, machinery.Interrupted):
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(source_tmp, ignore_errors=True)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
