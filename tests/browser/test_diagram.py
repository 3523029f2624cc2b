"""The diagram in Chromium (#10): per-neuron heatmaps, no overlapping labels, minimum font
sizes, the projector fit, direction of flow, values during Play, editing the experiment and
adding a point from the page; no console errors or CSP violations throughout."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

# Every visible text box of the diagram panel: (left, top, right, bottom, font px, text).
TEXTS = """() => {
  const shown = (el) => {
    for (let e = el; e; e = e.parentElement) {
      if (getComputedStyle(e).display === 'none') return false;
      if (e.tagName === 'DETAILS' && !e.open && el.tagName !== 'SUMMARY'
          && !el.closest('summary')) return false;
    }
    return true;
  };
  const out = [];
  const ids = new Map();
  const panel = document.querySelector('#diagram');
  const walker = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const t = walker.currentNode;
    if (!t.textContent.trim()) continue;
    const el = t.parentElement.closest('text') || t.parentElement;
    if (!shown(el)) continue;  // tips, labels on demand, a closed legend
    const r = document.createRange(); r.selectNodeContents(t);
    const b = r.getBoundingClientRect();
    if (b.width === 0 || b.height === 0) continue;
    const cs = getComputedStyle(el);
    let fs = parseFloat(cs.fontSize);
    const svg = el.closest('svg');
    if (svg && el.getScreenCTM) fs *= el.getScreenCTM().a;  // the SVG's scale on screen
    if (!ids.has(el)) ids.set(el, ids.size);
    out.push([b.left, b.top, b.right, b.bottom, fs, t.textContent.trim(),
              !!el.closest('svg.net'), ids.get(el)]);
  }
  return out;
}"""


def overlaps(boxes: list[list[Any]]) -> list[tuple[str, str]]:
    svg = [b for b in boxes if b[6]]
    bad = []
    for i, a in enumerate(svg):
        for b in svg[i + 1:]:
            if a[7] == b[7]:  # the lines of one label (tspans of one <text>)
                continue
            w = min(a[2], b[2]) - max(a[0], b[0])
            h = min(a[3], b[3]) - max(a[1], b[1])
            if w > 0.5 and h > 0.5:
                bad.append((a[5], b[5]))
    return bad


def session(page: Page, server: str, config: dict[str, Any], steps: int = 0,
            projector: bool = False) -> str:
    r = page.request.post(f"{server}/api/v1/sessions", data=config)
    assert r.status == 201
    sid = r.json()["id"]
    for _ in range(steps):
        assert page.request.post(f"{server}/api/v1/sessions/{sid}/step").ok
    page.goto(f"{server}/s/{sid}?projector={'1' if projector else '0'}")
    return sid


CASES = {
    "seed-xor": {"preset": "seed-xor"},
    "worked-example": {"preset": "worked-example"},
    "2-8-8-1": {"preset": "spiral"},
}


@pytest.mark.parametrize("projector", [False, True], ids=["1280px", "projector"])
def test_labels_never_overlap_fonts_are_large_and_projector_fits(
        server: str, web: tuple[Page, Any], projector: bool) -> None:
    p, problems = web
    least = 18 if projector else 12
    for name, cfg in CASES.items():
        # After Forward and Backward through every layer: every label has its ∂ line.
        L = 3 if name == "2-8-8-1" else 2
        session(p, server, cfg, steps=2 * L, projector=projector)
        boxes = p.evaluate(TEXTS)
        assert len([b for b in boxes if b[6]]) > 10, name
        assert overlaps(boxes) == [], name
        small = [(b[5], round(b[4], 1)) for b in boxes if b[4] < least - 0.01]
        assert small == [], (name, small)
        if projector:
            for region in ("#diagram", "#inspector"):
                r = p.locator(region).bounding_box()
                assert r is not None
                assert r["x"] >= 0 and r["y"] >= 0, (name, region, r)
                assert r["x"] + r["width"] <= 1280 and r["y"] + r["height"] <= 720, (
                    name, region, r)
            d, i = p.locator("#diagram").bounding_box(), p.locator("#inspector").bounding_box()
            assert d and i and d["x"] + d["width"] <= i["x"]  # side by side
    if projector:  # a weight's whole derivation open: the inspector still fits (it scrolls)
        session(p, server, CASES["seed-xor"], steps=4, projector=True)
        p.goto(p.url + "&sel=w-2-1-0")
        expect(p.locator("#inspector figure.formula").first).to_be_visible()
        r = p.locator("#inspector").bounding_box()
        assert r is not None and r["y"] + r["height"] <= 720, r
    assert problems.console == [] and problems.csp == []


def test_heatmaps_flow_play_and_editing(server: str, web: tuple[Page, Any]) -> None:
    p, problems = web
    p.goto(f"{server}/new?preset=circle")
    # A heatmap per neuron (2 inputs, 4 hidden, 1 output), decoded by the browser.
    images = p.locator("svg.net image.nheat, svg.net image.dotheat")
    expect(images).to_have_count(7)
    p.locator("#n-1-2").click()
    expect(p.locator("#inspector-heat img")).to_be_visible()
    assert p.evaluate("document.querySelector('#inspector-heat img').naturalWidth") == 32
    # The selected neuron's edges are highlighted, the others fade.
    expect(p.locator("svg.net a.edge.hl")).to_have_count(2 + 1)
    # Forward marks layer 1 and its incoming edges, with arrows and a sentence.
    p.get_by_role("button", name="Forward", exact=True).click()
    expect(p.locator("#flow-note")).to_contain_text("forward: z and a of layer 1")
    expect(p.locator("svg.net a.edge.flow.forward")).to_have_count(8)
    assert p.locator("svg.net a.edge.flow.forward line.flowline").first.get_attribute(
        "marker-end") == "url(#arrow-forward)"
    expect(p.locator("#n-1-0.flow.forward")).to_have_count(1)
    p.get_by_role("button", name="Forward", exact=True).click()
    p.get_by_role("button", name="Backward", exact=True).click()
    expect(p.locator("#flow-note")).to_contain_text("backward: δ of layer 2")
    expect(p.locator("svg.net a.edge.flow.backward")).to_have_count(4)
    # Play: values stay visible while ticking.
    p.get_by_role("button", name="Play", exact=True).click()
    expect(p.locator("#curve-epoch")).not_to_have_text("0", timeout=10_000)
    for _ in range(3):
        assert p.locator('#n-1-0 [data-k="a"]').text_content() not in ("—", None)
        p.wait_for_timeout(300)
    p.get_by_role("button", name="Pause", exact=True).click()
    expect(p.locator("#player .playing-note")).to_have_count(0)
    # Edit the network from the page: one more neuron in hidden layer 1.
    p.locator("#exp-inc-0").click()
    expect(p.locator("h1 .sub")).to_contain_text("2–5–1")
    expect(p.locator("svg.net image.nheat, svg.net image.dotheat")).to_have_count(8)
    # Add a point by clicking the data plot.
    before = p.locator(".data .meta").first.inner_text()
    assert "100 training samples" in before
    p.locator("#data-plot").click(position={"x": 150, "y": 150})
    expect(p.locator(".data .meta").first).to_contain_text("101 training samples")
    assert problems.console == [] and problems.csp == []
