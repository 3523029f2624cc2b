"""Watchers never wait for the session's lock nor hold it while their replies are rendered
(issue #23: 8 watchers looping on a big session made the teacher's step take 4-14 s), and a
class behind one address can follow and copy with the default settings (issue #20 §2)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from app.config import Settings
from app.sessions.commands import Step
from tests.hardening.test_stalls import serve
from tests.teaching.helpers import S


def _watched(c: TestClient) -> tuple[str, str]:
    sid = c.post(S, json={"preset": "seed-xor"}).json()["id"]
    return sid, c.post(f"{S}/{sid}/watch").json()["watch_id"]


def test_a_watcher_reads_while_the_teacher_holds_the_lock(
        make_client: Callable[..., TestClient], store_url: str) -> None:
    c = make_client(store=store_url)
    sid, wid = _watched(c)
    app: Any = c.app
    door, store = app.state.door, app.state.store

    async def scenario() -> tuple[int, int, int]:
        seen = await door.watched(wid, lambda s: s.version)
        # The teacher's long operation holds the session (its lock, for seconds).
        async with store.use(sid) as s:
            inside = s.version
            during = await asyncio.wait_for(door.watched(wid, lambda s: s.version), 1.0)
        return seen, inside, during

    assert c.portal is not None
    seen, inside, during = c.portal.call(scenario)
    assert seen == inside == during  # the last saved state, at once
    # After a change, watchers see it (a new copy).
    v = c.post(f"{S}/{sid}/step").json()["version"]
    assert c.get(f"/api/v1/watch/{wid}").json()["version"] == v == seen + 1


def test_redis_watchers_read_the_saved_state_without_any_lock(
        make_client: Callable[..., TestClient], redis_url: str) -> None:
    """On Redis even a new version is read without the lock (the saved bytes)."""
    c = make_client(store=redis_url)
    sid, wid = _watched(c)
    app: Any = c.app
    door, store = app.state.door, app.state.store
    c.get(f"/api/v1/watch/{wid}")
    v = c.post(f"{S}/{sid}/step").json()["version"]

    async def scenario() -> int:
        async with store.use(sid):  # held, and the watcher's copy is of an older version
            return int(await asyncio.wait_for(door.watched(wid, lambda s: s.version), 1.0))

    assert c.portal is not None
    assert c.portal.call(scenario) == v


def test_a_slow_watcher_render_does_not_hold_up_the_teacher(
        make_client: Callable[..., TestClient], store_url: str) -> None:
    c = make_client(store=store_url)
    sid, wid = _watched(c)
    app: Any = c.app
    door = app.state.door

    def slow_view(s: Any) -> int:
        time.sleep(1.5)  # a 27 MB reply being built
        return int(s.version)

    async def scenario() -> tuple[float, int]:
        watchers = [asyncio.ensure_future(door.watched(wid, slow_view)) for _ in range(8)]
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        await door.apply(sid, Step())
        took = time.monotonic() - t0
        versions = await asyncio.gather(*watchers)
        return took, min(versions)

    assert c.portal is not None
    took, version = c.portal.call(scenario)
    assert took < 0.75, took  # (1.5 s or 12 s if it waited for the renders)
    assert version == 0


def test_a_class_behind_one_address_follows_and_copies_with_default_settings() -> None:
    """200 watch streams and 200 "Make my own copy" from one address within a minute, with the
    default limits (tests/conftest.py turns some off for the rest of the suite: here they are
    their defaults)."""
    fields = Settings.model_fields
    defaults = {k: fields[k].default for k in (
        "create_rate_limit", "active_window", "watch_max_per_client", "watch_max_streams",
        "watch_max_per_session", "max_sessions", "memory_budget")}
    with serve(Settings(store="memory", **defaults)) as (app, base):
        with httpx.Client(base_url=base, timeout=30) as c:
            sid = c.post(S, json={"preset": "seed-xor"}).json()["id"]
            wid = c.post(f"{S}/{sid}/watch").json()["watch_id"]

        async def student(ac: httpx.AsyncClient, opened: asyncio.Event, out: list[int]
                          ) -> None:
            """Follows until cancelled (leaving the line iterator early would close it)."""
            async with ac.stream("GET", f"/w/{wid}/events") as r:
                out.append(r.status_code)
                async for line in r.aiter_lines():
                    if line.startswith("event: frame"):
                        opened.set()

        async def klass() -> tuple[list[int], list[int], int]:
            limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
            async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as ac:
                streams: list[int] = []
                events = [asyncio.Event() for _ in range(200)]
                tasks = [asyncio.ensure_future(student(ac, e, streams)) for e in events]
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 60)
                copies = await asyncio.gather(*(ac.post(f"/w/{wid}/copy") for _ in range(200)))
                open_now = app.state.door.hub.streams  # all still following
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                return streams, [r.status_code for r in copies], open_now

        streams, copies, open_now = asyncio.run(klass())
        assert streams == [200] * 200
        assert open_now == 200
        assert copies == [303] * 200, sorted(set(copies))
        with httpx.Client(base_url=base, timeout=30) as c:
            assert c.get("/healthz").json()["sessions"] == 201
