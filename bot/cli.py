"""The `riverbot` command line: run the bot and the office's maintenance commands.

Every failure an operator can fix (a missing token, a wrong time zone, an unwritable data directory) ends with
one localized line naming the setting and exit code 2, never a traceback. When the Bot API cannot be reached
(the network, a proxy, Telegram itself), the line says so and the exit code is 3: a service manager retries that
one, and not a bad setting.

Each command imports what only it needs inside its function (the `noqa: PLC0415` lines): the CLI alone loads in
about 0.5 s, PTB adds about 1.4 s and the export and registry modules up to 0.5 s more, which `riverbot version`,
`config` or `migrate` in a deploy script should not pay.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import aiosqlite

from bot import __version__, invites
from bot.backups import (
    BackupError,
    Backups,
    Made,
    Restored,
    last_backup,
    open_store,
    restore_backup,
    supported_version,
    tool_missing,
)
from bot.config import (
    LEVELS,
    ConfigError,
    Language,
    Settings,
    TelegramUnreachable,
    ensure_data_dir,
    load_settings,
    masked_key,
    masked_url,
    normalize_language,
)
from bot.i18n import CATALOG_FILES, Locales
from bot.outputs import check_output, write_replacing
from bot.status import Status, read_status
from storage import MigrationError, Store, UnusableDatabase
from storage.backup import PostgresToolFailed, PostgresToolMissing
from storage.engine import DATABASE_ERRORS, DatabaseRefused, DatabaseUnreachable
from storage.migrate import current_version
from storage.reading import open_reader, schema_version_of
from storage.store import check_database_file

if TYPE_CHECKING:
    from bot.assessment import Assessment
    from bot.exports import ExportResult as DataExport

EXIT_CONFIG = 2
# The Bot API could not be reached (network, proxy, Telegram down): worth retrying, unlike a bad setting (2).
EXIT_UNREACHABLE = 3
# Input the operator must fix (a bad registry row, an unreadable file): nothing was written.
EXIT_BAD_INPUT = 1
# `riverbot run --workers N`: at most this many worker processes (the WORKERS setting's bound).
MAX_WORKERS = 64
# `riverbot status`: something is stale (the bot down or behind, no recent backup, the disk nearly full).
EXIT_UNHEALTHY = 1


# Where a program reads the language of its messages, first set first (POSIX): LC_ALL overrides LC_MESSAGES,
# which overrides LANG.
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def _locale_language(locale: str) -> Language | None:
    """zh or en for a locale name such as zh_CN.UTF-8 or en_GB; None for C, POSIX or another language."""
    code = locale.split(".", 1)[0].split("@", 1)[0].strip().lower().replace("-", "_")
    for lang in ("zh", "en"):
        if code == lang or code.startswith(f"{lang}_"):
            return lang
    return None


def cli_language(settings: Settings | None, environ: Mapping[str, str] | None = None) -> Language:
    """The CLI speaks to the person at the terminal: in the terminal's language when it names zh or en, else in
    DEFAULT_LANGUAGE. The bot's users are another matter: each keeps their own (the CLI never decides that)."""
    env = os.environ if environ is None else environ
    default: Language = "zh"
    if settings is not None:
        default = settings.default_language
    else:  # the settings could not be read: DEFAULT_LANGUAGE as written, if it says zh or en
        value = env.get("DEFAULT_LANGUAGE", "").strip()
        if value.lower().startswith(("zh", "en")):
            default = normalize_language(value) or default
    for variable in LOCALE_VARIABLES:
        value = env.get(variable, "").strip()
        if value:
            return _locale_language(value) or default
    return default


def configure_logging(level: str, *, label: str = "") -> None:
    """The log on stderr; `label` (a worker's "worker 2") tells its lines from the front's in the one log."""
    prefix = f"[{label} %(process)d] " if label else ""
    logging.basicConfig(format=f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s", level=level)
    # httpx logs every request at INFO: with long polling that is a line a second of noise.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _run_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N", help=locales.plain(lang, "cli.run.arg_workers")
    )
    parser.add_argument("--webhook", action="store_true", help=locales.plain(lang, "cli.run.arg_webhook"))


def run_workers(settings: Settings, args: argparse.Namespace) -> int:
    """How many worker processes `riverbot run` starts (1: none, the one process handles everything); a choice
    that cannot work is a ConfigError saying what to do instead."""
    workers = settings.workers if args.workers is None else args.workers
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigError("cli.run.workers_invalid", workers=workers, most=MAX_WORKERS)
    if args.webhook and settings.webhook_url is None:
        raise ConfigError("cli.run.webhook_needs_url")
    if workers > 1 and not settings.on_postgres:
        # Workers share one database over the network; a SQLite file belongs to one machine and one writer.
        raise ConfigError("cli.run.workers_need_postgresql", workers=workers)
    return workers


def cmd_run(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    from telegram.error import InvalidToken, NetworkError  # noqa: PLC0415

    from bot.app import build_application, serve, unreachable  # noqa: PLC0415

    settings.token  # noqa: B018 — fails early, with the how-to, when there is no token
    settings.webhook  # noqa: B018 — and when webhook mode lacks its secret
    workers = run_workers(settings, args)
    ensure_data_dir(settings)
    configure_logging(settings.log_level)
    # With workers, the jobs run on the one that leads (bot/workers.py), not in the front.
    app = build_application(settings, with_jobs=workers == 1)
    if workers > 1:
        logging.getLogger(__name__).info(locales.plain(lang, "cli.run.front", workers=workers))
    try:
        asyncio.run(serve(app, workers=workers))
    except InvalidToken:
        raise ConfigError("config.token_rejected") from None
    except NetworkError as exc:
        raise unreachable(settings, exc) from None
    except MigrationError as exc:
        raise database_trouble(settings, exc) from None
    print(locales.plain(lang, "cli.stopped"), file=sys.stderr)
    return 0


def _worker_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument(
        "--index", type=int, default=None, metavar="I", help=locales.plain(lang, "cli.worker.arg_index")
    )


def _exit_now(code: int) -> None:
    """End the process at once (a worker whose database session is gone): no cleanup that could still write."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_worker(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """One webhook worker (bot/workers.py), as `riverbot run --workers N` starts them; also for a service manager
    that runs the workers itself, on this machine or another one reaching the same PostgreSQL."""
    from telegram.error import InvalidToken, NetworkError  # noqa: PLC0415

    from bot.app import serve_worker, unreachable  # noqa: PLC0415

    settings.token  # noqa: B018
    if not settings.on_postgres:
        raise ConfigError("cli.worker.needs_postgresql")
    ensure_data_dir(settings)
    label = f"worker {args.index}" if args.index is not None else "worker"
    configure_logging(settings.log_level, label=label)
    try:
        return asyncio.run(serve_worker(settings, index=args.index, exit_now=_exit_now))
    except InvalidToken:
        raise ConfigError("config.token_rejected") from None
    except NetworkError as exc:
        raise unreachable(settings, exc) from None
    except MigrationError as exc:
        raise ConfigError("config.database", reason=str(exc)) from None


# What main() explains as the database's trouble rather than letting a traceback out.
_DATABASE_TROUBLE: tuple[type[Exception], ...] = (*DATABASE_ERRORS, MigrationError)


def database_trouble(settings: Settings, exc: BaseException) -> ConfigError:
    """Why the database could not be opened, upgraded, or backed up before an upgrade, for the operator: the
    same localized line whichever engine said no."""
    cause = exc if isinstance(exc, PostgresToolMissing) else exc.__cause__
    if isinstance(cause, PostgresToolMissing):
        return ConfigError(tool_missing(cause).key, tool=cause.tool)
    if isinstance(exc, DatabaseUnreachable):
        return ConfigError("config.database_unreachable", url=settings.database_shown, reason=str(exc))
    if isinstance(exc, DatabaseRefused):
        return ConfigError("config.database_refused", url=settings.database_shown, reason=str(exc))
    return ConfigError("config.database", reason=str(exc))


def _try_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument("--port", type=int, default=None, help=locales.plain(lang, "cli.try.arg_port"))


def cmd_try(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """The bot on the built-in stand-in with a chat page: for trying it without a token (sandbox/trying.py).
    Imported here only, so `riverbot run` never loads the stand-in or aiohttp."""
    try:
        from sandbox.trying import DEFAULT_PORT, serve_try  # noqa: PLC0415
    except ModuleNotFoundError as missing:
        if missing.name != "aiohttp":
            raise
        raise ConfigError("cli.try.needs_aiohttp") from None
    ensure_data_dir(settings)
    configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    port = args.port if args.port is not None else int(os.environ.get("TRY_PORT", DEFAULT_PORT))
    asyncio.run(serve_try(settings, locales, lang, port=port))
    print(locales.plain(lang, "cli.stopped"), file=sys.stderr)
    return 0


def cmd_migrate(settings: Settings, locales: Locales, lang: Language) -> int:
    ensure_data_dir(settings)

    async def migrate() -> tuple[int, int, Path | None]:
        before = 0
        if settings.on_postgres:
            before = await asyncio.to_thread(_postgres_version, str(settings.database_url))
        else:
            path = settings.database_path
            check_database_file(path)
            if path.exists():
                async with aiosqlite.connect(path) as conn:
                    before = await current_version(conn)
        try:
            store = await open_store(settings, verify=True)
        except MigrationError as exc:
            raise database_trouble(settings, exc) from None
        backup = await last_backup(store)
        await store.close()
        kept = backup.path if backup and backup.kind == "before_migration" and store.schema_version > before else None
        return before, store.schema_version, kept

    before, after, kept = asyncio.run(migrate())
    path = settings.database_shown
    if after == before:
        print(locales.plain(lang, "cli.up_to_date", path=path, version=after))
    else:
        applied = ", ".join(str(v) for v in range(before + 1, after + 1))
        print(locales.plain(lang, "cli.migrated", path=path, version=after, applied=applied))
    if kept is not None and before >= 1:
        print(locales.plain(lang, "backup.before_migration", path=str(kept), version=before))
    return 0


def _postgres_version(url: str) -> int:
    with open_reader(url) as reader:
        return schema_version_of(reader)


def cmd_config(settings: Settings, locales: Locales, lang: Language) -> int:
    for name, value in settings.model_dump().items():
        shown = value
        if name == "bot_token":
            secret = settings.bot_token.get_secret_value() if settings.bot_token else ""
            shown = f"{secret.split(':')[0]}:****" if secret else ""
        elif name == "webhook_secret":
            shown = "****" if value else ""
        elif name in ("telegram_proxy", "database_url"):
            shown = masked_url(value) if value else ""
        elif name == "map_tiles_url":
            shown = masked_key(value) if value else ""
        elif name == "admin_ids":
            shown = ",".join(str(i) for i in sorted(value))
        elif name == "patrol_rules":
            shown = ",".join(f"{level}={rule}" for level, rule in settings.patrol_rules.items())
        print(f"{name.upper()}={shown}")
    return 0


def cmd_failures(settings: Settings, locales: Locales, lang: Language) -> int:
    ensure_data_dir(settings)

    async def listing() -> list[str]:
        async with await open_store(settings) as store:
            failures = await store.failed_updates.open()
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
    print("\n".join(lines) if lines else locales.plain(lang, "cli.no_failures"))
    return 0


def cmd_version(settings: Settings, locales: Locales, lang: Language) -> int:
    print(f"riverbot {__version__}")
    return 0


class _ProgressBar:
    """Rows written so far, redrawn in place on a terminal. Elsewhere (a log file, a pipe) nothing is drawn; a long
    import ends with one line instead."""

    WIDTH = 30
    LONG = 300  # rows: below this an import is quick, and the summary says it all

    def __init__(self, stream: TextIO, label: str, done_text: Callable[[int, float], str]) -> None:
        self._stream = stream
        self._label = label
        self._done_text = done_text
        self._tty = stream.isatty()
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._total = 0
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        self._done, self._total = done, total
        now = time.monotonic()
        if not self._tty or (done < total and now - self._drawn_at < 0.1):
            return
        self._drawn_at = now
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self._stream.write(f"\r{self._label} [{bar}] {done}/{total}")
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._drawn_at:
            self._stream.write("\r\033[K")  # clear the bar: the summary follows
            self._stream.flush()
        elif not self._tty and self._total >= self.LONG:
            print(self._done_text(self._done, time.monotonic() - self._started), file=self._stream)


def _registry_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    sub = parser.add_subparsers(dest="registry_command", required=True)
    text = locales.plain(lang, "cli.registry.help_import")
    importing = sub.add_parser("import", help=text, description=text)
    importing.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help=locales.plain(lang, "cli.registry.arg_files")
    )
    importing.add_argument(
        "--kind", choices=("areas", "reaches", "chiefs"), help=locales.plain(lang, "cli.registry.arg_kind")
    )
    importing.add_argument("--skip-bad", action="store_true", help=locales.plain(lang, "cli.registry.arg_skip_bad"))
    importing.add_argument("--dry-run", action="store_true", help=locales.plain(lang, "cli.registry.arg_dry_run"))
    text = locales.plain(lang, "cli.registry.help_export")
    exporting = sub.add_parser("export", help=text, description=text)
    exporting.add_argument(
        "directory", nargs="?", type=Path, metavar="DIR", help=locales.plain(lang, "cli.registry.arg_dir")
    )
    exporting.add_argument(
        "--format", choices=("csv", "xlsx"), default="csv", help=locales.plain(lang, "registry16.cli.arg_format")
    )
    exporting.add_argument("--out", type=Path, metavar="FILE", help=locales.plain(lang, "registry16.cli.arg_out"))
    exporting.add_argument("--force", action="store_true", help=locales.plain(lang, "cli.output.arg_force"))


def cmd_registry(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    if args.registry_command == "export":
        if args.format == "xlsx":
            if args.out is None or args.directory is not None:
                print(locales.plain(lang, "registry16.cli.xlsx_needs_out"), file=sys.stderr)
                return EXIT_BAD_INPUT
            return _registry_export_xlsx(settings, locales, args.out, force=args.force, lang=lang)
        if args.directory is None or args.out is not None:
            print(locales.plain(lang, "registry16.cli.csv_needs_dir"), file=sys.stderr)
            return EXIT_BAD_INPUT
        return _registry_export(settings, locales, args.directory, force=args.force, lang=lang)
    return _registry_import(settings, locales, args, lang)


def _registry_export_xlsx(settings: Settings, locales: Locales, out: Path, *, force: bool, lang: Language) -> int:
    """The registry as one workbook that `registry import` reads back unchanged, headers in the CLI's language."""
    from bot.registry import Kind, header_names  # noqa: PLC0415
    from bot.registry_export import GeometryTooLong, Registry, gather, render_xlsx  # noqa: PLC0415

    check_output(out, settings, force=force)
    ensure_data_dir(settings)

    async def read() -> Registry:
        async with await open_store(settings) as store:
            return await gather(store)

    registry = asyncio.run(read())
    titles: dict[Kind, str] = {
        kind: locales.plain(lang, f"registry16.sheet.{kind}") for kind in ("areas", "reaches", "chiefs")
    }
    try:
        data = render_xlsx(registry, titles, header_names(CATALOG_FILES[lang]), locales.plain(lang, "registry16.title"))
    except GeometryTooLong as exc:
        text = locales.plain(lang, "registry16.export.geometry_too_long", code=exc.code, length=exc.length)
        print(text, file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        write_replacing(out, lambda path: path.write_bytes(data))
    except OSError as exc:
        print(
            locales.plain(lang, "registry.export.unwritable", path=str(out), reason=exc.strerror or str(exc)),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    for name in registry.without_area:
        print(locales.plain(lang, "registry.export.without_area", name=name), file=sys.stderr)
    print(
        locales.plain(
            lang,
            "registry16.export.done",
            areas=len(registry.areas),
            reaches=len(registry.reaches),
            chiefs=len(registry.chiefs),
            path=str(out),
        )
    )
    return 0


def _registry_import(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    from bot.registry import split_sheet_name  # noqa: PLC0415
    from bot.registry_import import Batch, ImportReport, read_files, run_import  # noqa: PLC0415


    def say(key: str, **params: object) -> str:
        return locales.plain(lang, key, **params)

    def where(batch: Batch, path: str, line: int) -> str:
        file, sheet = split_sheet_name(path)
        if sheet is not None:
            if line == 0:
                return say("registry16.where_sheet", file=file, sheet=sheet)
            return say("registry16.where_row", file=file, sheet=sheet, row=line)
        if line == 0:
            return path
        if path in batch.geojson:
            return f"{path}: {say('registry.import.feature', number=line)}"
        return f"{path}:{line}"

    batch = read_files(args.files, args.kind)
    for path in batch.skipped:
        print(f"{path}: {say('registry.check.not_registry_file')}", file=sys.stderr)
    for error in batch.file_errors:
        print(f"{where(batch, error.file, error.line)}: {say(error.key, **error.params)}", file=sys.stderr)
    if batch.file_errors:
        print(say("registry.import.bad_files", count=len(batch.file_errors)), file=sys.stderr)
        return EXIT_BAD_INPUT
    if not batch.files:
        print(say("registry.import.no_files"), file=sys.stderr)
        return EXIT_BAD_INPUT
    ensure_data_dir(settings)
    progress = _ProgressBar(
        sys.stderr,
        say("registry.import.progress"),
        lambda rows, seconds: say(
            "registry.import.checked" if args.dry_run else "registry.import.written",
            rows=rows,
            seconds=f"{seconds:.1f}",
        ),
    )

    async def load() -> ImportReport:
        async with await open_store(settings) as store:
            return await run_import(
                store,
                settings,
                batch,
                today=datetime.now(settings.tz).date(),
                skip_bad=args.skip_bad,
                dry_run=args.dry_run,
                progress=progress,
            )

    try:
        report = asyncio.run(load())
    finally:
        progress.close()
    errors = batch.row_errors
    for error in errors:
        print(f"{where(batch, error.file, error.line)}: {say(error.key, **error.params)}", file=sys.stderr)
    bad_rows = len({(e.file, e.line) for e in errors})
    if errors and not args.skip_bad:
        print(say("registry.import.bad_rows", count=bad_rows), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.dry_run:
        print(say("registry.import.dry_run"))
        if not report.changes:
            print(say("registry.import.no_changes"))
        for change in report.changes:
            params = dict(change.params)
            if "level" in params:
                params["level"] = say(f"cli.level.{params['level']}")
            print(f"  {where(batch, change.file, change.line)}: {say(change.key, **params)}")
    for kind in ("areas", "reaches", "chiefs"):
        tally = getattr(report, kind)
        print(
            say(
                f"registry.import.summary_{kind}",
                created=tally.created,
                updated=tally.updated,
                unchanged=tally.unchanged,
            )
        )
    print(
        say(
            "registry.import.summary_more",
            started=report.assignments_started,
            ended=report.assignments_ended,
            invites=report.invites_created,
            linked=report.telegram_linked,
            merged=report.merged,
        )
    )
    if errors:
        skipped = "registry.import.skipped_rows_dry" if args.dry_run else "registry.import.skipped_rows"
        print(say(skipped, count=bad_rows), file=sys.stderr)
    if report.stopped_at is not None:
        stop = report.stopped_at
        print(f"{where(batch, stop.file, stop.line)}: {say(stop.key, **stop.params)}", file=sys.stderr)
        print(say("registry.import.stopped", rows=report.rows_written), file=sys.stderr)
        return EXIT_BAD_INPUT
    if report.invites_created and not args.dry_run:
        print(say("registry.import.see_invites"))
    return 0


def _registry_export(
    settings: Settings, locales: Locales, directory: Path, *, force: bool, lang: Language
) -> int:
    from bot.registry_export import AREAS_FILE, CHIEFS_FILE, REACHES_FILE, ExportResult, render, write  # noqa: PLC0415

    check_output(directory, settings, force=force, files=(AREAS_FILE, REACHES_FILE, CHIEFS_FILE))
    ensure_data_dir(settings)

    async def rendered() -> tuple[dict[str, bytes], ExportResult]:
        async with await open_store(settings) as store:
            return await render(store)

    files, result = asyncio.run(rendered())
    try:
        paths = write(directory, files)
    except OSError as exc:
        print(
            locales.plain(lang, "registry.export.unwritable", path=str(directory), reason=exc.strerror or str(exc)),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    for name in result.without_area:
        print(locales.plain(lang, "registry.export.without_area", name=name), file=sys.stderr)
    print(
        locales.plain(
            lang,
            "registry.export.done",
            areas=result.counts[AREAS_FILE],
            areas_path=str(paths[AREAS_FILE]),
            reaches=result.counts[REACHES_FILE],
            reaches_path=str(paths[REACHES_FILE]),
            chiefs=result.counts[CHIEFS_FILE],
            chiefs_path=str(paths[CHIEFS_FILE]),
        )
    )
    return 0


# Telegram usernames: 5–32 characters, letters, digits and underscores, starting with a letter.
_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")


async def _bot_username(store: Store, given: str | None) -> str:
    """The bot's username for deep links: --bot-username, else the one the bot recorded (getMe) when it ran."""
    username = (given or await store.meta.get(invites.BOT_USERNAME_KEY) or "").strip().lstrip("@")
    if not username:
        raise ConfigError("cli.invites.no_username")
    if not _USERNAME_RE.fullmatch(username):
        raise ConfigError("cli.invites.bad_username", value=username)
    return username


def _invites_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument("--renew", action="store_true", help=locales.plain(lang, "cli.invites.arg_renew"))
    parser.add_argument("--bot-username", metavar="NAME", help=locales.plain(lang, "cli.invites.arg_bot_username"))


def cmd_invites(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    ensure_data_dir(settings)

    async def listing() -> tuple[list[str], int | None]:
        async with await open_store(settings) as store:
            username = await _bot_username(store, args.bot_username)
            renewed = await invites.renew(store, settings) if args.renew else None
            lines: list[str] = []
            for waiting in await invites.outstanding(store):
                invite = waiting.invite
                if waiting.level:
                    role = locales.plain(lang, f"cli.level.{waiting.level}")
                else:
                    role = locales.plain(lang, f"cli.invites.role_{invite.role}")
                area = waiting.area
                lines.append(
                    locales.plain(
                        lang,
                        "registry16.invites.line",
                        name=invite.person_name,
                        role=role,
                        phone=waiting.phone or "—",
                        area=f"{area.code} {area.name(lang)}" if area else "—",
                        expires=invite.expires_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
                        link=invites.deep_link(username, invite.code),
                    )
                )
            return lines, renewed

    lines, renewed = asyncio.run(listing())
    if renewed is not None:
        print(locales.plain(lang, "cli.invites.renewed", count=renewed))
    if lines:
        print(locales.plain(lang, "cli.invites.header", count=len(lines)))
        print("\n".join(lines))
    else:
        print(locales.plain(lang, "cli.invites.none"))
    return 0


def _department_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    sub = parser.add_subparsers(dest="department_command", required=True)
    text = locales.plain(lang, "cli.department.help_add")
    adding = sub.add_parser("add", help=text, description=text)
    adding.add_argument("name", metavar="NAME", help=locales.plain(lang, "cli.department.arg_name"))
    adding.add_argument(
        "--contact", required=True, metavar="PHONE|NAME", help=locales.plain(lang, "cli.department.arg_contact")
    )
    text = locales.plain(lang, "cli.department.help_list")
    sub.add_parser("list", help=text, description=text)
    text = locales.plain(lang, "cli.department.help_remove")
    removing = sub.add_parser("remove", help=text, description=text)
    removing.add_argument("name", metavar="NAME", help=locales.plain(lang, "cli.department.arg_name"))


def cmd_department(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """The departments a problem can be transferred to, each with its contact in the bot."""
    from bot.dispatch import add_department, list_departments, remove_department  # noqa: PLC0415

    ensure_data_dir(settings)

    def say(key: str, **params: object) -> str:
        return locales.plain(lang, f"cli.department.{key}", **params)

    async def run() -> int:
        async with await open_store(settings) as store:
            if args.department_command == "add":
                outcome = await add_department(store, args.name, args.contact)
                if outcome != "ok":
                    print(say(outcome, name=args.name, contact=args.contact), file=sys.stderr)
                    return EXIT_BAD_INPUT
                print(say("added", name=args.name.strip()))
                return 0
            if args.department_command == "remove":
                if not await remove_department(store, args.name):
                    print(say("unknown", name=args.name), file=sys.stderr)
                    return EXIT_BAD_INPUT
                print(say("removed", name=args.name.strip()))
                return 0
            lines = await list_departments(store)
            if not lines:
                print(say("none"))
            for line in lines:
                state = "" if line.active else say("inactive")
                print(say("line", name=line.department.name, contact=line.contact, phone=line.phone or "—") + state)
            return 0

    return asyncio.run(run())


def _stats_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument(
        "--from", dest="first", required=True, metavar="YYYY-MM-DD", help=locales.plain(lang, "cli.stats.arg_from")
    )
    parser.add_argument(
        "--to", dest="last", required=True, metavar="YYYY-MM-DD", help=locales.plain(lang, "cli.stats.arg_to")
    )
    parser.add_argument("--area", metavar="CODE", help=locales.plain(lang, "cli.stats.arg_area"))
    parser.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help=locales.plain(lang, "cli.stats.arg_format")
    )


def cmd_stats(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    from bot.tallies import Stats, StatsReport, TallyService, parse_day  # noqa: PLC0415

    first, last = parse_day(args.first), parse_day(args.last)
    if first is None:
        raise ConfigError("cli.stats.bad_date", value=args.first)
    if last is None:
        raise ConfigError("cli.stats.bad_date", value=args.last)
    if first > last:
        raise ConfigError("cli.stats.reversed", first=first.isoformat(), last=last.isoformat())
    ensure_data_dir(settings)

    async def gather() -> Stats:
        async with await open_store(settings) as store:
            area_id = None
            if args.area is not None:
                area = await store.areas.by_code(args.area.strip())
                if area is None:
                    raise ConfigError("cli.stats.unknown_area", code=args.area)
                area_id = area.id
            return await TallyService(store, settings).stats(first, last, area_id=area_id)

    report = StatsReport(asyncio.run(gather()), locales, lang)
    if args.format == "csv":
        # Bytes as they are (UTF-8 with a BOM, CRLF), whatever the terminal's encoding: the file is for Excel.
        data = report.as_csv()
        sys.stdout.flush()
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:
            sys.stdout.write(data.decode("utf-8"))
        else:
            buffer.write(data)
            buffer.flush()
    elif args.format == "json":
        sys.stdout.write(report.as_json())
    else:
        for chunk in report.table_chunks():  # a province's table is never held whole
            sys.stdout.write(chunk)
    return 0


def _report_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    def say(key: str) -> str:
        return locales.plain(lang, f"cli.report.{key}")

    parser.add_argument("--period", required=True, metavar="2026-11|2026-Q4|2026-H1|2026", help=say("arg_period"))
    parser.add_argument("--area", metavar="CODE", help=say("arg_area"))
    parser.add_argument("--level", choices=LEVELS, help=say("arg_level"))
    parser.add_argument("--format", required=True, choices=("xlsx", "pdf"), help=say("arg_format"))
    parser.add_argument("--out", required=True, type=Path, metavar="PATH", help=say("arg_out"))
    parser.add_argument("--force", action="store_true", help=locales.plain(lang, "cli.output.arg_force"))
    parser.add_argument("--lang", choices=("zh", "en"), help=say("arg_lang"))


def cmd_report(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """`riverbot report`: the assessment report of a period, as XLSX or PDF, in the office's language."""
    from bot.assessment import AssessmentError, assessment_file, parse_period  # noqa: PLC0415

    period = parse_period(args.period, datetime.now(settings.tz).date())
    if period is None:
        raise ConfigError("assessment.error.bad_period", value=args.period)
    out: Path = args.out
    check_output(out, settings, force=args.force)
    folder = out.parent if str(out.parent) else Path()
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        reason = os.strerror(2 if not folder.exists() else 13)
        raise ConfigError("cli.report.unwritable", path=str(out), reason=reason)
    ensure_data_dir(settings)
    content: Language = args.lang or settings.default_language

    async def run() -> tuple[Assessment, bytes]:
        async with await open_store(settings) as store:
            return await assessment_file(
                store, settings, locales, language=content, period=period, fmt=args.format,
                area_code=args.area, level=args.level,
            )  # fmt: skip

    try:
        report, data = asyncio.run(run())
    except AssessmentError as exc:
        raise ConfigError(f"assessment.error.{exc.key}", **exc.params) from None
    try:
        write_replacing(out, lambda path: path.write_bytes(data))
    except OSError as exc:
        raise ConfigError("cli.report.unwritable", path=str(out), reason=exc.strerror or str(exc)) from None
    print(
        locales.plain(
            lang, "cli.report.saved", period=period.label(locales, lang), first=period.first.isoformat(),
            last=period.last.isoformat(), path=str(out), areas=len(report.areas), chiefs=len(report.chiefs),
        )
    )  # fmt: skip
    return 0


def _export_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument(
        "--from", dest="first", required=True, metavar="YYYY-MM-DD", help=locales.plain(lang, "cli.export.arg_from")
    )
    parser.add_argument(
        "--to", dest="last", required=True, metavar="YYYY-MM-DD", help=locales.plain(lang, "cli.export.arg_to")
    )
    parser.add_argument(
        "--format", required=True, choices=("xlsx", "csv", "geojson"), help=locales.plain(lang, "exports16.arg_format")
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="PATH", help=locales.plain(lang, "cli.export.arg_out")
    )
    parser.add_argument("--force", action="store_true", help=locales.plain(lang, "cli.output.arg_force"))
    parser.add_argument("--lang", choices=("zh", "en"), help=locales.plain(lang, "cli.export.arg_lang"))


class _ExportProgress:
    """Rows written so far, on stderr: redrawn in place on a terminal, a line every few seconds elsewhere. Quick
    exports show nothing."""

    def __init__(self, stream: TextIO, text: Callable[[int], str]) -> None:
        self._stream = stream
        self._text = text
        self._tty = stream.isatty()
        self._started = self._shown = time.monotonic()
        self._drawn = False

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self._started < 1 or now - self._shown < (0.2 if self._tty else 5):
            return
        self._shown, self._drawn = now, True
        self._stream.write(("\r" if self._tty else "") + self._text(rows) + ("" if self._tty else "\n"))
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._drawn:
            self._stream.write("\r\033[K")
            self._stream.flush()


def cmd_export(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    from bot.exports import CSV_FILES, GEOJSON_FILES, export  # noqa: PLC0415
    from bot.tallies import parse_day  # noqa: PLC0415

    first, last = parse_day(args.first), parse_day(args.last)
    if first is None:
        raise ConfigError("cli.stats.bad_date", value=args.first)
    if last is None:
        raise ConfigError("cli.stats.bad_date", value=args.last)
    if first > last:
        raise ConfigError("cli.stats.reversed", first=first.isoformat(), last=last.isoformat())
    out: Path = args.out
    # csv and geojson are several files: a zip, or a directory of them.
    into_folder = args.format in ("csv", "geojson") and out.suffix.lower() != ".zip"
    files = {"csv": CSV_FILES, "geojson": GEOJSON_FILES}.get(args.format, {})
    check_output(out, settings, force=args.force, files=tuple(files.values()) if into_folder else ())
    ensure_data_dir(settings)
    # The file goes round the office: its language is the office's (or --lang), not this terminal's.
    content: Language = args.lang or settings.default_language
    progress = _ExportProgress(sys.stderr, lambda rows: locales.plain(lang, "cli.export.progress", rows=rows))

    async def run() -> DataExport:
        async with await open_store(settings) as store:
            return await export(
                store, settings, locales, language=content, fmt=args.format, first=first, last=last, out=out,
                progress=progress,
            )  # fmt: skip

    try:
        result = asyncio.run(run())
    except OSError as exc:
        print(
            locales.plain(lang, "cli.export.unwritable", path=str(out), reason=exc.strerror or str(exc)),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    finally:
        progress.close()
    print(
        locales.plain(
            lang,
            "cli.export.done",
            path=str(out),
            patrols=result.patrols,
            problems=result.problems,
            rate=result.rate_rows,
            size=max(1, round(result.size / 1024)),
        )
    )
    return 0


class _StepProgress:
    """Steps done of a total, on stderr: redrawn in place on a terminal; elsewhere a line every few seconds,
    and one for each step marked `always` (each reach of a tag's dossiers)."""

    def __init__(self, stream: TextIO, text: Callable[[int, int, str], str]) -> None:
        self._stream = stream
        self._text = text
        self._tty = stream.isatty()
        self._shown = time.monotonic()
        self._drawn = False

    def __call__(self, done: int, total: int, label: str, *, always: bool = False) -> None:
        now = time.monotonic()
        if not always and now - self._shown < (0.1 if self._tty else 5):
            return
        self._shown, self._drawn = now, True
        line = self._text(done, total, label)
        self._stream.write(f"\r\033[K{line}" if self._tty else f"{line}\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._drawn:
            self._stream.write("\r\033[K")
            self._stream.flush()


def _dossier_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--reach", metavar="CODE", help=locales.plain(lang, "cli.dossier.arg_reach"))
    which.add_argument("--tag", metavar="TAG", help=locales.plain(lang, "cli.dossier.arg_tag"))
    parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help=locales.plain(lang, "cli.dossier.arg_from"))
    parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help=locales.plain(lang, "cli.dossier.arg_to"))
    parser.add_argument(
        "--out", required=True, type=Path, metavar="PATH", help=locales.plain(lang, "cli.dossier.arg_out")
    )
    parser.add_argument("--force", action="store_true", help=locales.plain(lang, "cli.output.arg_force"))
    parser.add_argument("--lang", choices=("zh", "en"), help=locales.plain(lang, "cli.dossier.arg_lang"))


def cmd_dossier(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """One river, one file: a reach's dossier (PDF), or every reach of a tag (a zip of PDFs). The range is the
    last 12 months up to --to (today by default) unless --from says otherwise."""
    from bot.dossier import DossierError, DossierResult, Dossiers, default_range  # noqa: PLC0415
    from bot.tallies import parse_day  # noqa: PLC0415
    from bot.tiles import tile_source  # noqa: PLC0415

    last = datetime.now(settings.tz).date()
    if args.last is not None:
        parsed = parse_day(args.last)
        if parsed is None:
            raise ConfigError("cli.stats.bad_date", value=args.last)
        last = parsed
    first = default_range(last)[0]
    if args.first is not None:
        parsed = parse_day(args.first)
        if parsed is None:
            raise ConfigError("cli.stats.bad_date", value=args.first)
        first = parsed
    if first > last:
        raise ConfigError("cli.stats.reversed", first=first.isoformat(), last=last.isoformat())
    out: Path = args.out
    if out.suffix.lower() != (".pdf" if args.reach is not None else ".zip"):
        raise ConfigError("cli.dossier.bad_out", path=str(out))
    check_output(out, settings, force=args.force)
    folder = out.resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        # Found before minutes of drawing, not after.
        raise ConfigError("cli.dossier.unwritable", path=str(out), reason=str(folder))
    ensure_data_dir(settings)
    content: Language = args.lang or settings.default_language
    code = args.reach or args.tag
    progress = _StepProgress(
        sys.stderr,
        lambda done, total, reach: locales.plain(lang, "cli.dossier.progress", code=reach, done=done, total=total),
    )

    async def run() -> DossierResult:
        async with await open_store(settings) as store:
            dossiers = Dossiers(store, settings, locales, tiles=tile_source(settings, settings.data_dir))
            if args.reach is not None:
                ids = [await dossiers.reach_by_code(args.reach)]
            else:
                ids = await dossiers.reaches_tagged(args.tag)
            return await dossiers.write(
                ids,
                first,
                last,
                out,
                language=content,
                progress=lambda done, total: progress(done, total, code),
                reach_progress=lambda done, total, reach: progress(done, total, reach, always=True),
            )

    try:
        result = asyncio.run(run())
    except DossierError as exc:
        raise ConfigError(exc.key, **exc.params) from None
    except OSError as exc:
        raise ConfigError("cli.dossier.unwritable", path=str(out), reason=exc.strerror or str(exc)) from None
    finally:
        progress.close()
    print(
        locales.plain(
            lang,
            "cli.dossier.done",
            path=str(out),
            reaches=result.reaches,
            patrols=result.patrols,
            problems=result.problems,
            size=max(1, round(result.size / 1024)),
        )
    )
    return 0


def _summary_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument("--area", required=True, metavar="CODE", help=locales.plain(lang, "cli.summary.arg_area"))
    parser.add_argument("--week", metavar="YYYY-Www", help=locales.plain(lang, "cli.summary.arg_week"))
    parser.add_argument("--send", action="store_true", help=locales.plain(lang, "cli.summary.arg_send"))
    parser.add_argument("--chart", type=Path, metavar="PATH", help=locales.plain(lang, "cli.summary.arg_chart"))
    parser.add_argument("--force", action="store_true", help=locales.plain(lang, "cli.output.arg_force"))


def _terminal_text(html_text: str) -> str:
    """A message's HTML as a terminal shows it: tags dropped, entities read."""

    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def cmd_summary(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """An area's weekly summary: printed, its chart saved; with --send also delivered to the area's bound groups,
    recorded as the weekly job records it (so the job will not send that week to those groups again)."""
    from bot.app import standalone_sender  # noqa: PLC0415
    from bot.services import Services  # noqa: PLC0415
    from bot.summaries import chart_jpeg, last_week, parse_week, summary_text  # noqa: PLC0415

    # The summary and its chart as the groups get them (the office's language); the messages are the terminal's.
    content = settings.default_language
    if args.week is None:
        week = last_week(datetime.now(settings.tz).date())
    else:
        parsed = parse_week(args.week)
        if parsed is None:
            raise ConfigError("cli.summary.bad_week", value=args.week)
        week = parsed
    if args.send:
        settings.token  # noqa: B018 — fails early, with the how-to, when there is no token
    chart_path: Path = args.chart or Path(f"summary-{args.area.strip()}-{week.code}.jpg")
    # The default name is this command's own: running it again for the same week refreshes that chart.
    check_output(chart_path, settings, force=args.force or args.chart is None)
    ensure_data_dir(settings)

    async def run() -> tuple[str, bytes, tuple[list[int], list[int]] | None]:

        async with await open_store(settings) as store:
            svc = Services.create(settings, store, locales)
            area = await svc.delivery.area_by_code(args.area.strip())
            if area is None:
                raise ConfigError("cli.summary.unknown_area", code=args.area)
            if args.send and not await svc.delivery.has_groups(area):
                return "", b"", None
            summary = await svc.summaries.area_summary(area, week)
            text = summary_text(summary, locales, content)
            chart = await asyncio.to_thread(chart_jpeg, summary, locales, content)
            outcome: tuple[list[int], list[int]] = ([], [])
            if args.send:
                # Through the Bot API as the bot sends, recorded as the weekly job records it.
                async with standalone_sender(settings) as sender:
                    outcome = await svc.delivery.deliver_area(sender, area, week)
            return text, chart, outcome

    text, chart, outcome = asyncio.run(run())
    if outcome is None:
        print(locales.plain(lang, "cli.summary.no_groups", code=args.area.strip()), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(_terminal_text(text))
    try:
        write_replacing(chart_path, lambda temporary: temporary.write_bytes(chart))
    except OSError as exc:
        print(
            locales.plain(lang, "registry.export.unwritable", path=str(chart_path), reason=exc.strerror or str(exc)),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    print(locales.plain(lang, "cli.summary.chart_saved", path=str(chart_path.resolve())))
    if args.send:
        sent, failed = outcome
        print(locales.plain(lang, "cli.summary.sent", count=len(sent)))
        if failed:
            return EXIT_BAD_INPUT
    return 0


def _demo_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument(
        "--scale",
        required=True,
        choices=("small", "city", "province"),
        help=locales.plain(lang, "cli.demo-data.arg_scale"),
    )
    parser.add_argument("--seed", type=int, default=1, metavar="N", help=locales.plain(lang, "cli.demo-data.arg_seed"))
    parser.add_argument("--years", default="4", metavar="N", help=locales.plain(lang, "cli.demo-data.arg_years"))


def cmd_demo_data(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """A synthetic history in a fresh store: progress on stderr, one summary line on stdout."""
    from bot.demo import DemoError, DemoReport, generate  # noqa: PLC0415

    years = args.years.strip()
    if not years.isdigit() or not 1 <= int(years) <= 10:
        raise ConfigError("cli.demo-data.bad_years", value=args.years)
    ensure_data_dir(settings)
    tty = sys.stderr.isatty()
    shown: list[float | bool | str] = [0.0, False, ""]  # when last shown, whether shown at all, the phase shown

    def progress(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and phase == shown[2] and now - float(shown[0]) < (0.2 if tty else 5):
            return
        shown[0], shown[1], shown[2] = now, True, phase
        text = locales.plain(
            lang,
            "cli.demo-data.progress",
            phase=locales.plain(lang, f"cli.demo-data.phase_{phase}"),
            done=done,
            total=total,
        )
        sys.stderr.write(("\r\033[K" + text) if tty else text + "\n")
        sys.stderr.flush()

    async def run() -> DemoReport:
        async with await open_store(settings) as store:
            return await generate(
                store, settings, scale=args.scale, seed=args.seed, years=int(years), progress=progress
            )

    try:
        report = asyncio.run(run())
    except DemoError as exc:
        print(locales.plain(lang, exc.key, **exc.params), file=sys.stderr)
        return EXIT_CONFIG
    finally:
        if tty and shown[1]:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
    print(
        locales.plain(
            lang,
            "cli.demo-data.done",
            first=report.first.isoformat(),
            last=report.last.isoformat(),
            areas=report.areas,
            reaches=report.reaches,
            chiefs=report.chiefs,
            volunteers=report.volunteers,
            assignments=report.assignments,
            patrols=report.patrols,
            invalid=report.invalid,
            volunteer_patrols=report.volunteer_patrols,
            points=report.points,
            problems=report.problems,
            volunteer_reports=report.volunteer_reports,
            events=report.events,
            seconds=f"{report.seconds:.1f}",
        )
    )
    return 0


def _status_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument("--json", action="store_true", help=locales.plain(lang, "cli.status.arg_json"))


def cmd_status(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """Whether the bot is alive and keeping up: a report, exit 1 when something is stale (for monitoring)."""
    ensure_data_dir(settings)

    async def read() -> Status:
        async with await open_store(settings) as store:
            return await read_status(store, settings, datetime.now(UTC))

    status = asyncio.run(read())
    if args.json:
        print(json.dumps(status.as_json(), ensure_ascii=False, indent=2))
        return 0 if status.healthy else EXIT_UNHEALTHY

    def when(moment: datetime | None) -> str:
        if moment is None:
            return locales.plain(lang, "cli.status.never")
        ago = int((status.checked_at - moment).total_seconds())
        shown = moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S")
        return locales.plain(lang, "cli.status.ago", at=shown, seconds=ago)

    def megabytes(size: int | None) -> str:
        return "?" if size is None else f"{size / 1024 / 1024:,.1f}"

    print(
        locales.plain(
            lang,
            "cli.status.report",
            heartbeat=when(status.heartbeat_at),
            handled=when(status.last_handled_at),
            waiting=status.inbox_waiting,
            oldest=when(status.oldest_waiting_at),
            deliveries=status.pending_deliveries,
            failed=status.failed_updates,
            database=megabytes(status.database_bytes),
            photos=megabytes(status.photo_bytes),
            free=megabytes(status.free_bytes),
            backup=when(status.last_backup_at),
        )
    )
    for problem in status.problems:
        print(locales.plain(lang, f"cli.status.problem.{problem}"), file=sys.stderr)
    print(locales.plain(lang, "cli.status.healthy" if status.healthy else "cli.status.unhealthy"))
    return 0 if status.healthy else EXIT_UNHEALTHY


def _backup_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument("--out", type=Path, metavar="DIR", help=locales.plain(lang, "cli.backup.arg_out"))


class _PhasedProgress:
    """A progress bar per phase of a long copy (the database, then the photos), as `registry import` shows its
    rows. Called from the copying thread."""

    def __init__(self, locales: Locales, lang: Language, prefix: str) -> None:
        self._locales, self._lang, self._prefix = locales, lang, prefix
        self._bars: dict[str, _ProgressBar] = {}

    def _say(self, key: str, **params: object) -> str:
        return self._locales.plain(self._lang, f"{self._prefix}.{key}", **params)

    def __call__(self, phase: str, done: int, total: int) -> None:
        bar = self._bars.get(phase)
        if bar is None:
            self.close()  # one phase after the other: the previous one is over
            bar = self._bars[phase] = _ProgressBar(
                sys.stderr,
                self._say(f"progress_{phase}"),
                lambda count, seconds: self._say(f"progress_{phase}_done", count=count, seconds=f"{seconds:.1f}"),
            )
        bar(done, total)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def cmd_backup(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """A backup now, into BACKUP_DIR or --out, while the bot may keep running."""
    ensure_data_dir(settings)
    progress = _PhasedProgress(locales, lang, "cli.backup")

    async def run() -> Made:
        async with await open_store(settings) as store:
            return await Backups(store, settings).make(
                "manual", datetime.now().astimezone(), folder=args.out, progress=progress
            )

    try:
        made = asyncio.run(run())
    except PostgresToolMissing as missing:
        error = tool_missing(missing)
        print(locales.plain(lang, error.key, **error.params), file=sys.stderr)
        return EXIT_BAD_INPUT
    except PostgresToolFailed as failed:
        reason = failed.detail
        print(locales.plain(lang, "backup.error.pg_tool_failed", tool=failed.tool, reason=reason), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if isinstance(exc, DatabaseUnreachable):
            raise
        folder = args.out or settings.backups_path
        print(
            locales.plain(lang, "backup.error.unwritable", path=str(folder), reason=exc.strerror or str(exc)),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    finally:
        progress.close()
    manifest = made.manifest
    print(
        locales.plain(
            lang,
            "backup.done",
            path=str(made.path),
            size=f"{manifest.database_bytes / 1024 / 1024:.1f}",
            version=manifest.schema_version,
            people=manifest.counts.get("people", 0),
            patrols=manifest.counts.get("patrols", 0),
            problems=manifest.counts.get("problems", 0),
            photos=manifest.photo_files,
            copied=made.photos_copied,
            linked=made.photos_linked,
        )
    )
    return 0


def _restore_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument("source", type=Path, metavar="FROM", help=locales.plain(lang, "cli.restore.arg_from"))


def cmd_restore(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """Put a backup back in DATA_DIR: refused while the bot runs, checked before and after."""
    source: Path = args.source
    if not source.exists() and not source.is_absolute() and (settings.backups_path / source).exists():
        source = settings.backups_path / source  # a backup's name alone, as `ls BACKUP_DIR` shows it
    ensure_data_dir(settings)
    progress = _PhasedProgress(locales, lang, "cli.restore")
    try:
        done: Restored = restore_backup(
            source,
            settings.data_dir,
            now=datetime.now().astimezone(),
            zone=settings.tz,
            progress=progress,
            database_url=str(settings.database_url) if settings.on_postgres else None,
        )
    except BackupError as exc:
        progress.close()
        print(locales.plain(lang, exc.key, **exc.params), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        progress.close()
        if isinstance(exc, DatabaseUnreachable):
            raise
        print(
            locales.plain(lang, "backup.error.restore_failed", path=str(source), reason=exc.strerror or str(exc)),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    progress.close()
    manifest = done.manifest

    def say(key: str, **params: object) -> None:
        print(locales.plain(lang, key, **params))

    say(
        "backup.restored",
        path=str(done.source),
        created_at=manifest.created_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
        version=manifest.schema_version,
        people=manifest.counts.get("people", 0),
        patrols=manifest.counts.get("patrols", 0),
        problems=manifest.counts.get("problems", 0),
    )
    dumped = manifest.engine == "postgresql"  # the previous contents were dumped, not moved
    if done.kept_aside is not None:
        say("backup.restored_kept_dump" if dumped else "backup.restored_kept", path=str(done.kept_aside))
    else:
        say("backup.restored_empty" if dumped else "backup.restored_nothing_kept")
    say("backup.restored_photos", copied=done.photos_copied, present=done.photos_present)
    supported = supported_version(dialect=manifest.engine)
    if manifest.schema_version < supported:
        say("backup.restored_older", version=manifest.schema_version, supported=supported)
    return 0


def _prune_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument("--dry-run", action="store_true", help=locales.plain(lang, "cli.prune.arg_dry_run"))
    parser.add_argument("--years", metavar="N", help=locales.plain(lang, "cli.prune.arg_years"))


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def cmd_prune(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """Retention by hand: what the daily job prunes (or, with --dry-run, would), with progress on stderr."""
    from bot.retention import Phase, Pruned, RetentionService  # noqa: PLC0415

    years: int | None = None
    if args.years is not None:
        if not args.dry_run:
            raise ConfigError("cli.prune.years_needs_dry_run")
        text = args.years.strip()
        if not text.isdigit() or not 1 <= int(text) <= 100:
            raise ConfigError("cli.prune.bad_years", value=args.years)
        years = int(text)
    window = settings.retention_years if years is None else years
    if window == 0:
        print(locales.plain(lang, "cli.prune.off"))
        return 0
    ensure_data_dir(settings)
    tty = sys.stderr.isatty()
    shown = [0.0, False]

    def progress(phase: Phase, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - float(shown[0]) < (0.2 if tty else 5):
            return
        shown[0], shown[1] = now, True
        text = locales.plain(
            lang, "cli.prune.progress", phase=locales.plain(lang, f"cli.prune.phase_{phase}"), done=done, total=total
        )
        sys.stderr.write(("\r\033[K" + text) if tty else text + "\n")
        sys.stderr.flush()

    async def run() -> Pruned:
        async with await open_store(settings) as store:
            service = RetentionService(store, settings)
            now = datetime.now(settings.tz)
            if args.dry_run:
                return await service.plan(now, years=years)
            return await service.prune(now, progress=progress)

    started = time.monotonic()
    try:
        result = asyncio.run(run())
    finally:
        if tty and shown[1]:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
    assert result.cutoff is not None
    print(locales.plain(lang, "cli.prune.window", years=window, cutoff=result.cutoff.strftime("%Y-%m-%d %H:%M")))
    counts = {
        "patrols": result.patrols,
        "points": result.points,
        "photos": result.photos,
        "size": _megabytes(result.photo_bytes),
    }
    if result.dry_run:
        print(locales.plain(lang, "cli.prune.dry_run", **counts))
        if result.kept_reports:
            print(locales.plain(lang, "cli.prune.kept_reports_dry", count=result.kept_reports))
        return 0
    print(locales.plain(lang, "cli.prune.done", **counts, seconds=f"{time.monotonic() - started:.1f}"))
    if result.kept_reports:
        print(locales.plain(lang, "cli.prune.kept_reports", count=result.kept_reports))
    if result.missing_files:
        print(locales.plain(lang, "cli.prune.missing", count=result.missing_files))
    if result.points:
        print(locales.plain(lang, "cli.prune.space"))
    return 0


def _migrate_data_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument(
        "--from", dest="source", metavar="sqlite:///PATH", help=locales.plain(lang, "cli.migrate-data.arg_from")
    )
    parser.add_argument(
        "--to", dest="target", metavar="postgresql://…", help=locales.plain(lang, "cli.migrate-data.arg_to")
    )


class _TableProgress:
    """A progress bar per table copied, as `registry import` shows its rows; one after the other."""

    def __init__(self, locales: Locales, lang: Language) -> None:
        self._locales, self._lang = locales, lang
        self._table = ""
        self._bar: _ProgressBar | None = None

    def _say(self, key: str, **params: object) -> str:
        return self._locales.plain(self._lang, f"cli.migrate-data.{key}", **params)

    def __call__(self, table: str, done: int, total: int) -> None:
        if self._bar is None or table != self._table:
            self.close()
            self._table = table
            self._bar = _ProgressBar(
                sys.stderr,
                self._say("progress", table=table),
                lambda count, seconds: self._say("progress_done", table=table, count=count, seconds=f"{seconds:.1f}"),
            )
        self._bar(done, total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def cmd_migrate_data(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """A county's SQLite database into an empty PostgreSQL database, in one transaction, committed only when the
    counts of every table and the stats agree on both sides (`bot.transfer`)."""
    from bot.tallies import aligned, percent  # noqa: PLC0415
    from bot.transfer import Moved, TransferError, migrate_data  # noqa: PLC0415

    def say(key: str, **params: object) -> str:
        return locales.plain(lang, f"migrate_data.{key}", **params)

    progress = _TableProgress(locales, lang)
    try:
        moved: Moved = asyncio.run(
            migrate_data(settings, locales, source=args.source, target=args.target, progress=progress)
        )
    except TransferError as exc:
        progress.close()
        print(locales.plain(lang, exc.key, **exc.params), file=sys.stderr)
        if exc.key == "migrate_data.target_not_empty":
            print(say("nothing_written"), file=sys.stderr)
        return EXIT_BAD_INPUT
    progress.close()
    rows = [
        [say("derived", table=c.table) if c.derived else c.table, f"{c.source:,}", f"{c.target:,}",
         say("same") if c.same else say("different")]
        for c in moved.counts
    ]  # fmt: skip
    print("\n".join(aligned([say("col_table"), "SQLite", "PostgreSQL", ""], rows, [False, True, True, False])))
    print()
    lines: list[list[str]] = []
    for check in moved.stats:
        period = say("period", first=check.first.isoformat(), last=check.last.isoformat())
        sides = [("SQLite", check.source), ("PostgreSQL", check.target)]
        for i, (side, stats) in enumerate(sides):
            if stats is None:
                lines.append(["", side, say("stats_failed"), "", "", ""])
                continue
            problems = stats.problems.overall
            verdict = "" if i == 0 else say("same") if check.same else say("different")
            lines.append([
                period if i == 0 else "",
                side,
                f"{percent(stats.patrols.overall)} ({stats.patrols.overall.done:,}/{stats.patrols.overall.required:,})",
                f"{problems.new}/{problems.closed}/{problems.open}/{problems.overdue}",
                f"{sum(v.patrols for v in stats.volunteers):,}",
                verdict,
            ])  # fmt: skip
    header = [say("col_period"), say("col_database"), say("col_rate"), say("col_problems"), say("col_volunteers"), ""]
    print("\n".join(aligned(header, lines, [False, False, True, True, True, False])))
    print()
    for check in moved.stats:
        if check.error is not None:
            print(say("stats_error", reason=check.error.strip().splitlines()[0][:300]), file=sys.stderr)
    if not moved.committed:
        print(say("not_committed"), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(
        say(
            "done",
            path=str(moved.source),
            version=moved.version,
            rows=moved.rows,
            tables=sum(1 for c in moved.counts if not c.derived),
            seconds=f"{moved.seconds:.1f}",
        )
    )
    return 0


def _assistant_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    for action in ("add", "remove"):
        text = locales.plain(lang, f"cli.assistant.{action}")
        sub = actions.add_parser(action, help=text, description=text)
        chief_help = locales.plain(lang, "cli.assistant.arg_chief")
        sub.add_argument("--chief", required=True, metavar="PERSON", help=chief_help)
        sub.add_argument(
            "--assistant", required=True, metavar="PERSON", help=locales.plain(lang, "cli.assistant.arg_assistant")
        )
    text = locales.plain(lang, "cli.assistant.list")
    actions.add_parser("list", help=text, description=text)


def cmd_assistant(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """Chiefs' assistants from the command line: name one, end one, or list them (`bot.assistants`)."""
    from bot.assistants import AssistantService  # noqa: PLC0415

    ensure_data_dir(settings)

    async def run() -> tuple[int, list[str]]:
        async with await open_store(settings) as store:
            service = AssistantService(store, settings)
            if args.action == "list":
                rows = await service.all_active()
                lines = [
                    locales.plain(
                        lang,
                        "cli.assistant.line",
                        chief=r.chief_name,
                        assistant=r.assistant_name,
                        since=r.since.astimezone(settings.tz).date().isoformat(),
                    )
                    for r in rows
                ]
                return 0, lines or [locales.plain(lang, "cli.assistant.none")]
            found = []
            for given in (args.chief, args.assistant):
                person = await service.find_person(given)
                if person is None:
                    return EXIT_BAD_INPUT, [locales.plain(lang, "cli.assistant.unknown_person", value=given)]
                found.append(person)
            chief, helper = found
            names = {"chief": chief.name, "assistant": helper.name}
            if args.action == "add":
                added = await service.add(chief.id, helper.id, by=None)
                ok = added in ("added", "already")
                return (0 if ok else EXIT_BAD_INPUT), [locales.plain(lang, f"cli.assistant.{added}", **names)]
            if await service.remove(chief.id, helper.id, by=None):
                return 0, [locales.plain(lang, "cli.assistant.removed", **names)]
            return EXIT_BAD_INPUT, [locales.plain(lang, "cli.assistant.not_assistant", **names)]

    code, lines = asyncio.run(run())
    print("\n".join(lines), file=sys.stdout if code == 0 else sys.stderr)
    return code


def _qr_arguments(parser: argparse.ArgumentParser, locales: Locales, lang: Language) -> None:
    parser.add_argument("--area", required=True, metavar="CODE", help=locales.plain(lang, "cli.qr.arg_area"))
    parser.add_argument("--out", type=Path, metavar="FILE", help=locales.plain(lang, "cli.qr.arg_out"))
    parser.add_argument("--bot-username", metavar="NAME", help=locales.plain(lang, "cli.invites.arg_bot_username"))
    parser.add_argument("--force", action="store_true", help=locales.plain(lang, "cli.output.arg_force"))


def cmd_qr(settings: Settings, locales: Locales, args: argparse.Namespace, lang: Language) -> int:
    """One QR code per reach of an area for its public sign, as an A4 PDF (a page per six) or one PNG sheet;
    each starts a report on its reach. Captions follow the terminal's language, as this command's messages do."""
    from bot import qr  # noqa: PLC0415 (segno and the layout only for this command)

    code = args.area.strip()
    out: Path = args.out or Path(f"qr-{code}.pdf")
    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".png"):
        raise ConfigError("cli.qr.bad_format", path=str(out))
    # The default name is this command's own: running it again refreshes that file.
    check_output(out, settings, force=args.force or args.out is None)
    ensure_data_dir(settings)

    async def gather() -> list[qr.SignCode]:
        async with await open_store(settings) as store:
            area = await store.areas.by_code(code)
            if area is None:
                raise ConfigError("cli.qr.unknown_area", code=code)
            username = await _bot_username(store, args.bot_username)
            reaches = await store.reaches.in_area(area.id)
            if not reaches:
                raise ConfigError("cli.qr.no_reaches", code=code)
            return qr.sign_codes(username, [(r.id, r.code, r.name(lang)) for r in reaches])

    signs = asyncio.run(gather())
    hint = locales.plain(lang, "cli.qr.hint")
    try:
        write_replacing(out, lambda temporary: qr.write(temporary, signs, hint, pdf=suffix == ".pdf"))
    except OSError as exc:
        print(
            locales.plain(lang, "registry.export.unwritable", path=str(out), reason=exc.strerror or str(exc)),
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    print(locales.plain(lang, "cli.qr.saved", count=len(signs), code=code, path=str(out.resolve())))
    return 0


COMMANDS: dict[str, Callable[[Settings, Locales, Language], int]] = {
    "migrate": cmd_migrate,
    "config": cmd_config,
    "failures": cmd_failures,
    "version": cmd_version,
}

# Commands that take arguments: name → (add the arguments to its parser, run it with the parsed arguments).
ArgumentsCommand = tuple[
    Callable[[argparse.ArgumentParser, Locales, Language], None],
    Callable[[Settings, Locales, argparse.Namespace, Language], int],
]
COMMANDS_WITH_ARGUMENTS: dict[str, ArgumentsCommand] = {
    "run": (_run_arguments, cmd_run),
    "worker": (_worker_arguments, cmd_worker),
    "status": (_status_arguments, cmd_status),
    "registry": (_registry_arguments, cmd_registry),
    "invites": (_invites_arguments, cmd_invites),
    "department": (_department_arguments, cmd_department),
    "stats": (_stats_arguments, cmd_stats),
    "summary": (_summary_arguments, cmd_summary),
    "export": (_export_arguments, cmd_export),
    "report": (_report_arguments, cmd_report),
    "dossier": (_dossier_arguments, cmd_dossier),
    "demo-data": (_demo_arguments, cmd_demo_data),
    "backup": (_backup_arguments, cmd_backup),
    "restore": (_restore_arguments, cmd_restore),
    "prune": (_prune_arguments, cmd_prune),
    "try": (_try_arguments, cmd_try),
    "qr": (_qr_arguments, cmd_qr),
    "assistant": (_assistant_arguments, cmd_assistant),
    "migrate-data": (_migrate_data_arguments, cmd_migrate_data),
}


def build_parser(locales: Locales, lang: Language) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riverbot", description=locales.plain(lang, "cli.description"))
    sub = parser.add_subparsers(dest="command", required=True)
    first = ("run", "worker")  # the bot itself, then its maintenance
    for name in first:
        _add_command(sub, name, locales, lang)
    for name in COMMANDS:
        text = locales.plain(lang, f"cli.help_{name}")
        sub.add_parser(name, help=text, description=text)
    for name in COMMANDS_WITH_ARGUMENTS:
        if name not in first:
            _add_command(sub, name, locales, lang)
    return parser


def _add_command(sub: argparse._SubParsersAction, name: str, locales: Locales, lang: Language) -> None:  # type: ignore[type-arg]
    arguments, _ = COMMANDS_WITH_ARGUMENTS[name]
    text = locales.plain(lang, f"cli.{name}.help")
    arguments(sub.add_parser(name, help=text, description=text), locales, lang)


def main(argv: Sequence[str] | None = None) -> int:
    locales = Locales.load()
    settings: Settings | None = None
    try:
        settings = load_settings()
    except ConfigError as exc:
        error: ConfigError | None = exc
    else:
        error = None
    lang = cli_language(settings)
    args = build_parser(locales, lang).parse_args(argv)
    try:
        if error is not None:
            raise error
        assert settings is not None
        if args.command in COMMANDS:
            return COMMANDS[args.command](settings, locales, lang)
        return COMMANDS_WITH_ARGUMENTS[args.command][1](settings, locales, args, lang)
    except TelegramUnreachable as exc:
        print(_explain(locales, lang, exc), file=sys.stderr)
        return EXIT_UNREACHABLE
    except ConfigError as exc:
        print(_explain(locales, lang, exc), file=sys.stderr)
        return EXIT_CONFIG
    except UnusableDatabase as exc:
        print(
            locales.plain(lang, f"config.database_{exc.problem}", path=str(exc.path), detail=exc.detail),
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except _DATABASE_TROUBLE as exc:
        # A corrupt or foreign file in DATA_DIR, a server out of reach or refusing: the operator's to fix,
        # whichever command found it. A server out of reach may come back, as Telegram may: exit 3, retry.
        assert settings is not None
        print(_explain(locales, lang, database_trouble(settings, exc)), file=sys.stderr)
        if isinstance(exc, DatabaseUnreachable):
            return EXIT_UNREACHABLE
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _explain(locales: Locales, lang: Language, error: ConfigError) -> str:
    if locales.has(error.key):
        return locales.plain(lang, error.key, **error.params)
    return locales.plain(lang, "config.invalid_generic", **{"name": "?", "value": "", **error.params})


if __name__ == "__main__":
    raise SystemExit(main())
