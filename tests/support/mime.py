"""MIME parts as raw bytes, for tests that check which bytes of a message changed."""

from __future__ import annotations

import email


def entities(raw: bytes, path: str = "") -> dict[str, tuple[bytes, bytes]]:
    """(header, body) of each leaf part by path ("" for a single part, "1.2", ...), split with
    the email package's boundaries: an oracle independent of the rewriter's own splitting."""
    head, _, body = raw.partition(b"\r\n\r\n")
    boundary = email.message_from_bytes(head + b"\r\n\r\n").get_boundary()
    if boundary is None:
        return {path: (head, body)}
    found: dict[str, tuple[bytes, bytes]] = {}
    for number, chunk in enumerate((b"\r\n" + body).split(b"\r\n--" + boundary.encode())[1:], 1):
        if chunk.startswith(b"--"):
            break
        found |= entities(chunk.removeprefix(b"\r\n"), f"{path}.{number}".lstrip("."))
    return found
