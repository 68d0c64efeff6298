"""Fault campaign: an SMTP fuzzer drives random and hostile sessions into `ses-gateway serve`.

    .venv/bin/python -m bench.campaigns.smtpfuzz                    # 10,000 sessions
    .venv/bin/python -m bench.campaigns.smtpfuzz --sessions 500 --seed 3 --json
    .venv/bin/python -m bench.campaigns.smtpfuzz --replay 1234 --seed 3   # one session, verbosely

A grammar-based generator, seeded: session N of seed S is the same session on every run. Each
session connects to the submission port (plain, then maybe STARTTLS) or the SMTPS port, from
127.0.0.1 (a trusted network of the tenant: no AUTH needed) or 127.0.0.2 (AUTH needed), and
plays a random walk of commands: EHLO/HELO/MAIL/RCPT/DATA/RSET/NOOP/VRFY/EXPN/HELP/AUTH/
STARTTLS/BDAT/QUIT and unknown verbs, with valid, hostile and broken arguments (long lines, NUL,
bare CR or LF, non-UTF-8 bytes, non-ASCII, unknown parameters), pipelined bursts, and messages
with random MIME (nested multiparts, broken boundaries, unknown charsets and transfer encodings,
8-bit bytes, long header lines, dot-stuffing), or hangs up anywhere.

It passes (exit 0) when the gateway is still running and still accepts a well-formed message at
the end, logged no error and no traceback, answered no command with `451 4.3.0` (an internal
error: a client mistake must get a 5xx, not a temporary failure), every reply had an enhanced
status code, no command went unanswered, and its RSS grew by less than `--max-growth` MB from
the end of the first tenth of the sessions (the warm-up: caches, pools) to the end.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import random
import re
import smtplib
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.support.process import (
    FakeSesProcess,
    Gateway,
    Process,
    Processes,
    client_tls,
    problems,
    provision,
    send,
)

REPLY_TIMEOUT = 15.0
_REPLY_LINE = re.compile(rb"^(\d{3})([ -])(.*)$")
_ENHANCED = re.compile(rb"^[245]\.\d{1,3}\.\d{1,3}( |$)")
_PENDING_TASK = re.compile(
    r"ERROR asyncio Task was destroyed but it is pending!\ntask: <Task pending .*"
    r"coro=<AsyncAdapt_aiosqlite_connection\._terminate_graceful_close\(\)"
)
"""SQLAlchemy 2.1's aiosqlite adapter, when a query is cancelled (the client hung up): it
shields a graceful close of the connection in a task that nothing keeps, and asyncio logs its
garbage collection. Counted apart: the connection is closed by force all the same."""
_EXCEPTION = re.compile(r"^\w+(?:\.\w+)*(?:Error|Exception): .*$", re.MULTILINE)
"""The last line of a traceback in the gateway's log."""
TRUSTED, UNTRUSTED, FRESH = "127.0.0.1", "127.0.0.2", "127.0.0.3"

# -- the generator ----------------------------------------------------------------------------

_DOMAINS = ["example.com", "example.org", "gw.test", "[127.0.0.1]", "[IPv6:::1]", "localhost"]
_HOSTILE = [
    "",
    " ",
    "\x00",
    "\t",
    "<>",
    "<<>>",
    "<@route.example:a@example.org>",
    '"quoted local"@example.org',
    "a@b@c",
    "@example.org",
    "a@",
    "é@example.org",
    "a@exämple.org",
    "a@xn--n3h.example",
    "\U0001f4a9@example.org",
    "a" * 65 + "@example.org",
    "a@" + "b" * 64 + ".example",
    "a@" + ".".join(["c"] * 200),
    "%s",
    "${jndi:ldap://x}",
    "'; DROP TABLE messages; --",
    "../../etc/passwd",
    "=?utf-8?b?w6k=?=",
]
_PARAMETERS = [
    "SIZE=1000",
    "SIZE=99999999999999999999",
    "SIZE=-1",
    "SIZE=abc",
    "SIZE=",
    "BODY=8BITMIME",
    "BODY=7BIT",
    "BODY=BINARYMIME",
    "BODY=junk",
    "SMTPUTF8",
    "AUTH=<>",
    "AUTH=x@example.com",
    "RET=HDRS",
    "ENVID=abc",
    "NOTIFY=SUCCESS,FAILURE",
    "ORCPT=rfc822;a@example.org",
    "X-UNKNOWN=1",
    "=",
    "==",
    "SIZE=1 SIZE=2",
]
_VERBS = [
    "EHLO",
    "HELO",
    "MAIL",
    "RCPT",
    "DATA",
    "RSET",
    "NOOP",
    "VRFY",
    "EXPN",
    "HELP",
    "AUTH",
    "STARTTLS",
    "BDAT",
    "QUIT",
    "ETRN",
    "TURN",
    "XCLIENT",
    "XFORWARD",
    "GET",
    "POST",
    "\x00",
    "MAIL FROM",
]
_CHARSETS = ["utf-8", "us-ascii", "iso-8859-1", "shift_jis", "utf-7", "x-unknown", "", "utf-16"]
_ENCODINGS = ["7bit", "8bit", "binary", "quoted-printable", "base64", "x-uuencode", "junk", ""]


class Generator:
    """Random pieces of SMTP and MIME, valid and hostile, from one seeded `random.Random`."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def text(self, low: int = 0, high: int = 40) -> str:
        alphabet = self.rng.choice(
            [
                "abcdefghijklmnopqrstuvwxyz0123456789.-_",
                "".join(map(chr, range(32, 127))),
                "éüßçñ漢字日本語🙂\u202e\u200b",
                "\x00\x01\x7f\r\n\t ",
            ]
        )
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(low, high)))

    def raw(self, text: str) -> bytes:
        """Text as bytes: UTF-8 mostly, else Latin-1 (invalid UTF-8) or random bytes spliced."""
        if self.chance(0.85):
            return text.encode("utf-8")
        if self.chance(0.5):
            return text.encode("latin-1", "replace")
        data = bytearray(text.encode())
        for _ in range(self.rng.randint(1, 4)):
            data.insert(self.rng.randint(0, len(data)), self.rng.randint(128, 255))
        return bytes(data)

    def address(self, sender: bool = False) -> str:
        if self.chance(0.6):
            local = "demo" if sender else self.rng.choice(["someone", "a.b+tag", "x"])
            domain = "example.com" if sender else self.rng.choice(["example.org", "example.net"])
            return f"{local}@{domain}"
        if self.chance(0.5):
            return self.rng.choice(_HOSTILE)
        return f"{self.text(0, 20)}@{self.text(0, 20)}"

    def path(self, sender: bool = False) -> str:
        address = self.address(sender)
        form = self.rng.random()
        if form < 0.8:
            path = f"<{address}>"
        elif form < 0.9:
            path = address
        else:
            path = f"<{address}"
        params = " ".join(self.rng.sample(_PARAMETERS, self.rng.randint(0, 2)))
        return f"{path} {params}".rstrip() if self.chance(0.3) else path

    def eol(self) -> bytes:
        return b"\r\n" if self.chance(0.97) else self.rng.choice([b"\n", b"\r\r\n"])

    def line_filler(self) -> str:
        return "x" * self.rng.choice([500, 998, 999, 1100, 5000, 70_000])

    def command(self, state: SessionState) -> tuple[str, bytes]:
        """The next command: (verb for the figures, the bytes to write)."""
        verb = self.rng.choice(_VERBS)
        if state.greeted and self.chance(0.5):
            # A well-formed transaction, a step at a time, so that DATA and MIME are reached.
            verb, state.step = ("MAIL", "RCPT", "DATA")[state.step], (state.step + 1) % 3
            argument = {"MAIL": "FROM:<demo@example.com>", "RCPT": "TO:<someone@example.org>"}
            line = f"{verb} {argument[verb]}" if verb in argument else verb
            return verb, line.encode() + b"\r\n"
        if not state.greeted and self.chance(0.7):
            verb = "EHLO"
        if not state.tls and state.can_starttls and self.chance(0.5):
            verb = "STARTTLS"
        if verb in ("EHLO", "HELO"):
            argument = self.rng.choice(_DOMAINS) if self.chance(0.7) else self.text()
        elif verb == "MAIL":
            argument = f"FROM:{self.path(sender=True)}" if self.chance(0.9) else self.text()
        elif verb == "RCPT":
            argument = f"TO:{self.path()}" if self.chance(0.9) else self.text()
        elif verb == "AUTH":
            argument = self.auth(state)
        elif verb == "BDAT":
            argument = self.rng.choice(["0 LAST", "10", "x", ""])
        elif verb in ("DATA", "QUIT", "RSET", "STARTTLS") and self.chance(0.9):
            argument = ""
        else:
            argument = self.text()
        if self.chance(0.02):
            argument += self.line_filler()
        if self.chance(0.1):
            verb_text = "".join(
                c.lower() if self.chance(0.5) else c for c in verb
            )  # commands are case-insensitive
        else:
            verb_text = verb
        line = f"{verb_text} {argument}" if argument else verb_text
        return verb, self.raw(line) + self.eol()

    def auth(self, state: SessionState) -> str:
        mechanism = self.rng.choice(["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "plain", ""])
        if mechanism.upper() != "PLAIN" or self.chance(0.3):
            if self.chance(0.5):
                return mechanism
            return f"{mechanism} {self.text(0, 60)}"
        user, password = state.credentials
        if self.chance(0.15):
            password = self.text(1, 12)  # wrong: counts towards the address's lockout
        elif self.chance(0.2):
            user = self.text(0, 300)
        token = f"\x00{user}\x00{password}".encode("utf-8", "surrogatepass")
        if self.chance(0.1):
            return f"PLAIN {self.text(0, 40)}"  # not base64
        return f"PLAIN {base64.b64encode(token).decode()}"

    def header_value(self) -> str:
        kind = self.rng.random()
        if kind < 0.5:
            return self.text(0, 60)
        if kind < 0.7:
            return "=?" + self.rng.choice(_CHARSETS) + "?" + self.rng.choice("BQbqx") + "?"
        if kind < 0.85:
            return self.text(0, 60) + "\r\n " + self.text(0, 60)  # folded
        return self.line_filler()

    def message(self) -> bytes:
        """A message, as written after DATA's 354, before the final `.` line."""
        headers: list[str] = []
        if self.chance(0.9):
            headers.append(f"From: {self.address(sender=True)}")
        if self.chance(0.8):
            headers.append(f"To: {self.address()}")
        if self.chance(0.8):
            headers.append(f"Subject: {self.header_value()}")
        for _ in range(self.rng.randint(0, 4)):
            name = self.rng.choice(
                ["X-Test", "Message-ID", "Date", "Resent-From", "Sender", "Reply-To", "Bcc"]
            )
            headers.append(f"{name}: {self.header_value()}")
        if self.chance(0.05):
            headers.append("no colon in this header line")
        if self.chance(0.05):
            headers.append("DKIM-Signature: v=1; a=rsa-sha256; d=example.com; b=abc")
        lines = "\r\n".join(headers).encode("utf-8", "surrogatepass") + b"\r\n"
        body = self.entity(depth=0)
        data = lines + body
        if self.chance(0.05):
            data = data.replace(b"\r\n", b"\n", self.rng.randint(1, 3))  # a bare LF or two
        # Dot-stuffing: a line that starts with "." is written with another "." before it.
        return re.sub(rb"(?m)^\.", b"..", data)

    def entity(self, depth: int) -> bytes:
        """The MIME headers (Content-*) then the body of one entity."""
        kind = self.rng.random()
        if kind < 0.3 and depth < 4:
            boundary = self.rng.choice(["b1", "=_part", "a" * 80, "", "x y", self.text(1, 20)])
            subtype = self.rng.choice(["mixed", "alternative", "related", "signed", "digest"])
            parts = b"".join(
                b"--" + boundary.encode("utf-8", "replace") + b"\r\n" + self.entity(depth + 1)
                for _ in range(self.rng.randint(0, 4))
            )
            closing = b"--" + boundary.encode("utf-8", "replace") + b"--\r\n"
            head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'
            return head.encode("utf-8", "replace") + parts + (closing if self.chance(0.8) else b"")
        content_type = self.rng.choice(
            ["text/plain", "text/html", "application/octet-stream", "message/rfc822", "image/png"]
        )
        charset = self.rng.choice(_CHARSETS)
        encoding = self.rng.choice(_ENCODINGS)
        head = f"Content-Type: {content_type}; charset={charset}\r\n"
        if encoding:
            head += f"Content-Transfer-Encoding: {encoding}\r\n"
        if self.chance(0.2):
            head += "Content-Disposition: attachment; filename=" + self.text(0, 30) + "\r\n"
        if content_type == "text/html":
            content = self.html()
        elif content_type == "message/rfc822" and depth < 4:
            return head.encode("utf-8", "replace") + b"\r\n" + self.message()
        else:
            content = self.text(0, 400)
        data = self.raw(content)
        if encoding == "base64" and self.chance(0.8):
            data = base64.encodebytes(data).replace(b"\n", b"\r\n")
        elif encoding == "quoted-printable" and self.chance(0.5):
            data += b"=\r\n=ZZ=\r\n"
        return head.encode("utf-8", "replace") + b"\r\n" + data + b"\r\n"

    def html(self) -> str:
        pieces = [
            "<html><body>",
            '<a href="https://example.org/a?b=1&amp;c=2">link</a>',
            "<a href=https://example.org/unquoted>u</a>",
            "<!-- <a href='https://example.org/comment'> -->",
            "<script>var s = '<a href=\"https://x\">';</script>",
            '<area href="HTTPS://EXAMPLE.ORG/AREA">',
            "<base href='https://example.org/'>",
            "<![CDATA[ <a href='https://example.org/cdata'> ]]>",
            "<template><a href='https://example.org/t'>t</a></template>",
            "<a href='https://example.org/%s' data-ses-gateway-notrack>n</a>",
            '<a href="javascript:alert(1)">j</a>',
            "<a href",
            "<a href='",
            "</body></html>",
        ]
        return "".join(self.rng.choice(pieces) for _ in range(self.rng.randint(0, 12)))


# -- a session --------------------------------------------------------------------------------


@dataclass
class SessionState:
    credentials: tuple[str, str]
    can_starttls: bool
    greeted: bool = False
    tls: bool = False
    step: int = 0
    """The next command of a well-formed transaction: MAIL, RCPT, DATA."""


@dataclass
class Figures:
    """What a campaign measured; `ok` when nothing went wrong (see the module's docstring)."""

    sessions: int = 0
    commands: int = 0
    messages_sent: int = 0
    """Messages that got `250` after DATA."""
    replies: dict[str, int] = field(default_factory=dict)
    internal_errors: list[str] = field(default_factory=list)
    """`451 4.3.0` replies: (session, command) samples."""
    other_451: int = 0
    """`451` for a rate or daily limit (`4.7.1`): a limit, not a client's mistake."""
    without_enhanced_code: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    """Commands with no reply within `REPLY_TIMEOUT`, the connection still open."""
    closed_without_reply: int = 0
    """Connections the gateway closed with no reply to the last command (after a hostile line)."""
    crashed: bool = False
    final_message_accepted: bool = False
    log_problems: list[str] = field(default_factory=list)
    pending_task_errors: int = 0
    """`Task was destroyed but it is pending!` for SQLAlchemy's aiosqlite close (see above)."""
    exceptions: dict[str, int] = field(default_factory=dict)
    """The exceptions of the tracebacks in the log, by their last line."""
    rss_kib: dict[str, int] = field(default_factory=dict)
    """The gateway's VmRSS: at start, after the warm-up (the first tenth), at the end."""
    seconds: float = 0.0
    max_growth_mib: float = 50.0

    @property
    def rss_growth_mib(self) -> float:
        return (self.rss_kib.get("end", 0) - self.rss_kib.get("warm", 0)) / 1024

    @property
    def ok(self) -> bool:
        return (
            not self.crashed
            and self.final_message_accepted
            and not self.log_problems
            and not self.internal_errors
            and not self.without_enhanced_code
            and not self.unanswered
            and self.rss_growth_mib < self.max_growth_mib
        )

    def render(self) -> str:
        top = sorted(self.replies.items(), key=lambda item: -item[1])
        rss = ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in self.rss_kib.items())
        lines = [
            f"sessions             {self.sessions} in {self.seconds:.0f} s",
            f"commands             {self.commands}",
            f"messages accepted    {self.messages_sent}",
            f"replies              {', '.join(f'{c}: {n}' for c, n in top)}",
            f"crashed              {'yes' if self.crashed else 'no'}",
            f"tracebacks/errors    {len(self.log_problems)}",
            *(f"  {line[:200]}" for line in self.log_problems[:5]),
            *(f"  {n} x {line}" for line, n in self.exceptions.items()),
            f"SQLAlchemy close task {self.pending_task_errors}  (asyncio ERROR, see _PENDING_TASK)",
            f"451 4.3.0 (internal) {len(self.internal_errors)}",
            *(f"  {sample}" for sample in self.internal_errors[:10]),
            f"451 for a limit      {self.other_451}",
            f"no enhanced code     {len(self.without_enhanced_code)}",
            *(f"  {sample}" for sample in self.without_enhanced_code[:10]),
            f"unanswered commands  {len(self.unanswered)}",
            *(f"  {sample}" for sample in self.unanswered[:10]),
            f"closed, no reply     {self.closed_without_reply}",
            f"final message        {'accepted' if self.final_message_accepted else 'REFUSED'}",
            f"RSS                  {rss} (growth after warm-up {self.rss_growth_mib:+.1f} MB)",
            "PASS" if self.ok else "FAIL",
        ]
        return "\n".join(lines)


class Closed(Exception):
    """The gateway closed the connection."""


class Connection:
    """One client connection: writes bytes, reads whole replies, upgrades to TLS."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket = sock
        self.buffer = b""
        self.transcript: list[str] = []

    def write(self, data: bytes) -> None:
        self.transcript.append(f"C: {data[:200]!r}{'...' if len(data) > 200 else ''}")
        self.sock.sendall(data)

    def reply(self) -> list[bytes]:
        """The lines of one reply; `Closed` at end of stream, `TimeoutError` after the wait."""
        lines: list[bytes] = []
        while True:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise Closed
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line)
            found = _REPLY_LINE.match(line)
            if found is None or found.group(2) == b" ":
                self.transcript.append(f"S: {b' | '.join(lines)!r}")
                return lines

    def starttls(self) -> None:
        self.sock = client_tls().wrap_socket(self.sock, server_hostname="gw.test")


class Fuzzer:
    """Runs sessions against one gateway and adds up what they saw."""

    def __init__(self, gateway: Gateway, credentials: tuple[str, str], seed: int) -> None:
        self.gateway, self.credentials, self.seed = gateway, credentials, seed
        self.figures = Figures()
        self.lock = threading.Lock()
        self.replies: Counter[str] = Counter()

    def session(self, number: int) -> Connection | None:
        """Play session `number`; its connection (for the transcript), None if it never opened."""
        rng = random.Random(self.seed * 1_000_003 + number)
        generate = Generator(rng)
        implicit_tls = generate.chance(0.4)
        port = self.gateway.smtps_port if implicit_tls else self.gateway.smtp_port
        source = TRUSTED if generate.chance(0.6) else UNTRUSTED
        state = SessionState(self.credentials, can_starttls=not implicit_tls, tls=implicit_tls)
        try:
            sock = socket.create_connection(
                ("127.0.0.1", port), timeout=REPLY_TIMEOUT, source_address=(source, 0)
            )
        except OSError:
            return None
        connection = Connection(sock)
        try:
            if implicit_tls:
                connection.starttls()
            self._play(number, connection, generate, state)
        except (Closed, ConnectionError, ssl.SSLError):
            pass
        except TimeoutError:
            self._note("unanswered", f"session {number}: {connection.transcript[-1:]}")
        finally:
            with contextlib.suppress(OSError):
                connection.sock.close()
        with self.lock:
            self.figures.sessions += 1
        return connection

    def _play(
        self, number: int, connection: Connection, generate: Generator, state: SessionState
    ) -> None:
        self._check(number, "banner", connection.reply())
        for _ in range(generate.rng.randint(1, 25)):
            if generate.chance(0.03):
                connection.write(generate.raw(generate.text(1, 80)))  # half a line, then hang up
                return
            burst = [generate.command(state) for _ in range(generate.rng.randint(1, 4))]
            if len(burst) > 1 and any(v in ("STARTTLS", "DATA", "QUIT", "AUTH") for v, _ in burst):
                burst = burst[:1]  # pipelining stops at these (RFC 2920)
            connection.write(b"".join(data for _, data in burst))
            # One reply per line: a command whose argument has a LF is two lines to the server.
            expected = [
                verb if n == 0 else "fragment"
                for verb, data in burst
                for n in range(data.count(b"\n"))
            ]
            for left, verb in enumerate(expected, 1 - len(expected)):
                try:
                    reply = connection.reply()
                except Closed:
                    with self.lock:
                        self.figures.closed_without_reply += 1
                    raise
                code = self._check(number, verb, reply)
                if code in ("221", "421"):
                    return
                if left and (code in ("354", "334") or (verb == "STARTTLS" and code == "220")):
                    return  # the lines written after it would be taken as data: hang up
                if verb in ("EHLO", "HELO") and code == "250":
                    state.greeted = True
                elif verb == "STARTTLS" and code == "220":
                    connection.starttls()
                    state.tls, state.can_starttls, state.greeted = True, False, False
                elif code == "354":
                    self._data(number, connection, generate)
                elif code == "334":
                    answer = generate.raw(generate.text(0, 40)).replace(b"\n", b"")
                    connection.write(answer + b"\r\n")
                    self._check(number, "AUTH-continuation", connection.reply())

    def _data(self, number: int, connection: Connection, generate: Generator) -> None:
        message = generate.message()
        if generate.chance(0.03):
            connection.write(message[: generate.rng.randint(0, len(message))])
            raise Closed  # hang up in the middle of the data
        if not message.endswith(b"\n"):
            message += b"\r\n"
        connection.write(message + b".\r\n")
        if self._check(number, "end-of-data", connection.reply()) == "250":
            with self.lock:
                self.figures.messages_sent += 1

    def _check(self, number: int, verb: str, reply: list[bytes]) -> str:
        """Count a reply; note a 451 4.3.0 or a reply without an enhanced status code."""
        first = _REPLY_LINE.match(reply[0])
        code = first.group(1).decode() if first else "???"
        text = first.group(3) if first else reply[0]
        with self.lock:
            self.replies[code] += 1
            self.figures.commands += verb != "banner"
        sample = f"session {number} {verb}: {b' | '.join(reply)[:200]!r}"
        if code == "451" and text.startswith(b"4.3.0"):
            self._note("internal_errors", sample)
        elif code == "451":
            with self.lock:
                self.figures.other_451 += 1
        elif (code[:1] in "45" and not _ENHANCED.match(text)) or code == "???":
            self._note("without_enhanced_code", sample)
        return code

    def _note(self, name: str, sample: str) -> None:
        with self.lock:
            getattr(self.figures, name).append(sample)


def final_message(gateway: Gateway, credentials: tuple[str, str]) -> bool:
    """Whether a well-formed message still gets `250`, from an address the fuzzer did not use
    (its wrong passwords may have locked its own addresses out, as they should)."""
    try:
        with smtplib.SMTP("127.0.0.1", gateway.smtp_port, source_address=(FRESH, 0)) as client:
            client.starttls(context=client_tls())
            client.login(*credentials)
            send(client, "after-the-fuzzer")
    except (smtplib.SMTPException, OSError):
        return False
    return True


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(directory: Path, processes: Processes) -> tuple[Gateway, Process, tuple[str, str]]:
    fake = FakeSesProcess(processes)
    gateway = Gateway.create(
        processes,
        directory / "gw",
        ses_url=fake.url,
        max_connections_per_client=200,
        max_message_size=1_048_576,
        smtp_timeout=REPLY_TIMEOUT * 2,
        log_level="INFO",
    )
    _, username, password = provision(gateway.database_url)
    gateway.cli("network", "add", TRUSTED + "/32", "--tenant", "acme")
    return gateway, gateway.serve(), (username, password)


def campaign(
    directory: Path,
    *,
    sessions: int = 10_000,
    seed: int = 1,
    threads: int = 8,
    max_growth_mib: float = 50.0,
) -> Figures:
    processes = Processes(directory)
    started = time.monotonic()
    try:
        gateway, server, credentials = start(directory, processes)
        fuzzer = Fuzzer(gateway, credentials, seed)
        figures = fuzzer.figures
        figures.max_growth_mib = max_growth_mib
        figures.rss_kib["start"] = rss_kib(server.pid)
        numbers = iter(range(sessions))
        warm_up = max(1, sessions // 10)

        def work() -> None:
            for number in numbers:  # shared: each session is played once
                fuzzer.session(number)
                if number == warm_up:
                    figures.rss_kib["warm"] = rss_kib(server.pid)

        workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        figures.seconds = time.monotonic() - started
        figures.replies = dict(fuzzer.replies)
        figures.crashed = server.returncode is not None
        if not figures.crashed:
            figures.rss_kib["end"] = rss_kib(server.pid)
            figures.final_message_accepted = final_message(gateway, credentials)
            server.terminate()
        log = server.log()
        figures.pending_task_errors = len(_PENDING_TASK.findall(log))
        figures.log_problems = problems(_PENDING_TASK.sub("", log))
        figures.exceptions = dict(Counter(_EXCEPTION.findall(log)))
    finally:
        processes.close()
    return figures


def replay(seed: int, number: int) -> int:
    """Play one session against a fresh gateway and print its transcript."""
    with tempfile.TemporaryDirectory(prefix="faults-smtp-") as tmp:
        processes = Processes(Path(tmp))
        try:
            gateway, server, credentials = start(Path(tmp), processes)
            connection = Fuzzer(gateway, credentials, seed).session(number)
            print("\n".join(connection.transcript if connection else ["(no connection)"]))
            server.terminate()
            log = server.log()
            print(log[log.find("Traceback") - 200 :] if "Traceback" in log else "(no traceback)")
        finally:
            processes.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.campaigns.smtpfuzz", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8, help="sessions in parallel")
    parser.add_argument("--max-growth", type=float, default=50.0, metavar="MB")
    parser.add_argument("--replay", type=int, metavar="N", help="play session N alone, verbosely")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    if args.replay is not None:
        return replay(args.seed, args.replay)
    with tempfile.TemporaryDirectory(prefix="faults-smtp-") as tmp:
        figures = campaign(
            Path(tmp),
            sessions=args.sessions,
            seed=args.seed,
            threads=args.threads,
            max_growth_mib=args.max_growth,
        )
    print(json.dumps({**asdict(figures), "ok": figures.ok}) if args.json else figures.render())
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
