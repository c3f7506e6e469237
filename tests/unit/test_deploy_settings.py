"""Deployment settings: the proxy (which one is in force, its password never shown) and webhook mode's values."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings, masked_url, parse_listen

SECRET = "A" * 32


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "all_proxy", "https_proxy", "http_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_a_proxy_password_is_masked() -> None:
    assert masked_url("socks5://office:s3cret@10.0.0.1:1080") == "socks5://office:****@10.0.0.1:1080"
    assert masked_url("http://proxy:3128") == "http://proxy:3128"
    assert masked_url("http://user@proxy:3128") == "http://user@proxy:3128"


def test_telegram_proxy_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(env_file=None).proxy_in_force() is None
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    assert load_settings(env_file=None).proxy_in_force() == ("ALL_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert load_settings(env_file=None).proxy_in_force() == ("HTTPS_PROXY", "http://127.0.0.1:3128")
    settings = load_settings(env_file=None, telegram_proxy=" socks5h://127.0.0.1:9050 ")
    assert settings.proxy_in_force() == ("TELEGRAM_PROXY", "socks5h://127.0.0.1:9050")
    monkeypatch.setenv("NO_PROXY", "api.telegram.org")
    assert load_settings(env_file=None).proxy_in_force() is None


@pytest.mark.parametrize("value", ["ftp://h:21", "socks4://h:1080", "socks5://:1080", "http://h:port", "h:3128"])
def test_a_malformed_telegram_proxy_is_refused(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env_file=None, telegram_proxy=value)
    assert refused.value.key == "config.invalid.telegram_proxy"


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8443") == ("127.0.0.1", 8443)
    assert parse_listen("[::1]:8443") == ("::1", 8443)
    assert parse_listen(":8443") == ("0.0.0.0", 8443)
    for bad in ("8443", "127.0.0.1:", "host:99999", "::1:8443"):
        with pytest.raises(ValueError, match="listen"):
            parse_listen(bad)


def test_webhook_mode_needs_a_secret_and_takes_the_path_of_its_url() -> None:
    assert load_settings(env_file=None).webhook is None
    settings = load_settings(env_file=None, webhook_url="https://bot.example.gov.cn/riverbot/telegram")
    with pytest.raises(ConfigError) as missing:
        _ = settings.webhook
    assert missing.value.key == "config.webhook_secret_missing"
    webhook = load_settings(
        env_file=None, webhook_url="https://bot.example.gov.cn/riverbot/telegram", webhook_secret=SECRET
    ).webhook
    assert webhook is not None
    assert (webhook.host, webhook.port, webhook.path) == ("127.0.0.1", 8443, "/riverbot/telegram")
    assert webhook.secret == SECRET
    webhook = load_settings(
        env_file=None,
        webhook_url="https://bot.example.gov.cn",
        webhook_secret=SECRET,
        webhook_listen="0.0.0.0:9000",
        webhook_path="/tg",
    ).webhook
    assert webhook is not None and (webhook.port, webhook.path) == (9000, "/tg")


@pytest.mark.parametrize("secret", ["short", "A" * 31, "A" * 31 + "!", "A" * 257])
def test_a_short_or_odd_secret_is_refused_without_showing_it(secret: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env_file=None, webhook_secret=secret)
    assert refused.value.key == "config.invalid.webhook_secret" and refused.value.params["value"] == ""
