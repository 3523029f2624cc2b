"""A class poll in real browsers: the teacher's page (1280×720) and three students' watch pages
(a desktop, a 390-px phone answering by keyboard, a Korean page). The students are watching
when the teacher asks; each answers, the teacher sees the live count, reveals, and each student
sees their own answer, the true value and whether they were right. No console errors, no CSP
violations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from app.config import Settings
from tests.live import chromium, live_server

pytestmark = pytest.mark.browser
API = "/api/v1"
CSP_LISTENER = Path(__file__).resolve().parents[1] / "browser" / "csp_listener.js"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def open_page(browser: Any, problems: list[str], url: str, **ctx: Any) -> Any:
    context = browser.new_context(**ctx)
    page = context.new_page()
    page.on("console", lambda m: problems.append(f"{url} {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"{url} pageerror: {e}"))
    page.expose_binding("reportCsp", lambda _src, text: problems.append(f"csp: {text}"))
    page.add_init_script(path=str(CSP_LISTENER))
    page.goto(url)
    return page


def test_ask_answer_reveal_in_four_browsers(browser: Any) -> None:
    settings = Settings(watch_min_interval=0.05, watch_max_per_client=0)
    problems: list[str] = []
    with live_server(settings) as base, httpx.Client(base_url=base, timeout=10) as c:
        sid = c.post(f"{API}/sessions", json={"preset": "xor-bias"}).json()["id"]
        wid = c.post(f"{API}/sessions/{sid}/watch").json()["watch_id"]
        # The value to predict, learnt on a twin session (same preset: the same numbers).
        twin = c.post(f"{API}/sessions", json={"preset": "xor-bias"}).json()
        focus = twin["config"]["focus"]
        truth = c.post(f"{API}/sessions/{twin['id']}/forward").json()[
            "layers"][0]["z"][focus][0]
        assert truth != 0
        desktop = open_page(browser, problems, f"{base}/w/{wid}",
                            viewport={"width": 1280, "height": 720}, locale="en-US")
        phone = open_page(browser, problems, f"{base}/w/{wid}",
                          viewport={"width": 390, "height": 844}, is_mobile=True,
                          has_touch=True, locale="en-US")
        korean = open_page(browser, problems, f"{base}/w/{wid}?lang=ko",
                           viewport={"width": 1280, "height": 720}, locale="ko-KR")
        teacher = open_page(browser, problems, f"{base}/s/{sid}?sel=n-1-0",
                            viewport={"width": 1280, "height": 720}, locale="en-US")
        for p in (desktop, phone, korean):
            p.wait_for_selector(".stream", state="attached")
        teacher.wait_for_timeout(300)  # the students' streams are open
        # The teacher asks about z of hidden neuron 1 (the first option), 1 % tolerance.
        assert teacher.locator("#poll-prompt-input").input_value() == \
            "What will z (the weighted sum) of neuron 1 in layer 1 be?"
        teacher.click("#poll-ask-button")
        teacher.wait_for_selector("#poll-reveal")
        assert "True value" not in teacher.inner_text("#polls")
        for p in (desktop, phone, korean):
            p.wait_for_selector("#poll-answer-form", state="visible", timeout=10_000)
        assert korean.inner_text("#poll-send") == "답 보내기"
        # Desktop: right (exact). Phone: wrong, typed and sent with Enter. Korean: right
        # within 1 % (0.5 % off).
        desktop.fill("#poll-number", repr(truth))
        desktop.click("#poll-send")
        phone.focus("#poll-number")
        phone.keyboard.type(repr(truth * 3 + 1))
        phone.keyboard.press("Enter")
        korean.fill("#poll-number", repr(truth * 1.005))
        korean.click("#poll-send")
        for p in (desktop, phone):
            expect(p.locator("#poll-mine")).to_contain_text("Sent:")
        expect(korean.locator("#poll-mine")).to_contain_text("보냈습니다")
        # The projector counts them live (the watch link's event stream).
        expect(teacher.locator("#poll-count")).to_have_text("3", timeout=10_000)
        teacher.click("#poll-reveal")
        teacher.wait_for_selector("#poll-truth")
        assert "Right: 2 of 3 answers" in teacher.inner_text("#poll-share")
        assert teacher.locator("#poll-result svg .truth").count() == 1
        got = {}
        for name, p, word in (("desktop", desktop, "Right!"), ("phone", phone,
                                                               "Not this time."),
                              ("korean", korean, "정답입니다!")):
            expect(p.locator("#poll-mine")).to_contain_text(word, timeout=10_000)
            got[name] = p.inner_text("#poll")
        assert "True value" in got["desktop"] and "참값" in got["korean"]
        # The phone's page fits 390 px: nothing in the poll region scrolls sideways.
        sizes = phone.locator("#poll").evaluate(
            "el => [el.scrollWidth, document.documentElement.clientWidth, "
            "document.documentElement.scrollWidth]")
        assert sizes[0] <= sizes[1] and sizes[2] <= 390, sizes
        # The teacher's page can reach the QR full-screen button; link and QR fit 720 px.
        teacher.goto(f"{base}/s/{sid}#share")
        box = teacher.locator("#qr-box").bounding_box()
        assert box is not None and box["height"] <= 720
        assert teacher.locator("#qr-full").is_visible()
        for p in (desktop, phone, korean, teacher):
            p.context.close()
    assert problems == []
