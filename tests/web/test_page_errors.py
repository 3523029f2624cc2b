"""The pages' own error pages: a busy session, an unreachable store and a full store answer a
page (HTML, in the page's language, with Retry-After) where the API answers JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.sessions.store import SessionBusy, StoreFull, StoreUnavailable
from tests.web.helpers import API, new_page
from tests.web.test_korean import english_words


def _is_page(r: Any, status: int, retry: str) -> None:
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert '<html lang="ko"' in r.text and "<h1>" in r.text
    assert f"HTTP 상태 코드 {status}" in r.text and english_words(r.text) == set()
    assert r.headers["retry-after"] == retry


@pytest.mark.parametrize("error", [SessionBusy("x", 1.0), StoreUnavailable("store down")],
                         ids=["busy", "unavailable"])
def test_a_busy_session_or_store_is_an_html_page(
        make_client: Callable[..., TestClient], error: Exception) -> None:
    client = make_client()
    path = new_page(client)
    door = client.app.state.door  # type: ignore[attr-defined]

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise error

    door.apply = refuse
    headers = {"Accept-Language": "ko"}
    for r in (client.get(path, headers=headers),
              client.post(f"{path}/do", data={"op": "forward"}, headers=headers),
              client.post(f"{path}/settings", data={"learning_rate": "1"}, headers=headers)):
        _is_page(r, 503, "1")
        assert "다른 요청" in r.text  # "Another request is using this session, …"
    r = client.get(f"{API}/sessions/{path.rsplit('/', 1)[1]}")  # the API stays JSON
    assert r.status_code == 503 and r.headers["content-type"] == "application/json"


def test_a_full_store_is_an_html_page(make_client: Callable[..., TestClient]) -> None:
    """Making a copy of a watched session when every session is in active use: 503, a page
    that says when to try again."""
    client = make_client(max_sessions=1, active_window=600)
    path = new_page(client)
    sid = path.rsplit("/", 1)[1]
    watch_id = client.post(f"{API}/sessions/{sid}/watch").json()["watch_id"]
    r = client.post(f"/w/{watch_id}/copy", headers={"Accept-Language": "ko"},
                    follow_redirects=False)
    _is_page(r, 503, r.headers["retry-after"])
    assert int(r.headers["retry-after"]) >= 1
    assert f"{r.headers['retry-after']}초 뒤에 다시 시도하세요" in r.text
    r = client.post(f"{API}/sessions")  # the API stays JSON
    assert r.status_code == 503 and r.headers["content-type"] == "application/json"


def test_store_full_reaches_the_page_handler_as_html() -> None:
    """StoreFull raised by any page route (not only the ones that catch it) is a page."""
    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings())

    async def full() -> None:
        raise StoreFull(7.2)

    app.add_api_route("/s/x/full", full)
    with TestClient(app) as c:
        _is_page(c.get("/s/x/full", headers={"Accept-Language": "ko"}), 503, "8")


def test_an_unknown_session_is_the_friendly_404_on_every_page(client: TestClient) -> None:
    """One handler for SessionNotFound on the pages: expired, evicted or never there."""
    for r in (client.post("/s/nope/experiment", data={"action": "add"}),
              client.post("/s/nope/point", data={"x1": "0", "x2": "0", "y": "1"}),
              client.post("/s/nope/point", data={"x1": "a"}),
              client.post("/s/nope/settings", data={"learning_rate": "a"}),
              client.post("/s/nope/share", data={}),
              client.get("/w/nope"), client.post("/w/nope/copy")):
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "does not exist" in r.text and "/new?preset=seed-xor" in r.text
    r = client.get(f"{API}/sessions/nope")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
