"""A real DNS responder on 127.0.0.1 (UDP and TCP on one port) serving in-memory records.

Authoritative-style (AA, exact names, CNAME chains followed within the served data, NODATA vs
NXDOMAIN, EDNS echoed, oversized UDP answers sent with TC) with per-name faults: SERVFAIL,
silence and UDP truncation.  Its event loop runs in a daemon thread, for sync and async tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import threading
from collections.abc import Callable
from typing import Literal, Self

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.tokenizer
from dns.rdtypes.ANY.SPF import SPF
from dns.rdtypes.ANY.TXT import TXT

__all__ = ["DnsServer", "Transport"]

Transport = Literal["udp", "tcp"]
_Fault = Literal["servfail", "blackhole", "truncate_udp"]
_Type = str | dns.rdatatype.RdataType  # "TXT", "txt" or dns.rdatatype.TXT
_IN, _CNAME = dns.rdataclass.IN, dns.rdatatype.CNAME


def _rdata(rdtype: dns.rdatatype.RdataType, value: str) -> dns.rdata.Rdata:
    if rdtype not in (dns.rdatatype.TXT, dns.rdatatype.SPF):
        return dns.rdata.from_text(_IN, rdtype, value, origin=dns.name.root, relativize=False)
    strings: list[bytes] = []  # a character-string holds at most 255 bytes: split longer ones
    for token in dns.tokenizer.Tokenizer(value).get_remaining():
        data = token.unescape_to_bytes().value
        strings.extend(data[i : i + 255] for i in range(0, max(len(data), 1), 255))
    return (TXT if rdtype == dns.rdatatype.TXT else SPF)(_IN, rdtype, strings)


class DnsServer:
    """A DNS responder on ``127.0.0.1:port`` (UDP and TCP); ``port=0`` picks a free port."""

    def __init__(self, port: int = 0) -> None:
        self._requested_port, self._port = port, 0
        self._lock = threading.Lock()
        self._records: dict[dns.name.Name, dict[dns.rdatatype.RdataType, dns.rdataset.Rdataset]]
        self._records = {}
        self._faults: dict[dns.name.Name, _Fault] = {}
        self._log: list[tuple[str, str, Transport]] = []
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], object] = lambda: None

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("DnsServer is not running")
        return self._port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Bind UDP and TCP on one port and serve in a daemon thread; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("DnsServer is already running")
        udp, tcp = self._bind()
        self._port, ready = udp.getsockname()[1], threading.Event()
        serve = self._serve(udp, tcp, ready)
        self._thread = threading.Thread(
            target=asyncio.run, args=(serve,), name="dnsserver", daemon=True
        )
        self._thread.start()
        ready.wait()

    def stop(self) -> None:
        """Close both listeners and every TCP connection, and end the thread."""
        if self._thread is not None:
            self._stop()
            self._thread.join()
            self._thread, self._port = None, 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def resolver(self, lifetime: float = 1.0) -> dns.asyncresolver.Resolver:
        """A fresh dnspython async resolver (no cache, no search list) aimed at this server."""
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", self.port)]
        resolver.lifetime = lifetime
        return resolver

    def add(self, name: str, rdtype: _Type, value: str, ttl: int = 300) -> None:
        """Add a record in zone-file text: ``add("m.example.com", "MX", "10 mx.example.com.")``.

        Names are absolute with or without the final dot; long TXT strings are split.
        """
        owner, kind = dns.name.from_text(name), dns.rdatatype.RdataType.make(rdtype)
        rdata = _rdata(kind, value)
        with self._lock:
            node = self._records.setdefault(owner, {})
            if (kind == _CNAME and set(node) - {_CNAME}) or (kind != _CNAME and _CNAME in node):
                raise ValueError(f"{owner}: a CNAME cannot coexist with other records")
            rdataset = node.get(kind)
            if rdataset is None or kind == _CNAME:  # one CNAME per name: the last one wins
                rdataset = node[kind] = dns.rdataset.Rdataset(_IN, kind)
            rdataset.add(rdata, ttl)

    def remove(self, name: str, rdtype: _Type | None = None) -> None:
        """Remove every record of ``name``, or only those of ``rdtype``."""
        owner = dns.name.from_text(name)
        with self._lock:
            node = self._records.get(owner, {})
            if rdtype is None:
                node.clear()
            else:
                node.pop(dns.rdatatype.RdataType.make(rdtype), None)
            if not node:
                self._records.pop(owner, None)

    def clear(self) -> None:
        """Forget all records, faults and logged queries."""
        with self._lock:
            self._records.clear()
            self._faults.clear()
            self._log.clear()

    def servfail(self, name: str) -> None:
        """Answer every query for ``name`` with SERVFAIL."""
        self._fault(name, "servfail")

    def blackhole(self, name: str) -> None:
        """Never answer queries for ``name``: clients time out."""
        self._fault(name, "blackhole")

    def truncate_udp(self, name: str) -> None:
        """Answer UDP queries for ``name`` with TC=1 and no records; TCP gets the full answer."""
        self._fault(name, "truncate_udp")

    def heal(self, name: str | None = None) -> None:
        """Remove the fault of ``name``, or every fault."""
        with self._lock:
            if name is None:
                self._faults.clear()
            else:
                self._faults.pop(dns.name.from_text(name), None)

    def queries(self, *, clear: bool = False) -> list[tuple[str, str, Transport]]:
        """``(name without final dot, type, transport)`` per query received, oldest first."""
        with self._lock:
            log = list(self._log)
            if clear:
                self._log.clear()
            return log

    def _fault(self, name: str, fault: _Fault) -> None:
        with self._lock:
            self._faults[dns.name.from_text(name)] = fault

    def _reply(self, wire: bytes, transport: Transport) -> bytes | None:
        """The response to one query message, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)  # echoes id, question, RD and EDNS
        except dns.exception.DNSException:
            return None  # garbage, or not a query: dropped, as servers do
        response.flags |= dns.flags.AA
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        with self._lock:
            name = question.name.to_text(omit_final_dot=True)
            self._log.append((name, dns.rdatatype.to_text(question.rdtype), transport))
            fault = self._faults.get(question.name)
            if fault == "blackhole":
                return None
            if fault == "servfail":
                response.set_rcode(dns.rcode.SERVFAIL)
            elif fault == "truncate_udp" and transport == "udp":
                response.flags |= dns.flags.TC
            else:
                self._answer(response, question.name, question.rdtype)
        limit = 65535 if transport == "tcp" else max(query.payload if query.edns >= 0 else 0, 512)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:  # as servers do: TC and no records, so clients use TCP
            response.answer.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    def _answer(
        self, response: dns.message.Message, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> None:
        """Fill the answer section, following CNAMEs through the served data (lock held)."""
        name, seen = qname, {qname}
        while (node := self._records.get(name)) is not None:
            cname = node.get(_CNAME)
            if cname is None or rdtype == _CNAME:
                if (rdataset := node.get(rdtype)) is not None:
                    response.answer.append(
                        dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))
                    )
                return
            response.answer.append(dns.rrset.from_rdata_list(name, cname.ttl, list(cname)))
            name = cname[0].target
            if name in seen:
                return  # a CNAME loop: answer with the chain so far
            seen.add(name)
        if name == qname and not any(n.is_subdomain(qname) for n in self._records):
            response.set_rcode(dns.rcode.NXDOMAIN)  # else an empty non-terminal: NODATA

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        """A UDP and a TCP socket bound to the same loopback port (retried on collisions)."""
        attempts = 0
        while True:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                udp.bind(("127.0.0.1", self._requested_port))
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
                tcp.listen()
            except OSError:
                udp.close()
                tcp.close()
                attempts += 1
                if self._requested_port or attempts == 50:
                    raise
            else:
                return udp, tcp

    async def _serve(self, udp: socket.socket, tcp: socket.socket, ready: threading.Event) -> None:
        loop = asyncio.get_running_loop()
        stopped: asyncio.Future[None] = loop.create_future()
        self._stop = functools.partial(loop.call_soon_threadsafe, stopped.set_result, None)
        conns: dict[socket.socket, asyncio.Task[None]] = {}

        def on_datagram() -> None:
            with contextlib.suppress(OSError):  # BlockingIOError: another wake-up read it
                data, client = udp.recvfrom(65535)
                if (reply := self._reply(data, "udp")) is not None:
                    udp.sendto(reply, client)

        def on_connection() -> None:
            try:
                conn, _ = tcp.accept()
            except OSError:
                return
            conn.setblocking(False)
            conns[conn] = loop.create_task(serve_tcp(conn))

        async def serve_tcp(conn: socket.socket) -> None:
            buffer = b""  # each message is preceded by its length in two bytes
            with contextlib.suppress(OSError):
                while data := await loop.sock_recv(conn, 65535):
                    buffer += data
                    while len(buffer) >= 2 + (size := int.from_bytes(buffer[:2], "big")):
                        wire, buffer = buffer[2 : 2 + size], buffer[2 + size :]
                        if (reply := self._reply(wire, "tcp")) is not None:
                            await loop.sock_sendall(conn, len(reply).to_bytes(2, "big") + reply)
            del conns[conn]
            conn.close()

        for sock, on_ready in ((udp, on_datagram), (tcp, on_connection)):
            sock.setblocking(False)
            loop.add_reader(sock, on_ready)
        ready.set()
        await stopped
        for sock in (udp, tcp):
            loop.remove_reader(sock)
            sock.close()
        for task in conns.values():
            task.cancel()  # also tasks that never started: their sockets are closed below
        await asyncio.gather(*conns.values(), return_exceptions=True)
        for conn in conns:
            conn.close()
