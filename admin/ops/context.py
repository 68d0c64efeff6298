"""Who is asking (`Actor`), what the operations work with (`Services`), and `Context`, which
scopes every query to the actor's tenant and writes the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from config import Settings
from gateway.aws.clients import SesClientProvider
from gateway.aws.route53 import Route53
from gateway.aws.ses import SesAccount, SesIdentities
from gateway.compose.submit import Submitter
from gateway.core.crypto import Sealer
from gateway.core.exceptions import AccessDenied, InvalidInputError, NotFoundError
from gateway.core.types.tenants import TenantInfo
from gateway.core.types.users import ApiKeyInfo, Role, UserInfo
from gateway.domains.dnscheck import DnsChecker
from gateway.domains.identities import Domains
from gateway.identity.accounts import now
from gateway.identity.apikeys import ApiKeys
from gateway.identity.users import Logins
from gateway.storage import audit, tenants
from gateway.storage.database import Database


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in user or an API key. `tenant` None: every tenant (an admin)."""

    name: str
    """For the audit log: the user's email, `apikey:<prefix>`, or `cli:<os user>`."""
    role: Role
    tenant: str | None
    user: UserInfo | None = None

    @classmethod
    def of_user(cls, user: UserInfo) -> Actor:
        return cls(user.email, user.role, user.tenant, user)

    @classmethod
    def of_key(cls, key: ApiKeyInfo) -> Actor:
        return cls(f"apikey:{key.prefix}", Role.OWNER if key.tenant else Role.ADMIN, key.tenant)

    @classmethod
    def of_cli(cls, os_user: str) -> Actor:
        """Whoever runs `ses-gateway` on the host: an admin (they can read the database anyway)."""
        return cls(f"cli:{os_user}", Role.ADMIN, None)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def can_write(self) -> bool:
        return self.role is not Role.VIEWER


class Services:
    """The gateway's parts that the operations use, made once per process."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        secret_key: Callable[[], bytes],
        sealer: Callable[[], Sealer],
        provider: SesClientProvider,
    ) -> None:
        """`secret_key` and `sealer` are called when an operation first needs them (a command
        of the CLI that encrypts nothing does not create the key file); `provider` is opened by
        whoever made it (`admin.runtime.Parts`), when the operations will call SES."""
        self.db = db
        self.settings = settings
        self._secret_key = secret_key
        self._sealer = sealer
        self.provider = provider
        self.logins = Logins(db, settings)
        self.api_keys = ApiKeys(db, settings)
        self.dns = DnsChecker(settings.dns_nameservers, settings.dns_timeout)
        self.submitter: Submitter | None = None
        """The send API's way into the spool: given, started and stopped by the web role
        (`admin.runtime.Parts.web_role`); None where nothing is sent (the CLI)."""
        self.simulator_topic: str | None = None
        """`serve --dev`: the topic of the mailbox simulator, which posts SES events to this
        process's `/sns/ses` without SNS (set by `admin.runtime.Parts.web_role`)."""

    @cached_property
    def secret_key(self) -> bytes:
        return self._secret_key()

    @cached_property
    def sealer(self) -> Sealer:
        """Message content at rest: sealed and opened with a key from `secret_key`."""
        return self._sealer()

    @cached_property
    def domains(self) -> Domains:
        return Domains(self.db, SesIdentities(self.provider), self.secret_key, self.settings)

    @cached_property
    def ses_account(self) -> SesAccount:
        return SesAccount(self.provider)

    @cached_property
    def route53(self) -> Route53:
        """The hosted zones of each tenant's AWS account (`domain publish`)."""
        return Route53(self.provider, self.settings.dns_aws_account)


@dataclass(frozen=True, slots=True)
class Context:
    """One request's actor, client address and the services."""

    services: Services
    actor: Actor
    client_address: str | None

    @property
    def db(self) -> Database:
        return self.services.db

    def require_write(self) -> None:
        if not self.actor.can_write:
            raise AccessDenied("a viewer can look but not change anything")

    def require_admin(self) -> None:
        if not self.actor.is_admin:
            raise AccessDenied("only an admin may do this")

    def tenant_name(self, requested: str | None = None) -> str | None:
        """The tenant a query is scoped to: the actor's own; for an admin, the one requested
        (None: every tenant). Another tenant's name is refused as if it did not exist."""
        if self.actor.tenant is None:
            return requested or None
        if requested and requested != self.actor.tenant:
            raise NotFoundError(f"no tenant named {requested!r}")
        return self.actor.tenant

    async def tenant(self, requested: str | None = None) -> TenantInfo | None:
        name = self.tenant_name(requested)
        return None if name is None else await tenants.get_tenant(self.db, name)

    async def tenant_id(self, requested: str | None = None) -> int | None:
        found = await self.tenant(requested)
        return None if found is None else found.id

    async def require_tenant(self, requested: str | None) -> TenantInfo:
        """For creating something: the actor's tenant, or the one an admin names."""
        found = await self.tenant(requested)
        if found is None:
            raise InvalidInputError("name the tenant (an admin acts on every tenant)", "tenant")
        return found

    def owns(self, tenant: str | None, what: str) -> None:
        """Refuse a record of another tenant as if it did not exist (`what`: "credential 7")."""
        if self.actor.tenant is not None and tenant != self.actor.tenant:
            raise NotFoundError(f"no {what}")

    async def audit(
        self, kind: str, subject: str, detail: str = "", tenant: str | None = None
    ) -> None:
        """Record a change: who (the actor), from where, on which tenant, what."""
        tenant_name = tenant or self.actor.tenant
        tenant_id = (await tenants.get_tenant(self.db, tenant_name)).id if tenant_name else None
        await audit.record_change(
            self.db,
            self.actor.name,
            self.client_address,
            tenant_id,
            kind,
            subject,
            detail,
            now(),
        )
