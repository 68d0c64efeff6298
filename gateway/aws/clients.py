"""The long-lived AWS clients of each account the gateway sends through, made on first use.

The process's own credential chain is the account named `default` (`AWS_REGION`,
`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SESV2`, profiles, instance roles); it is opened with the
provider. Every other account (`ses-gateway aws-account add`) gets its clients (SESv2, SES v1,
SNS and, with `SES_SEND_PATH=direct`, the send client) in its own region the first time one of
its tenants needs them, and keeps them: a client per call would cost 30 ms on loopback and
hundreds elsewhere. When the change bus says an account changed (`Topic.AWS_ACCOUNT`), its
clients are dropped (`forget`): the calls in flight end on them, then they close, and the next
call opens new ones from what is stored now.

Which account a tenant uses is the `AccountResolver`'s to say (`gateway.identity.tenancy`); the
endpoint is the chain's for every account (`AWS_ENDPOINT_URL`: an emulator serves them all).
"""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Final, Protocol

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError
from botocore.handlers import add_recursion_detection_header

from config import Settings
from gateway.aws.accounts import session_for
from gateway.aws.sendclient import SendClient
from gateway.core.exceptions import GatewayError, SesSetupError, SesTransientError
from gateway.core.types.aws import DEFAULT_ACCOUNT, AwsAccountSpec

STALE_GRACE: Final = 1.0
"""Seconds the calls that waited for clients made stale meanwhile have to start with them."""

SERVICES: Final = ("sesv2", "ses", "sns", "route53")
"""Identities are managed through SESv2 whichever API sends; the quota may need v1; SNS carries
SES events to the gateway (`sns setup`); Route 53 takes the domains' DNS records (`domain
publish`)."""
ROUTE53_REGION: Final = "us-east-1"
"""Route 53 is global: its API is signed for us-east-1 whatever region the account's SES is in."""


class AccountResolver(Protocol):
    """Which account a tenant's calls go through, and what an account's clients are made of."""

    async def account_of(self, tenant: str) -> str:
        """The account's name; `DEFAULT_ACCOUNT` for the process's own credentials."""
        ...

    async def spec(self, name: str) -> AwsAccountSpec:
        """The stored account of that name (`NotFoundError` when there is none)."""
        ...


class AccountClients:
    """One account's clients in its region, opened together (`open`) and closed together.

    `with clients:` around a call keeps them open while it runs, even if the account is dropped
    meanwhile (`retire`): they close when the last such call ends.
    """

    def __init__(
        self, name: str, session: aioboto3.Session, region: str, settings: Settings
    ) -> None:
        self.name = name
        self.region = region
        self._session = session
        self._settings = settings
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self.sender: Any = None
        """What makes the send calls: the direct `SendClient`, or the aioboto3 client."""
        self._users = 0
        self._retired = False
        self.closed: asyncio.Task[None] | None = None
        """Set once retired and idle: closing."""

    async def open(self, service: str) -> None:
        """Open every client; `service` (`sesv2` or `ses`) is the one that sends."""
        config = AioConfig(
            # The queue owns the retry policy: one quick retry in botocore at most.
            retries={"mode": "standard", "total_max_attempts": 2},
            connect_timeout=min(10.0, self._settings.ses_timeout),
            read_timeout=self._settings.ses_timeout,
            max_pool_connections=self._settings.delivery_concurrency,
            # A fixed user agent is not rebuilt for every call; SES validates parameters itself.
            # Both save CPU on the hot path of sending (measured in docs/performance.md).
            user_agent="ses-gateway",
            parameter_validation=False,
        )
        try:
            for name in SERVICES:
                region = ROUTE53_REGION if name == "route53" else self.region
                client = await self._stack.enter_async_context(
                    self._session.client(name, region_name=region, config=config)
                )
                # A trace header for calls made inside AWS Lambda, which the gateway never runs
                # in; its two environment lookups cost 3% of a delivery worker's CPU.
                client.meta.events.unregister("before-call", add_recursion_detection_header)
                self._clients[name] = client
            self.sender = self._clients[service]
            if self._settings.ses_send_path == "direct":
                # The credentials object the clients sign with (the session caches it), and the
                # CA bundle setting they got: the send calls reach SES as the clients would.
                send_client = SendClient(
                    self._clients[service],
                    await self._session.get_credentials(),
                    self._session._session.get_config_variable("ca_bundle"),
                )
                self.sender = await self._stack.enter_async_context(send_client)
        except BaseException:
            await self._stack.aclose()
            raise

    def client(self, service: str) -> Any:
        """The aioboto3 client of `service` (`sesv2`, `ses`, `sns`, `route53`)."""
        try:
            return self._clients[service]
        except KeyError:
            raise RuntimeError(f"the {service} client of {self.name} is not open") from None

    @property
    def endpoint(self) -> str:
        return str(next(iter(self._clients.values())).meta.endpoint_url) if self._clients else ""

    def __enter__(self) -> AccountClients:
        self._users += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._users -= 1
        if self._retired and not self._users:
            self._close_soon()

    def retire(self) -> None:
        """No new calls will be given these clients: close them once the calls in flight end."""
        self._retired = True
        if not self._users:
            self._close_soon()

    def _close_soon(self) -> None:
        if self.closed is None:
            self.closed = asyncio.ensure_future(self.close())

    async def close(self) -> None:
        self._clients = {}
        self.sender = None
        await self._stack.aclose()


class SesClientProvider:
    """The clients of every account in use, each account's opened once: the default account's
    with the provider, the others' on first use (`account`, `for_tenant`)."""

    def __init__(self, settings: Settings, accounts: AccountResolver | None = None) -> None:
        """`accounts` says which account each tenant uses; None: every tenant uses the default
        account."""
        self._settings = settings
        self._accounts = accounts
        self._session = aioboto3.Session()
        self._open: dict[str, AccountClients] = {}
        self._opening: dict[str, asyncio.Task[AccountClients]] = {}
        self._retired: set[AccountClients] = set()

    @property
    def service(self) -> str:
        return "sesv2" if self._settings.ses_send_api == "v2" else "ses"

    @property
    def region(self) -> str | None:
        """The default account's: botocore reads `AWS_DEFAULT_REGION` and profiles; the other
        SDKs' `AWS_REGION` too."""
        region: str | None = self._session.region_name or os.environ.get("AWS_REGION")
        return region

    @property
    def ready(self) -> bool:
        return DEFAULT_ACCOUNT in self._open

    async def has_credentials(self) -> bool:
        """Whether the process's own chain gives credentials (the default account's)."""
        return await self._session.get_credentials() is not None

    async def __aenter__(self) -> SesClientProvider:
        region = self.region
        if not region:
            raise SesSetupError(
                "no AWS region is set: set AWS_REGION "
                "(or AWS_DEFAULT_REGION, or a profile's region)"
            )
        clients = AccountClients(DEFAULT_ACCOUNT, self._session, region, self._settings)
        try:
            await clients.open(self.service)
        except BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile that does not exist
            raise SesSetupError(f"cannot set up the SES client: {exc}") from exc
        self._open[DEFAULT_ACCOUNT] = clients
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._opening.values():
            task.cancel()
        await asyncio.gather(*self._opening.values(), return_exceptions=True)
        everything = [*self._open.values(), *self._retired]
        self._open, self._opening, self._retired = {}, {}, set()
        for clients in everything:
            await (clients.closed or clients.close())

    async def account_of(self, tenant: str) -> str:
        """The name of the account `tenant` uses."""
        if self._accounts is not None and tenant:
            return await self._accounts.account_of(tenant)
        return DEFAULT_ACCOUNT

    async def for_tenant(self, tenant: str) -> AccountClients:
        """The clients of the account `tenant` uses (see `account`)."""
        return await self.account(await self.account_of(tenant))

    async def account(self, name: str) -> AccountClients:
        """The account's clients, opened now if they are not. An account whose clients cannot
        be made (its secret does not open, its role cannot be assumed) raises
        `SesTransientError`: its tenants' mail waits in the queue, the others' goes on."""
        clients = self._open.get(name)
        if clients is not None:
            return clients
        if name == DEFAULT_ACCOUNT:
            raise RuntimeError("the SES client is not open")
        opening = self._opening.get(name)
        if opening is None:
            opening = asyncio.ensure_future(self._make(name))
            self._opening[name] = opening
            opening.add_done_callback(lambda _: self._opened(name, opening))
        return await asyncio.shield(opening)

    def _opened(self, name: str, task: asyncio.Task[AccountClients]) -> None:
        current = self._opening.get(name) is task
        if current:
            del self._opening[name]
        if task.cancelled() or task.exception() is not None:
            return
        clients = task.result()
        if current:
            self._open[name] = clients
            return
        # The account changed while they were being made: the calls that waited for them use
        # them (they take them a moment from now), no other call does.
        self._retired.add(clients)
        asyncio.get_running_loop().call_later(STALE_GRACE, clients.retire)

    async def _make(self, name: str) -> AccountClients:
        if self._accounts is None:
            raise SesSetupError(f"no AWS account named {name!r}: only the default one is known")
        try:
            spec = await self._accounts.spec(name)
            clients = AccountClients(name, session_for(spec), spec.region, self._settings)
            await clients.open(self.service)
        except (GatewayError, BotoCoreError, ValueError) as exc:
            raise SesTransientError(
                "AccountUnavailable", f"the clients of AWS account {name} cannot be made: {exc}"
            ) from exc
        return clients

    def forget(self, name: str | None = None) -> None:
        """The account `name` (None: every one) changed or is gone: its next call opens new
        clients. The default account's stay: the process's own chain does not change under it."""
        names = [name] if name is not None else [*self._open, *self._opening]
        for each in names:
            if each == DEFAULT_ACCOUNT:
                continue
            self._opening.pop(each, None)  # made from what was stored before: `_opened` retires
            clients = self._open.pop(each, None)
            if clients is not None:
                self._retired.add(clients)
                clients.retire()
        self._retired = {c for c in self._retired if c.closed is None or not c.closed.done()}

    @property
    def endpoint(self) -> str:
        """The default account's endpoint."""
        clients = self._open.get(DEFAULT_ACCOUNT)
        return "" if clients is None else clients.endpoint
