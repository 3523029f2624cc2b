"""The lecture layout in Chromium (#19): on a 1280 × 720 projector the lesson's networks show
every z, a, δ, w, ∂L/∂w and b of the API's state as visible text of ≥ 18 px inside the
viewport (compared by value with the JSON API, not with the page's own numbers), with no two
labels overlapping and no sideways scroll, after each of F1, F2, B2, B1."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

# Every value text of the lecture diagram: ref, text, box and on-screen font size, and whether
# it is shown (no display: none up the tree) and the topmost element at its centre.
VALUES = """() => [...document.querySelectorAll('svg.net.lecture text')].map(t => {
  const b = t.getBoundingClientRect();
  let shown = true;
  for (let e = t; e; e = e.parentElement) if (getComputedStyle(e).display === 'none') shown = false;
  const fs = parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a;
  const top = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2);
  return {ref: t.dataset.ref || null, text: t.textContent.trim(), l: b.left, t: b.top,
          r: b.right, b: b.bottom, fs: fs, shown: shown,
          onTop: !!top && (top === t || t.contains(top) || top.closest('a') === t.closest('a'))};
})"""


def parse(text: str) -> float:
    return float(text.replace("\u2212", "-").replace("+", ""))


def agrees(text: str, v: float) -> bool:
    """The text is v at its own number of significant digits (at least 3)."""
    shown = parse(text)
    mant = text.replace("\u2212", "").replace("+", "").split("e")[0]
    digits = len(mant.replace(".", "").lstrip("0")) or 1
    assert digits >= 3 or v == 0, text
    if v == 0:
        return shown == 0
    ulp = 10 ** (math.floor(math.log10(abs(v))) - digits + 1)
    return abs(shown - v) <= 0.51 * ulp


def expected(state: dict[str, Any], row: int) -> dict[str, float]:
    """What the page must show, from the API's state: the focus sample's x, z, a, δ, every
    weight and bias, and every computed ∂L/∂w and ∂L/∂b."""
    out = {f"x-0-{j}": v for j, v in enumerate(state["batch"]["X"][row])}
    for l, lay in enumerate(state["layers"], start=1):
        for key, ref in (("z", "z"), ("a", "a"), ("delta", "d")):
            if lay[key] is not None:
                out.update({f"{ref}-{l}-{j}": v for j, v in enumerate(lay[key][row])})
        for i, wrow in enumerate(lay["W"]):
            out.update({f"w-{l}-{i}-{j}": v for j, v in enumerate(wrow)})
        if lay["grad_W"] is not None:
            for i, grow in enumerate(lay["grad_W"]):
                out.update({f"g-{l}-{i}-{j}": v for j, v in enumerate(grow)})
        if lay["b"] is not None:
            out.update({f"b-{l}-{j}": v for j, v in enumerate(lay["b"])})
        if lay["grad_b"] is not None:
            out.update({f"gb-{l}-{j}": v for j, v in enumerate(lay["grad_b"])})
    return out


def check_page(p: Page, state: dict[str, Any], row: int, what: str) -> None:
    texts = p.evaluate(VALUES)
    by_ref = {t["ref"]: t for t in texts if t["ref"]}
    want = expected(state, row)
    assert len(want) > 10, what
    for ref, v in want.items():
        t = by_ref.get(ref)
        assert t is not None, (what, ref)
        assert agrees(t["text"], v), (what, ref, t["text"], v)
        assert t["shown"] and t["onTop"], (what, ref, t)
        assert t["fs"] >= 18 - 0.01, (what, ref, t["fs"])
        assert t["l"] >= 0 and t["r"] <= 1280 and t["t"] >= 0 and t["b"] <= 720, (what, ref, t)
    # Nothing computed yet shows as "—", never as a number of the previous step.
    for key, ref in (("z", "z"), ("a", "a"), ("delta", "d")):
        for l, lay in enumerate(state["layers"], start=1):
            if lay[key] is None:
                assert all(by_ref[f"{ref}-{l}-{j}"]["text"] == "—"
                           for j in range(len(lay["W"][0]))), (what, ref, l)
    # No two texts overlap (a key and its value, a title and a card, two rows).
    boxes = [t for t in texts if t["shown"] and t["r"] > t["l"]]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            w = min(a["r"], b["r"]) - max(a["l"], b["l"])
            h = min(a["b"], b["b"]) - max(a["t"], b["t"])
            assert not (w > 0.5 and h > 0.5), (what, a["text"], b["text"])
    assert p.evaluate("document.documentElement.scrollWidth") <= 1280, what


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("preset", ["seed-xor", "worked-example"])
def test_every_number_of_the_lesson_is_on_the_projector(
        server: str, web: tuple[Page, Any], preset: str, lang: str) -> None:
    p, problems = web
    r = p.request.post(f"{server}/api/v1/sessions", data={"preset": preset})
    assert r.status == 201
    sid = r.json()["id"]
    api = f"{server}/api/v1/sessions/{sid}"
    p.goto(f"{server}/s/{sid}?projector=1&lang={lang}")
    assert p.locator("svg.net.lecture").count() == 1
    for step in ("start", "F1", "F2", "B2", "B1"):
        if step != "start":
            assert p.request.post(f"{api}/step").ok
            p.reload()
        state = p.request.get(api).json()
        row = 2 if preset == "seed-xor" else 0  # the default focus sample (config.py)
        assert state["batch"]["positions"][row] == row
        check_page(p, state, row, f"{preset} {step}")
    # The toolbar is on screen beside it.
    box = p.locator("#op-update").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 720
    assert problems.console == [] and problems.csp == []


def test_at_1920_the_diagram_grows(server: str, chromium_browser: Any) -> None:
    ctx = chromium_browser.new_context(viewport={"width": 1920, "height": 1080})
    p = ctx.new_page()
    sid = p.request.post(f"{server}/api/v1/sessions", data={"preset": "seed-xor"}).json()["id"]
    p.goto(f"{server}/s/{sid}?projector=1")
    fs = p.evaluate("(() => { const t = document.querySelector('svg.net.lecture text.nval');"
                    " return parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a; })()")
    assert fs >= 24, fs
    ctx.close()


@pytest.mark.parametrize("preset", ["deep-sigmoid", "deep-relu", "spiral"])
def test_bigger_networks_fit_the_projector(server: str, web: tuple[Page, Any],
                                           preset: str) -> None:
    """No lecture layout (too many numbers): the compact diagram, wholly inside its panel,
    beside the inspector, and nothing scrolls sideways."""
    p, problems = web
    sid = p.request.post(f"{server}/api/v1/sessions", data={"preset": preset}).json()["id"]
    p.goto(f"{server}/s/{sid}?projector=1")
    assert p.locator("svg.net.lecture").count() == 0
    svg = p.locator("svg.net").bounding_box()
    panel = p.locator("#diagram").bounding_box()
    insp = p.locator("#inspector").bounding_box()
    assert svg and panel and insp
    assert panel["x"] <= svg["x"] and svg["x"] + svg["width"] <= panel["x"] + panel["width"]
    assert svg["y"] + svg["height"] <= 720 and panel["x"] + panel["width"] <= insp["x"]
    # Every column title is drawn whole, inside the diagram.
    for t in p.locator("svg.net text.coltitle").all():
        b = t.bounding_box()
        assert b and svg["x"] <= b["x"] and b["x"] + b["width"] <= svg["x"] + svg["width"], (
            t.text_content())
    assert p.evaluate("document.documentElement.scrollWidth") <= 1280
    p.goto(f"{server}/s/{sid}?projector=0")
    assert p.evaluate("document.documentElement.scrollWidth") <= 1280
    assert problems.console == [] and problems.csp == []


def test_the_watch_page_fits_a_phone(server: str, chromium_browser: Any) -> None:
    ctx = chromium_browser.new_context(viewport={"width": 390, "height": 844})
    p = ctx.new_page()
    for preset in ("seed-xor", "spiral"):
        sid = p.request.post(f"{server}/api/v1/sessions", data={"preset": preset}).json()["id"]
        wid = p.request.post(f"{server}/api/v1/sessions/{sid}/watch").json()["watch_id"]
        for _ in range(4):
            p.request.post(f"{server}/api/v1/sessions/{sid}/step")
        p.goto(f"{server}/w/{wid}?projector=0")
        assert p.evaluate("document.documentElement.scrollWidth") <= 390, preset
        # (the live stream may swap the diagram in meanwhile: read the box in one go)
        p.wait_for_selector("svg.net")
        box = p.evaluate("(() => { const r = document.querySelector('svg.net')"
                         ".getBoundingClientRect(); return [r.left, r.right]; })()")
        assert box[0] >= 0 and box[1] <= 390, (preset, box)
    ctx.close()


def test_play_keeps_the_lecture_layout_still(server: str, web: tuple[Page, Any]) -> None:
    """While Play runs the lecture diagram is redrawn with new numbers in the same places."""
    p, problems = web
    sid = p.request.post(f"{server}/api/v1/sessions", data={"preset": "seed-xor"}).json()["id"]
    p.goto(f"{server}/s/{sid}?projector=1")
    # Each value's anchor on screen (its <text> x, y mapped through the SVG's scale) and text.
    where = ("[...document.querySelectorAll('svg.net.lecture [data-ref]')].map(t => {"
             " const m = t.getScreenCTM(); const x = +t.getAttribute('x'),"
             " y = +t.getAttribute('y'); return [t.dataset.ref, Math.round(m.a * x + m.e),"
             " Math.round(m.d * y + m.f), t.textContent]; })")
    before = p.evaluate(where)
    # Read in one script run: an htmx swap replaces #diagram within one task, so the element
    # is always there (a locator's bounding_box can catch it between removal and insertion).
    rect = ("(() => { const r = document.querySelector('#diagram').getBoundingClientRect();"
            " return [r.x, r.y, r.width, r.height]; })()")
    top = p.evaluate(rect)
    p.get_by_role("button", name="Play", exact=True).click()
    p.locator("#curve-epoch").wait_for()
    expect(p.locator("#curve-epoch")).not_to_have_text("0", timeout=10_000)
    during = p.evaluate(where)
    assert [b[:3] for b in before] == [d[:3] for d in during]
    assert [b[3] for b in before] != [d[3] for d in during]  # new numbers, same places
    assert p.evaluate(rect) == top
    p.get_by_role("button", name="Pause", exact=True).click()
    assert problems.console == [] and problems.csp == []


FITS = """() => [...document.querySelectorAll('#inspector .eq')]
    .filter(eq => eq.offsetParent !== null).map(eq => {
  const box = document.querySelector('#inspector').getBoundingClientRect();
  const m = eq.querySelector('math').getBoundingClientRect();
  return [eq.textContent.slice(0, 40), eq.scrollWidth <= eq.clientWidth + 1,
          m.left >= box.left - 0.5 && m.right <= box.right + 0.5];
})"""


@pytest.mark.parametrize("viewport", [(1280, 720, "1"), (390, 844, "0")],
                         ids=["projector", "phone"])
def test_the_inspector_never_clips(server: str, chromium_browser: Any,
                                   viewport: tuple[int, int, str]) -> None:
    w, h, proj = viewport
    ctx = chromium_browser.new_context(viewport={"width": w, "height": h})
    p = ctx.new_page()
    for preset in ("seed-xor", "worked-example"):
        sid = p.request.post(f"{server}/api/v1/sessions",
                             data={"preset": preset}).json()["id"]
        for _ in range(4):  # F1, F2, B2, B1
            p.request.post(f"{server}/api/v1/sessions/{sid}/step")
        for sel in ("w-1-0-0", "w-1-1-0", "n-2-0", "w-2-0-0", "loss"):
            p.goto(f"{server}/s/{sid}?projector={proj}&sel={sel}")
            lines = []
            for _part in parts(p):  # a paged derivation (projector): every part
                lines += p.evaluate(FITS)
            assert len(lines) >= 3, (preset, sel)
            bad = [line for line in lines if not (line[1] and line[2])]
            assert bad == [], (preset, sel, w, bad)
    ctx.close()


def parts(p: Page) -> Iterator[int]:
    """The inspector's parts in turn (one when it is not paged): ▶ until it is disabled."""
    k = 0
    yield k
    nxt = p.locator("#inspector .inspector-pager button").last
    while p.locator("#inspector .inspector-pager").count() and nxt.is_enabled():
        nxt.click()
        k += 1
        yield k


INSPECTOR = """() => { const i = document.querySelector('#inspector');
  const r = i.getBoundingClientRect();
  const figs = [...i.querySelectorAll('figure.formula')];
  return {scroll: i.scrollHeight, client: i.clientHeight, bottom: r.bottom,
          shown: figs.map((f, k) => f.offsetParent !== null ? k : -1).filter(k => k >= 0),
          n: figs.length,
          small: Math.min(...[...i.querySelectorAll('figure.formula math')]
            .filter(m => m.offsetParent !== null)
            .map(m => parseFloat(getComputedStyle(m).fontSize)
                      * (parseFloat(getComputedStyle(m.closest('figure')).zoom) || 1)))}; }"""


@pytest.mark.parametrize("preset", ["worked-example", "spiral"])
def test_a_long_derivation_fits_the_projector_without_scrolling(
        server: str, web: tuple[Page, Any], preset: str) -> None:
    """A layer-1 weight after B1 at 1280 × 720 projector: the derivation is shown in parts
    (◀ part i of n ▶), each wholly inside the inspector, which does not scroll and ends
    inside the screen; every figure is in exactly one part; formulas stay ≥ 12 px."""
    p, problems = web
    sid = p.request.post(f"{server}/api/v1/sessions", data={"preset": preset}).json()["id"]
    L = len(p.request.get(f"{server}/api/v1/sessions/{sid}").json()["layers"])
    for _ in range(2 * L):  # forward through, backward to layer 1
        p.request.post(f"{server}/api/v1/sessions/{sid}/step")
    p.goto(f"{server}/s/{sid}?projector=1&sel=w-1-0-0")
    seen: list[int] = []
    n = 0
    for k in parts(p):
        got = p.evaluate(INSPECTOR)
        n = got["n"]
        assert got["scroll"] <= got["client"] + 1, (preset, k, got)
        assert got["bottom"] <= 720, (preset, k, got)
        assert got["shown"], (preset, k)
        assert got["small"] >= 12, (preset, k, got)
        seen += got["shown"]
        assert p.evaluate(FITS) and all(line[1] and line[2] for line in p.evaluate(FITS))
    assert n >= 5 and sorted(seen) == list(range(n)), (preset, seen, n)
    # ◀ goes back to the first part.
    prev = p.locator("#inspector .inspector-pager button").first
    while prev.is_enabled():
        prev.click()
    assert p.evaluate(INSPECTOR)["shown"][0] == 0
    assert problems.console == [] and problems.csp == []


def test_the_chain_rule_is_one_product_of_the_right_factors(server: str,
                                                           web: tuple[Page, Any]) -> None:
    """Mazur's w5 and w1: the factors he prints, their product his ∂E_total/∂w."""
    p, _problems = web
    sid = p.request.post(f"{server}/api/v1/sessions",
                         data={"preset": "worked-example"}).json()["id"]
    for _ in range(4):
        p.request.post(f"{server}/api/v1/sessions/{sid}/step")
    p.goto(f"{server}/s/{sid}?sel=w-2-0-0")
    text = p.locator("#inspector").inner_text()
    assert "Mazur's w5" in text
    # ∂E/∂out_o1 = 0.74136507, ∂out_o1/∂net_o1 = 0.186815602, ∂net_o1/∂w5 = 0.593269992,
    # product 0.082167041 (Mazur's published numbers, to the inspector's 6 digits).
    for v in ("0.741365", "0.186816", "0.59327", "0.082167"):
        assert v in text, v
    p.goto(f"{server}/s/{sid}?sel=w-1-0-0")
    text = p.locator("#inspector").inner_text()
    assert "Mazur's w1" in text
    # ∂E_total/∂out_h1 = 0.036350306, ∂out_h1/∂net_h1 = 0.241300709, ∂net_h1/∂w1 = 0.05,
    # ∂E_total/∂w1 = 0.000438568.
    for v in ("0.0363503", "0.241301", "0.05", "0.000438568"):
        assert v in text, v


def test_input_features_are_named_on_tiles_and_in_the_table(server: str,
                                                             web: tuple[Page, Any]) -> None:
    p, problems = web
    feats = ["x1", "x2", "x1_sq", "x2_sq", "x1_x2", "sin_x1", "sin_x2"]
    names = ["x₁", "x₂", "x₁²", "x₂²", "x₁x₂", "sin x₁", "sin x₂"]
    sid = p.request.post(f"{server}/api/v1/sessions", data={
        "preset": "circle", "features": feats, "layers": [7, 4, 1], "batch_size": 4}).json()["id"]
    for proj in ("1", "0"):
        p.goto(f"{server}/s/{sid}?projector={proj}")
        tiles = p.locator("svg.net text.inlabel")
        if tiles.count():  # input tiles: the name left of each
            assert tiles.all_text_contents() == names
            svg = p.locator("svg.net").bounding_box()
            first = tiles.first.bounding_box()
            assert svg and first and first["x"] >= svg["x"]
        else:  # input cards: the name above each
            assert [t for t in p.locator("svg.net text.ntitle").all_text_contents()
                    if t in names] == names
        heads = p.locator("table.samples thead th").all_inner_texts()
        assert heads[2:9] == names, heads
        assert p.evaluate("document.documentElement.scrollWidth") <= 1280
    assert problems.console == [] and problems.csp == []


def test_update_shows_old_and_new_on_every_weight(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    sid = p.request.post(f"{server}/api/v1/sessions", data={"preset": "seed-xor"}).json()["id"]
    api = f"{server}/api/v1/sessions/{sid}"
    for _ in range(4):  # F1, F2, B2, B1
        p.request.post(f"{api}/step")
    before = p.request.get(api).json()
    p.goto(f"{server}/s/{sid}?projector=1")
    p.get_by_role("button", name="Update", exact=True).click()
    p.locator("#flow-note.update").wait_for()
    assert "η = 0.1" in p.locator("#flow-note").inner_text()
    after = p.request.get(api).json()
    texts = {t["ref"]: t for t in p.evaluate(VALUES) if t["ref"]}
    for l, (old_l, new_l) in enumerate(zip(before["layers"], after["layers"], strict=True), 1):
        for i, (old_row, new_row) in enumerate(zip(old_l["W"], new_l["W"], strict=True)):
            for j, (w_old, w_new) in enumerate(zip(old_row, new_row, strict=True)):
                assert w_new == w_old - 0.1 * old_l["grad_W"][i][j]  # the API's own update
                new, old = texts[f"w-{l}-{i}-{j}"], texts[f"old-w-{l}-{i}-{j}"]
                assert agrees(new["text"], w_new) and agrees(old["text"], w_old), (l, i, j)
                assert new["fs"] >= 18 - 0.01 and old["b"] <= 720 and old["shown"]
    assert problems.console == [] and problems.csp == []


def test_escape_from_the_help_gives_focus_back_and_shortcuts_work(
        server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.goto(f"{server}/new?preset=seed-xor")
    p.locator("#next").wait_for()
    p.keyboard.press("?")
    assert p.locator("#help").get_attribute("open") is not None
    p.keyboard.press("Escape")
    assert p.locator("#help").get_attribute("open") is None
    assert p.evaluate("document.activeElement === document.body")
    p.keyboard.press("f")  # a single-key shortcut works at once
    expect(p.locator("#next")).to_have_text("forward 2")
    # From a focused step button: back to it.
    p.locator("#op-step").focus()
    p.keyboard.press("?")
    assert p.locator("#help").get_attribute("open") is not None
    assert p.evaluate("document.activeElement.tagName") == "SUMMARY"
    p.keyboard.press("Escape")
    assert p.evaluate("document.activeElement.id") == "op-step"
    assert problems.console == [] and problems.csp == []


def test_the_add_point_class_stays_as_chosen(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.goto(f"{server}/new?preset=circle")
    p.locator("#add-y0").check()
    before = p.locator(".data .meta").first.inner_text()
    p.locator("#data-plot").click(position={"x": 150, "y": 150})
    expect(p.locator(".data .meta").first).not_to_have_text(before)
    expect(p.locator("#add-y0")).to_be_checked()
    expect(p.locator("#add-y1")).not_to_be_checked()
    assert problems.console == [] and problems.csp == []


CHART_TEXT = """() => [...document.querySelectorAll('#loss svg text, #data svg text')]
  .filter(t => t.getBoundingClientRect().width > 0)
  .map(t => [t.textContent.trim(),
             parseFloat(getComputedStyle(t).fontSize)
             * Math.hypot(t.getScreenCTM().a, t.getScreenCTM().b)])"""


def test_chart_text_is_projector_sized(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    sid = p.request.post(f"{server}/api/v1/sessions", data={"preset": "circle"}).json()["id"]
    assert p.request.post(f"{server}/api/v1/sessions/{sid}/train", data={"epochs": 20}).ok
    p.goto(f"{server}/s/{sid}?projector=1")
    texts = p.evaluate(CHART_TEXT)
    assert len(texts) > 10
    small = [(t, round(fs, 1)) for t, fs in texts if fs < 18 - 0.01]
    assert small == [], small
    assert problems.console == [] and problems.csp == []


def test_predict_mode_hides_the_next_values_and_says_how_far(
        server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    sid = p.request.post(f"{server}/api/v1/sessions", data={"preset": "seed-xor"}).json()["id"]
    p.goto(f"{server}/s/{sid}?projector=1")
    p.locator("#predict-on").check()
    # Next: forward 1, which computes z and a of layer 1: "?" on the diagram.
    for j in range(4):
        assert p.locator(f'svg.net [data-ref="z-1-{j}"]').text_content() == "?"
        assert p.locator(f'svg.net [data-ref="a-1-{j}"]').text_content() == "?"
    assert p.locator('svg.net [data-ref="w-1-0-0"]').text_content() != "?"
    p.locator("#predict-ref").select_option("z-1-0")
    p.locator("#predict-value").fill("0.5")
    p.locator("#predict-value").dispatch_event("change")
    p.get_by_role("button", name="Forward", exact=True).click()
    result = p.locator("#predict-result")
    result.filter(has_text="off by").wait_for()
    z = p.request.get(f"{server}/api/v1/sessions/{sid}").json()["layers"][0]["z"][2][0]
    text = result.inner_text()
    assert "0.5" in text and f"{abs(z - 0.5):.3g}" in text, (text, z)
    # Now layer 2 is next: its z and a hide, layer 1's are shown.
    assert p.locator('svg.net [data-ref="z-2-0"]').text_content() == "?"
    assert agrees(p.locator('svg.net [data-ref="z-1-0"]').text_content() or "", z)
    # The inspector's update result is what Update computes: hidden in predict mode.
    for _ in range(3):
        p.request.post(f"{server}/api/v1/sessions/{sid}/step")
    p.goto(f"{server}/s/{sid}?projector=1&sel=w-1-0-0")
    spoiler = p.locator("#inspector .formula.spoiler")
    for _part in parts(p):  # projector: the update is in a later part of the derivation
        if spoiler.is_visible():
            break
    assert spoiler.locator(".predict-q").is_visible()
    assert not spoiler.locator(".math").is_visible() or spoiler.locator(".math").evaluate(
        "e => getComputedStyle(e).visibility") == "hidden"
    p.locator("#predict-on").uncheck()
    assert spoiler.locator(".math").evaluate("e => getComputedStyle(e).visibility") == "visible"
    assert problems.console == [] and problems.csp == []
