"""The comparison page in Chromium: Compare with… from a session page, both curves, lockstep
Play (and the keyboard), no console errors or CSP violations, and the projector layout within
1280 × 720 without horizontal scrolling."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from app.config import Settings
from tests.live import live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def roomy() -> Iterator[str]:
    """A server whose Play ticks always finish their epochs (a generous tick budget), so that
    lockstep can be checked exactly on a loaded machine."""
    with live_server(Settings(tick_budget=3.0)) as url:
        yield url


def epochs(p: Page, base: str) -> list[int]:
    q = parse_qs(urlsplit(p.url).query)
    out = []
    for who in ("a", "b"):
        r = p.request.get(f"{base}/api/v1/sessions/{q[who][0]}")
        assert r.ok
        out.append(int(r.json()["epoch"]))
    return out


def wait_for_epoch(p: Page, at_least: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while int(p.locator("#epoch-a").text_content() or 0) < at_least:
        assert time.monotonic() < deadline, "Play did not reach the epoch"
        p.wait_for_timeout(100)


def clean(problems: Any) -> None:
    assert problems.console == []
    assert problems.csp == []


def test_compare_with_then_lockstep_play(roomy: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.goto(f"{roomy}/new?preset=xor-bias&projector=0")
    p.locator("#compare-with summary").click()
    p.locator('input[name="change"][value="optimizer"]').check()
    p.locator("#cmp-optimizer").select_option("adam")
    p.locator("#compare-start").click()
    expect(p).to_have_url(re.compile(r"/compare\?a="))
    expect(p.locator("h1")).to_contain_text("Adam")
    expect(p.locator("#cmp-loss .empty")).to_be_visible()
    p.locator("#play-speed").select_option("10")
    p.get_by_role("button", name="Play", exact=True).click()
    expect(p.locator("#player")).to_have_class("playing")
    # Both curves appear and grow while playing; the counters move together.
    expect(p.locator('#cmp-loss svg.curve path[data-kind="train"]')).to_have_count(2)
    expect(p.locator('#cmp-loss path[data-who="a"]').first).to_be_visible()
    expect(p.locator('#cmp-loss path[data-who="b"]').first).to_be_visible()
    wait_for_epoch(p, 30)  # (no wait_for_function: the CSP forbids eval)
    p.get_by_role("button", name="Pause", exact=True).click()
    expect(p.locator("#player")).not_to_have_class("playing")
    ea, eb = epochs(p, roomy)
    assert ea == eb and ea >= 30 and ea % 10 == 0
    expect(p.locator("#epoch-a")).to_have_text(str(ea))
    expect(p.locator("#epoch-b")).to_have_text(str(eb))
    # The keyboard: "e" runs one epoch of both.
    p.locator("body").press("e")
    expect(p.locator("#epoch-a")).to_have_text(str(ea + 1))
    expect(p.locator("#epoch-b")).to_have_text(str(ea + 1))
    assert epochs(p, roomy) == [ea + 1, ea + 1]
    clean(problems)


@pytest.mark.parametrize("projector", ["0", "1"], ids=["1280px", "projector"])
def test_the_layout_fits_1280_by_720(roomy: str, web: tuple[Page, Any], projector: str) -> None:
    p, problems = web
    p.goto(f"{roomy}/compare/new?pa=deep-sigmoid&pb=deep-relu&projector={projector}")
    if projector == "1":
        expect(p.locator("html")).to_have_class("projector")
    p.locator("#epochs").fill("30")
    p.get_by_role("button", name="Train", exact=True).click()
    expect(p.locator("#epoch-a")).to_have_text("30")
    expect(p.locator("#epoch-b")).to_have_text("30")
    expect(p.locator("#cmp-loss svg.curve path")).to_have_count(4)
    width = p.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 1280
    regions = ["#controls", "#diagram-a", "#diagram-b", "#cmp-loss", "#cmp-norms"]
    for sel in regions:
        box = p.locator(sel).bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, sel
        if projector == "1":  # the whole comparison on the first screen
            assert box["y"] + box["height"] <= 720, (sel, box)
    a = p.locator("#diagram-a").bounding_box()
    b = p.locator("#diagram-b").bounding_box()
    assert a is not None and b is not None
    assert a["x"] + a["width"] <= b["x"] and a["y"] == b["y"]  # side by side
    clean(problems)


def test_axe_finds_no_serious_violation_on_the_comparison(roomy: str,
                                                          web: tuple[Page, Any]) -> None:
    from tests.browser.test_accessibility import axe

    p, problems = web
    found: dict[str, Any] = {}
    for lang in ("en", "ko"):
        p.goto(f"{roomy}/compare/new?pa=deep-sigmoid&pb=deep-relu&lang={lang}&projector=0")
        p.locator("#op-epoch").click()
        expect(p.locator("#epoch-b")).to_have_text("1")
        found[lang] = axe(p)
    p.goto(f"{roomy}/new?preset=spiral&lang=en")
    p.locator("#compare-with summary").click()
    found["Compare with…"] = axe(p)
    assert found == {"en": [], "ko": [], "Compare with…": []}
    clean(problems)
