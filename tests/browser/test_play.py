"""Play in Chromium over its stream (GET /s/{id}/play): frames arrive without one request per
tick, Pause stops them, keyboard focus stays where it was, divergence brings the Play button
back, a server at its stream limit makes the page poll as before, and without JavaScript Play
is still a form post."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.config import Settings
from tests.browser.frames import COUNT_FRAMES, frames
from tests.live import live_server

pytestmark = pytest.mark.browser

def clean(problems: Any) -> None:
    assert problems.console == []
    assert problems.csp == []


def posts(p: Page) -> list[str]:
    ticks: list[str] = []
    p.on("request", lambda r: ticks.append(r.url) if "/tick" in r.url else None)
    return ticks


def test_play_streams_frames_and_pause_stops_them(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.add_init_script(COUNT_FRAMES)
    ticks = posts(p)
    p.goto(f"{server}/new?preset=spiral")
    p.get_by_role("button", name="Play", exact=True).click()
    expect(p.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    expect(p.locator("#curve-epoch")).not_to_have_text("0", timeout=10_000)
    n0, t0 = frames(p), time.monotonic()
    p.wait_for_timeout(1600)
    n1 = frames(p)
    # About 4 a second (6.4 in 1.6 s), with slack for a loaded machine.
    assert n1 - n0 >= 4, f"{n1 - n0} frames in {time.monotonic() - t0:.1f} s"
    assert ticks == [] and p.evaluate("window.playStreams") == 1  # one stream, no polling
    p.get_by_role("button", name="Pause", exact=True).click()
    expect(p.get_by_role("button", name="Play", exact=True)).to_be_visible()
    p.wait_for_timeout(300)
    epoch, n2 = p.locator("#epoch").inner_text(), frames(p)
    p.wait_for_timeout(800)
    assert p.locator("#epoch").inner_text() == epoch and frames(p) == n2
    # The server trained no more than the page shows (no tick starts after Pause).
    sid = p.url.split("/s/")[1].split("?")[0]
    assert p.request.get(f"{server}/api/v1/sessions/{sid}").json()["epoch"] == int(epoch)
    clean(problems)


def test_focus_stays_where_it_was_while_frames_arrive(server: str,
                                                      web: tuple[Page, Any]) -> None:
    p, problems = web
    p.add_init_script(COUNT_FRAMES)
    p.goto(f"{server}/new?preset=spiral")
    p.locator("#op-play").focus()
    p.keyboard.press("Enter")  # Play from the keyboard: the button becomes Pause, focused
    expect(p.get_by_role("button", name="Pause", exact=True)).to_be_focused()
    n0 = frames(p)
    p.wait_for_timeout(1200)
    assert frames(p) - n0 >= 2
    expect(p.get_by_role("button", name="Pause", exact=True)).to_be_focused()
    # Focus inside a region every frame replaces (the loss panel's log-scale switch): the
    # new one has it.
    p.locator("#log-toggle").focus()
    n1 = frames(p)
    p.wait_for_timeout(1200)
    assert frames(p) - n1 >= 2
    assert p.evaluate("document.activeElement.id") == "log-toggle"
    p.get_by_role("button", name="Pause", exact=True).click()
    expect(p.get_by_role("button", name="Play", exact=True)).to_be_visible()
    clean(problems)


def test_a_hidden_tab_does_not_play(server: str, web: tuple[Page, Any]) -> None:
    """A tab in the background closes its stream (the server stops training it) and opens a
    new one when it is shown again."""
    p, problems = web
    p.add_init_script(COUNT_FRAMES)
    p.goto(f"{server}/new?preset=spiral")
    p.get_by_role("button", name="Play", exact=True).click()
    expect(p.locator("#curve-epoch")).not_to_have_text("0", timeout=10_000)
    hide = ("h => { Object.defineProperty(document, 'hidden', {value: h, configurable: true});"
            " document.dispatchEvent(new Event('visibilitychange')); }")
    p.evaluate(hide, True)
    p.wait_for_timeout(400)
    sid = p.url.split("/s/")[1].split("?")[0]
    epoch = p.request.get(f"{server}/api/v1/sessions/{sid}").json()["epoch"]
    p.wait_for_timeout(800)
    assert p.request.get(f"{server}/api/v1/sessions/{sid}").json()["epoch"] == epoch
    n = frames(p)
    p.evaluate(hide, False)
    p.wait_for_timeout(1200)
    assert frames(p) - n >= 2 and p.evaluate("window.playStreams") == 2
    p.get_by_role("button", name="Pause", exact=True).click()
    expect(p.get_by_role("button", name="Play", exact=True)).to_be_visible()
    clean(problems)


def test_a_session_deleted_while_playing_ends_play(server: str, web: tuple[Page, Any]) -> None:
    """The stream ends (an empty stop) and the page does not open it again."""
    p, problems = web
    p.add_init_script(COUNT_FRAMES)
    p.goto(f"{server}/new?preset=spiral")
    p.get_by_role("button", name="Play", exact=True).click()
    expect(p.locator("#curve-epoch")).not_to_have_text("0", timeout=10_000)
    sid = p.url.split("/s/")[1].split("?")[0]
    assert p.request.delete(f"{server}/api/v1/sessions/{sid}").status == 204
    p.wait_for_timeout(1500)
    n = frames(p)
    p.wait_for_timeout(1000)
    assert frames(p) == n and p.evaluate("window.playStreams") == 1
    expect(p.locator("#player")).not_to_have_attribute("data-play", re.compile("."))
    clean(problems)


def test_divergence_brings_the_play_button_back(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    sid = p.request.post(f"{server}/api/v1/sessions",
                         data={"preset": "plane-regression", "learning_rate": 100}).json()["id"]
    p.goto(f"{server}/s/{sid}")
    p.get_by_role("button", name="Play", exact=True).click()
    expect(p.get_by_role("button", name="Pause", exact=True)).to_be_visible()  # playing
    expect(p.get_by_role("button", name="Play", exact=True)).to_be_visible(timeout=15_000)
    expect(p.locator("#player")).not_to_have_class("playing")
    assert p.request.get(f"{server}/api/v1/sessions/{sid}").json()["status"] == "diverged"
    expect(p.locator("#diagram a[data-col]").first).to_be_attached()  # clickable again
    clean(problems)


@pytest.fixture(scope="module")
def no_streams() -> Iterator[str]:
    """A server whose Play streams are all taken (play_max_streams = 0)."""
    with live_server(Settings(play_max_streams=0)) as url:
        yield url


def test_at_the_stream_limit_the_page_polls(no_streams: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    ticks = posts(p)
    p.goto(f"{no_streams}/new?preset=seed-xor")
    p.get_by_role("button", name="Play", exact=True).click()
    expect(p.locator("#curve-epoch")).not_to_have_text("0", timeout=10_000)
    p.wait_for_timeout(1000)
    assert len(ticks) >= 3  # one request per tick, as before streams
    p.get_by_role("button", name="Pause", exact=True).click()
    expect(p.get_by_role("button", name="Play", exact=True)).to_be_visible()
    p.wait_for_timeout(400)
    n, epoch = len(ticks), p.locator("#epoch").inner_text()
    p.wait_for_timeout(800)
    assert len(ticks) == n and p.locator("#epoch").inner_text() == epoch
    clean(problems)


def test_without_javascript_play_is_a_form_post(server: str, chromium_browser: Any) -> None:
    ctx = chromium_browser.new_context(java_script_enabled=False)
    p = ctx.new_page()
    p.goto(f"{server}/new?preset=seed-xor")
    assert p.locator("#epoch").inner_text() == "0"
    p.get_by_role("button", name="Play", exact=True).click()  # trains one tick's epochs
    expect(p.locator("#epoch")).to_have_text("10")
    expect(p.get_by_role("button", name="Play", exact=True)).to_be_visible()
    ctx.close()
