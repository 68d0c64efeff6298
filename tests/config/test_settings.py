"""Settings: defaults, environment, .env, TOML, and one clear line for a bad value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config import ConfigError, Settings, load_settings

ENV = "SES_GATEWAY_"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SES_GATEWAY_* from the caller's environment, and no stray `.env`."""
    for name in list(os.environ):
        if name.startswith(ENV):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("data")
    assert settings.database == f"sqlite+aiosqlite:///{(Path('data') / 'gateway.db').resolve()}"
    assert (settings.smtp_host, settings.smtp_port, settings.smtps_port) == (
        "127.0.0.1",
        2587,
        2465,
    )
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8025)
    assert settings.base_url == "http://127.0.0.1:8025"
    assert settings.ses_send_api == "v2"
    assert settings.message_size_limit == 40_000_000
    assert settings.max_queue_age == 86400
    assert settings.auto_migrate is True
    assert settings.configuration_set is None


def test_v1_api_lowers_the_default_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV}SES_SEND_API", "v1")
    assert load_settings().message_size_limit == 10_000_000
    monkeypatch.setenv(f"{ENV}MAX_MESSAGE_SIZE", "5000000")
    assert load_settings().message_size_limit == 5_000_000


def test_environment_overrides_dotenv_which_overrides_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('hostname = "from-toml"\nsmtp_port = 1587\nhttp_port = 9000\n')
    (tmp_path / ".env").write_text(f"{ENV}SMTP_PORT=3587\n{ENV}HTTP_PORT=9100\n")
    monkeypatch.setenv(f"{ENV}HTTP_PORT", "9200")
    settings = load_settings(config)
    assert settings.hostname == "from-toml"
    assert settings.smtp_port == 3587
    assert settings.http_port == 9200


def test_smtps_port_zero_turns_implicit_tls_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV}SMTPS_PORT", "0")
    assert load_settings().smtps_port == 0


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SMTP_PORT", "abc", f"{ENV}SMTP_PORT: Input should be a valid integer"),
        ("SMTP_PORT", "70000", f"{ENV}SMTP_PORT: Input should be less than or equal to 65535"),
        ("SES_SEND_API", "v3", f"{ENV}SES_SEND_API: Input should be 'v2' or 'v1'"),
        ("MAX_MESSAGE_SIZE", "10", f"{ENV}MAX_MESSAGE_SIZE: Input should be greater than or equal"),
        ("TLS_CERT_FILE", "/nope.pem", f"{ENV}TLS_CERT_FILE and {ENV}TLS_KEY_FILE must be set"),
        ("SMTPS_PORT", "2587", f"{ENV}SMTP_PORT and {ENV}SMTPS_PORT must differ"),
        ("LOG_FORMAT", "xml", f"{ENV}LOG_FORMAT: Input should be 'text' or 'json'"),
        ("METRICS_TOKEN", "short", f"{ENV}METRICS_TOKEN: must be at least 16 characters"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(f"{ENV}{name}", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(says)
    assert "\n" not in str(caught.value)


def test_a_refused_secret_is_not_repeated_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV}METRICS_TOKEN", "hunter2-short")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)


def test_a_refused_database_url_is_shown_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"{ENV}DATABASE_URL", "mysql://mail:s3cr:et@db.example:3306/gateway")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "s3cr" not in str(caught.value)
    assert "(got 'mysql://mail:***@db.example:3306/gateway')" in str(caught.value)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db/gw", "postgresql+asyncpg://u:p@db/gw"),
        ("postgresql://u:p@db:5432/gw", "postgresql+asyncpg://u:p@db:5432/gw"),
        ("postgresql+asyncpg://u:p@db/gw", "postgresql+asyncpg://u:p@db/gw"),
        ("sqlite:////var/lib/gw.db", "sqlite+aiosqlite:////var/lib/gw.db"),
    ],
)
def test_the_database_urls_providers_hand_out_are_taken(
    monkeypatch: pytest.MonkeyPatch, given: str, used: str
) -> None:
    monkeypatch.setenv(f"{ENV}DATABASE_URL", given)
    assert load_settings().database == used


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (
            {"WEBHOOK_RETRY_BASE_DELAY": "60", "WEBHOOK_RETRY_MAX_DELAY": "59"},
            f"{ENV}WEBHOOK_RETRY_MAX_DELAY must be at least {ENV}WEBHOOK_RETRY_BASE_DELAY",
        ),
        (
            {"EVENT_RETENTION_DAYS": "6", "REPUTATION_WINDOW_DAYS": "1"},
            f"{ENV}EVENT_RETENTION_DAYS must be at least {ENV}REPUTATION_WINDOW_DAYS and 7 days",
        ),
        (
            {"EVENT_RETENTION_DAYS": "29", "REPUTATION_WINDOW_DAYS": "30"},
            f"{ENV}EVENT_RETENTION_DAYS must be at least {ENV}REPUTATION_WINDOW_DAYS and 7 days",
        ),
    ],
)
def test_settings_that_contradict_each_other_are_refused(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], says: str
) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"{ENV}{name}", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(says)
    assert "\n" not in str(caught.value)


def test_the_shortest_consistent_retention_and_retry_settings_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "EVENT_RETENTION_DAYS": "30",
        "REPUTATION_WINDOW_DAYS": "30",
        "WEBHOOK_RETRY_BASE_DELAY": "60",
        "WEBHOOK_RETRY_MAX_DELAY": "60",
    }.items():
        monkeypatch.setenv(f"{ENV}{name}", value)
    settings = load_settings()
    assert (settings.event_retention_days, settings.webhook_retry_max_delay) == (30, 60)
    assert load_settings(event_retention_days=7, reputation_window_days=7).event_retention_days == 7


def test_missing_or_broken_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("smtp_port = = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(broken)


def test_every_setting_is_documented() -> None:
    documented = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`{name.upper()}`" not in documented]
    assert missing == []
