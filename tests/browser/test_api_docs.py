"""/docs and /redoc render in Chromium with no network beyond the server itself, under the
app's Content-Security-Policy (no violation, no console error)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, Route

pytestmark = pytest.mark.browser


def offline(page: Page, server: str) -> list[str]:
    """Abort every request that leaves the server; returns the URLs that tried."""
    outside: list[str] = []

    def handle(route: Route) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return outside


def test_swagger_ui_works_offline(server: str, web: tuple[Page, Any]) -> None:
    page, problems = web
    outside = offline(page, server)
    page.goto(f"{server}/docs")
    page.get_by_text("Forward one layer (or the whole pass)").first.wait_for(timeout=20_000)
    page.get_by_text("Create a session").first.wait_for()
    assert outside == [] and problems.csp == [], (outside, problems.csp)
    assert [c for c in problems.console if "error" in c] == []


# ReDoc's sidebar credit loads a logo from its CDN and hides it when that fails; the policy
# blocks it (as it would be offline). That one image is the only thing allowed to be refused.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_redoc_works_offline(server: str, web: tuple[Page, Any]) -> None:
    page, problems = web
    outside = offline(page, server)
    page.goto(f"{server}/redoc")
    page.locator("h2", has_text="Backward one layer (or the whole pass)").wait_for(
        timeout=20_000)
    page.locator("h2", has_text="Train whole epochs").wait_for()
    csp = [c for c in problems.csp if c.strip() != f"img-src {REDOC_LOGO}"]
    assert outside == [] and csp == [], (outside, problems.csp)
    assert [c for c in problems.console if "error" in c and REDOC_LOGO not in c] == []
