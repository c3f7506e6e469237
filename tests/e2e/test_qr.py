"""`riverbot qr`: one QR code per reach for its public sign (公示牌), decoded back to the deep link of the right
reach, in the PNG sheet and in every page of the PDF; and a deep link followed through the stand-in."""

from __future__ import annotations

import asyncio
import re
from io import BytesIO
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from bot import qr
from sandbox.driver import FakeUser
from storage import Store
from storage.registry import ReachValues
from tests.cli import cli_database
from tests.conftest import Cli, Harness
from tests.factories import make_jpeg
from tests.support import LAT, WEST, seed, tap, volunteer

BOT = "riverbot_test_bot"


async def _fill(path: str | Path) -> dict[str, int]:
    """Area CD with 7 reaches (two PDF pages), area CN with one that must not be on CD's sheet."""
    async with await Store.open(path) as store:
        cd, _ = await store.areas.upsert("CD", "城东片区", "Chengdong")
        cn, _ = await store.areas.upsert("CN", "城南片区", "Chengnan")
        ids = {}
        for n in range(1, 8):
            name_zh, name_en = f"丁堡河第{n}段", f"Dingbao River {n}"
            values = ReachValues(f"CD-{n:02}", name_zh, name_en, cd, "village", 1.0, (), None, None)
            ids[f"CD-{n:02}"], _ = await store.reaches.upsert(values)
        ids["CN-01"], _ = await store.reaches.upsert(
            ReachValues("CN-01", "南河", "South River", cn, "village", 1.0, (), None, None)
        )
        return ids


@pytest.fixture
def reaches(tmp_path: Path) -> dict[str, int]:
    return asyncio.run(_fill(cli_database(tmp_path / "data")))


def _cells(image: Image.Image) -> dict[tuple[int, int], str]:
    """Every QR code on the image, by the card (column, row) its centre falls in."""
    found = {}
    for barcode in zxingcpp.read_barcodes(image):
        position = barcode.position
        xs = [position.top_left.x, position.top_right.x, position.bottom_left.x, position.bottom_right.x]
        ys = [position.top_left.y, position.top_right.y, position.bottom_left.y, position.bottom_right.y]
        cell = (int(sum(xs) / 4) // qr.CARD[0], int(sum(ys) / 4) // qr.CARD[1])
        assert cell not in found
        found[cell] = barcode.text
    return found


def _pdf_pages(data: bytes) -> list[Image.Image]:
    """The page images of a PDF Pillow wrote: each page is one JPEG (DCTDecode) stream."""
    streams = re.findall(rb"/DCTDecode.*?stream\r?\n(.*?)\r?\nendstream", data, flags=re.S)
    return [Image.open(BytesIO(stream)).convert("RGB") for stream in streams]


def _expected(reaches: dict[str, int]) -> list[str]:
    """The links in sheet order: CD's reaches by code."""
    return [f"https://t.me/{BOT}?start=r-CD-{n:02}" for n in range(1, 8)]


def test_the_png_sheet_decodes_to_each_reachs_deep_link_in_its_own_card(
    cli: Cli, reaches: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "signs.png"
    code, stdout, err = cli("qr", "--area", "CD", "--out", out, "--bot-username", BOT)
    assert code == 0, err
    assert "7 reaches of area CD" in stdout
    cells = _cells(Image.open(out).convert("RGB"))
    expected = _expected(reaches)
    assert cells == {(i % qr.COLUMNS, i // qr.COLUMNS): link for i, link in enumerate(expected)}
    assert all(len(link.split("start=")[1]) <= 64 for link in expected)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", link.split("start=")[1]) for link in expected)


def test_every_pdf_page_decodes_and_the_captions_follow_the_cli_language(
    cli: Cli, reaches: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "signs.pdf"
    code, stdout, err = cli("qr", "--area", "CD", "--out", out, "--bot-username", BOT, LANG="zh_CN.UTF-8")
    assert code == 0, err
    assert "7 个河段" in stdout, stdout
    pages = _pdf_pages(out.read_bytes())
    assert len(pages) == 2 and pages[0].size == qr.PAGE
    per_page = qr.COLUMNS * qr.ROWS
    decoded = []
    for number, page in enumerate(pages):
        for (column, row), link in sorted(_cells(page).items(), key=lambda item: (item[0][1], item[0][0])):
            decoded.append((number * per_page + row * qr.COLUMNS + column, link))
    assert decoded == list(enumerate(_expected(reaches)))


def test_refusals_are_one_localized_line(cli: Cli, reaches: dict[str, int], tmp_path: Path) -> None:
    code, out, err = cli("qr", "--area", "XX", "--out", tmp_path / "x.pdf", "--bot-username", BOT)
    assert code != 0 and out == "" and 'no area with the code "XX"' in err and err.count("\n") == 1, err
    code, out, err = cli("qr", "--area", "XX", "--out", tmp_path / "x.pdf", "--bot-username", BOT, LANG="zh_CN.UTF-8")
    assert code != 0 and "没有代码为“XX”的片区" in err, err
    code, out, err = cli("qr", "--area", "CD", "--out", tmp_path / "x.svg", "--bot-username", BOT)
    assert code != 0 and ".pdf or .png" in err
    code, out, err = cli("qr", "--area", "CD", "--out", tmp_path / "data" / "x.pdf", "--bot-username", BOT)
    assert code != 0 and "DATA_DIR" in err and not (tmp_path / "data" / "x.pdf").exists()
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"the office's own sign artwork")
    code, out, err = cli("qr", "--area", "CD", "--out", mine, "--bot-username", BOT)
    assert code != 0 and "--force" in err and mine.read_bytes() == b"the office's own sign artwork"
    code, out, err = cli("qr", "--area", "CD", "--out", mine, "--bot-username", BOT, "--force")
    assert code == 0 and mine.read_bytes().startswith(b"\x89PNG"), err
    code, out, err = cli("qr", "--area", "CD", "--out", tmp_path / "y.pdf")
    assert code != 0 and "--bot-username" in err  # never started here: no username known
    code, out, err = cli("qr", "--area", "CN", "--out", tmp_path / "cn.pdf", "--bot-username", "bad name")
    assert code != 0 and "bad name" in err


async def test_a_deep_link_starts_a_report_on_its_reach_for_a_member_and_a_stranger(bot: Harness) -> None:
    ids = await seed(bot.store)
    reach = ids["LGH-01"]  # not the nearest to where the problem is: the reach comes from the code
    [sign] = qr.sign_codes(bot.app.bot.username, [(reach, "LGH-01", "立公河")])
    payload = sign.link.split("start=")[1]
    assert payload == "r-LGH-01"  # the code, which a rebuilt database keeps; never the row's id
    decoded = zxingcpp.read_barcodes(qr.card(sign, "hint"))
    assert [b.text for b in decoded] == [sign.link]

    xiao = bot.sandbox.user(first_name="小李", language_code="zh-hans")
    await volunteer(bot, xiao, "李小义")
    await xiao.send(f"/start {payload}")
    assert "上报河段：立公河" in (await xiao.next_message()).text
    assert "请发送问题现场照片" in (await xiao.next_message()).text
    await _photo_location_category(bot, xiao)

    stranger = bot.sandbox.user(first_name="Passer", language_code="en")
    await stranger.send(f"/start {payload}")
    offer = await stranger.next_message()
    assert "Ligong River" in offer.text and offer.button_texts == ["🙋 Join as a volunteer and go on"]
    await tap(bot, stranger, offer, text="🙋 Join as a volunteer and go on")
    await stranger.next_message()  # the menu
    assert "Send photos of the problem" in (await stranger.next_message()).text
    await _photo_location_category(bot, stranger, zh=False)
    reaches = [row[0] for row in await bot.store.fetchall("SELECT reach_id FROM problems ORDER BY id")]
    assert reaches == [reach, reach]
    assert bot.errors() == []


async def _photo_location_category(bot: Harness, user: FakeUser, *, zh: bool = True) -> None:
    await user.send_photo(make_jpeg(1600, 1200, seed=3))
    added = await user.next_message()
    await tap(bot, user, added, text="➡️ 照片已发完，下一步" if zh else "➡️ Done with photos: next")
    await user.next_message()  # share the location
    await user.send_location(LAT + 0.0005, WEST + 0.003)  # by 丁堡河, yet the report is on the sign's reach
    await user.next_message()  # location received
    kinds = await user.next_message()
    assert ("立公河" if zh else "Ligong River") in kinds.text, kinds.describe()
    described = await tap(bot, user, kinds, text="乱堆" if zh else "illegal dumping")
    if described.text.startswith(("问题类别", "Kind of problem")):
        offered = await user.next_message()  # the open problem it may be, with "the same" and "a new one"
        described = await tap(bot, user, offered, text="不是，另报新问题" if zh else "No, report a new one")
    confirm = await tap(bot, user, described, text="跳过" if zh else "Skip")
    assert ("立公河" if zh else "Ligong River") in confirm.text
    await tap(bot, user, confirm, text="📤 提交" if zh else "📤 Send")


async def test_a_deep_link_to_a_reach_that_is_gone_or_a_malformed_one_starts_nothing(bot: Harness) -> None:
    await seed(bot.store)
    passer = bot.sandbox.user(first_name="Passer", language_code="en")
    await passer.send("/start r-GONE-01")
    assert "no longer exists" in (await passer.next_message()).text
    await passer.send(f"/start {qr.sign_codes('b', [(1, '立公河-9', 'x')])[0].link.split('start=')[1]}")
    assert "no longer exists" in (await passer.next_message()).text
    await passer.send("/start r1234567890123")  # too long for a reach id: an invite code to check, and unknown
    assert "invite code is not valid" in (await passer.next_message()).text
    assert await bot.store.kept_reports.get(passer.id) is None
    assert await bot.store.dialogs.get(passer.id) is None
    assert bot.errors() == []
