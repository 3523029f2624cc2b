"""Korean pages in Chromium: no line breaks inside a formula or a preset name ("∂L/" | "∂w",
"deep-" | "relu와") at phone and desktop widths, percentages glued to their number, and the undo
bar's names as a screen reader hears them (되돌리기, 다시 실행, 순전파 1 직후 상태로 이동)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

# Every in-word "/", "-" or "–" in rendered text that wraps, and whether the line breaks there
# (the characters around it on two lines). The word joiners of app/web/infra/typeset.py forbid it.
BROKEN = r"""() => {
  const out = [];
  const skip = "code, kbd, math, svg, script, style, .nowrap, [translate=no], [hidden]";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || el.getClientRects().length === 0) continue;
    const re = /\S[\/\-–]\u2060?\S/g;
    for (let m = re.exec(n.data); m; m = re.exec(n.data)) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      const tops = new Set([...r.getClientRects()].filter(x => x.width > 0)
                             .map(x => Math.round(x.top)));
      if (tops.size > 1) out.push(n.data.slice(Math.max(0, m.index - 12), m.index + 12));
    }
  }
  return out;
}"""

# The same check on a box too narrow for its one word: without a joiner the line breaks after
# the hyphen and the slash (so the check can fail), with it the word stays whole.
PROBE = r"""(text) => {
  const p = document.createElement("p");
  p.lang = "ko";
  p.style.width = "3em";
  p.style.overflowWrap = "normal";  // no emergency breaks: only the break opportunities count
  p.textContent = text;
  document.body.appendChild(p);
  return p;
}"""


@pytest.mark.parametrize("width", [360, 1280])
def test_korean_lines_never_break_inside_a_formula_or_a_name(server: str, chromium_browser: Any,
                                                             width: int) -> None:
    ctx = chromium_browser.new_context(viewport={"width": width, "height": 800},
                                       locale="ko-KR")
    p: Page = ctx.new_page()
    try:
        p.goto(f"{server}/?lang=ko")
        expect(p.locator("html")).to_have_attribute("lang", "ko")
        assert p.evaluate(BROKEN) == []
        p.goto(f"{server}/new?preset=deep-sigmoid&lang=ko")
        p.get_by_role("button", name="다음 단계", exact=True).click()
        expect(p.locator("#next")).to_have_text("순전파 2")
        p.goto(p.url + ("&" if "?" in p.url else "?") + "sel=w-1-0-0")
        expect(p.locator("#inspector math").first).to_be_visible()
        assert p.evaluate(BROKEN) == []
        p.goto(f"{server}/new?preset=circle&lang=ko")
        p.get_by_role("button", name="에포크 실행", exact=True).click()
        expect(p.locator("#epoch")).to_have_text("1")
        accuracy = p.locator("#split-metrics").inner_text()
        assert " %" not in accuracy and "\u00a0%" in accuracy, accuracy
        assert p.evaluate(BROKEN) == []
    finally:
        ctx.close()


def test_the_break_check_can_fail(server: str, chromium_browser: Any) -> None:
    ctx = chromium_browser.new_context(viewport={"width": 800, "height": 600})
    p: Page = ctx.new_page()
    try:
        p.goto(f"{server}/?lang=ko")
        p.evaluate(PROBE, "deep-relu와 ∂L/∂w합")
        assert len(p.evaluate(BROKEN)) == 2  # both break in a 3em box
        p.evaluate("() => document.body.lastElementChild.remove()")
        p.evaluate(PROBE, "deep-\u2060relu와 ∂L/\u2060∂w합")
        assert p.evaluate(BROKEN) == []
    finally:
        ctx.close()


def test_the_undo_bar_speaks_korean(server: str, chromium_browser: Any) -> None:
    ctx = chromium_browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
    p: Page = ctx.new_page()
    try:
        p.goto(f"{server}/new?preset=seed-xor&lang=ko")
        step = p.get_by_role("button", name="다음 단계", exact=True)
        step.click()
        expect(p.locator("#next")).to_have_text("순전파 2")
        step.click()
        expect(p.locator("#next")).to_have_text("역전파 2")
        p.get_by_role("button", name="되돌리기", exact=True).click()
        expect(p.locator("#next")).to_have_text("순전파 2")
        expect(p.get_by_role("button", name="다시 실행", exact=True)).to_be_enabled()
        expect(p.locator("#undo .now")).to_have_text("순전파 1")
        p.get_by_role("button", name="순전파 2 직후 상태로 이동").click()
        expect(p.locator("#next")).to_have_text("역전파 2")
        assert "F1" not in p.locator("#undo").inner_text()
    finally:
        ctx.close()
