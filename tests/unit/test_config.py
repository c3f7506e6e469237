"""Settings: defaults, parsing, and one clear ConfigError per bad setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, ensure_data_dir, load_settings, normalize_language
from bot.i18n import Locales

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "BOT_TOKEN",
        "TELEGRAM_API_URL",
        "DATA_DIR",
        "TIMEZONE",
        "DEFAULT_LANGUAGE",
        "ADMIN_IDS",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = load_settings(env_file=None)
    assert settings.bot_token is None
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.data_dir == Path("data")
    assert settings.timezone == "Asia/Shanghai"
    assert settings.default_language == "zh"
    assert settings.admin_ids == frozenset()
    assert settings.log_level == "INFO"


def test_env_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text(f"BOT_TOKEN={TOKEN}\nADMIN_IDS=1, 22 ,333\nTELEGRAM_API_URL=http://127.0.0.1:8081/\n")
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en_US")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings(env_file=env)
    assert settings.token == TOKEN
    assert settings.admin_ids == {1, 22, 333}
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.default_language == "en"
    assert settings.log_level == "DEBUG"


def test_env_file_not_in_utf8_is_explained(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(f"# 河长办的配置\nBOT_TOKEN={TOKEN}\nTIMEZONE=Asia/Shanghai\n".encode("gb18030"))
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=env)
    assert caught.value.key == "config.env_encoding" and caught.value.params == {"path": str(env)}
    zh = Locales.load().plain("zh", caught.value.key, **caught.value.params)
    assert str(env) in zh and "UTF-8" in zh


def test_token_is_secret_in_repr() -> None:
    settings = load_settings(env_file=None, bot_token=TOKEN)
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        ("BOT_TOKEN", "not-a-token", "config.token_malformed"),
        ("BOT_TOKEN", f" {TOKEN}x y", "config.token_malformed"),
        ("TIMEZONE", "Mars/Olympus_Mons", "config.invalid.timezone"),
        ("DEFAULT_LANGUAGE", "fr", "config.invalid.default_language"),
        ("ADMIN_IDS", "12,abc", "config.invalid.admin_ids"),
        ("LOG_LEVEL", "LOUD", "config.invalid.log_level"),
        ("TELEGRAM_API_URL", "api.telegram.org", "config.invalid.telegram_api_url"),
        ("RATE_LIMIT_PER_SECOND", "0", "config.invalid.rate_limit_per_second"),
    ],
)
def test_bad_setting_names_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str, key: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert caught.value.key == key


def test_missing_token_is_explained_only_when_needed() -> None:
    settings = load_settings(env_file=None, bot_token="  ")
    assert settings.bot_token is None
    with pytest.raises(ConfigError) as caught:
        _ = settings.token
    assert caught.value.key == "config.token_missing"


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    settings = load_settings(env_file=None, data_dir=blocker / "data")
    with pytest.raises(ConfigError) as caught:
        ensure_data_dir(settings)
    assert caught.value.key == "config.data_dir_unwritable"


def test_data_dir_is_created(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path / "a" / "b")
    assert ensure_data_dir(settings).is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [("zh-hans", "zh"), ("zh-TW", "zh"), ("zh", "zh"), ("en", "en"), ("ru", "en"), ("", None), (None, None)],
)
def test_language_from_telegram_code(code: str | None, expected: str | None) -> None:
    assert normalize_language(code) == expected


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_font_path_searches_the_system(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """`.env.example` and the compose file say an empty FONT_PATH means "find one": it must not become `.`."""
    monkeypatch.setenv("FONT_PATH", value)
    assert load_settings(env_file=None).font_path is None
