"""Change events for watchers, and the watch links that lead to them.

A change is published once (by the door, after the session is saved); every watcher of that
session on this worker holds only the newest summary (frames are states, not diffs, so a slow
watcher skips to the latest and never holds the teacher up). With the memory store the hub is
in-process; with Redis, events travel over pub/sub so watchers on every worker see them, and
the watch link → session mapping lives in Redis too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Awaitable
from typing import Literal, TypeVar, final

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from typing_extensions import TypedDict

from app.config import Settings
from app.sessions.polls import PublicPoll
from app.sessions.state import Cursor
from app.sessions.store import SessionStore, StoreUnavailable

T = TypeVar("T")

PREFIX = "backprop-lab:"
LINK_CACHE = 10_000  # watch links remembered per worker (Redis)


@final
class WatchSummary(TypedDict):
    """What a watcher's state event carries (SSE data): enough to tell states apart."""

    version: int  # the session's version (also the event id)
    epoch: int  # epochs finished
    iteration: int  # updates applied
    cursor: Cursor  # the next allowed step
    loss: float | None  # the objective at the last completed forward pass


@final
class PollEvent(TypedDict):
    """A poll was asked or revealed: what its students see."""

    type: Literal["poll"]
    poll: PublicPoll


@final
class CountEvent(TypedDict):
    """The open poll's answer count (for the teacher's page)."""

    type: Literal["answers"]
    poll_id: str
    answers: int


# (final: ``"type" in event`` tells a poll or count event from a state summary)
Event = WatchSummary | PollEvent | CountEvent


class WatchLimit(Exception):
    """Too many open watch streams for the session, the server or the client (HTTP 429)."""

    def __init__(self, what: str, limit: int, setting: str) -> None:
        super().__init__(f"too many watch streams for this {what}: the limit is {limit:,} "
                         f"(setting {setting})")


# A stream's frame can sit in three places at once while its client reads slowly: FastAPI's
# two one-item buffers (the producer's and the keep-alive inserter's) and the socket's write
# buffer. Newer frames wait in the generator as one (the newest), never as a backlog.
FRAMES_HELD = 3


class Subscriber:
    """One open stream. Besides the newest state it holds the newest poll event (a poll was
    asked or revealed: ``type`` "poll") and, if it asked for them (``counts``), the newest
    answer count (``type`` "answers"): each kind coalesces on its own, so a class's answers
    never push a state change out."""

    def __init__(self, sid: str, watch_id: str, client: str, counts: bool = False) -> None:
        self.sid, self.watch_id, self.client = sid, watch_id, client
        self.counts = counts
        self.latest: WatchSummary | None = None
        self.poll: PollEvent | None = None
        self.count: CountEvent | None = None
        self.closed = False
        self.reserved = 0  # bytes of frames this stream may hold (Hub.reserve)
        self._ready = asyncio.Event()

    def offer_poll(self, event: PollEvent | CountEvent) -> None:
        if event["type"] == "answers":
            if not self.counts:
                return
            self.count = event
        else:
            self.poll = event
            self.count = None  # the poll event carries its count
        self._ready.set()

    def offer(self, summary: WatchSummary) -> None:
        # Newest wins: an older summary not yet sent is simply replaced.
        if self.latest is None or summary["version"] >= self.latest["version"]:
            self.latest = summary
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self) -> Event | None:
        """The newest summary not yet taken (a state, else a poll event, else an answer
        count: see ``type``); None once the stream is revoked."""
        while not self.closed:
            if self.latest is None and self.poll is None and self.count is None:
                await self._ready.wait()
            self._ready.clear()
            if self.closed:
                break
            taken: Event | None = self.latest or self.poll or self.count
            if self.latest is not None:
                self.latest = None
            elif self.poll is not None:
                self.poll = None
            else:
                self.count = None
            if taken is not None:
                return taken
        return None


class Hub:
    """In-process fan-out and watch links (the memory store)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._subs: dict[str, set[Subscriber]] = {}
        self._clients: Counter[str] = Counter()
        self.streams = 0  # open streams on this worker
        self.buffered = 0  # bytes the open streams' frames may hold (watch_buffer_bytes)
        self._links: dict[str, str] = {}
        self.latest: dict[str, int] = {}  # newest version seen, per watched session

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()

    # --- watch links ---------------------------------------------------------------------
    async def link(self, watch_id: str, sid: str) -> None:
        self._links[watch_id] = sid

    async def resolve(self, watch_id: str) -> str | None:
        return self._links.get(watch_id)

    async def revoke(self, watch_id: str, sid: str) -> None:
        self._links.pop(watch_id, None)
        self._end(sid, watch_id)

    def forget(self, watch_id: str) -> None:
        """Drop this worker's record of a link whose session is gone."""
        self._links.pop(watch_id, None)

    # --- streams -------------------------------------------------------------------------
    def check(self, sid: str, client: str) -> None:
        """WatchLimit when one more stream would pass a cap (counted on this worker). What
        hurts a server is the total of streams and of the frames they hold, not a class
        behind one address: the per-client cap is off by default."""
        st = self.settings
        if self.streams >= st.watch_max_streams:
            raise WatchLimit("server", st.watch_max_streams, "watch_max_streams")
        if self.buffered >= st.watch_buffer_bytes:
            raise WatchLimit("server's frame memory", st.watch_buffer_bytes,
                             "watch_buffer_bytes")
        if len(self._subs.get(sid, ())) >= st.watch_max_per_session:
            raise WatchLimit("session", st.watch_max_per_session, "watch_max_per_session")
        cap = self.settings.watch_max_per_client
        if cap and self._clients[client] >= cap:
            raise WatchLimit("client", cap, "watch_max_per_client")

    def subscribe(self, sid: str, watch_id: str, client: str, counts: bool = False
                  ) -> Subscriber:
        self.check(sid, client)
        sub = Subscriber(sid, watch_id, client, counts)
        self._subs.setdefault(sid, set()).add(sub)
        self._clients[client] += 1
        self.streams += 1
        return sub

    def reserve(self, sub: Subscriber, frame_bytes: int) -> bool:
        """Room for this stream to hold frames of ``frame_bytes`` (FRAMES_HELD of them) within
        watch_buffer_bytes; False: skip this frame (the stream waits for the next change)."""
        want = FRAMES_HELD * frame_bytes
        grow = want - sub.reserved
        if grow > 0 and self.buffered + grow > self.settings.watch_buffer_bytes:
            return False
        self.buffered += grow
        sub.reserved = want
        return True

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.sid)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        self.streams -= 1
        self.buffered -= sub.reserved
        sub.reserved = 0
        if not subs:
            del self._subs[sub.sid]
            self.latest.pop(sub.sid, None)
        self._clients[sub.client] -= 1
        if self._clients[sub.client] <= 0:
            del self._clients[sub.client]

    def end_session(self, sid: str) -> None:
        """End every stream of a session that is gone (deleted, expired, evicted)."""
        for sub in list(self._subs.get(sid, ())):
            sub.close()

    def watchers(self, sid: str) -> int:
        return len(self._subs.get(sid, ()))

    async def publish(self, sid: str, summary: WatchSummary) -> None:
        self._deliver(sid, summary)

    def _deliver(self, sid: str, summary: WatchSummary) -> None:
        subs = self._subs.get(sid)
        if not subs:
            return
        self.latest[sid] = max(self.latest.get(sid, -1), summary["version"])
        for sub in subs:
            sub.offer(summary)

    async def publish_poll(self, sid: str, event: PollEvent | CountEvent) -> None:
        """A poll event (``type`` "poll" or "answers") to the session's watchers."""
        self._deliver_poll(sid, event)

    def _deliver_poll(self, sid: str, event: PollEvent | CountEvent) -> None:
        for sub in self._subs.get(sid, ()):
            sub.offer_poll(event)

    def _end(self, sid: str, watch_id: str) -> None:
        for sub in list(self._subs.get(sid, ())):
            if sub.watch_id == watch_id:
                sub.close()


class RedisHub(Hub):
    """Events over Redis pub/sub (one subscriber connection per worker, one pattern), watch
    links as Redis keys that expire with the session's idle time."""

    def __init__(self, settings: Settings, redis: aioredis.Redis) -> None:
        super().__init__(settings)
        self.redis = redis
        self.ttl_ms = max(1, int(settings.session_ttl * 1000))
        self._listener: asyncio.Task[None] | None = None
        self._resolving: dict[str, asyncio.Future[str | None]] = {}
        self._sub_conn: aioredis.Redis | None = None

    async def open(self) -> None:
        # Its own connection without a read timeout: a quiet channel is not an error.
        self._sub_conn = aioredis.Redis.from_url(self.settings.store, socket_timeout=None,
                                                 socket_connect_timeout=5)
        pubsub = self._sub_conn.pubsub(ignore_subscribe_messages=True)
        await pubsub.psubscribe(PREFIX + "ev:*")
        self._listener = asyncio.create_task(self._listen(pubsub))

    async def close(self) -> None:
        await super().close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await self._listener
        if self._sub_conn is not None:
            await self._sub_conn.aclose()

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            while True:
                try:
                    msg = await pubsub.get_message(timeout=1.0)
                except (RedisError, OSError):
                    await asyncio.sleep(1.0)  # Redis went away: keep trying
                    continue
                if msg is None:
                    continue
                channel = msg["channel"].decode()
                sid = channel[len(PREFIX + "ev:"):]
                body = json.loads(msg["data"])
                if "revoked" in body:
                    self._links.pop(body["revoked"], None)
                    self._end(sid, body["revoked"])
                elif "type" in body:
                    self._deliver_poll(sid, body)
                else:
                    self._deliver(sid, body)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _run(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"session store error: {type(e).__name__}") from None

    async def link(self, watch_id: str, sid: str) -> None:
        await self._run(self.redis.set(PREFIX + "w:" + watch_id, sid, px=self.ttl_ms))

    async def resolve(self, watch_id: str) -> str | None:
        # Cached on this worker: the door checks the session's own watch id on every read,
        # so a revoked link never shows anything even before the revocation arrives here.
        sid = self._links.get(watch_id)
        if sid is not None:
            return sid
        # A class connecting at once asks Redis once, not once per watcher (one connection).
        pending = self._resolving.get(watch_id)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(watch_id))
            self._resolving[watch_id] = pending
            pending.add_done_callback(lambda _: self._resolving.pop(watch_id, None))
        return await asyncio.shield(pending)

    async def _lookup(self, watch_id: str) -> str | None:
        key = PREFIX + "w:" + watch_id
        found = await self._run(self.redis.get(key))
        if found is None:
            return None
        await self._run(self.redis.pexpire(key, self.ttl_ms))
        sid = found.decode() if isinstance(found, bytes) else str(found)
        if len(self._links) >= LINK_CACHE:
            self._links.pop(next(iter(self._links)))
        self._links[watch_id] = sid
        return sid

    async def revoke(self, watch_id: str, sid: str) -> None:
        self._links.pop(watch_id, None)
        await self._run(self.redis.delete(PREFIX + "w:" + watch_id))
        await self._run(self.redis.publish(PREFIX + "ev:" + sid,
                                           json.dumps({"revoked": watch_id})))

    async def publish(self, sid: str, summary: WatchSummary) -> None:
        await self._run(self.redis.publish(PREFIX + "ev:" + sid, json.dumps(summary)))

    async def publish_poll(self, sid: str, event: PollEvent | CountEvent) -> None:
        await self._run(self.redis.publish(PREFIX + "ev:" + sid, json.dumps(event)))


def make_hub(store: SessionStore, settings: Settings) -> Hub:
    if store.name == "redis":
        return RedisHub(settings, store.redis)  # type: ignore[attr-defined]
    return Hub(settings)
