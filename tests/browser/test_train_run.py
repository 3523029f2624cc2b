"""Train 30,000 on the spiral page in Chromium (issue #24): the progress bar appears and moves,
the page reaches epoch 30,000 without another click, the timeline has one entry for the run and
one undo goes back to epoch 0; a second run cancelled midway (Escape) keeps its epochs and stops
at once. No console errors, no CSP violations."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.config import Settings
from app.nn import kernel_slot
from tests.live import live_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def fast_server() -> Iterator[str]:
    """The app as deployed trains on the compiled kernel (the suite's default is NumPy, for its
    bit-for-bit checks): 30,000 spiral epochs are then tens of seconds, not minutes."""
    try:
        with live_server(Settings(kernel="numba")) as url:
            yield url
    finally:  # the kernel choice is process-wide: give the other tests theirs back
        kernel_slot.configure(os.environ.get("BACKPROP_LAB_KERNEL", "numpy"))  # type: ignore[arg-type]


def api_state(page: Page, base: str) -> dict[str, Any]:
    sid = page.url.split("/s/")[1].split("?")[0]
    r = page.request.get(f"{base}/api/v1/sessions/{sid}")
    assert r.ok
    return r.json()  # type: ignore[no-any-return]


def done(page: Page) -> int:
    return int(page.locator("#run-progress").get_attribute("aria-valuenow") or "0")


@pytest.mark.timeout(600)
def test_train_30000_runs_to_the_end_is_one_step_and_cancels_at_once(
        fast_server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.goto(f"{fast_server}/new?preset=spiral")
    expect(p.locator("#epoch")).to_have_text("0")
    p.locator("#epochs").fill("30000")
    p.get_by_role("button", name="Train", exact=True).click()
    bar = p.locator("#run-progress")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("max", "30000")
    expect(p.locator("#run-text")).to_contain_text("epochs/s")
    expect(p.locator("#announce")).to_contain_text("Training 30,000 epochs")
    first = done(p)
    time.sleep(1.5)
    assert done(p) > first, "the bar moves"
    # No further clicks: the page goes on to the end by itself.
    expect(p.locator("#epoch")).to_have_text("30000", timeout=420_000)
    expect(p.locator("#run")).to_be_hidden()
    expect(p.locator("#announce")).to_have_text("Trained 30000 epochs.")
    steps = p.locator("ol.timeline li")
    expect(steps).to_have_count(1)
    expect(steps).to_have_text("Train ×30,000")
    s = api_state(p, fast_server)
    assert s["epoch"] == 30000 and s["undo"] == {"back": 1, "forward": 0}

    p.get_by_role("button", name="Undo", exact=True).click()  # one undo: epoch 0
    expect(p.locator("#epoch")).to_have_text("0")
    assert api_state(p, fast_server)["epoch"] == 0

    # A second run, cancelled midway with Escape: its epochs stay, and nothing trains after.
    # (The undo redrew the toolbar, whose Epochs field shows its default again: ask for 30,000
    # once more, else a 1,000-epoch run can end before the loop below sees 500.)
    p.locator("#epochs").fill("30000")
    p.get_by_role("button", name="Train", exact=True).click()
    expect(bar).to_be_visible()
    expect(p.locator("#run-cancel")).to_be_visible()
    deadline = time.monotonic() + 60
    while done(p) < 500 and time.monotonic() < deadline:
        time.sleep(0.2)
    p.keyboard.press("Escape")
    expect(p.locator("#run")).to_be_hidden()
    kept = api_state(p, fast_server)
    assert 500 <= kept["epoch"] < 30000
    # The live region says so ("Cancelled: the …"); on a loaded machine a reply that crossed
    # the cancel may speak last, naming the epoch where the run stopped.
    said = p.locator("#announce").inner_text()
    assert "Cancelled: the " in said or f"Epoch {kept['epoch']}," in said, said
    expect(p.locator("#epoch")).to_have_text(str(kept["epoch"]))
    time.sleep(1.5)  # a chunk in flight when Escape was pressed has landed by now
    assert api_state(p, fast_server)["epoch"] == kept["epoch"], "it stopped at once"
    expect(p.locator("#epoch")).to_have_text(str(kept["epoch"]))
    expect(p.locator("ol.timeline li")).to_have_count(1)  # the cancelled run: one step
    assert problems.console == [] and problems.csp == []


def test_a_run_by_keyboard_in_korean_and_axe_finds_nothing(server: str, web: tuple[Page, Any]
                                                           ) -> None:
    """A reloaded page shows the run with Continue and Cancel (axe: no serious violation);
    Continue by keyboard goes on by itself, and Cancel is reachable with Tab and announced."""
    from tests.browser.test_accessibility import axe

    p, problems = web
    p.goto(f"{server}/?lang=ko")
    p.goto(f"{server}/new?preset=spiral")
    p.locator("#epochs").fill("30000")
    p.locator("#op-train").click()
    expect(p.locator("#run-progress")).to_be_visible()
    expect(p.locator("#announce")).to_contain_text("30,000 에포크를 학습합니다.")
    p.goto(p.url)  # reloaded mid-run: shown, not driven
    expect(p.locator("#run-continue")).to_be_visible()
    assert axe(p) == []
    p.locator("#run-continue").focus()
    p.keyboard.press("Enter")
    expect(p.locator("#player")).to_have_class("playing running")
    expect(p.locator("#run-continue")).to_have_count(0)
    expect(p.locator("#run-cancel")).to_be_focused()  # focus follows to the run's Cancel
    p.keyboard.press("Enter")
    expect(p.locator("#run")).to_be_hidden()
    expect(p.locator("#announce")).to_contain_text("취소했습니다.")
    expect(p.locator("#op-train")).to_be_focused()
    assert problems.console == [] and problems.csp == []
