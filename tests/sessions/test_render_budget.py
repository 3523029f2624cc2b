"""What renders and replies hold at once is bounded (issue #23, app/sessions/render_budget.py):
concurrent big renders never exceed render_memory_budget, small ones pass beside a waiting big
one, one that cannot fit in time is a 503 with Retry-After that changed nothing, and the
estimates cover the peak tracemalloc measures of real renders."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.sessions import render_budget
from app.sessions.render_budget import (
    RenderBudget,
    RenderBusy,
    page_cost,
    session_state_cost,
)
from tests.conftest import API

MiB = 1 << 20


def test_concurrent_big_renders_never_exceed_the_budget() -> None:
    async def main() -> tuple[int, int]:
        b = RenderBudget(100, wait=5)
        inside = 0
        most = 0
        finished = 0

        async def render(n: int) -> None:
            nonlocal inside, most, finished
            async with b.hold(n):
                inside += n  # our own count, not the limiter's
                most = max(most, inside)
                await asyncio.sleep(0.01)
                inside -= n
            finished += 1

        await asyncio.gather(*(render(n) for n in [60, 60, 45, 30, 70, 25, 90, 10] * 3))
        assert b.held == 0 and not b._waiters
        return most, finished

    most, finished = asyncio.run(main())
    assert finished == 24
    assert 60 <= most <= 100  # concurrency happened, and within the budget


def test_small_renders_pass_beside_a_waiting_big_one() -> None:
    async def main() -> list[str]:
        b = RenderBudget(100, wait=5)
        order: list[str] = []
        first = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with b.hold(70):
                first.set()
                await release.wait()
            order.append("first done")

        async def big() -> None:
            async with b.hold(60):  # does not fit beside 70: waits
                order.append("big")

        async def small() -> None:
            async with b.hold(20):  # fits beside 70 at once, though big waits before it
                order.append("small")

        t1 = asyncio.create_task(holder())
        await first.wait()
        t2 = asyncio.create_task(big())
        await asyncio.sleep(0.01)
        assert len(b._waiters) == 1
        await asyncio.wait_for(small(), 1)
        release.set()
        await asyncio.gather(t1, t2)
        assert b.held == 0
        return order

    assert asyncio.run(main()) == ["small", "first done", "big"]


def test_a_render_that_cannot_fit_in_time_is_refused_and_holds_nothing() -> None:
    async def main() -> None:
        b = RenderBudget(100, wait=0.05)
        async with b.hold(80):
            with pytest.raises(RenderBusy) as e:
                async with b.hold(30):
                    raise AssertionError("must not run")
            assert "render_memory_budget" in str(e.value) and "render_wait" in str(e.value)
            assert b.held == 80 and not b._waiters
        assert b.held == 0

    asyncio.run(main())


def test_a_cancelled_waiter_gives_back_nothing_it_did_not_take() -> None:
    async def main() -> None:
        b = RenderBudget(100, wait=5)
        async with b.hold(90):
            t = asyncio.create_task(b.hold(50).__aenter__())
            await asyncio.sleep(0.01)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            assert b.held == 90 and not b._waiters
        assert b.held == 0

    asyncio.run(main())


def test_one_render_over_the_whole_budget_runs_alone() -> None:
    async def main() -> None:
        b = RenderBudget(100, wait=5)
        async with b.hold(10 * 100) as n:
            assert n == 100 and b.held == 100
        assert b.held == 0 and b.peak == 100

    asyncio.run(main())


def test_pages_and_replies_answer_503_with_retry_after_and_change_nothing(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(render_memory_budget=4 * MiB, render_wait=0.05)
    sid = client.post(f"{API}/sessions", json={}).json()["id"]
    wid = client.post(f"{API}/sessions/{sid}/watch").json()["watch_id"]
    renders = client.app.state.door.renders  # type: ignore[attr-defined]
    renders.held = renders.budget  # as if big renders held it all
    try:
        for method, url in (("GET", f"/s/{sid}"), ("POST", f"{API}/sessions/{sid}/step"),
                            ("GET", f"/w/{wid}"), ("GET", f"{API}/watch/{wid}"),
                            ("GET", f"{API}/sessions/{sid}")):
            r = client.request(method, url)
            assert r.status_code == 503, (url, r.status_code)
            assert int(r.headers["retry-after"]) >= 1
            if url.startswith(API):
                assert "render_memory_budget" in r.json()["detail"]
            else:
                assert "text/html" in r.headers["content-type"]
    finally:
        renders.held = 0
    state = client.get(f"{API}/sessions/{sid}").json()
    assert state["iteration"] == 0 and state["cursor"] == {"next": "forward", "layer": 1}
    assert client.post(f"{API}/sessions/{sid}/step").status_code == 200
    assert client.get(f"/s/{sid}").status_code == 200
    assert renders.held == 0


def traced_peak(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("config", [{}, {"preset": "spiral", "layers": [2, 24, 24, 1]}])
def test_the_estimates_cover_the_measured_peak_of_real_renders(
        make_client: Callable[..., TestClient], config: dict[str, object]) -> None:
    """tracemalloc's peak over the whole request (routing, view, template, JSON) against the
    cost the request held: the page within 1×, not absurdly above it (≥ 1/4)."""
    client = make_client()
    sid = client.post(f"{API}/sessions", json=config).json()["id"]
    client.post(f"{API}/sessions/{sid}/train", json={"epochs": 30}).raise_for_status()
    client.get(f"/s/{sid}").raise_for_status()  # templates compiled, caches warm
    s = client.app.state.store._sessions[sid]  # type: ignore[attr-defined]
    page = traced_peak(lambda: client.get(f"/s/{sid}").raise_for_status())
    assert page_cost(s.config) / 4 <= page <= page_cost(s.config)
    reply = traced_peak(lambda: client.get(f"{API}/sessions/{sid}?history=all"))
    assert reply <= session_state_cost(s, None, 100_000)


def test_big_renders_give_free_memory_back_and_small_ones_do_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(render_budget, "_TRIM", lambda pad: calls.append(pad))

    async def main() -> None:
        b = RenderBudget(64 * MiB, wait=1)
        async with b.hold(render_budget.TRIM_FROM - 1):
            pass
        assert calls == []
        async with b.hold(render_budget.TRIM_FROM):
            pass
        assert calls == [0] and b.held == 0

    asyncio.run(main())
