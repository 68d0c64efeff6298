"""Every setting of the gateway, read from the environment, `.env` and an optional TOML file.

Precedence, highest first: environment (`SES_GATEWAY_<NAME>`), `.env` in the working directory,
the TOML file given with `--config` (keys are the lower-case names), then the defaults below.
A secret setting can instead be read from the file that `SES_GATEWAY_<NAME>_FILE` names, the way
Docker and Kubernetes secrets are mounted. `docs/configuration.md` lists every setting; keep the
two in step.
"""

from __future__ import annotations

import ipaddress
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "SES_GATEWAY_"

Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0)]

TRANSIENT_BOUNCE_WINDOW_DAYS = 7
"""Transient bounces of an address count towards `TRANSIENT_BOUNCE_LIMIT` for this many days."""

DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
DATABASE_ALIASES = {
    "postgres://": "postgresql+asyncpg://",
    "postgresql://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}
"""The URLs providers hand out (Heroku, Render, RDS consoles), taken as the drivers we use."""


def mask_url(url: str) -> str:
    """`scheme://user:***@host/db`: a URL fit to print, its password hidden."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{host}"


"""The async drivers the gateway runs on."""

V2_MAX_MESSAGE_SIZE = 40_000_000
"""SES v2 `SendEmail` accepts raw messages up to 40 MB."""
V1_MAX_MESSAGE_SIZE = 10_000_000
"""SES v1 `SendRawEmail` accepts raw messages up to 10 MB."""
MIN_TOKEN_LENGTH = 16
"""`METRICS_TOKEN` is a bearer token: long enough not to be guessed."""


def parse_nameserver(text: str) -> tuple[str, int]:
    """`192.0.2.1`, `192.0.2.1:5353`, `2001:db8::1` or `[2001:db8::1]:5353` as (address, port)."""
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address (host, host:port or [v6]:port)") from None
    if not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{text!r} has an invalid port")
    return host, int(port)


class ConfigError(Exception):
    """A setting is invalid; the message is one line naming the setting."""


FILE_SUFFIX = "_FILE"


def is_secret(field: FieldInfo | None) -> bool:
    """A `SecretStr` setting (or a list of them): never shown, and readable from a file."""
    return "SecretStr" in str(getattr(field, "annotation", ""))


def read_secret_file(variable: str, path: str) -> str:
    """The value in the file `variable` names, less one trailing newline (`echo` adds one)."""
    if not path:
        setting = variable.removesuffix(FILE_SUFFIX)
        raise ConfigError(f"{variable} is empty: give the path of the file that holds {setting}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{variable}: {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror or exc}") from None
    value = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
    if not value:
        raise ConfigError(f"{variable}: {path} is empty")
    return value


class SecretFileSource(PydanticBaseSettingsSource):
    """`SES_GATEWAY_<NAME>_FILE` for each of `FILE_SETTINGS`, from the environment or `.env`.

    Docker and Kubernetes mount secrets as files, and the `_FILE` variable is how images take
    them (postgres' `POSTGRES_PASSWORD_FILE`), which keeps the value out of the environment that
    `docker inspect` and `/proc` show. Setting both `NAME` and `NAME_FILE` is an error, not a
    silent choice.
    """

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str | None]):
        super().__init__(settings_cls)
        self.variables = variables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: `__call__` reads every file setting at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in FILE_SETTINGS:
            variable = ENV_PREFIX + name.upper()
            path = self.variables.get((variable + FILE_SUFFIX).lower())
            if path is None:
                continue
            if self.variables.get(variable.lower()) is not None:
                raise ConfigError(
                    f"{variable} and {variable}{FILE_SUFFIX} are both set: keep one of them"
                )
            values[name] = read_secret_file(variable + FILE_SUFFIX, path)
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    auto_migrate: bool = True

    hostname: str = Field(default_factory=socket.getfqdn, min_length=1)
    smtp_host: str = "127.0.0.1"
    smtp_port: Port = 2587
    smtps_port: Annotated[int, Field(ge=0, le=65535)] = 2465
    smtp_timeout: Seconds = 300
    smtp_min_data_rate: Annotated[int, Field(ge=1)] = 500
    smtp_login_timeout: Seconds = 60
    max_connections_per_client: Annotated[int, Field(ge=1)] = 50
    http_host: str = "127.0.0.1"
    http_port: Port = 8025
    public_url: str | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    secret_key: SecretStr | None = None
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    max_message_size: Annotated[int, Field(ge=1024)] | None = None
    spill_threshold: Annotated[int, Field(ge=1024)] = 1 << 20
    max_recipients: Annotated[int, Field(ge=1)] = 100
    default_max_per_second: Annotated[float, Field(gt=0)] | None = None
    default_max_per_day: Annotated[int, Field(ge=1)] | None = None
    default_max_connections: Annotated[int, Field(ge=1)] | None = None
    suppression_mode: Literal["refuse", "drop"] = "refuse"
    bare_newline: Literal["reject", "normalize"] = "reject"
    auth_cache_ttl: Annotated[float, Field(ge=0)] = 300
    auth_max_failures: Annotated[int, Field(ge=1)] = 5
    auth_failure_window: Seconds = 600
    auth_lockout: Seconds = 900
    auth_max_concurrent: Annotated[int, Field(ge=1)] = 4
    trusted_ipv4_min_prefix: Annotated[int, Field(ge=1, le=32)] = 16
    trusted_ipv6_min_prefix: Annotated[int, Field(ge=1, le=128)] = 48

    ses_send_api: Literal["v2", "v1"] = "v2"
    ses_send_path: Literal["direct", "aioboto3"] = "direct"
    configuration_set: str | None = None
    ses_timeout: Seconds = 30
    max_queue_age: Seconds = 86400
    retry_base_delay: Seconds = 30
    retry_max_delay: Seconds = 1800
    delivery_concurrency: Annotated[int, Field(ge=1, le=1000)] = 64
    delivery_lease: Seconds = 10
    delivery_poll_interval: Seconds = 1
    body_retention_days: Annotated[int, Field(ge=0)] = 0
    shutdown_timeout: Seconds = 30

    dns_aws_account: str | None = None
    dns_nameservers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dns_timeout: Seconds = 3
    recipient_domain_check: bool = False
    recipient_domain_timeout: Seconds = 2
    dmarc_report_address: str | None = None
    identity_sync_interval: Seconds = 60
    dev_verify_delay: Annotated[float, Field(ge=0)] = 5

    ses_quota_refresh: Seconds = 300
    ses_rate_share: Annotated[float, Field(gt=0, le=1)] = 1.0
    ses_default_max_send_rate: Annotated[float, Field(gt=0)] = 14.0

    auto_suppress_scope: Literal["tenant", "global"] = "tenant"
    transient_bounce_limit: Annotated[int, Field(ge=0)] = 3
    reputation_window_sends: Annotated[int, Field(ge=1)] = 1000
    reputation_window_days: Annotated[float, Field(gt=0)] = 7
    reputation_min_sends: Annotated[int, Field(ge=1)] = 100
    reputation_bounce_warn: Annotated[float, Field(gt=0, le=100)] = 2.0
    reputation_bounce_pause: Annotated[float, Field(gt=0, le=100)] = 5.0
    reputation_complaint_warn: Annotated[float, Field(gt=0, le=100)] = 0.05
    reputation_complaint_pause: Annotated[float, Field(gt=0, le=100)] = 0.1
    event_retention_days: Annotated[int, Field(ge=1)] = 90

    sns_topic_arns: Annotated[list[str], NoDecode] = Field(default_factory=list)
    sns_max_age: Annotated[float, Field(ge=0)] = 3600

    webhook_timeout: Seconds = 10
    webhook_max_age: Seconds = 86400
    webhook_retry_base_delay: Seconds = 30
    webhook_retry_max_delay: Seconds = 3600
    webhook_ca_file: FilePath | None = None
    webhook_allow_private: bool = False

    tracking_anonymize_ip: bool = True
    tracking_scanner_window: Annotated[float, Field(ge=0)] = 10
    tracking_strip_dkim: bool = False

    campaign_batch: Annotated[int, Field(ge=1, le=10000)] = 200
    campaign_in_flight: Annotated[int, Field(ge=1)] = 1000
    campaign_queue_seconds: Seconds = 2

    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    session_lifetime: Seconds = 43200
    api_rate_limit: Annotated[float, Field(gt=0)] = 10
    api_rate_burst: Annotated[int, Field(ge=1)] = 50

    metrics_token: SecretStr | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls)
        # Both sources' variables, by lower-case name (the settings are case-insensitive).
        variables: dict[str, str | None] = {}
        for source in (dotenv_settings, env_settings):
            if isinstance(source, EnvSettingsSource):
                variables.update(source.env_vars)
        files = SecretFileSource(settings_cls, variables)
        return (init_settings, files, env_settings, dotenv_settings, toml)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        for alias, scheme in DATABASE_ALIASES.items():
            if value is not None and value.startswith(alias):
                value = scheme + value.removeprefix(alias)
        if value is not None and not value.startswith(DATABASE_SCHEMES):
            raise ValueError(
                "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER:PASSWORD@HOST/DATABASE"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("dns_nameservers", "sns_topic_arns", "previous_secret_keys", mode="before")
    @classmethod
    def _split_nameservers(cls, value: object) -> object:
        """`1.1.1.1, 127.0.0.1:5353` in the environment; a list in TOML."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"must be at least {MIN_TOKEN_LENGTH} characters (openssl rand -hex 32 makes one)"
            )
        return value

    @field_validator("dns_nameservers")
    @classmethod
    def _check_nameservers(cls, value: list[str]) -> list[str]:
        for server in value:
            parse_nameserver(server)
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                f"{ENV_PREFIX}TLS_CERT_FILE and {ENV_PREFIX}TLS_KEY_FILE must be set together"
            )
        for name, path in (("CERT", self.tls_cert_file), ("KEY", self.tls_key_file)):
            if path is not None and not path.is_file():
                raise ValueError(f"{ENV_PREFIX}TLS_{name}_FILE {path}: no such file")
        if self.smtps_port == self.smtp_port:
            raise ValueError(
                f"{ENV_PREFIX}SMTP_PORT and {ENV_PREFIX}SMTPS_PORT must differ "
                "(set SMTPS_PORT=0 to turn implicit TLS off)"
            )
        if self.retry_max_delay < self.retry_base_delay:
            raise ValueError(
                f"{ENV_PREFIX}RETRY_MAX_DELAY must be at least {ENV_PREFIX}RETRY_BASE_DELAY"
            )
        if self.webhook_retry_max_delay < self.webhook_retry_base_delay:
            raise ValueError(
                f"{ENV_PREFIX}WEBHOOK_RETRY_MAX_DELAY must be at least "
                f"{ENV_PREFIX}WEBHOOK_RETRY_BASE_DELAY"
            )
        counted = max(self.reputation_window_days, TRANSIENT_BOUNCE_WINDOW_DAYS)
        if self.event_retention_days < counted:
            raise ValueError(
                f"{ENV_PREFIX}EVENT_RETENTION_DAYS must be at least "
                f"{ENV_PREFIX}REPUTATION_WINDOW_DAYS and {TRANSIENT_BOUNCE_WINDOW_DAYS} days "
                "(the transient bounce window): both count events that old"
            )
        return self

    @property
    def database(self) -> str:
        """The database URL in force: `DATABASE_URL`, else SQLite in `DATA_DIR`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    @property
    def message_size_limit(self) -> int:
        """`MAX_MESSAGE_SIZE`, else the raw limit of the SES API in use."""
        if self.max_message_size is not None:
            return self.max_message_size
        return V2_MAX_MESSAGE_SIZE if self.ses_send_api == "v2" else V1_MAX_MESSAGE_SIZE

    @property
    def base_url(self) -> str:
        """`PUBLIC_URL` without a trailing slash, else the local HTTP address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.http_host}:{self.http_port}"


FILE_SETTINGS = tuple(
    name
    for name, field in Settings.model_fields.items()
    if is_secret(field) or name == "database_url"
)
"""The settings that `SES_GATEWAY_<NAME>_FILE` can give: the secrets, and `DATABASE_URL` (its
password)."""


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Read the settings; raise `ConfigError` with one line that names what is wrong."""
    cls: type[Settings] = Settings
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"--config: {config_file} does not exist")
        try:
            tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--config: {config_file} is not valid TOML: {exc}") from exc
        model_config = SettingsConfigDict(**{**Settings.model_config, "toml_file": config_file})
        cls = type("FileSettings", (Settings,), {"model_config": model_config})
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from exc


def describe(exc: ValidationError) -> str:
    """The first problem of a validation error, as one line naming the setting."""
    error = exc.errors(include_url=False)[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    field = str(error["loc"][0])
    name = ENV_PREFIX + field.upper()
    value = error.get("input")
    secret = is_secret(Settings.model_fields.get(field))
    if field == "database_url" and isinstance(value, str):
        value = mask_url(value)
    shown = f" (got {value!r})" if isinstance(value, str | int | float) and not secret else ""
    return f"{name}: {message}{shown}"
