"""The chat page of `riverbot try` in a real headless Chromium, through one whole journey: bind a group, walk a
patrol with a live location, report dumping with a photo, rectify it, close it, and the summary chart.

The try world runs in a thread of its own (its own event loop), since Selenium blocks. Every wait is on the
page: a bot message with the expected text appearing, or the walk's status attribute; never on the clock.
Without Chromium, chromedriver or Selenium here, the test is skipped and says which is missing."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.i18n import Locales
from sandbox.trying import PEOPLE, Running, start_try

ID = {person.key: person.user_id for person in PEOPLE}
WAIT_S = 30.0

# The JavaScript the checks run in the page: how many bot messages show this text now.
COUNT = """return [...document.querySelectorAll('#messages .message[data-from="bot"]')]
    .filter((m) => m.textContent.includes(arguments[0])).length;"""
# Is there a button (inline or reply keyboard) whose text contains this?
FIND = """return [...document.querySelectorAll('#messages button, #keyboard button')]
    .some((b) => b.textContent.includes(arguments[0]));"""
# Click the last button (inline or reply keyboard) whose text contains this; false when there is none.
PRESS = """const all = [...document.querySelectorAll('#messages button, #keyboard button')]
    .filter((b) => b.textContent.includes(arguments[0]));
if (!all.length) return false;
all[all.length - 1].click();
return true;"""


def _browser_or_skip() -> Any:
    """A headless Chromium through Debian's chromedriver, or a skip naming what is missing."""
    try:
        from selenium import webdriver  # noqa: PLC0415
        from selenium.webdriver.chrome.service import Service  # noqa: PLC0415
    except ImportError:
        pytest.skip("no browser test: Selenium is not installed (pip install -e '.[dev]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("no browser test: Chromium or chromedriver is missing (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=zh-CN"):
        options.add_argument(flag)
    try:
        # An explicit driver path: Selenium Manager would otherwise try to download one.
        return webdriver.Chrome(service=Service(executable_path=driver), options=options)
    except Exception as exc:  # any failure to start the browser is a reason to skip, printed
        pytest.skip(f"no browser test: Chromium did not start ({type(exc).__name__}: {str(exc)[:300]})")


class World:
    """`start_try` on an event loop in a background thread, stopped at the end."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        base = load_settings(env_file=None, data_dir=data_dir, default_language="zh")
        self.running: Running = self.call(start_try(base, Locales.load(), port=0, poll_timeout=1))

    def call(self, work: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result(timeout=120)

    def stop(self) -> None:
        try:
            self.call(self.running.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
            self.loop.close()


class Chat:
    """The page as one person in one chat sees it."""

    def __init__(self, driver: Any, url: str) -> None:
        self.driver = driver
        self.url = url

    def open(self, person: str, chat: int | None = None) -> None:
        self.driver.get(f"{self.url}/?as={person}&chat={chat or ID[person]}&lang=zh")
        self.until(lambda: self.driver.execute_script("return !!document.body.dataset.version"), "the chat shown")

    def until(self, check: Callable[[], Any], what: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

        WebDriverWait(self.driver, WAIT_S).until(lambda _: check(), message=f"waited for {what}")

    def count(self, text: str) -> int:
        return int(self.driver.execute_script(COUNT, text))

    def then(self, action: Callable[[], Any], expect: str) -> None:
        """Do something on the page, then wait for a bot message (new or edited) showing `expect`."""
        before = self.count(expect)
        action()
        self.until(lambda: self.count(expect) > before, repr(expect))

    def say(self, text: str, expect: str) -> None:
        def typed() -> None:
            box = self.driver.find_element("id", "text")
            box.clear()
            box.send_keys(text)
            self.driver.find_element("id", "send").click()

        self.then(typed, expect)

    def press(self, button: str, expect: str) -> None:
        self.until(lambda: self.driver.execute_script(FIND, button), f"a button {button!r}")
        self.then(lambda: self.driver.execute_script(PRESS, button), expect)

    def photo(self, sample: str, expect: str) -> None:
        def sent() -> None:
            self.driver.execute_script("document.getElementById('photo-panel').open = true;")
            from selenium.webdriver.support.ui import Select  # noqa: PLC0415

            Select(self.driver.find_element("id", "photo-sample")).select_by_value(sample)
            self.driver.find_element("id", "photo-send").click()

        self.then(sent, expect)

    def location(self, latitude: float, longitude: float, expect: str) -> None:
        def shared() -> None:
            self.driver.execute_script("document.getElementById('location-panel').open = true;")
            for field, value in (("latitude", latitude), ("longitude", longitude)):
                box = self.driver.find_element("id", field)
                box.clear()
                box.send_keys(str(value))
            self.driver.find_element("id", "location-send").click()

        self.then(shared, expect)

    def walk(self, reach: str, minutes: int) -> None:
        from selenium.webdriver.support.ui import Select  # noqa: PLC0415

        self.driver.execute_script("document.getElementById('location-panel').open = true;")
        Select(self.driver.find_element("id", "walk-reach")).select_by_value(reach)
        box = self.driver.find_element("id", "walk-minutes")
        box.clear()
        box.send_keys(str(minutes))
        self.driver.find_element("id", "walk-start").click()
        status = "return document.getElementById('walk-status').dataset.walk"
        self.until(lambda: self.driver.execute_script(status) in ("done", "refused"), "the walk")
        assert self.driver.execute_script(status) == "done"

    def has_chart(self) -> bool:
        script = """return [...document.querySelectorAll('#messages .message[data-from="bot"] img')]
            .some((img) => img.complete && img.naturalWidth > 300);"""
        return bool(self.driver.execute_script(script))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    running = World(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Asked for before the world, so a machine without a browser skips without seeding one."""
    driver = _browser_or_skip()
    try:
        yield driver
    finally:
        driver.quit()


def test_the_whole_journey_in_a_real_browser(browser: Any, world: World) -> None:
    chat = Chat(browser, world.running.url)
    group = next(g for g, code in world.running.world.group_areas.items() if code == "CD")

    # The office admin binds the area's group chat (it is bound on first start: re-confirming is the same flow).
    chat.open("admin")
    chat.say("/start", "请选择语言")
    chat.open("admin", group)
    chat.say("/bind", "本群已绑定到片区")
    chat.press("城东街道（CD）", "每周巡河周报将发送到本群")

    # The village chief walks a patrol of QJH-01 with a live location, 20 minutes in a few seconds, and ends it.
    chat.open("village")
    chat.say("/start", "请选择语言")
    chat.say("/patrol", "前进河")
    chat.press("前进河", "实时位置")
    chat.walk("QJH-01", 20)
    chat.press("✅", "巡河")
    store = world.running.app.bot_data["services"].store
    chief = world.call(store.people.by_telegram_id(ID["village"]))
    patrols = world.call(store.patrols.recent_for_person(chief.id))
    assert patrols and patrols[0].duration_s is not None and patrols[0].duration_s >= 19 * 60

    # A volunteer registers, then reports dumping with a photo on the same reach.
    chat.open("volunteer")
    chat.say("/start", "请选择语言")
    chat.press("注册成为河小义", "请输入您的姓名")
    chat.press("李志愿", "请选择您常住或常巡的片区")
    chat.press("城东街道", "留下手机号")
    chat.press("跳过", "注册成功")
    chat.say("/report", "请发送问题现场照片")
    chat.photo("bank_gps.jpg", "已收到第 1 张照片")
    chat.press("下一步", "请共享问题所在位置")
    chat.location(32.5481, 120.4865, "问题所在河段")
    chat.press("前进河 ·", "请选择问题类别")
    chat.press("乱堆", "请补充文字说明")
    chat.press("跳过", "请核对问题信息")
    chat.press("📤 提交", "问题已提交")

    # The chief rectifies with a note and an after-photo.
    chat.open("village")
    chat.until(lambda: chat.count("新问题交办") > 0, "the chief's notice")
    chat.press("整改完成", "请发送整改后的照片")
    chat.say("已清运", "已记录整改说明")
    chat.photo("bank_gps.jpg", "已收到整改照片")
    chat.press("提交整改", "等待核查")

    # The admin closes it (销号).
    chat.open("admin")
    chat.until(lambda: chat.count("请核查") > 0, "the admin's notice")
    chat.press("核查通过，销号", "确认销号问题")
    chat.press("✅ 确认销号", "已销号")

    # /summary in the group: the report and its chart, drawn in the page.
    chat.open("admin", group)
    chat.say("/summary", "周报")
    chat.until(chat.has_chart, "the summary chart shown")
