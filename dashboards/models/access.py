"""The JSON API's request and response models (and the forms': pages validate through the same models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from access.accounts import EMAIL_PATTERN
from access.keys import ALL_SCOPES

Role = Literal["viewer", "operator", "admin"]
# An event kind, 'query' for reads, or 'ingest' for every kind (listed, so the OpenAPI document names them).
Scope = Literal[("ingest", *ALL_SCOPES)]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AccountOut(BaseModel):
    id: int
    email: str
    role: Role
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, account: Any) -> AccountOut:
        return cls(
            id=account.id,
            email=account.email,
            role=account.role,
            disabled=account.disabled_at is not None,
            locked_until=account.locked_until,
            last_login_at=account.last_login_at,
            created_at=account.created_at,
        )


class AccountList(BaseModel):
    accounts: list[AccountOut]


class AccountCreate(Strict):
    email: str = Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)
    role: Role
    password: str = Field(min_length=12, max_length=1024)


class AccountUpdate(Strict):
    role: Role | None = None
    disabled: bool | None = None


class PasswordReset(Strict):
    password: str = Field(min_length=12, max_length=1024)


class Me(BaseModel):
    account: AccountOut
    via: Literal["session", "token"]


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    rate_limit_per_s: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    events_24h: int | None = Field(
        default=None, description="events accepted in the last 24 hours; null when the count is unavailable"
    )


class ApiKeyList(BaseModel):
    keys: list[ApiKeyOut]


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, description="event kinds, 'ingest' for every kind, 'query' for reads")
    rate_limit_per_s: int | None = Field(default=None, gt=0, le=1_000_000)


class ApiKeyCreated(BaseModel):
    key: ApiKeyOut
    secret: str = Field(description="the key itself: shown this once, never again")


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenList(BaseModel):
    tokens: list[TokenOut]


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    expires_at: AwareDatetime | None = None


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="the token itself: shown this once, never again")


class AuditFilter(Strict):
    actor: str | None = Field(default=None, max_length=254)
    action: str | None = Field(default=None, max_length=100)
    resource_type: str | None = Field(default=None, max_length=50)
    resource_id: str | None = Field(default=None, max_length=254)
    outcome: Literal["success", "failure", "denied"] | None = None
    from_: str | None = Field(default=None, alias="from", description="RFC 3339, epoch ms or now-15m/now-1h/now-7d")
    to: str | None = Field(default=None, description="RFC 3339, epoch ms or now")
    limit: int = Field(default=100, ge=1, le=500)


class AuditEntryOut(BaseModel):
    event_id: str
    timestamp: datetime
    actor: str
    actor_account_id: int | None
    action: str
    resource_type: str
    resource_id: str
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    ip_address: str | None
    user_agent: str
    session_id: str
    token_id: str
    request_id: str
    outcome: str
    metadata: dict[str, Any]


class AuditList(BaseModel):
    entries: list[AuditEntryOut]


class LogsFilter(BaseModel):
    model_config = ConfigDict(extra="ignore")

    service: str | None = None
    level: str | None = Field(default=None, description="error, warn, info, debug or trace")
    q: str | None = Field(default=None, description="text the message contains")
    request_id: str | None = None
    correlation_id: str | None = None
    from_: str | None = Field(default=None, alias="from", description="RFC 3339 or epoch milliseconds")
    to: str | None = Field(default=None, description="RFC 3339 or epoch milliseconds")
    limit: str | None = Field(default=None, description="1 to the maximum, default 100")


class LogsPage(BaseModel):
    logs: list[dict[str, Any]]
    count: int
