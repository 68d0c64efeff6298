"""People of the panel (roles) and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    """What a user may do: `admin` everything; `owner` and `viewer` one tenant, `viewer` reading
    only."""

    ADMIN = "admin"
    OWNER = "owner"
    VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    email: str
    role: Role
    tenant: str | None
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key without its secret; `tenant` None: an admin key."""

    id: int
    prefix: str
    tenant: str | None
    description: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
