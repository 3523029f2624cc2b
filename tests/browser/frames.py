"""Play's frames as the page receives them over its stream, counted in the page."""

from __future__ import annotations

from playwright.sync_api import Page

# Counts the frames every EventSource of the page receives (before any page script runs).
COUNT_FRAMES = """(() => {
  const Orig = window.EventSource;
  window.playFrames = 0;
  window.playStreams = 0;
  function Counting(url, opts) {
    const s = new Orig(url, opts);
    window.playStreams++;
    s.addEventListener("frame", () => { window.playFrames++; });
    return s;
  }
  Counting.prototype = Orig.prototype;
  Counting.CONNECTING = 0; Counting.OPEN = 1; Counting.CLOSED = 2;
  window.EventSource = Counting;
})();"""


def frames(p: Page) -> int:
    """Frames received so far (the page must have COUNT_FRAMES as an init script)."""
    return int(p.evaluate("window.playFrames"))
