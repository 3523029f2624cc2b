"""The session page's size estimate (app/sessions/budget.page_bytes) bounds the real page in
every state, so no page gets past max_reply_bytes (issue #23: an 11 MB page of a big network
passed the 8 MiB budget because one connection was estimated at 640 bytes; it takes ~1,010
after a backward pass)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.sessions.budget import page_bytes

API = "/api/v1/sessions"


@pytest.mark.parametrize("layers", [[2, 16, 16, 1], [2, 32, 32, 32, 1]])
def test_the_estimate_bounds_the_page_in_every_state(make_client: Any, layers: list[int]
                                                     ) -> None:
    c: TestClient = make_client(max_reply_bytes=100_000_000)
    sid = c.post(API, json={"layers": layers, "dataset": {"name": "circle"}}).json()["id"]
    async def config() -> Any:
        async with c.app.state.store.use(sid, write=False) as s:  # type: ignore[attr-defined]
            return s.config
    estimate = page_bytes(c.portal.call(config))  # type: ignore[union-attr]
    sizes = []
    for step in (None, "forward", "backward"):
        if step:
            assert c.post(f"{API}/{sid}/{step}", json={"through": "all"}).status_code == 200
        for query in ("", "?projector=1"):
            r = c.get(f"/s/{sid}{query}")
            assert r.status_code == 200
            sizes.append(len(r.content))
    assert max(sizes) <= estimate, (sizes, estimate)
    assert max(sizes) >= estimate / 2, "the estimate is a bound, not a wild guess"


def test_a_page_over_the_reply_budget_is_refused_before_it_is_built(make_client: Any) -> None:
    # [2, 32, 32, 32, 1]: ~2.4 MB of HTML after a backward pass; a 2 MB budget refuses it.
    c: TestClient = make_client(max_reply_bytes=2_000_000)
    sid = c.post(API, json={"layers": [2, 32, 32, 32, 1], "dataset": {"name": "circle"}}
                 ).json()["id"]
    for step in ("forward", "backward"):
        assert c.post(f"{API}/{sid}/{step}", json={"through": "all"}).status_code == 200
    r = c.get(f"/s/{sid}")
    assert r.status_code == 413
    assert "max_reply_bytes" in r.text
