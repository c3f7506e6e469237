"""Settings from the environment and `.env`, checked once at start.

Every problem with a setting becomes a `ConfigError` that names the setting and how to fix it, so that an
operator sees one clear line instead of a traceback.
"""

from __future__ import annotations

import os
import re
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import time as time_of_day
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

# Telegram tokens look like "123456789:AAH…" (bot id, colon, 35 URL-safe characters). A pasted token with a
# stray space or quote is the usual mistake, so the check is strict.
TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,64}$")


# What TELEGRAM_PROXY may be: httpx speaks these (socks through the `socks` extra of python-telegram-bot).
# socks5h asks the proxy to resolve Telegram's name, for networks where the local resolver is poisoned.
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_CREDENTIALS_RE = re.compile(r"(?<=://)([^:/@\s]*):[^@/\s]*@")


def masked_url(url: str) -> str:
    """A URL with its password (user:password@) shown as ****: proxies' URLs carry them, logs and screens don't."""
    return _CREDENTIALS_RE.sub(r"\1:****@", url)


# Tile servers take their key in the query string: Tianditu's tk=, Mapbox's access_token=, others' key= or apikey=.
_KEY_PARAM_RE = re.compile(r"(?i)([?&](?:tk|key|apikey|api_key|access_token|token)=)[^&#\s]*")


def masked_key(url: str) -> str:
    """A tile URL with its key (tk=…, key=…, access_token=…) shown as ****, for screens and logs."""
    return _KEY_PARAM_RE.sub(r"\1****", url)


# Telegram's rule for a webhook's secret token (1–256 of these characters); ours asks for at least 32, so it
# cannot be guessed.
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{32,256}")
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1:8443"


@dataclass(frozen=True, slots=True)
class Webhook:
    """Webhook mode's settings, checked: where Telegram pushes (url), where the bot listens behind the reverse
    proxy (host, port, path), and the secret Telegram sends with every push."""

    url: str
    host: str
    port: int
    path: str
    secret: str


def parse_listen(text: str) -> tuple[str, int]:
    """"127.0.0.1:8443", "[::1]:8443", ":8443" (every address) → (host, port); raises ValueError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad listen address {text!r}")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host and not text.strip().startswith("["):
        raise ValueError(f"bad listen address {text!r}")
    return host or "0.0.0.0", int(port)


LEVELS = ("city", "county", "town", "village")
# Problem categories: the "four disorders" (si luan) first, then the rest the office tracks.
CATEGORIES = (
    "occupation",
    "extraction",
    "dumping",
    "building",
    "black_odorous",
    "garbage",
    "outfall",
    "bank_collapse",
    "fishing",
    "other",
)
PERIODS = ("week", "xun", "month", "quarter")


@dataclass(frozen=True, slots=True)
class PatrolRule:
    """Patrols required per calendar period; a xun is the 1–10, 11–20 and 21–end thirds of a month."""

    count: int
    period: str

    def __str__(self) -> str:
        return f"{self.count}/{self.period}"


# Black-odorous water and sewage outfalls are urgent: three days instead of the default seven.
DEFAULT_DEADLINE_OVERRIDES: dict[str, int] = {"black_odorous": 3, "outfall": 3}

DEFAULT_PATROL_RULES: dict[str, PatrolRule] = {
    "city": PatrolRule(1, "month"),
    "county": PatrolRule(1, "month"),
    "town": PatrolRule(1, "xun"),
    "village": PatrolRule(1, "week"),
}


def parse_patrol_rule(text: str) -> PatrolRule:
    """"2/week" → PatrolRule(2, "week"); raises ValueError on anything else."""
    count, _, period = text.strip().partition("/")
    period = period.strip().lower()
    if not count.strip().isdigit() or int(count) < 1 or int(count) > 100 or period not in PERIODS:
        raise ValueError(f"bad patrol rule {text!r}")
    return PatrolRule(int(count), period)


def parse_patrol_rules(text: str) -> dict[str, PatrolRule]:
    """"town=1/xun, village=2/week": the levels named override the defaults, the others keep theirs."""
    rules = dict(DEFAULT_PATROL_RULES)
    for part in re.split(r"[,;\s]+", text.strip()):
        if not part:
            continue
        level, sep, rule = part.partition("=")
        level = level.strip().lower()
        if not sep or level not in LEVELS:
            raise ValueError(f"bad patrol rule {part!r}")
        rules[level] = parse_patrol_rule(rule)
    return rules


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class SummaryTime:
    """When the weekly summary goes out: a weekday (0 = Monday) and a local time of day."""

    weekday: int
    at: time_of_day

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.at.strftime('%H:%M')}"


def parse_summary_time(text: str) -> SummaryTime:
    """"mon 09:00" (a weekday's first three letters, then HH:MM) → SummaryTime; raises ValueError otherwise."""
    match = re.fullmatch(r"\s*([A-Za-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*", text)
    if match is None or match[1].lower() not in WEEKDAYS:
        raise ValueError(f"bad summary time {text!r}")
    hour, minute = int(match[2]), int(match[3])
    if hour > 23 or minute > 59:
        raise ValueError(f"bad summary time {text!r}")
    return SummaryTime(WEEKDAYS.index(match[1].lower()), time_of_day(hour, minute))


class ConfigError(Exception):
    """A setting is missing or wrong; `key` and `params` select the localized one-line explanation."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class TelegramUnreachable(ConfigError):
    """The Bot API could not be reached (the network, a proxy, Telegram itself): likely to pass, so the command
    line exits 3 rather than 2, and a service manager retries it instead of waiting for the settings to change."""


class Settings(BaseSettings):
    """All settings; names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True)

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    # The Bot API server at TELEGRAM_API_URL runs with --local: getFile answers a path on its disk, which the bot
    # reads (it must see the server's --dir at the same absolute path); the server serves no downloads.
    telegram_api_local: bool = False
    # A proxy for every call to the Bot API: http://, https://, socks5:// or socks5h://host:port, with
    # user:password@ before the host when it asks for them. Empty: the environment's HTTPS_PROXY / ALL_PROXY, if any.
    telegram_proxy: str | None = None
    # Webhook mode instead of polling: the public https URL Telegram pushes updates to (a reverse proxy in front
    # of the bot), where the bot listens for them, on which path (empty: WEBHOOK_URL's), and the secret Telegram
    # sends with each push (required in webhook mode). Empty WEBHOOK_URL: polling, the default.
    webhook_url: str | None = None
    webhook_listen: str = DEFAULT_WEBHOOK_LISTEN
    webhook_path: str | None = None
    webhook_secret: SecretStr | None = None
    data_dir: Path = Path("./data")
    # Empty: the SQLite file in DATA_DIR. `sqlite:///path` names another file; `postgresql://…` a server, which
    # several workers can share (README, "Running at province scale").
    database_url: str | None = None
    timezone: str = "Asia/Shanghai"
    default_language: Language = "zh"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    log_level: LogLevel = "INFO"
    # Telegram allows about 30 messages a second overall and 20 a minute into one group; pushes to many chats
    # must stay under that or messages are refused with 429.
    rate_limit_per_second: float = Field(default=30.0, gt=0)
    rate_limit_group_per_minute: float = Field(default=20.0, gt=0)
    # Required patrols per level: "level=count/period", period one of week, xun (a third of a month), month, quarter.
    patrol_rules: Annotated[dict[str, PatrolRule], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_PATROL_RULES)
    )
    # Volunteers join at once (auto) or after an admin approves them (admin).
    volunteer_approval: Literal["auto", "admin"] = "auto"
    # How long an invite link stays valid.
    invite_days: int = Field(default=30, gt=0, le=365)
    # Patrols end on their own after a stopped live location and this much silence, or after this long.
    patrol_idle_minutes: int = Field(default=30, ge=5, le=24 * 60)
    patrol_max_hours: float = Field(default=8.0, gt=0, le=48)
    # Chiefs still short of their period's patrols are reminded this many days before it ends, at this time.
    patrol_reminder_days: int = Field(default=2, ge=1, le=30)
    patrol_reminder_time: time_of_day = time_of_day(9, 0)
    # What makes a patrol count (valid). Guangzhou requires 10 min and 1 km; a county in Anhui 5 min and 300 m.
    patrol_min_minutes: float = Field(default=10.0, ge=0)
    patrol_min_distance_m: float = Field(default=500.0, ge=0)
    patrol_max_distance_from_reach_m: float = Field(default=1000.0, gt=0)
    patrol_max_speed_kmh: float = Field(default=120.0, gt=0)
    # A photo sent as a file must have been taken at most this long before the patrol started.
    patrol_photo_max_age_minutes: float = Field(default=60.0, ge=0)
    # A patrol whose locations were all sent one by one (none live) counts only where the county allows it.
    patrol_allow_manual_locations: bool = False
    # A chief's assistants patrol on the chief's behalf: whether those patrols count toward the chief's
    # patrol rate. Some counties count them (Guangzhou does), others keep them only as a record.
    assistant_patrols_count: bool = True
    # Problems: an open one of the same category this close is offered as "the same problem?".
    problem_duplicate_radius_m: float = Field(default=50.0, ge=0)
    # Which chief level a new problem goes to first (the first level that has a chief on the reach).
    problem_route_levels: Annotated[tuple[str, ...], NoDecode] = ("village", "town", "county", "city")
    # Days to rectify, by default and per category.
    problem_deadline_days: int = Field(default=7, ge=1, le=365)
    problem_deadline_overrides: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_DEADLINE_OVERRIDES)
    )
    # Overdue this many days: the area's admins are told (escalation).
    escalate_after_days: int = Field(default=3, ge=0, le=365)
    # Still overdue this many days after a town's office was told: the county's admins are told too.
    escalate_county_days: int = Field(default=3, ge=0, le=365)
    # A reporter may reopen a closed problem ("not fixed") within this many days.
    problem_reopen_days: int = Field(default=30, ge=0, le=365)
    # A font file that draws Chinese, for pictures (evidence copies, charts); empty: search the system.
    font_path: Path | None = None
    # The office's name on the assessment reports it sends upward (e.g. a county's river chief office); empty:
    # a generic name from locales (`assessment.office_default`).
    office_name: str = ""
    # When the weekly area summaries go out: weekday and local time, e.g. "mon 09:00".
    summary_time: Annotated[SummaryTime, NoDecode] = SummaryTime(0, time_of_day(9, 0))
    # Updates whose handling failed are kept this many days for the office to look at, then pruned.
    failed_updates_keep_days: int = Field(default=90, ge=1, le=3650)
    # Backups: the daily one (on or off, at this local time), where they go (empty: DATA_DIR/backups) and how
    # many daily and manual ones are kept. A backup before a migration is made whatever these say.
    backup_enabled: bool = True
    backup_time: time_of_day = time_of_day(3, 30)
    backup_dir: Path | None = None
    backup_keep: int = Field(default=7, ge=1, le=365)
    # Maps: an optional tile source under the bot's own drawing, as a URL template with {z}/{x}/{y} (and {s},
    # one of MAP_TILES_SUBDOMAINS); empty draws from the registry's geometry alone. MAP_TILES_CRS says whether
    # the tiles are WGS84 (OpenStreetMap, Tianditu) or GCJ-02 (Amap, Tencent), whose shift the drawing corrects.
    # Tiles are kept under DATA_DIR/tiles for MAP_TILES_CACHE_DAYS, at most MAP_TILES_CACHE_MB in all.
    map_tiles_url: str | None = None
    map_tiles_attribution: str = "© OpenStreetMap contributors"
    map_tiles_crs: Literal["wgs84", "gcj02"] = "wgs84"
    map_tiles_subdomains: str = "abc"
    map_tiles_cache_days: int = Field(default=30, ge=1, le=3650)
    map_tiles_cache_mb: int = Field(default=200, ge=1, le=100_000)

    @field_validator("backup_dir", "font_path", mode="before")
    @classmethod
    def _blank_path_is_none(cls, value: Any) -> Any:
        """`FONT_PATH=` (as .env.example and deploy/compose.yaml have it) means "none set", not the folder `.`."""
        if isinstance(value, str) and not value.strip():
            return None
        return value
    # Retention: track points and original photos are kept this many years (0: forever), pruned daily at this
    # local time. A patrol keeps its figures and a simplified track; a photo keeps its record (bot/retention.py).
    retention_years: int = Field(default=0, ge=0, le=100)
    retention_time: time_of_day = time_of_day(4, 30)
    # `riverbot status` reports trouble (exit 1) when the bot's heartbeat is older than this, an update has waited
    # in the inbox longer than this, the last backup is older than this, or the disk has less free than this.
    status_heartbeat_max_s: int = Field(default=300, ge=120, le=86400)
    status_backlog_max_s: int = Field(default=300, ge=10, le=86400)
    status_backup_max_hours: int = Field(default=36, ge=1, le=24 * 365)
    status_min_free_mb: int = Field(default=500, ge=0, le=10_000_000)

    @field_validator("bot_token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN_RE.fullmatch(value.get_secret_value()):
            raise ValueError("malformed token")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
            raise ValueError("not an http(s) URL")
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url_shape(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None
        if not re.fullmatch(r"sqlite:///\S+|postgres(ql)?://\S*", value):
            raise ValueError("not a sqlite:///path or postgresql:// URL")
        return value

    @field_validator("telegram_proxy", mode="before")
    @classmethod
    def _proxy_shape(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 — raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError("not a proxy URL") from None
        if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("not a proxy URL")
        return value

    @field_validator("webhook_url", "webhook_path", "webhook_secret", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_shape(cls, value: str | None) -> str | None:
        # http:// only for a self-hosted Bot API server (--local), which allows it; Telegram refuses it at start.
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("not an http(s) URL")
        return value

    @field_validator("map_tiles_url", mode="before")
    @classmethod
    def _tiles_url_blank(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("map_tiles_url")
    @classmethod
    def _tiles_url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://\S+", value) or any(f"{{{k}}}" not in value for k in "zxy"):
            raise ValueError("not a tile URL template")
        return value

    @field_validator("map_tiles_crs", mode="before")
    @classmethod
    def _lower_crs(cls, value: Any) -> Any:
        return value.strip().lower().replace("-", "") if isinstance(value, str) else value

    @field_validator("webhook_listen")
    @classmethod
    def _listen_shape(cls, value: str) -> str:
        parse_listen(value)
        return value.strip()

    @field_validator("webhook_path")
    @classmethod
    def _path_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"/[^\s?#]*", value):
            raise ValueError("not a path")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("malformed secret")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone") from exc
        return value

    @field_validator("default_language", mode="before")
    @classmethod
    def _language_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            code = value.strip().lower().replace("_", "-")
            if code.startswith(("zh", "en")):
                return code[:2]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("patrol_rules", mode="before")
    @classmethod
    def _parse_rules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_patrol_rules(value)
        return value

    @field_validator("problem_route_levels", mode="before")
    @classmethod
    def _parse_levels(cls, value: Any) -> Any:
        if isinstance(value, str):
            levels = tuple(p.strip().lower() for p in re.split(r"[,;\s]+", value) if p.strip())
            if not levels or any(level not in LEVELS for level in levels) or len(set(levels)) != len(levels):
                raise ValueError("use levels city, county, town, village, each once")
            return levels
        return value

    @field_validator("problem_deadline_overrides", mode="before")
    @classmethod
    def _parse_deadlines(cls, value: Any) -> Any:
        if isinstance(value, str):
            found: dict[str, int] = dict(DEFAULT_DEADLINE_OVERRIDES)  # the categories named override these
            for part in re.split(r"[,;\s]+", value.strip()):
                if not part:
                    continue
                category, sep, days = part.partition("=")
                if not sep or category.strip() not in CATEGORIES or not days.strip().isdigit() or int(days) < 1:
                    raise ValueError("use category=days pairs")
                found[category.strip()] = int(days)
            return found
        return value

    @field_validator("volunteer_approval", mode="before")
    @classmethod
    def _lower_approval(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("summary_time", mode="before")
    @classmethod
    def _parse_summary_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_summary_time(value)
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in re.split(r"[,\s;]+", value) if p.strip()]
            if not all(re.fullmatch(r"\d{1,20}", p) for p in parts):
                raise ValueError("not a comma-separated list of numeric user ids")
            return frozenset(int(p) for p in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def on_postgres(self) -> bool:
        return bool(self.database_url) and not str(self.database_url).startswith("sqlite:")

    @property
    def database_path(self) -> Path:
        """The SQLite file (on PostgreSQL, where one would be: the tools that need a file say they do not apply)."""
        if self.database_url and self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "riverbot.sqlite3"

    @property
    def database(self) -> str | Path:
        """What `Store.open` takes: the PostgreSQL URL, or the SQLite file."""
        return str(self.database_url) if self.on_postgres else self.database_path

    @property
    def database_shown(self) -> str:
        """The database as messages name it: the SQLite file, or the PostgreSQL URL with its password masked."""
        return masked_url(str(self.database_url)) if self.on_postgres else str(self.database_path)

    @property
    def backups_path(self) -> Path:
        """Where backups go: BACKUP_DIR, or `backups` in DATA_DIR."""
        return self.backup_dir if self.backup_dir is not None else self.data_dir / "backups"

    def proxy_in_force(self) -> tuple[str, str] | None:
        """(the setting's name, its URL) of the proxy the Bot API calls go through, or None when they go direct.

        TELEGRAM_PROXY; without it, what httpx takes from the environment for TELEGRAM_API_URL (as curl does)."""
        if self.telegram_proxy:
            return "TELEGRAM_PROXY", self.telegram_proxy
        parts = urlsplit(self.telegram_api_url)
        proxies = urllib.request.getproxies_environment()
        # NO_PROXY as curl reads it (httpx reads it alike); typeshed lacks this function of the standard library.
        if parts.hostname and urllib.request.proxy_bypass_environment(parts.hostname, proxies):  # type: ignore[attr-defined]
            return None
        for scheme in (parts.scheme, "all"):
            if proxies.get(scheme):
                return f"{scheme.upper()}_PROXY", proxies[scheme]
        return None

    @property
    def webhook(self) -> Webhook | None:
        """Webhook mode's settings, or None for polling; WEBHOOK_URL without WEBHOOK_SECRET is a bad setting."""
        if self.webhook_url is None:
            return None
        if self.webhook_secret is None:
            raise ConfigError("config.webhook_secret_missing")
        host, port = parse_listen(self.webhook_listen)
        path = self.webhook_path or urlsplit(self.webhook_url).path or "/"
        return Webhook(self.webhook_url, host, port, path, self.webhook_secret.get_secret_value())

    @property
    def token(self) -> str:
        """The token for running the bot; without one, the operator is told how to get one."""
        if self.bot_token is None:
            raise ConfigError("config.token_missing")
        return self.bot_token.get_secret_value()


def normalize_language(code: str | None) -> Language | None:
    """Map a Telegram `language_code` (or a setting) to a supported language: zh* → zh, anything else → en."""
    if not code:
        return None
    code = code.strip().lower().replace("_", "-")
    if not code:
        return None
    return "zh" if code.startswith("zh") else "en"


def load_settings(env_file: str | os.PathLike[str] | None = ".env", **overrides: Any) -> Settings:
    """Read and check settings; raise `ConfigError` naming the first bad setting."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except UnicodeDecodeError:
        # Editors on Chinese Windows often save as GB18030; guessing the encoding could misread the token.
        raise ConfigError("config.env_encoding", path=str(env_file)) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "?"
        value = error.get("input")
        if name == "BOT_TOKEN":
            raise ConfigError("config.token_malformed") from None
        if name == "WEBHOOK_SECRET":  # a secret is never shown, not even a wrong one
            raise ConfigError("config.invalid.webhook_secret", name=name, value="") from None
        shown = value if isinstance(value, str | int | float) else ""
        if name == "TELEGRAM_PROXY" and isinstance(shown, str):
            shown = masked_url(shown)
        if name == "MAP_TILES_URL" and isinstance(shown, str):
            shown = masked_key(shown)
        raise ConfigError(f"config.invalid.{name.lower()}", name=name, value=shown) from None


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data directory and prove it is writable before anything is stored there."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError("config.data_dir_unwritable", path=str(path), reason=exc.strerror or str(exc)) from None
    return path
