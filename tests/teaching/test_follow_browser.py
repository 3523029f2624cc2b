"""Two real Chromium pages: the teacher steps and plays, the watch page follows without a
reload and has no controls, and Make my own copy gives an independent session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.live import chromium, live_server
from tests.teaching.helpers import S

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def test_the_class_follows_the_teacher(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    with live_server(Settings(create_rate_limit=0)) as base:
        teacher_ctx = browser.new_context(locale="en-US")
        student_ctx = browser.new_context(locale="en-US")
        teacher, student = teacher_ctx.new_page(), student_ctx.new_page()
        for page in (teacher, student):
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
        teacher.goto(f"{base}/new?preset=xor-bias")
        sid = teacher.url.split("/s/")[1].split("?")[0].split("#")[0]
        teacher.locator("#share summary").click()
        teacher.locator("#start-share").click()
        link = teacher.locator("#watch-link")
        expect(link).to_be_visible()
        watch_url = link.get_attribute("href")
        assert watch_url and "/w/" in watch_url and sid not in watch_url
        assert teacher.locator("#share .qr svg").count() == 1

        student.goto(watch_url)
        expect(student.locator("#watch-version")).to_have_text("0")
        # No controls: no toolbar, no settings, no buttons except Make my own copy.
        assert student.locator('button[name="op"], .toolbar, .settings-form').count() == 0
        assert student.locator("button").all_inner_texts() == ["Make my own copy"]
        student.evaluate("() => { window.sameDocument = true; }")

        # The teacher steps: the watch page follows, pushed by the server.
        teacher.locator('.toolbar button[value="step"]').click()
        expect(teacher.locator("#next")).to_have_text("forward 2")
        expect(student.locator("#watch-version")).to_have_text("1", timeout=5000)
        expect(student.locator("#next")).to_have_text("forward 2")
        teacher.keyboard.press("s")
        expect(student.locator("#next")).to_have_text("backward 2", timeout=5000)
        # Undo (key z), redo (Ctrl+Y) and the Undo button are followed too.
        teacher.keyboard.press("z")
        expect(student.locator("#next")).to_have_text("forward 2", timeout=5000)
        teacher.keyboard.press("Control+y")
        expect(student.locator("#next")).to_have_text("backward 2", timeout=5000)
        teacher.get_by_role("button", name="Undo", exact=True).click()
        expect(student.locator("#next")).to_have_text("forward 2", timeout=5000)
        expect(teacher.locator("#undo .now")).to_have_text("F1")

        # The teacher plays: epochs go by on the watch page.
        teacher.locator('.toolbar button[value="play"]').click()
        expect(student.locator("#epoch")).not_to_have_text("0", timeout=10000)
        teacher.locator('.toolbar button[value="pause"]').click()
        assert student.evaluate("() => window.sameDocument") is True  # never reloaded

        # Make my own copy: a new, independent session.
        student.locator("#make-copy").click()
        student.wait_for_url("**/s/**")
        mine = student.url.split("/s/")[1].split("?")[0].split("#")[0]
        assert mine != sid
        teacher_epoch = httpx.get(f"{base}{S}/{sid}").json()["epoch"]
        copy = httpx.get(f"{base}{S}/{mine}").json()
        assert copy["epoch"] == teacher_epoch
        student.locator('.toolbar button[value="epoch"]').click()
        expect(student.locator("#epoch")).to_have_text(str(teacher_epoch + 1))
        assert httpx.get(f"{base}{S}/{sid}").json()["epoch"] == teacher_epoch

        # A lesson file: downloaded from one session, opened through the page's form.
        lesson = tmp_path / "lesson.json"
        lesson.write_text(httpx.get(f"{base}{S}/{sid}/export").text)
        if not teacher.locator("#share[open]").count():
            teacher.locator("#share summary").click()
        teacher.locator(".lesson-file").set_input_files(str(lesson))
        expect(teacher.locator("#lesson-json")).not_to_have_value("")
        teacher.locator(".open-lesson button[type=submit]").click()
        teacher.wait_for_url(lambda url: "/s/" in url and sid not in url)
        expect(teacher.locator("#epoch")).to_have_text(str(teacher_epoch))
        teacher_ctx.close()
        student_ctx.close()
    assert problems == []
