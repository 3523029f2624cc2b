"""The memory that renders and replies hold at once, bounded (issue #23).

A session page of a big network is megabytes of HTML, and rendering it holds ~7 times that in
Python objects at its peak: three such renders at once (two page views and a watcher's frame)
took a worker's RSS hundreds of MiB past every budget the store counts. Every page render,
watcher frame and session state reply therefore first takes its estimated peak from one
worker-wide byte budget (``render_memory_budget``) and gives it back when the reply is built.

Waiters are served as soon as their bytes fit, not strictly in order, so small renders (the
usual pages) pass beside a big one that waits; one estimated above the whole budget is
clamped to it and so runs alone. A waiter gives up after ``render_wait`` seconds: HTTP 503
with Retry-After (RenderBusy), never a hang. The estimates are shapes only (no allocation),
scaled by factors measured with tracemalloc (docs/memory.md)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread

from app.sessions.budget import _sizes, config_floats, page_bytes, state_reply_bytes
from app.sessions.normalized import NormalizedConfig
from app.sessions.store_base import StoreUnavailable

# Peak traced bytes of one render ÷ its estimate (page_bytes, state_reply_bytes), measured
# with tracemalloc through the ASGI app (docs/memory.md): the session page 4.4 (seed-xor), 8.5
# ([2, 32, 32, 1]) and 9.6 ([2, 64, 64, 64, 64, 1]: 11.3 MiB of HTML, 76 MiB at the peak);
# the state reply at most 0.5 for any network above a few KiB, 2.8 for the smallest
# (the fixed cost of the request; JSON_FLOOR below).
PAGE_FACTOR = 10
STATE_FACTOR = 1
JSON_FLOOR = 512 * 1024
# After a render estimated at this many bytes or more, the C allocator is asked to give its
# free memory back to the system (glibc's malloc_trim): without it, the freed peaks of renders
# in different threads stay resident as each thread's arena's high-water mark (docs/memory.md:
# the big-network benchmark's RSS grew by twice what its renders held at once).
TRIM_FROM = 8 << 20


def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


_TRIM = _malloc_trim()


def give_back_free_memory() -> None:
    """Return the C allocator's free pages to the system (glibc only; elsewhere nothing)."""
    if _TRIM is not None:
        _TRIM(0)


class RenderBusy(StoreUnavailable):
    """Renders already hold the worker's render memory budget and this one did not fit
    within ``render_wait`` seconds (HTTP 503 with Retry-After, like an unreachable store:
    nothing was changed, retry)."""

    def __init__(self, need: int, budget: int, waited: float) -> None:
        super().__init__(
            f"the server is busy building other large pages: this reply needs about "
            f"{need / (1 << 20):.0f} MiB of the {budget / (1 << 20):.0f} MiB that replies may "
            f"hold at once (setting render_memory_budget), and it did not fit within "
            f"{waited:g} s (setting render_wait); retry")
        self.need, self.budget = need, budget


def page_cost(config: NormalizedConfig) -> int:
    """Estimated peak bytes of rendering the session (or watch) page of this config."""
    return PAGE_FACTOR * page_bytes(config)


def state_cost(layers: list[int], rows: int, history_points: int, config_floats: int = 0
               ) -> int:
    """Estimated peak bytes of building a state reply (JSON) of these sizes."""
    return max(JSON_FLOOR, STATE_FACTOR * state_reply_bytes(
        layers, rows, history_points, config_floats))


def session_state_cost(s: Any, samples: str | None, history_points: int | None,
                       default_rows: int = 32) -> int:
    """state_cost of a session's state reply: ``samples`` as the API's query ("all", a
    list, or None for at most ``default_rows``), at most ``history_points`` history points
    (None: all of them, as an export)."""
    n_train = _sizes(s.config)[0]
    rows = (n_train if samples == "all" else samples.count(",") + 1 if samples
            else min(default_rows, n_train))
    n_hist = len(s.trainer.history.epoch)
    points = n_hist if history_points is None else min(history_points, n_hist)
    return state_cost(list(s.config.layers), rows, points, config_floats(s.config))


class RenderBudget:
    """A byte-weighted limiter for one worker's event loop. Giving bytes back is synchronous
    (no lock to take in a ``finally`` that a cancellation could interrupt)."""

    def __init__(self, budget: int, wait: float) -> None:
        self.budget = budget
        self.wait = wait
        self.held = 0
        self.peak = 0  # the most ever held at once (tests, benchmarks)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def _take(self, n: int) -> None:
        self.held += n
        self.peak = max(self.peak, self.held)

    def _give(self, n: int) -> None:
        self.held -= n
        for entry in list(self._waiters):  # every waiter that fits now, in arrival order
            need, fut = entry
            if self.held + need <= self.budget and not fut.done():
                self._waiters.remove(entry)
                self._take(need)
                fut.set_result(None)

    @asynccontextmanager
    async def hold(self, need: int) -> AsyncIterator[int]:
        """Hold ``need`` bytes (at most the whole budget) while the block runs; RenderBusy if
        they do not fit within ``wait`` seconds."""
        n = max(0, min(int(need), self.budget))
        if self.held + n <= self.budget:
            self._take(n)
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (n, fut)
            self._waiters.append(entry)
            granted = False
            try:
                async with asyncio.timeout(self.wait):
                    await fut
                granted = True
            except TimeoutError:
                raise RenderBusy(n, self.budget, self.wait) from None
            finally:
                if not granted:
                    if entry in self._waiters:
                        self._waiters.remove(entry)
                    if fut.done() and not fut.cancelled():  # granted as the wait ended
                        self._give(n)
        try:
            yield n
        finally:
            try:
                if n >= TRIM_FROM:  # off the event loop: it walks the allocator's heaps
                    await anyio.to_thread.run_sync(give_back_free_memory)
            finally:
                self._give(n)
