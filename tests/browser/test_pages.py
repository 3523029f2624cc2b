"""The session page in Chromium: the numbers equal the API's, Play/Pause, the inspector's
MathML, Korean, keyboard shortcuts; no console errors and no CSP violations anywhere."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.web.infra.fmt import num, signed
from tests.browser.frames import COUNT_FRAMES, frames

pytestmark = pytest.mark.browser


def api_state(page: Page, base: str) -> dict[str, Any]:
    sid = page.url.split("/s/")[1].split("?")[0]
    r = page.request.get(f"{base}/api/v1/sessions/{sid}")
    assert r.ok
    return r.json()  # type: ignore[no-any-return]


def press(page: Page, name: str, next_text: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    expect(page.locator("#next")).to_have_text(next_text)


def clean(problems: Any) -> None:
    assert problems.console == []
    assert problems.csp == []


def four(v: float) -> str:
    """A computed value as the diagram prints it: 4 significant digits, trailing zeros kept,
    a real minus sign (written here independently of app/web/infra/fmt.py)."""
    return f"{v:#.4g}".replace("-", "\u2212")


def test_steps_show_the_api_numbers(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.goto(f"{server}/new?preset=seed-xor")
    expect(p.locator("#next")).to_have_text("forward 1")
    press(p, "Forward", "forward 2")
    press(p, "Forward", "backward 2")
    press(p, "Backward", "backward 1")
    press(p, "Backward", "update")
    s = api_state(p, server)
    f = s["config"]["focus"]  # the diagram follows the focus sample
    for l, layer in enumerate(s["layers"], start=1):
        for j in range(len(layer["z"][0])):
            node = p.locator(f"#n-{l}-{j}")
            expect(node.locator('[data-k="z"]')).to_have_text(four(layer["z"][f][j]))
            expect(node.locator('[data-k="a"]')).to_have_text(four(layer["a"][f][j]))
            expect(node.locator('[data-k="δ"]')).to_have_text(signed(layer["delta"][f][j]))
    expect(p.locator("#loss-value")).to_have_attribute("data-value", repr(s["loss"]))
    yhat = p.locator("table.samples td.yhat")
    expect(yhat).to_have_text([four(row[0]) for row in s["output"]])
    g = s["layers"][0]["grad_W"][0][1]
    expect(p.locator("#w-1-0-1")).to_have_attribute(
        "aria-label",
        f"Weight w1,2 (layer 1) = {num(s['layers'][0]['W'][0][1])}, ∂L/∂w = {num(g)}")
    press(p, "Update", "forward 1")
    s2 = api_state(p, server)
    assert s2["epoch"] == 1
    for l, layer in enumerate(s2["layers"], start=1):
        for i, row in enumerate(layer["W"]):
            for j, w in enumerate(row):
                expect(p.locator(f"#w-{l}-{i}-{j}")).to_have_attribute(
                    "aria-label", f"Weight w{i + 1},{j + 1} (layer {l}) = {num(w)}")
    expect(p.locator("#curve-epoch")).to_have_text("0")
    expect(p.locator("#curve-loss")).to_have_text(num(s2["history"][0]["loss"], 6))
    clean(problems)


def test_inspector_shows_mathml_for_an_edge(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.goto(f"{server}/new?preset=seed-xor")
    press(p, "Forward", "forward 2")
    press(p, "Forward", "backward 2")
    press(p, "Backward", "backward 1")
    p.locator("#w-2-1-0").click()
    expect(p.locator("#inspector h3")).to_contain_text("Weight w2,1")
    expect(p.locator("#inspector math").first).to_be_visible()
    s = api_state(p, server)
    g = s["layers"][1]["grad_W"][1][0]
    w = s["layers"][1]["W"][1][0]
    figs = p.locator("#inspector figure")
    # value, the chain rule as one product, the focus sample's term a·δ, the batch's
    # gradient, the update
    expect(figs.nth(1)).to_contain_text("one product")
    expect(figs.nth(3)).to_contain_text(num(g, 6))
    expect(figs.nth(4)).to_contain_text(num(w - s["config"]["learning_rate"] * g, 6))
    assert "sel=w-2-1-0" in p.url
    # A neuron: z, a and δ with the chain rule.
    p.locator("#n-2-0").click()
    expect(p.locator("#inspector figure.formula")).to_have_count(4)
    expect(p.locator("#inspector-heat img")).to_be_visible()  # and its heatmap, large
    f = s["config"]["focus"]
    expect(p.locator("#inspector")).to_contain_text(num(s["layers"][1]["delta"][f][0], 6))
    clean(problems)


def test_play_grows_the_curve_and_pause_stops_it(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    # Play's ticks arrive as frames over one stream (issue #22): count those.
    p.add_init_script(COUNT_FRAMES)
    p.goto(f"{server}/new?preset=seed-xor")
    p.get_by_role("button", name="Play", exact=True).click()
    expect(p.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    expect(p.locator("svg.curve")).to_be_visible()
    n0 = frames(p)
    p.wait_for_timeout(1600)
    recent = frames(p) - n0
    assert recent >= 5, f"{recent} ticks in 1.6 s"  # ≥ 4 per second, with slack
    points = int(p.locator("svg.curve").get_attribute("data-points") or 0)
    assert points > 20
    p.get_by_role("button", name="Pause", exact=True).click()
    expect(p.get_by_role("button", name="Play", exact=True)).to_be_visible()
    p.wait_for_timeout(400)
    epoch = p.locator("#epoch").inner_text()
    n_ticks = frames(p)
    p.wait_for_timeout(800)
    assert p.locator("#epoch").inner_text() == epoch
    assert frames(p) == n_ticks
    assert int(epoch) >= points
    clean(problems)


def test_korean_switch_is_remembered(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.goto(f"{server}/new?preset=seed-xor")
    p.get_by_role("link", name="한국어").click()
    expect(p.locator("html")).to_have_attribute("lang", "ko")
    expect(p.get_by_role("button", name="순전파", exact=True)).to_be_visible()
    p.goto(p.url.split("?")[0])
    expect(p.get_by_role("button", name="역전파", exact=True)).to_be_visible()
    p.get_by_role("button", name="순전파", exact=True).click()
    expect(p.locator("#next")).to_have_text("순전파 2")
    p.get_by_role("link", name="English").click()
    expect(p.get_by_role("button", name="Forward", exact=True)).to_be_visible()
    clean(problems)


def test_keyboard_shortcuts(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.goto(f"{server}/new?preset=seed-xor")
    expect(p.locator("#next")).to_have_text("forward 1")
    for key, after in (("f", "forward 2"), ("f", "backward 2"), ("b", "backward 1"),
                       ("b", "update"), ("u", "forward 1"), ("s", "forward 2")):
        p.keyboard.press(key)
        expect(p.locator("#next")).to_have_text(after)
    expect(p.locator("#epoch")).to_have_text("1")
    p.keyboard.press("e")
    expect(p.locator("#epoch")).to_have_text("2")
    p.keyboard.press("p")
    expect(p.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    p.keyboard.press("p")
    expect(p.get_by_role("button", name="Play", exact=True)).to_be_visible()
    p.keyboard.press("r")
    expect(p.locator("#epoch")).to_have_text("0")
    p.keyboard.press("?")
    expect(p.locator("#help")).to_have_attribute("open", "")
    p.keyboard.press("Escape")
    expect(p.locator("#help")).not_to_have_attribute("open", "")
    # Tab reaches the toolbar; Enter on a focused edge opens it in the inspector.
    p.goto(p.url)
    p.keyboard.press("Tab")
    expect(p.locator(".skip")).to_be_focused()
    for _ in range(5):  # brand, English, 한국어, Projector, then the toolbar
        p.keyboard.press("Tab")
    expect(p.get_by_role("button", name="Forward", exact=True)).to_be_focused()
    p.keyboard.press("Enter")
    expect(p.locator("#next")).to_have_text("forward 2")
    p.locator("#w-1-0-0").focus()
    p.keyboard.press("Enter")
    expect(p.locator("#inspector h3")).to_contain_text("Weight w1,1")
    expect(p.locator("#w-1-0-0")).to_be_focused()
    clean(problems)
