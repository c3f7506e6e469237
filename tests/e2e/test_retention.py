"""Retention as the office lives with it: four years of history, RETENTION_YEARS=3, the nightly job runs; every
figure, card and export reads the same afterwards, and an old problem's card says its photos were cleared.
And `riverbot prune` by hand, with a dry run first."""

from __future__ import annotations

import asyncio
import json
import math
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from bot.config import Settings, load_settings
from bot.exports import GEOJSON_FILES, Format, export
from bot.i18n import Locales
from bot.patrols import PatrolService, StoredPhoto
from bot.retention import years_back
from bot.tallies import StatsReport, TallyService
from handlers.retention import prune_old_records
from sandbox import FakeUser, SentMessage
from storage import Store, to_db_time
from storage.problems import NewProblem
from tests.conftest import BotFactory, Cli, Harness
from tests.factories import make_jpeg
from tests.support import LAT, WEST, run_job, seed, started_admin

M_PER_DEG_LAT = 111_195.0


class History:
    """Four years of one chief's patrols on the Dingbao river with their tracks and photos, and two problems."""

    def __init__(self, store: Store, settings: Settings, person_id: int, reach_id: int) -> None:
        self.store = store
        self.settings = settings
        self.patrols = PatrolService(store, settings)
        self.person_id = person_id
        self.reach_id = reach_id
        self.today = datetime.now(settings.tz).date()
        self.seeds = iter(range(1, 1000))

    def at(self, day: date, hour: int = 8) -> datetime:
        return datetime.combine(day, time(hour), self.settings.tz)

    async def photo(self, created: datetime) -> tuple[int, StoredPhoto]:
        stored = await self.patrols.store_photo(make_jpeg(seed=next(self.seeds)), person_id=self.person_id)
        await self.store.execute(
            "UPDATE photos SET created_at = ? WHERE id = ?", (to_db_time(created), stored.photo_id)
        )
        return stored.photo_id, stored

    async def patrol(self, day: date, *, points: int = 60, photos: int = 0) -> int:
        """A walk east along the reach, winding a little, a point every 20 s, 25 m apart; judged at the finish
        from its points, as the bot judges it."""
        started = self.at(day)
        patrol, _ = await self.store.patrols.start(self.person_id, self.reach_id, started)
        for i in range(points):
            await self.store.patrols.add_point(
                patrol.id,
                at=started + timedelta(seconds=20 * i),
                lat=LAT + 30 * math.sin(i / 6) / M_PER_DEG_LAT,
                lon=WEST + 25 * i / (M_PER_DEG_LAT * math.cos(math.radians(LAT))),
                accuracy_m=5.0,
                source="live",
            )
        for _ in range(photos):
            _, stored = await self.photo(started)
            await self.patrols.add_photo_to(
                patrol.id, stored, file_id="AgAD", as_document=False, at=started + timedelta(minutes=5), caption=None
            )
        ended = started + timedelta(seconds=20 * max(points - 1, 0) + 60)
        assert await self.patrols.finish(patrol.id, at=ended, reason="finished") is not None
        return patrol.id

    async def problem(self, reported: datetime, closed: datetime | None) -> int:
        """A dumping problem with one photo, closed (signed off) at `closed`, or still open."""
        area = await self.store.areas.by_code("CD")
        assert area is not None
        problems = self.store.problems
        new = NewProblem(
            self.person_id, None, self.reach_id, area.id, "dumping", "河岸堆放建筑垃圾", LAT, WEST, "shared"
        )
        problem_id = await problems.insert(new, reported_at=reported)
        photo_id, _ = await self.photo(reported)
        await problems.add_photo(problem_id, photo_id=photo_id, file_id="AgAD", kind="before", added_by=self.person_id)
        deadline = (reported + timedelta(days=7)).date()
        assert await problems.transition(
            problem_id, expect=("reported",), status="assigned", assignee_id=self.person_id, deadline=deadline
        )
        if closed is not None:
            assert await problems.transition(problem_id, expect=("assigned",), status="rectified")
            assert await problems.transition(problem_id, expect=("rectified",), status="closed", closed_at=closed)
        return problem_id


async def _history(bot: Harness, user: FakeUser) -> tuple[History, list[int], list[int], int]:
    """The chief, four years of patrols (old ones past three years, recent ones inside), an old closed problem
    and an old open one. Returns (history, old patrols, recent patrols, the old closed problem)."""
    ids = await seed(bot.store)
    area = await bot.store.areas.by_code("CD")
    assert area is not None
    person_id = await bot.store.people.create(name="王五", telegram_id=user.id, home_area_id=area.id)
    await bot.store.people.grant_role(person_id, "chief", level="town")
    # A chief who has used the bot for years (joined): his problems are his, not waiting for him to join.
    await bot.store.execute("UPDATE people SET started_at = created_at WHERE id = ?", (person_id,))
    today = datetime.now(bot.settings.tz).date()
    await bot.store.assignments.assign(person_id, ids["DBH-01"], level="town", starts_on=years_back(today, 5))
    history = History(bot.store, bot.settings, person_id, ids["DBH-01"])
    four_years_ago = years_back(today, 4)
    old = [
        await history.patrol(four_years_ago, photos=1),
        await history.patrol(four_years_ago + timedelta(days=9), photos=2),
        await history.patrol(four_years_ago + timedelta(days=20)),
        await history.patrol(four_years_ago + timedelta(days=31), points=4),  # 1 minute: not valid
    ]
    recent = [
        await history.patrol(today - timedelta(days=40), photos=1),
        await history.patrol(today - timedelta(days=20)),
        await history.patrol(today - timedelta(days=3), photos=1),
    ]
    closed_long_ago = await history.problem(
        history.at(four_years_ago, 10), history.at(four_years_ago + timedelta(days=5))
    )
    await history.problem(history.at(four_years_ago + timedelta(days=1), 10), None)  # still being rectified
    return history, old, recent, closed_long_ago


async def _exports(bot: Harness, out: Path, first: date, last: date) -> dict[str, Any]:
    """The office's three exports of the range, read back: xlsx cell values, csv bytes, geojson features."""
    locales = Locales.load()
    read: dict[str, Any] = {}
    await asyncio.to_thread(out.mkdir)
    formats: dict[Format, str] = {"xlsx": "x.xlsx", "csv": "x.zip", "geojson": "gis.zip"}
    for fmt, name in formats.items():
        path = out / name
        await export(bot.store, bot.settings, locales, language="zh", fmt=fmt, first=first, last=last, out=path)
        if fmt == "xlsx":
            book = load_workbook(path, read_only=True)
            read[fmt] = {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book}
            book.close()
        elif fmt == "csv":
            with zipfile.ZipFile(path) as archive:
                read[fmt] = {n: archive.read(n) for n in archive.namelist()}
        else:
            with zipfile.ZipFile(path) as archive:
                layers = [json.loads(archive.read(GEOJSON_FILES[name]))["features"] for name in ("problems", "tracks")]
            read[fmt] = [f | {"kind": "problem"} for f in layers[0]] + [f | {"kind": "patrol"} for f in layers[1]]
    return read


async def _problem_messages(admin: FakeUser, number: int) -> list[SentMessage]:
    """/problem N: everything the bot sends up to the card with its timeline."""
    await admin.send(f"/problem {number}")
    sent: list[SentMessage] = []
    while not sent or "办理过程" not in sent[-1].text:
        sent.append(await admin.next_message())
    return sent


async def test_the_nightly_job_prunes_old_tracks_and_photos_and_every_figure_stays(
    bot_factory: BotFactory, tmp_path: Path
) -> None:
    bot: Harness = await bot_factory(retention_years=3)
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    admin = await started_admin(bot)
    history, old, recent, closed_long_ago = await _history(bot, wang)
    first, last = years_back(history.today, 5), history.today
    tallies = TallyService(bot.store, bot.settings)
    locales = Locales.load()

    stats_before = await tallies.stats(first, last)
    report_before = StatsReport(stats_before, locales, "zh").as_json()
    exports_before = await _exports(bot, tmp_path / "before", first, last)
    summaries_before = [
        await bot.services.patrols.summary(p) for p in await bot.store.patrols.recent_for_person(history.person_id)
    ]
    await wang.send("/mypatrols")
    mine_before = (await wang.next_message()).text
    card_before = await _problem_messages(admin, closed_long_ago)
    assert card_before[0].photo is not None and "保存期限" not in card_before[-1].text
    photo_files = {r[0]: bot.settings.data_dir / r[1] for r in await bot.store.fetchall("SELECT id, path FROM photos")}
    assert all(path.exists() for path in photo_files.values())

    await run_job(bot, prune_old_records)

    # The old patrols' points are gone, the recent ones' are all there.
    for patrol_id in old:
        assert await bot.store.patrols.point_count(patrol_id) == 0
        assert await bot.store.retention.track(patrol_id) is not None
    for patrol_id in recent:
        assert await bot.store.patrols.point_count(patrol_id) == 60
    # Photos: those of old patrols and of the problem closed long ago went; the open problem's stayed.
    pruned = {r[0] for r in await bot.store.fetchall("SELECT id FROM photos WHERE pruned_at IS NOT NULL")}
    assert len(pruned) == 1 + 2 + 1
    for photo_id, path in photo_files.items():
        assert path.exists() == (photo_id not in pruned)

    # Tallies, patrol rate (巡河率), cards, the chief's list and every export: the same as before.
    stats_after = await tallies.stats(first, last)
    assert stats_after == stats_before
    assert StatsReport(stats_after, locales, "zh").as_json() == report_before
    assert [
        await bot.services.patrols.summary(p) for p in await bot.store.patrols.recent_for_person(history.person_id)
    ] == summaries_before
    await wang.send("/mypatrols")
    assert (await wang.next_message()).text == mine_before
    exports_after = await _exports(bot, tmp_path / "after", first, last)
    assert exports_after["xlsx"] == exports_before["xlsx"]
    assert exports_after["csv"] == exports_before["csv"]
    features_before, features_after = exports_before["geojson"], exports_after["geojson"]
    assert [f["properties"] for f in features_after] == [f["properties"] for f in features_before]
    simplified = 0
    for before, after in zip(features_before, features_after, strict=True):
        if before["kind"] == "patrol" and before["properties"]["patrol_id"] in old:
            # The route is still drawn: simplified, from the same start to the same end.
            line, simple = before["geometry"]["coordinates"], after["geometry"]["coordinates"]
            assert simple[0] == line[0] and simple[-1] == line[-1]
            assert 2 <= len(simple) <= min(len(line), 50)
            simplified += 1
        else:
            assert after["geometry"] == before["geometry"]
    assert simplified == len(old)

    # The old problem's card: no photo to send, a note instead; the open one still has its photo.
    card_after = await _problem_messages(admin, closed_long_ago)
    assert all(m.photo is None for m in card_after)
    assert "原始照片 1 张已超过保存期限，按规定清理" in card_after[-1].text
    open_card = await _problem_messages(admin, closed_long_ago + 1)
    assert open_card[0].photo is not None and "保存期限" not in open_card[-1].text
    assert bot.errors() == []


async def test_the_job_does_nothing_when_everything_is_kept(bot: Harness) -> None:
    wang = bot.sandbox.user(first_name="王五", language_code="zh-hans")
    _, old, _, _ = await _history(bot, wang)
    await run_job(bot, prune_old_records)
    assert await bot.store.patrols.point_count(old[0]) == 60
    assert await bot.store.fetchval("SELECT count(*) FROM photos WHERE pruned_at IS NOT NULL") == 0


# -- riverbot prune ------------------------------------------------------------------------------------------


async def _fill(data_dir: Path) -> None:
    """Two patrols of 2019 with 40 points each, one photo of each; one recent patrol."""
    settings = load_settings(env_file=None, data_dir=data_dir)
    async with await Store.open(settings.database) as store:
        ids = await seed(store)
        person_id = await store.people.create(name="王五")
        history = History(store, settings, person_id, ids["DBH-01"])
        await history.patrol(date(2019, 5, 6), points=40, photos=1)
        await history.patrol(date(2019, 5, 13), points=40, photos=1)
        await history.patrol(history.today - timedelta(days=2), points=40, photos=1)
        # A stranger's photo kept in 2019, never followed by a join (bot.citizens).
        await store.execute(
            "INSERT INTO kept_reports (telegram_id, photos, created_at, updated_at)"
            " VALUES (77, '[]', '2019-05-06T00:00:00Z', '2019-05-06T00:00:00Z')"
        )


def test_prune_by_hand_dry_run_first(cli: Cli, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    asyncio.run(_fill(data_dir))
    size = sum(p.stat().st_size for p in (data_dir / "photos").rglob("*.jpg") if ".thumb." not in p.name)

    code, out, err = cli("prune", "--dry-run", RETENTION_YEARS="3", DEFAULT_LANGUAGE="zh")
    assert code == 0, err
    assert "保存期限 3 年" in out
    assert "试运行，未做任何改动。将清理：2 次巡河的轨迹点 80 个" in out
    assert "原始照片 2 张" in out
    assert "另将清除 1 份无人跟进的路人上报" in out

    code, out, err = cli("prune", RETENTION_YEARS="3", DEFAULT_LANGUAGE="zh")
    assert code == 0, err
    assert "清理完成：2 次巡河的轨迹点 80 个" in out and "原始照片 2 张" in out
    assert "已清除 1 份无人跟进的路人上报" in out
    assert "数据库文件不会因此缩小" in out
    left = sum(p.stat().st_size for p in (data_dir / "photos").rglob("*.jpg") if ".thumb." not in p.name)
    assert 0 < left < size

    code, out, err = cli("prune", RETENTION_YEARS="3")
    assert code == 0, err
    assert "Pruned: 0 track points of 0 patrols" in out


def test_prune_explains_its_options(cli: Cli, tmp_path: Path) -> None:
    asyncio.run(_fill(tmp_path / "data"))
    code, out, _ = cli("prune")
    assert code == 0 and "RETENTION_YEARS is 0 (keep everything): nothing is pruned" in out
    # A preview of another window, without the setting.
    code, out, err = cli("prune", "--dry-run", "--years", "3")
    assert code == 0, err
    assert "Would remove: 80 track points of 2 patrols" in out
    code, _, err = cli("prune", "--years", "3")
    assert code == 2 and "--years works only with --dry-run" in err
    code, _, err = cli("prune", "--dry-run", "--years", "三")
    assert code == 2 and "is not a number of years" in err
    code, _, err = cli("prune", RETENTION_YEARS="-1")
    assert code == 2 and "RETENTION_YEARS" in err
