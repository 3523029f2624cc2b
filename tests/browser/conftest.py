"""Browser fixtures: the app under uvicorn on a free port (in a thread), Debian's Chromium via
Playwright, and a page that records console errors and CSP violations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from tests.live import chromium, live_server


@pytest.fixture(scope="package")
def server() -> Iterator[str]:
    with live_server(Settings()) as url:
        yield url


@pytest.fixture(scope="package")
def chromium_browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@dataclass
class Problems:
    console: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)


@pytest.fixture
def web(chromium_browser: Any) -> Iterator[tuple[Any, Problems]]:
    ctx = chromium_browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
    page = ctx.new_page()
    problems = Problems()
    page.on("console", lambda m: problems.console.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.console.append(f"pageerror: {e}"))
    # securitypolicyviolation events are reported to the page as console errors too; expose a
    # binding so the document listener (added by an init script file) can report them.
    page.expose_binding("reportCsp", lambda _src, text: problems.csp.append(text))
    page.add_init_script(path=str(Path(__file__).with_name("csp_listener.js")))
    yield page, problems
    ctx.close()
