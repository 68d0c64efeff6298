"""Which URLs a webhook may POST to: https, with no user or password in them, and (unless
`WEBHOOK_ALLOW_PRIVATE`) only to public addresses: checked when a webhook is added (`check_url`)
and again at each connection (`PublicResolver`), so that no DNS change can lead the POSTs into
the gateway's own network.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Final
from urllib.parse import urlsplit
from urllib.request import getproxies

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from gateway.core.exceptions import InvalidInputError

MAX_URL_LENGTH: Final = 2000


def check_url(url: str, allow_private: bool) -> str:
    """`url` if it can be a webhook: https, with a host, no user or password and, unless
    `allow_private` (`WEBHOOK_ALLOW_PRIVATE`), neither `localhost` nor a non-public IP address;
    `InvalidInputError` says why not."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidInputError(f"{url!r} is not a URL: {exc}", "url") from exc
    if parts.scheme != "https":
        raise InvalidInputError(
            f"{url!r}: only https:// URLs are accepted (events name recipients; they are not "
            "sent in the clear)",
            "url",
        )
    if not parts.hostname:
        raise InvalidInputError(f"{url!r} names no host", "url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(
            "a webhook URL must not carry a user or password (it would be logged and listed): "
            "receivers authenticate the POSTs by their signature",
            "url",
        )
    if len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        raise InvalidInputError(
            f"{url!r}: URLs are at most {MAX_URL_LENGTH} characters, no spaces", "url"
        )
    if not allow_private and _private_host(parts.hostname):
        raise InvalidInputError(
            f"{url!r}: {parts.hostname} is not a public address: give a public https URL, or "
            "set SES_GATEWAY_WEBHOOK_ALLOW_PRIVATE=true for receivers on your own network",
            "url",
        )
    return url


def private_address(address: str) -> bool:
    """Whether an IP address is outside the public internet: loopback, private, link-local,
    shared, reserved, unspecified or multicast. `ValueError` if it is not an IP address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


def _private_host(host: str) -> bool:
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return private_address(name)
    except ValueError:
        return False


class PublicResolver(AbstractResolver):
    """DNS without the answers that are not public addresses (`private_address`): a webhook's
    host name is checked each time a connection is made, so that no DNS change can lead the
    POSTs into the gateway's own network. The `HTTPS_PROXY` host, when set, is resolved as is.
    (An IP address in a URL is never resolved: `check_url` checks it.)"""

    def __init__(self) -> None:
        self._dns = ThreadedResolver()
        self._proxy = urlsplit(getproxies().get("https", "")).hostname

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._dns.resolve(host, port, family)
        if host == self._proxy:
            return found
        public = [answer for answer in found if not private_address(answer["host"])]
        if not public:
            raise OSError(
                errno.EACCES, f"{host} has no public address (WEBHOOK_ALLOW_PRIVATE is off)"
            )
        return public

    async def close(self) -> None:
        await self._dns.close()
