"""Follow: a watch link shows the session read-only, pushes one event per change over SSE (on
each store: in-process, or Redis pub/sub), cannot modify anything, and revoking it ends the
streams."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.live import live_server
from tests.teaching.helpers import S

API = "/api/v1"


def events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The stream's events as {event, id, data} (data parsed as JSON)."""
    ev: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in ev:
                yield ev
            ev = {}
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            ev[key] = json.loads(value) if key == "data" else value


def test_the_watch_link_is_read_only(any_store_client: TestClient) -> None:
    c = any_store_client
    sid = c.post(S, json={"preset": "xor-bias"}).json()["id"]
    link = c.post(f"{S}/{sid}/watch").json()
    wid = link["watch_id"]
    assert link == c.post(f"{S}/{sid}/watch").json()  # the same each time
    assert link["url"] == f"/w/{wid}" and wid != sid and len(wid) >= 22  # ≥ 128 bits
    c.post(f"{S}/{sid}/step")
    state = c.get(f"{API}/watch/{wid}").json()
    assert state["id"] == wid and state["version"] == 1
    assert sid not in c.get(f"{API}/watch/{wid}").text
    page = c.get(f"/w/{wid}")
    assert page.status_code == 200 and sid not in page.text
    assert 'name="op"' not in page.text and "Make my own copy" in page.text
    # Every write endpoint, given the watch id, is a 404 and changes nothing.
    writes = [("POST", f"{S}/{wid}/{op}", None) for op in
              ("forward", "backward", "update", "step", "train", "reset", "undo", "redo",
               "watch")]
    writes += [("PATCH", f"{S}/{wid}", {"learning_rate": 1.0}),
               ("PUT", f"{S}/{wid}/weights", {"layers": []}),
               ("DELETE", f"{S}/{wid}", None), ("DELETE", f"{S}/{wid}/watch", None),
               ("GET", f"{S}/{wid}", None), ("GET", f"{S}/{wid}/export", None)]
    for method, path, body in writes:
        r = c.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code)
    for path in ("/do", "/settings", "/tick", "/share"):
        assert c.post(f"/s/{wid}{path}", data={"op": "step"}).status_code in (404, 286), path
    assert c.get(f"{S}/{sid}").json()["version"] == 1


def test_revoked_and_unknown_links_are_404(any_store_client: TestClient) -> None:
    c = any_store_client
    sid = c.post(S, json={"preset": "xor-bias"}).json()["id"]
    wid = c.post(f"{S}/{sid}/watch").json()["watch_id"]
    assert c.delete(f"{S}/{sid}/watch").status_code == 204
    assert c.get(f"{API}/watch/{wid}").status_code == 404
    assert c.get(f"/w/{wid}").status_code == 404
    assert c.get(f"{API}/watch/{'x' * 200}").status_code == 404
    new = c.post(f"{S}/{sid}/watch").json()["watch_id"]
    assert new != wid


def test_make_my_own_copy_is_independent(any_store_client: TestClient) -> None:
    c = any_store_client
    sid = c.post(S, json={"preset": "xor-bias"}).json()["id"]
    c.post(f"{S}/{sid}/train", json={"epochs": 20})
    wid = c.post(f"{S}/{sid}/watch").json()["watch_id"]
    r = c.post(f"/w/{wid}/copy", follow_redirects=False)
    assert r.status_code == 303
    mine = r.headers["location"].removeprefix("/s/")
    assert mine != sid
    a, b = c.get(f"{S}/{sid}").json(), c.get(f"{S}/{mine}").json()
    assert a["layers"] == b["layers"] and a["history"] == b["history"]
    c.post(f"{S}/{mine}/train", json={"epochs": 5})
    assert c.get(f"{S}/{sid}").json()["epoch"] == 20


@pytest.mark.parametrize("store", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_events_stream_every_change_and_end_on_revoke(store: str,
                                                      request: pytest.FixtureRequest) -> None:
    url = "memory" if store == "memory" else str(request.getfixturevalue("redis_url"))
    settings = Settings(store=url, watch_min_interval=0.0)
    with live_server(settings) as base, httpx.Client(base_url=base, timeout=10) as c:
        sid = c.post(f"{S}", json={"preset": "xor-bias"}).json()["id"]
        wid = c.post(f"{S}/{sid}/watch").json()["watch_id"]
        got: list[dict[str, Any]] = []
        ended = threading.Event()
        first = threading.Event()

        def watch() -> None:
            with httpx.stream("GET", f"{base}{API}/watch/{wid}/events", timeout=10) as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                for ev in events(r):
                    got.append(ev)
                    first.set()
            ended.set()

        t = threading.Thread(target=watch, daemon=True)
        t.start()
        assert first.wait(10)
        versions = [c.post(f"{S}/{sid}/step").json()["version"] for _ in range(3)]
        versions.append(c.post(f"{S}/{sid}/undo").json()["version"])
        deadline = threading.Event()
        for _ in range(100):
            if [int(e["id"]) for e in got[1:]] == versions:
                break
            deadline.wait(0.05)
        assert got[0]["event"] == "state" and got[0]["data"]["version"] == 0
        assert [int(e["id"]) for e in got[1:]] == versions
        last = got[-1]["data"]
        now = c.get(f"{S}/{sid}").json()  # F1, F2, B2, then undo: after F2, loss computed
        assert last == {"version": 4, "epoch": 0, "iteration": 0,
                        "cursor": {"next": "backward", "layer": 2}, "loss": now["loss"]}
        assert now["loss"] is not None
        # A reconnect with Last-Event-ID gets the latest state at once.
        with httpx.stream("GET", f"{base}{API}/watch/{wid}/events",
                          headers={"Last-Event-ID": "1"}) as r:
            again = next(events(r))
        assert again["id"] == "4" and again["data"] == last
        # Revoking ends the open stream.
        assert c.delete(f"{S}/{sid}/watch").status_code == 204
        assert ended.wait(10), "the stream did not end on revoke"
        t.join(5)
        assert c.get(f"{API}/watch/{wid}/events").status_code == 404


def test_streams_are_capped_per_client(make_client: Callable[..., TestClient]) -> None:
    settings = Settings(watch_max_per_client=1)
    with live_server(settings) as base, httpx.Client(base_url=base, timeout=10) as c:
        sid = c.post(S, json={"preset": "xor-bias"}).json()["id"]
        wid = c.post(f"{S}/{sid}/watch").json()["watch_id"]
        with httpx.stream("GET", f"{base}{API}/watch/{wid}/events") as r:
            stream = events(r)  # kept alive: dropping the iterator would close the stream
            next(stream)
            second = c.get(f"{API}/watch/{wid}/events")
            assert second.status_code == 429 and "watch_max_per_client" in second.text
            assert "retry-after" in second.headers


def test_watchers_see_the_teachers_selection_and_page_undo(any_store_client: TestClient
                                                            ) -> None:
    c = any_store_client
    sid = c.post(S, json={"preset": "seed-xor"}).json()["id"]
    wid = c.post(f"{S}/{sid}/watch").json()["watch_id"]
    assert c.get(f"/s/{sid}", params={"sel": "n-1-2"}).status_code == 200
    assert c.get(f"{S}/{sid}").json()["version"] == 1  # the selection is shown to watchers
    page = c.get(f"/w/{wid}").text
    assert 'id="n-1-2" href="/w/' in page and 'aria-pressed="true"' in page.split(
        'id="n-1-2"')[1].split(">")[0]
    assert c.get(f"/s/{sid}", params={"sel": "n-1-2"}).status_code == 200
    assert c.get(f"{S}/{sid}").json()["version"] == 1  # the same selection: no change
    # Undo / Redo on the page, and a jump from the timeline.
    hx = {"hx-request": "true"}
    for _ in range(3):
        assert c.post(f"/s/{sid}/do", data={"op": "step"}, headers=hx).status_code == 200
    html = c.post(f"/s/{sid}/do", data={"op": "undo", "steps": "2"}, headers=hx).text
    s = c.get(f"{S}/{sid}").json()
    assert s["undo"] == {"back": 1, "forward": 2} and s["cursor"]["layer"] == 2
    assert 'value="redo"' in html and ">Redo<" in html
    r = c.post(f"/s/{sid}/do", data={"op": "redo", "steps": "5"}, headers=hx)
    assert r.status_code == 200 and "Nothing to redo." in r.text
    assert c.get(f"{S}/{sid}").json()["undo"] == {"back": 1, "forward": 2}


def test_a_slow_watcher_gets_the_newest_state_only() -> None:
    import asyncio

    from app.sessions.events import Hub, WatchLimit

    async def run() -> None:
        hub = Hub(Settings(watch_max_per_session=2, watch_max_per_client=0))
        await hub.link("w", "s")
        slow = hub.subscribe("s", "w", "a")
        hub.subscribe("s", "w", "b")
        with pytest.raises(WatchLimit):
            hub.subscribe("s", "w", "c")
        for v in (1, 2, 3):
            await hub.publish("s", {"version": v})
        assert (await slow.next()) == {"version": 3}  # 1 and 2 were coalesced away
        await hub.publish("s", {"version": 4})
        assert (await slow.next()) == {"version": 4}
        await hub.revoke("w", "s")
        assert await slow.next() is None and await hub.resolve("w") is None

    asyncio.run(run())
