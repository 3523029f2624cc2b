"""Bigger nets in projector mode (#19): the layer the last step computed shows its numbers as
text. After F1 and after the backward of the output layer, for `spiral` (2-8-8-1) and
`deep-sigmoid` (2-6-6-6-6-6-1) on a 1280 × 720 projector, every value of that layer in the API's
state — z and a (forward) or δ (backward) of the focus sample on the diagram, and each weight w
into it (with ∂L/∂w, Σ over the batch, after backward) and bias in the inspector's table — is
visible text of ≥ 18 px inside the viewport, compared by value with the JSON API (formatted
here, independently), with no two texts overlapping and no sideways scroll."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

# Every text of the diagram and the inspector's layer table: ref, text, box, on-screen font
# size, shown (no display: none / visibility: hidden up the tree), topmost at its centre.
TEXTS = """() => [...document.querySelectorAll(
    '#diagram svg.net text, #layer-table span[data-ref], #layer-table th')].map(t => {
  const b = t.getBoundingClientRect();
  let shown = getComputedStyle(t).visibility !== 'hidden';
  for (let e = t; e; e = e.parentElement) if (getComputedStyle(e).display === 'none') shown = false;
  const m = t.getScreenCTM ? t.getScreenCTM() : null;
  const fs = parseFloat(getComputedStyle(t).fontSize) * (m ? Math.hypot(m.a, m.b) : 1);
  const top = document.elementFromPoint((b.left + b.right) / 2, (b.top + b.bottom) / 2);
  return {ref: t.dataset.ref || null, text: t.textContent.trim(), l: b.left, t: b.top,
          r: b.right, b: b.bottom, fs: fs, shown: shown,
          onTop: !!top && (top === t || t.contains(top))};
})"""


def agrees(text: str, v: float) -> bool:
    """``text`` is v rounded to its own number of significant digits (at least 3), written with
    a sign glyph (+ or the real minus)."""
    assert text[0] in "+\u2212" or v == 0, text
    mant = text.replace("\u2212", "").replace("+", "").split("e")[0]
    digits = len(mant.replace(".", "").lstrip("0")) or 1
    assert digits >= 3 or v == 0, text
    shown = float(text.replace("\u2212", "-").replace("+", ""))
    if v == 0:
        return shown == 0
    ulp = 10 ** (math.floor(math.log10(abs(v))) - digits + 1)
    return abs(shown - v) <= 0.51 * ulp


def wanted(state: dict[str, Any], l: int, row: int, forward: bool) -> dict[str, float]:
    """Layer l's values in the API's state: z, a (forward) or δ (backward) of the focus sample
    and every weight (and ∂L/∂w after backward) into it, and its biases."""
    lay = state["layers"][l - 1]
    out: dict[str, float] = {}
    for key, ref in ((("z", "z"), ("a", "a")) if forward else (("delta", "d"),)):
        out.update({f"{ref}-{l}-{j}": v for j, v in enumerate(lay[key][row])})
    for i, wrow in enumerate(lay["W"]):
        out.update({f"w-{l}-{i}-{j}": v for j, v in enumerate(wrow)})
        if not forward:
            out.update({f"g-{l}-{i}-{j}": v for j, v in enumerate(lay["grad_W"][i])})
    out.update({f"b-{l}-{j}": v for j, v in enumerate(lay["b"])})
    if not forward:
        out.update({f"gb-{l}-{j}": v for j, v in enumerate(lay["grad_b"])})
    return out


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("preset", ["spiral", "deep-sigmoid"])
def test_the_active_layer_shows_its_numbers(server: str, web: tuple[Page, Any],
                                            preset: str, lang: str) -> None:
    p, problems = web
    sid = p.request.post(f"{server}/api/v1/sessions", data={"preset": preset}).json()["id"]
    api = f"{server}/api/v1/sessions/{sid}"
    L = len(p.request.get(api).json()["layers"])
    done = 0
    for target, l, forward in ((1, 1, True), (L + 1, L, False)):  # after F1, after B_L
        while done < target:
            assert p.request.post(f"{api}/step").ok
            done += 1
        state = p.request.get(api).json()
        p.goto(f"{server}/s/{sid}?projector=1&lang={lang}")
        assert p.locator("svg.net.lecture").count() == 0  # the compact diagram
        texts = p.evaluate(TEXTS)
        by_ref = {t["ref"]: t for t in texts if t["ref"]}
        # The focus sample: the page numbers samples from 1 ("sample #83"), the API from 0.
        note = p.locator("#sample-note").inner_text()
        m = re.search(r"#(\d+)", note)
        assert m is not None, note
        rows = [state["batch"]["indices"].index(int(m.group(1)) - 1)]
        want = wanted(state, l, rows[0], forward)
        what = f"{preset} after {'F' if forward else 'B'}{l}"
        for ref, v in want.items():
            t = by_ref.get(ref)
            assert t is not None, (what, ref)
            assert agrees(t["text"], v), (what, ref, t["text"], v)
            assert t["shown"] and t["onTop"], (what, ref, t)
            assert t["fs"] >= 18 - 0.01, (what, ref, t["fs"])
            assert t["l"] >= 0 and t["r"] <= 1280 and t["t"] >= 0 and t["b"] <= 720, (
                what, ref, t)
        # No two visible texts overlap (a value box over an edge label, two rows).
        boxes = [t for t in texts if t["shown"] and t["r"] > t["l"] and t["b"] > t["t"]]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                w = min(a["r"], b["r"]) - max(a["l"], b["l"])
                h = min(a["b"], b["b"]) - max(a["t"], b["t"])
                assert not (w > 0.5 and h > 0.5), (what, a["text"], b["text"])
        assert p.evaluate("document.documentElement.scrollWidth") <= 1280, what
    assert problems.console == [] and problems.csp == []
