"""Time of the tracking rewrite (gateway/tracking/rewrite.py) on two generated messages.

    .venv/bin/python bench/rewrite.py              # 100 KB of HTML, and 5 MB with attachments
    .venv/bin/python bench/rewrite.py --repeat 50

Both messages get the open pixel, tracked links and the unsubscribe fields, as at delivery: a
100 KB quoted-printable HTML newsletter with 367 links, and an invoice of 5 MB (a 20 KB HTML
part with 74 links, and two base64 attachments). Each is rewritten --repeat times in this
process, one core; the report gives the fastest and the median run.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import statistics
import sys
import time
from urllib.parse import quote

from gateway.tracking.rewrite import Rewrite, rewrite

OPTIONS = Rewrite(
    open_pixel_url="https://t.example.net/o/0123456789abcdef.gif",
    link=lambda url: "https://t.example.net/c/0123456789abcdef?u=" + quote(url, safe=""),
    unsubscribe_url="https://t.example.net/u/0123456789abcdef",
)


def html_document(size: int) -> bytes:
    """A newsletter of about `size` bytes: paragraphs, each with a link with a query string."""
    paragraphs = []
    number = 0
    while sum(map(len, paragraphs)) < size:
        number += 1
        paragraphs.append(
            f'<tr><td style="padding:8px;font-family:Arial">Article {number}: café news, '
            f"prices in € and a long enough sentence to look like a newsletter. "
            f'<a href="https://example.com/articles/{number}?utm_source=mail&amp;utm_medium='
            f'email&amp;id={number}" style="color:#0a66c2">Read more</a></td></tr>\r\n'
        )
    body = "".join(paragraphs)
    return f"<html><body><table>\r\n{body}</table></body></html>\r\n".encode()


def base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def message(html: bytes, attachments: list[bytes]) -> bytes:
    header = (
        b"From: news@example.com\r\nTo: reader@example.org\r\nSubject: Benchmark\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=mixed\r\n\r\n"
    )
    alternative = (
        b"--mixed\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n"
        b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nRead the news.\r\n"
        b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + binascii.b2a_qp(html)
        + b"\r\n--alt--\r\n"
    )
    files = b"".join(
        f"--mixed\r\nContent-Type: application/pdf; name=file{n}.pdf\r\n"
        f"Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; filename=file{n}.pdf\r\n\r\n".encode()
        + base64_lines(attachment)
        + b"\r\n"
        for n, attachment in enumerate(attachments)
    )
    return header + alternative + files + b"--mixed--\r\n"


def measure(name: str, data: bytes, repeat: int) -> None:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = rewrite(data, OPTIONS)
        times.append(time.perf_counter() - start)
    best, median = min(times), statistics.median(times)
    print(
        f"{name:<24} {len(data) / 1e6:5.2f} MB  {result.links:4d} links  "
        f"best {best * 1000:7.2f} ms  median {median * 1000:7.2f} ms  "
        f"{len(data) / 1e6 / median:6.1f} MB/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs of each message (default 20)")
    repeat = parser.parse_args().repeat
    newsletter = message(html_document(100_000), [])
    invoice = message(html_document(20_000), [os.urandom(1_900_000), os.urandom(1_900_000)])
    print(f"Python {sys.version.split()[0]}, {repeat} runs each")
    measure("100 KB HTML newsletter", newsletter, repeat)
    measure("5 MB with attachments", invoice, repeat)


if __name__ == "__main__":
    main()
