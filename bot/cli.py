"""The `riverbot` command line: run the bot and the office's maintenance commands.

Every failure an operator can fix (a missing token, a wrong time zone, an unwritable data directory) ends with
one localized line naming the setting and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence

from bot import __version__
from bot.config import ConfigError, Language, Settings, ensure_data_dir, load_settings, normalize_language
from bot.i18n import Locales
from storage import MigrationError, Store

EXIT_CONFIG = 2


def _cli_language(settings: Settings | None) -> Language:
    """The office reads the CLI in the configured language, or the shell's when settings can't be read."""
    if settings is not None:
        return settings.default_language
    for variable in ("DEFAULT_LANGUAGE", "LC_ALL", "LANG"):
        value = os.environ.get(variable, "")
        if value.lower().startswith(("zh", "en")):
            return normalize_language(value) or "zh"
    return "zh"


def configure_logging(level: str) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    # httpx logs every request at INFO: with long polling that is a line a second of noise.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def cmd_run(settings: Settings, locales: Locales) -> int:
    from telegram.error import InvalidToken, NetworkError

    from bot.app import build_application, serve

    settings.token  # noqa: B018 — fails early, with the how-to, when there is no token
    ensure_data_dir(settings)
    configure_logging(settings.log_level)
    app = build_application(settings)
    try:
        asyncio.run(serve(app))
    except InvalidToken:
        raise ConfigError("config.token_rejected") from None
    except NetworkError as exc:
        raise ConfigError("config.api_unreachable", url=settings.telegram_api_url, reason=str(exc)) from None
    except MigrationError as exc:
        raise ConfigError("config.database", reason=str(exc)) from None
    print(locales.plain(settings.default_language, "cli.stopped"), file=sys.stderr)
    return 0


def cmd_migrate(settings: Settings, locales: Locales) -> int:
    ensure_data_dir(settings)

    async def migrate() -> tuple[int, int]:
        from storage.migrate import current_version

        path = settings.database_path
        before = 0
        if path.exists():
            import aiosqlite

            async with aiosqlite.connect(path) as conn:
                before = await current_version(conn)
        try:
            store = await Store.open(path)
        except MigrationError as exc:
            raise ConfigError("config.database", reason=str(exc)) from None
        await store.close()
        return before, store.schema_version

    before, after = asyncio.run(migrate())
    lang = settings.default_language
    path = str(settings.database_path)
    if after == before:
        print(locales.plain(lang, "cli.up_to_date", path=path, version=after))
    else:
        applied = ", ".join(str(v) for v in range(before + 1, after + 1))
        print(locales.plain(lang, "cli.migrated", path=path, version=after, applied=applied))
    return 0


def cmd_config(settings: Settings, locales: Locales) -> int:
    for name, value in settings.model_dump().items():
        shown = value
        if name == "bot_token":
            secret = settings.bot_token.get_secret_value() if settings.bot_token else ""
            shown = f"{secret.split(':')[0]}:****" if secret else ""
        elif name == "admin_ids":
            shown = ",".join(str(i) for i in sorted(value))
        print(f"{name.upper()}={shown}")
    return 0


def cmd_failures(settings: Settings, locales: Locales) -> int:
    ensure_data_dir(settings)

    async def listing() -> list[str]:
        async with await Store.open(settings.database_path) as store:
            failures = await store.failed_updates.open()
        lang = settings.default_language
        return [
            locales.plain(
                lang,
                "cli.failure_line",
                id=f.id,
                created_at=f.created_at.isoformat(),
                update_id=f.update_id,
                chat_id=f.chat_id,
                error=f.error.strip().splitlines()[-1][:120],
            )
            for f in failures
        ]

    lines = asyncio.run(listing())
    print("\n".join(lines) if lines else locales.plain(settings.default_language, "cli.no_failures"))
    return 0


def cmd_version(settings: Settings, locales: Locales) -> int:
    print(f"riverbot {__version__}")
    return 0


COMMANDS: dict[str, Callable[[Settings, Locales], int]] = {
    "run": cmd_run,
    "migrate": cmd_migrate,
    "config": cmd_config,
    "failures": cmd_failures,
    "version": cmd_version,
}


def build_parser(locales: Locales, lang: Language) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riverbot", description=locales.plain(lang, "cli.description"))
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        text = locales.plain(lang, f"cli.help_{name}")
        sub.add_parser(name, help=text, description=text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    locales = Locales.load()
    settings: Settings | None = None
    try:
        settings = load_settings()
    except ConfigError as exc:
        error: ConfigError | None = exc
    else:
        error = None
    lang = _cli_language(settings)
    args = build_parser(locales, lang).parse_args(argv)
    try:
        if error is not None:
            raise error
        assert settings is not None
        return COMMANDS[args.command](settings, locales)
    except ConfigError as exc:
        print(_explain(locales, lang, exc), file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _explain(locales: Locales, lang: Language, error: ConfigError) -> str:
    if locales.has(error.key):
        return locales.plain(lang, error.key, **error.params)
    return locales.plain(lang, "config.invalid_generic", **{"name": "?", "value": "", **error.params})


if __name__ == "__main__":
    raise SystemExit(main())
