"""Polls and their answers: an aggregate beside the session, never inside it. Each write is one
atomic step of its own (a dict operation on the event loop, or one Lua script in Redis), so a
class answering never takes the session's lock nor rewrites the session.

Redis keys (prefix ``backprop-lab:``), both expiring with the session's idle time:

- ``polls:{sid}``: a hash ``{poll_id: poll JSON, "st:" poll_id: status, "open": poll_id}``;
  status is ``open`` → ``closing`` (a reveal is running its steps; answers refused) →
  ``revealed`` (``closing`` → ``open`` again if the reveal failed);
- ``answers:{sid}:{poll_id}``: a hash student token → answer JSON.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.config import Settings
from app.sessions.polls import AnswerRecord, PollConflict, Status
from app.sessions.polls import Poll as Poll  # (its home is polls.py; importers read it here)
from app.sessions.store_base import StoreUnavailable

PREFIX = "backprop-lab:"
T = TypeVar("T")
STATUSES: dict[str, Status] = {"open": "open", "closing": "closing", "revealed": "revealed"}

OPEN_ONE = ("a poll is open already: reveal it before asking another (one open poll per "
            "session)")


def _too_many(limit: int) -> str:
    return f"this session has {limit} polls, the most it keeps (setting poll_max_per_session)"


def _closed(status: str) -> str:
    return ("the poll is revealed: answers are closed" if status == "revealed"
            else "the poll is being revealed: answers are closed")


def _full(limit: int) -> str:
    return (f"this poll has {limit} answers, the most it takes (setting poll_max_answers)")


def stale_after(settings: Settings) -> float:
    """Seconds after which a poll still "closing" is taken to have lost its reveal: a reveal
    holds the session's lock at most lock_timeout."""
    return 2 * settings.lock_timeout


class PollNotFound(KeyError):
    """No such poll in this session (HTTP 404)."""


class PollStore(Protocol):
    async def create(self, sid: str, poll: Poll) -> None: ...

    async def get(self, sid: str, pid: str) -> Poll | None: ...

    async def all(self, sid: str) -> list[Poll]: ...

    async def answer(self, sid: str, pid: str, token: str, record: AnswerRecord) -> int: ...

    async def count(self, sid: str, pid: str) -> int: ...

    async def one(self, sid: str, pid: str, token: str) -> AnswerRecord | None: ...

    async def answers(self, sid: str, pid: str) -> dict[str, AnswerRecord]: ...

    async def close(self, sid: str, pid: str) -> str: ...

    async def reopen(self, sid: str, pid: str) -> None: ...

    async def finish(self, sid: str, pid: str, poll: Poll) -> None: ...


@dataclass
class _Polls:
    polls: dict[str, Poll] = field(default_factory=dict)
    answers: dict[str, dict[str, AnswerRecord]] = field(default_factory=dict)
    open: str | None = None
    used: float = 0.0


class MemoryPolls:
    """One process: plain dicts, changed only on the event loop (so each call is atomic)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._by_session: dict[str, _Polls] = {}

    def _of(self, sid: str, create: bool = False) -> _Polls | None:
        now = time.time()
        entry = self._by_session.get(sid)
        if entry is None and create:
            # Forget the polls of sessions idle past their lifetime (they expired too).
            cutoff = now - self.settings.session_ttl
            for old in [k for k, v in self._by_session.items() if v.used < cutoff]:
                del self._by_session[old]
            entry = self._by_session[sid] = _Polls()
        if entry is not None:
            entry.used = now
        return entry

    async def create(self, sid: str, poll: Poll) -> None:
        entry = self._of(sid, create=True)
        assert entry is not None
        if entry.open is not None:
            raise PollConflict(OPEN_ONE)
        limit = self.settings.poll_max_per_session
        if len(entry.polls) >= limit:
            raise PollConflict(_too_many(limit))
        entry.polls[poll["poll_id"]] = poll.copy()
        entry.answers[poll["poll_id"]] = {}
        entry.open = poll["poll_id"]

    async def get(self, sid: str, pid: str) -> Poll | None:
        entry = self._of(sid)
        poll = entry.polls.get(pid) if entry else None
        return poll.copy() if poll is not None else None

    async def all(self, sid: str) -> list[Poll]:
        entry = self._of(sid)
        return [p.copy() for p in entry.polls.values()] if entry else []

    async def answer(self, sid: str, pid: str, token: str, record: AnswerRecord) -> int:
        entry = self._of(sid)
        if entry is None or pid not in entry.polls:
            raise PollNotFound(pid)
        status = entry.polls[pid]["status"]
        if status != "open":
            raise PollConflict(_closed(status))
        answers = entry.answers[pid]
        limit = self.settings.poll_max_answers
        if token not in answers and len(answers) >= limit:
            raise PollConflict(_full(limit))
        answers[token] = record
        return len(answers)

    async def count(self, sid: str, pid: str) -> int:
        entry = self._of(sid)
        return len(entry.answers.get(pid, {})) if entry else 0

    async def one(self, sid: str, pid: str, token: str) -> AnswerRecord | None:
        entry = self._of(sid)
        return entry.answers.get(pid, {}).get(token) if entry else None

    async def answers(self, sid: str, pid: str) -> dict[str, AnswerRecord]:
        entry = self._of(sid)
        return dict(entry.answers.get(pid, {})) if entry else {}

    async def close(self, sid: str, pid: str) -> str:
        entry = self._of(sid)
        if entry is None or pid not in entry.polls:
            raise PollNotFound(pid)
        poll = entry.polls[pid]
        status = poll["status"]
        now = time.time()
        if status == "closing" and now - poll.get("closing_at", now) > self._stale():
            status = "open"  # its reveal died mid-way (see CLOSE): take it over
        if status == "open":
            poll["status"], poll["closing_at"] = "closing", now
        return status

    def _stale(self) -> float:
        return stale_after(self.settings)

    async def reopen(self, sid: str, pid: str) -> None:
        entry = self._of(sid)
        if entry is not None and pid in entry.polls and entry.polls[pid]["status"] == "closing":
            entry.polls[pid]["status"] = "open"

    async def finish(self, sid: str, pid: str, poll: Poll) -> None:
        entry = self._of(sid)
        if entry is None:
            return
        entry.polls[pid] = {**poll, "status": "revealed"}
        if entry.open == pid:
            entry.open = None


# KEYS: polls, answers. ARGV: pid, poll JSON, max polls, ttl_ms.
CREATE = """
local open = redis.call('HGET', KEYS[1], 'open')
if open then
  local st = redis.call('HGET', KEYS[1], 'st:' .. open)
  if st == 'open' or st == 'closing' then return 'open' end
end
local n = 0
for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(k, 1, 3) == 'st:' then n = n + 1 end
end
if n >= tonumber(ARGV[3]) then return 'full' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], 'st:' .. ARGV[1], 'open', 'open', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 'ok'
"""

# KEYS: polls, answers. ARGV: pid, token, answer JSON, max answers, ttl_ms.
# Returns the number of answers, or 'missing' / 'full' / the poll's status when not open.
ANSWER = """
local st = redis.call('HGET', KEYS[1], 'st:' .. ARGV[1])
if not st then return 'missing' end
if st ~= 'open' then return st end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0
   and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return 'full' end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return redis.call('HLEN', KEYS[2])
"""

# KEYS: polls. ARGV: pid, stale ms. The status before; open becomes closing (and when). A
# poll left closing longer than a reveal can take (its worker died mid-reveal) counts as open.
CLOSE = """
local st = redis.call('HGET', KEYS[1], 'st:' .. ARGV[1])
if not st then return 'missing' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if st == 'closing' then
  local since = tonumber(redis.call('HGET', KEYS[1], 'cl:' .. ARGV[1]) or '0')
  if now - since > tonumber(ARGV[2]) then st = 'open' end
end
if st == 'open' then
  redis.call('HSET', KEYS[1], 'st:' .. ARGV[1], 'closing', 'cl:' .. ARGV[1], now)
end
return st
"""

# KEYS: polls. ARGV: pid.
REOPEN = """
if redis.call('HGET', KEYS[1], 'st:' .. ARGV[1]) == 'closing' then
  redis.call('HSET', KEYS[1], 'st:' .. ARGV[1], 'open')
end
return 1
"""

# KEYS: polls, answers. ARGV: pid, poll JSON, ttl_ms.
FINISH = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], 'st:' .. ARGV[1], 'revealed')
if redis.call('HGET', KEYS[1], 'open') == ARGV[1] then redis.call('HDEL', KEYS[1], 'open') end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
"""


class RedisPolls:
    """The same on Redis: every worker sees the same polls; each write is one script."""

    def __init__(self, settings: Settings, redis: aioredis.Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.ttl_ms = max(1, math.ceil(settings.session_ttl * 1000))
        self._scripts = {name: redis.register_script(text) for name, text in (
            ("create", CREATE), ("answer", ANSWER), ("close", CLOSE), ("reopen", REOPEN),
            ("finish", FINISH))}

    @staticmethod
    def _keys(sid: str, pid: str = "") -> list[str]:
        return [f"{PREFIX}polls:{sid}", f"{PREFIX}answers:{sid}:{pid}"]

    async def _run(self, name: str, keys: list[str], args: list[str | int]) -> int | str:
        try:
            reply = await self._scripts[name](keys=keys, args=args)
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"poll store error: {type(e).__name__}") from None
        return reply.decode() if isinstance(reply, bytes) else reply

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (RedisError, OSError) as e:
            raise StoreUnavailable(f"poll store error: {type(e).__name__}") from None

    async def create(self, sid: str, poll: Poll) -> None:
        reply = await self._run("create", self._keys(sid, poll["poll_id"]), [
            poll["poll_id"], json.dumps(poll), self.settings.poll_max_per_session, self.ttl_ms])
        if reply == "open":
            raise PollConflict(OPEN_ONE)
        if reply == "full":
            raise PollConflict(_too_many(self.settings.poll_max_per_session))

    def _parse(self, raw: bytes | str, status: bytes | str | None) -> Poll:
        poll: Poll = json.loads(raw)
        if status is not None:
            poll["status"] = STATUSES[status.decode() if isinstance(status, bytes) else status]
        return poll

    async def get(self, sid: str, pid: str) -> Poll | None:
        raw, status = await self._call(self.redis.hmget(self._keys(sid)[0], [pid, "st:" + pid]))
        return None if raw is None else self._parse(raw, status)

    async def all(self, sid: str) -> list[Poll]:
        # (the client does not decode replies: keys and values are bytes)
        found = cast(dict[bytes, bytes],
                     await self._call(self.redis.hgetall(self._keys(sid)[0])))
        polls = [self._parse(v, found.get(b"st:" + k)) for k, v in found.items()
                 if not k.startswith((b"st:", b"cl:")) and k != b"open"]
        if polls:  # the teacher's page reads them: they live as long as the session is used
            pipe = self.redis.pipeline(transaction=False)
            pipe.pexpire(self._keys(sid)[0], self.ttl_ms)
            for p in polls:
                pipe.pexpire(self._keys(sid, p["poll_id"])[1], self.ttl_ms)
            await self._call(pipe.execute())
        return sorted(polls, key=lambda p: float(p["created"]))

    async def answer(self, sid: str, pid: str, token: str, record: AnswerRecord) -> int:
        reply = await self._run("answer", self._keys(sid, pid), [
            pid, token, json.dumps(record), self.settings.poll_max_answers, self.ttl_ms])
        if isinstance(reply, int):
            return reply
        if reply == "missing":
            raise PollNotFound(pid)
        if reply == "full":
            raise PollConflict(_full(self.settings.poll_max_answers))
        raise PollConflict(_closed(str(reply)))

    async def count(self, sid: str, pid: str) -> int:
        return int(await self._call(self.redis.hlen(self._keys(sid, pid)[1])))

    async def one(self, sid: str, pid: str, token: str) -> AnswerRecord | None:
        raw = await self._call(self.redis.hget(self._keys(sid, pid)[1], token))
        return None if raw is None else json.loads(raw)

    async def answers(self, sid: str, pid: str) -> dict[str, AnswerRecord]:
        found = cast(dict[bytes, bytes],
                     await self._call(self.redis.hgetall(self._keys(sid, pid)[1])))
        return {k.decode(): json.loads(v) for k, v in found.items()}

    async def close(self, sid: str, pid: str) -> str:
        reply = await self._run("close", self._keys(sid, pid)[:1],
                                [pid, int(stale_after(self.settings) * 1000)])
        if reply == "missing":
            raise PollNotFound(pid)
        return str(reply)

    async def reopen(self, sid: str, pid: str) -> None:
        await self._run("reopen", self._keys(sid, pid)[:1], [pid])

    async def finish(self, sid: str, pid: str, poll: Poll) -> None:
        await self._run("finish", self._keys(sid, pid), [
            pid, json.dumps({**poll, "status": "revealed"}), self.ttl_ms])


def make_poll_store(settings: Settings, redis: aioredis.Redis | None) -> PollStore:
    if redis is not None:
        return RedisPolls(settings, redis)
    return MemoryPolls(settings)
