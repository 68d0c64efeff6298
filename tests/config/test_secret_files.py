"""`SES_GATEWAY_<NAME>_FILE`: each secret setting read from a file (Docker, Kubernetes secrets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from config.settings import FILE_SETTINGS

ENV = "SES_GATEWAY_"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SES_GATEWAY_* from the caller's environment, and no stray `.env`."""
    for name in list(os.environ):
        if name.startswith(ENV):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def secret(tmp_path: Path, text: str, name: str = "secret") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_secret_setting_has_a_file_variable() -> None:
    assert set(FILE_SETTINGS) == {
        "secret_key",
        "previous_secret_keys",
        "metrics_token",
        "database_url",
    }


def test_the_file_gives_the_value_without_its_trailing_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV}SECRET_KEY_FILE", str(secret(tmp_path, "k" * 32 + "\n")))
    settings = load_settings()
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "k" * 32


def test_only_one_trailing_newline_is_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV}METRICS_TOKEN_FILE", str(secret(tmp_path, "t" * 20 + "\r\n")))
    monkeypatch.setenv(f"{ENV}SECRET_KEY_FILE", str(secret(tmp_path, " key \n\n", "key")))
    settings = load_settings()
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "t" * 20
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == " key \n"


def test_a_list_and_the_database_url_from_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV}PREVIOUS_SECRET_KEYS_FILE", str(secret(tmp_path, "old1, old2\n")))
    url = "postgres://gateway:s3cret@db:5432/gateway"
    monkeypatch.setenv(f"{ENV}DATABASE_URL_FILE", str(secret(tmp_path, url, "url")))
    settings = load_settings()
    assert [key.get_secret_value() for key in settings.previous_secret_keys] == ["old1", "old2"]
    assert settings.database == "postgresql+asyncpg://gateway:s3cret@db:5432/gateway"


def test_a_file_variable_in_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = secret(tmp_path, "from-a-file-in-dotenv-0123456789")
    (tmp_path / ".env").write_text(f"{ENV}METRICS_TOKEN_FILE={path}\n")
    settings = load_settings()
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "from-a-file-in-dotenv-0123456789"


def test_the_file_wins_over_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('secret_key = "from-toml"\n')
    monkeypatch.setenv(f"{ENV}SECRET_KEY_FILE", str(secret(tmp_path, "from-file")))
    settings = load_settings(config)
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "from-file"


def test_both_the_variable_and_its_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV}SECRET_KEY", "inline")
    monkeypatch.setenv(f"{ENV}SECRET_KEY_FILE", str(secret(tmp_path, "from-file")))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"{ENV}SECRET_KEY and {ENV}SECRET_KEY_FILE are both set: keep one of them"
    )


def test_both_set_across_environment_and_dotenv_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"{ENV}SECRET_KEY=inline\n")
    monkeypatch.setenv(f"{ENV}SECRET_KEY_FILE", str(secret(tmp_path, "from-file")))
    with pytest.raises(ConfigError, match="are both set"):
        load_settings()


def test_a_missing_file_names_the_variable_and_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "run" / "secrets" / "secret_key"
    monkeypatch.setenv(f"{ENV}SECRET_KEY_FILE", str(missing))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"{ENV}SECRET_KEY_FILE: cannot read {missing}: No such file or directory"
    )


def test_an_unreadable_file_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV}METRICS_TOKEN_FILE", str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"{ENV}METRICS_TOKEN_FILE: cannot read {tmp_path}: Is a directory"


def test_a_file_that_is_not_text_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "binary"
    path.write_bytes(b"\xff\xfe\x00key")
    monkeypatch.setenv(f"{ENV}SECRET_KEY_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"{ENV}SECRET_KEY_FILE: {path} is not UTF-8 text"


@pytest.mark.parametrize("text", ["", "\n"])
def test_an_empty_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str
) -> None:
    path = secret(tmp_path, text)
    monkeypatch.setenv(f"{ENV}SECRET_KEY_FILE", str(path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"{ENV}SECRET_KEY_FILE: {path} is empty"


def test_an_empty_path_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV}SECRET_KEY_FILE", "")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"{ENV}SECRET_KEY_FILE is empty: give the path of the file that holds {ENV}SECRET_KEY"
    )


def test_a_bad_value_from_a_file_is_named_and_not_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV}METRICS_TOKEN_FILE", str(secret(tmp_path, "short\n")))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{ENV}METRICS_TOKEN: must be at least 16 characters")
    assert "short" not in str(caught.value)


def test_a_file_variable_for_a_setting_that_is_not_secret_is_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV}HOSTNAME_FILE", str(secret(tmp_path, "from-file")))
    monkeypatch.setenv(f"{ENV}HOSTNAME", "smtp.example.net")
    assert load_settings().hostname == "smtp.example.net"
