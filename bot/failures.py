"""Updates the bot failed to handle: kept whole, so none of them (a chief's report) is lost and each can be replayed.

And the one failure that is not a bug: the disk is full, or DATA_DIR went read-only. Then nothing can be kept, not
even the failed update, so nobody may be told "saved"; the admins are told once per outage (not per message), and
a job probes until writing works again, which ends the outage by itself, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from bot import photos as photo_module
from bot.config import Settings
from storage import Store

logger = logging.getLogger(__name__)

# The tail of a traceback is where the cause is; the whole of a long one would only bloat the table.
ERROR_KEPT = 8000
# One person hitting the same bug again and again (a flood, a client retrying) adds nothing after this many.
ALIKE_KEPT = 20
# What the storage probe writes, to the database and to DATA_DIR: enough to need new pages and disk blocks.
PROBE_BYTES = 64 * 1024

_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN, _SQLITE_FULL = 8, 10, 14, 13
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


class StorageTrouble(StrEnum):
    """Why nothing can be stored (locales: errors.storage_<value>)."""

    FULL = "full"
    READ_ONLY = "read_only"
    IO_ERROR = "io_error"


def storage_trouble(error: BaseException | None) -> StorageTrouble | None:
    """Whether `error`, or an error that caused it, means the disk cannot take writes now; None for anything else.

    SQLite reports a full disk as SQLITE_FULL ("database or disk is full"), a read-only file or folder as
    SQLITE_READONLY or SQLITE_CANTOPEN (it cannot create its -wal file); a photo write raises OSError.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, sqlite3.Error):
            code = getattr(error, "sqlite_errorcode", None)
            primary = code & 0xFF if isinstance(code, int) else None
            text = str(error).lower()
            if primary == _SQLITE_FULL or "disk is full" in text:
                return StorageTrouble.FULL
            if primary in (_SQLITE_READONLY, _SQLITE_CANTOPEN) or "readonly database" in text:
                return StorageTrouble.READ_ONLY
            if primary == _SQLITE_IOERR or "disk i/o error" in text:
                return StorageTrouble.IO_ERROR
        elif isinstance(error, OSError) and error.errno is not None:
            if error.errno in _FULL_ERRNOS:
                return StorageTrouble.FULL
            if error.errno in _READ_ONLY_ERRNOS:
                return StorageTrouble.READ_ONLY
            if error.errno == errno.EIO:
                return StorageTrouble.IO_ERROR
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def one_record(logger: logging.Logger, record: str, *args: object) -> Iterator[None]:
    """Around one record of a job's loop (`record` % `args` names it, "patrol 12"): an error is logged with its
    traceback and the loop goes on with the next record.

    Why: a job loops over everyone's records, and one record nobody foresaw (a photo with year 1 in its EXIF)
    used to end the run there, every run, so every record after it was never handled. A storage outage is not
    one record's fault and no later record can be written either: it ends the run, as before, for the error
    handler to tell the admins once.
    """
    try:
        yield
    except Exception as exc:
        if storage_trouble(exc) is not None:
            raise
        logger.exception("Skipped %s: it failed, the next ones go on", record % args)


@dataclass(frozen=True, slots=True)
class Outage:
    """Nothing could be stored from `since` on, for `reason`."""

    reason: StorageTrouble
    since: datetime


class StorageAlarm:
    """The outage the admins were told about, if any: told once when it starts, once when it ends.

    Kept in memory on purpose: during an outage the store is what cannot be written. After a restart a new
    failure starts a new outage, which is told again (once).
    """

    def __init__(self) -> None:
        self.outage: Outage | None = None

    def failed(self, reason: StorageTrouble, at: datetime) -> Outage | None:
        """A write failed for `reason`: the outage to tell the admins of, or None when they know already."""
        if self.outage is not None:
            return None
        self.outage = Outage(reason, at)
        return self.outage

    def recovered(self) -> Outage | None:
        """Writing works: the outage that just ended (to tell the admins), or None when there was none."""
        ended, self.outage = self.outage, None
        return ended


@dataclass(frozen=True, slots=True)
class Kept:
    """What became of a failed update: its row id, or None when it could not be (or was not) stored."""

    failure_id: int | None
    # The disk is full or read-only: the update was not stored, and nothing else can be now.
    trouble: StorageTrouble | None = None
    # The outage this failure starts, which the admins are to be told of (once).
    outage: Outage | None = None
    # The same person hit the same error ALIKE_KEPT times already: not stored again.
    capped: bool = False

    @property
    def stored(self) -> bool:
        return self.failure_id is not None


class FailedUpdates:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self.alarm = StorageAlarm()

    async def keep(
        self,
        *,
        update_id: int | None,
        chat_id: int | None,
        user_id: int | None,
        payload: str,
        error: str,
        cause: BaseException | None = None,
        at: datetime,
    ) -> Kept:
        """Store the update and its traceback, unless the disk cannot take it or the same person has hit the same
        error ALIKE_KEPT times; says which, and whether an outage starts that the admins must hear of.

        When `cause` is the disk (a photo that could not be written), the update is still stored if the database
        takes it, for the office; the person must send it again all the same.
        """
        trouble = storage_trouble(cause)
        error = error[-ERROR_KEPT:]
        failure_id: int | None = None
        capped = False
        try:
            if await self._store.failed_updates.count_alike(user_id=user_id, error=error) >= ALIKE_KEPT:
                capped = True
            else:
                failure_id = await self._store.failed_updates.add(
                    update_id=update_id, chat_id=chat_id, user_id=user_id, payload=payload, error=error
                )
        except Exception as exc:
            trouble = trouble or storage_trouble(exc)
            if trouble is None:
                raise
        outage = self.alarm.failed(trouble, at) if trouble is not None else None
        return Kept(failure_id, trouble, outage, capped)

    async def check_storage(self) -> Outage | None:
        """During an outage, try writing to the database and to DATA_DIR; the outage that ended, if they both
        worked (the admins are told), else None. Outside an outage it does nothing."""
        if self.alarm.outage is None:
            return None
        try:
            await self._store.failed_updates.probe_space(PROBE_BYTES)
            probe = self._settings.data_dir / "photos" / ".storage-probe"
            await asyncio.to_thread(_probe_file, probe)
        except Exception as exc:
            if storage_trouble(exc) is None:
                raise
            return None
        return self.alarm.recovered()

    async def first_notice(self, signature: str, interval: float) -> bool:
        """Whether the admins are to hear of this error now: not when any worker sharing the store told them of
        the same error (its `signature`) in the last `interval` seconds. When the store cannot say, they are
        told: a notice too many beats a bug nobody hears of."""
        key = "error_notice:" + hashlib.sha256(signature.encode()).hexdigest()[:32]
        try:
            return await self._store.marks.take(key, interval)
        except Exception:
            logger.warning("Could not check whether the admins heard of %r already", signature, exc_info=True)
            return True

    async def prune(self, now: datetime) -> int:
        """Forget failures older than FAILED_UPDATES_KEEP_DAYS; how many went."""
        return await self._store.failed_updates.prune(now - timedelta(days=self._settings.failed_updates_keep_days))


def free_megabytes(data_dir: Path) -> int | None:
    """Free space where DATA_DIR is, in MB (None when it cannot be read), for the admins' outage notice."""
    try:
        return shutil.disk_usage(data_dir).free // (1024 * 1024)
    except OSError:
        return None


def _probe_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        photo_module.write_file(path, bytes(PROBE_BYTES))
    finally:
        photo_module.remove_files([path])
