"""Take the README's screenshots from the real app in Debian's Chromium (Playwright).

    python3 docs/screenshots.py            # writes docs/*.png

Starts the app with uvicorn on a free port in a thread, drives the pages, stops the server.
korean.png needs a Korean font installed (Debian: fonts-nanum fonts-nanum-coding), else Hangul
shows as empty boxes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from tests.live import chromium, live_server  # noqa: E402  (one server and browser launcher)

OUT = ROOT / "docs"


def click_op(page: Page, name: str, expect_next: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    expect(page.locator("#next")).to_have_text(expect_next)


def main() -> None:
    with live_server(Settings()) as base, chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1280, "height": 720},
                                  device_scale_factor=1, locale="en-US")
        page = ctx.new_page()
        page.goto(base + "/")
        page.screenshot(path=str(OUT / "landing.png"), full_page=False)
        page.goto(base + "/new?preset=seed-xor")
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.locator("#epoch")).to_have_text("1000")
        click_op(page, "Forward", "forward 2")
        click_op(page, "Forward", "backward 2")
        click_op(page, "Backward", "backward 1")
        page.locator("#w-2-1-0").click()
        expect(page.locator("#inspector math").first).to_be_visible()
        page.screenshot(path=str(OUT / "session.png"), full_page=True)
        page.goto(page.url + ("&" if "?" in page.url else "?") + "lang=ko")
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        page.screenshot(path=str(OUT / "korean.png"), full_page=False)
        page.goto(page.url.replace("lang=ko", "lang=en") + "&projector=1")
        expect(page.locator("html")).to_have_class("projector")
        page.screenshot(path=str(OUT / "projector.png"), full_page=False)
        page.goto(page.url.replace("projector=1", "projector=0"))
        # A 2-D network with its per-neuron heatmaps, trained, a hidden neuron selected.
        page.goto(base + "/new?preset=circle")
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.locator("#epoch")).to_have_text("1000")
        page.locator("#n-1-1").click()
        expect(page.locator("#inspector-heat img")).to_be_visible()
        page.screenshot(path=str(OUT / "heatmaps.png"), full_page=True)
        ctx.close()
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                    locale="en-US", is_mobile=True, has_touch=True)
        page = phone.new_page()
        page.goto(base + "/new?preset=circle")
        page.get_by_role("button", name="Train", exact=True).click()
        expect(page.locator("#epoch")).not_to_have_text("0")
        page.screenshot(path=str(OUT / "phone.png"), full_page=False)
        phone.close()
    print("wrote", ", ".join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
