"""Issue 23: a reply tells the truth about what Redis stored. A save whose reply is lost
(Redis paused past the socket timeout, a dropped connection, the client's retry finding its
own lock already released) is settled from the session's receipts before answering: 200 when
it was stored (exactly once), 503 "not saved" when it was not (and then never will be), 503
"may or may not" only when Redis cannot be asked."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.conftest import API
from tests.redis_fixture import RedisServer

S = f"{API}/sessions"
pytestmark = pytest.mark.redis


@pytest.fixture
def c(make_client: Callable[..., TestClient], redis_url: str) -> TestClient:
    return make_client(store=redis_url, lock_timeout=10)


def scripts(c: TestClient) -> dict[str, Any]:
    found: dict[str, Any] = c.app.state.store._scripts  # type: ignore[attr-defined]
    return found


def counters(c: TestClient, sid: str) -> tuple[int, int, int]:
    st = c.get(f"{S}/{sid}").json()
    return st["version"], st["epoch"], st["iteration"]


def wrap(c: TestClient, name: str, before: bool, after: bool) -> list[int]:
    """Make script ``name`` fail once with a timeout: before running (nothing stored) and/or
    after running (stored, reply lost). Returns the count of calls that ran."""
    real = scripts(c)[name]
    ran: list[int] = []

    async def call(keys: list[Any], args: list[Any]) -> Any:
        scripts(c)[name] = real  # once
        if before:
            raise RedisTimeoutError("injected: no answer")
        out = await real(keys=keys, args=args)
        ran.append(1)
        if after:
            raise RedisConnectionError("injected: reply lost")
        return out

    scripts(c)[name] = call
    return ran


def test_a_lost_reply_of_a_save_that_was_stored_answers_200(c: TestClient) -> None:
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    v, e, i = counters(c, sid)
    ran = wrap(c, "save", before=False, after=True)
    r = c.post(f"{S}/{sid}/train", json={"epochs": 2})
    assert r.status_code == 200, r.text
    assert ran == [1]
    assert counters(c, sid) == (v + 1, e + 2, r.json()["iteration"]) and r.json()["epoch"] == e + 2
    assert r.json()["iteration"] > i
    # the lock was released by the save itself: the next change goes through at once
    assert c.post(f"{S}/{sid}/step").status_code == 200


def test_a_save_that_never_ran_answers_503_not_saved_and_frees_the_lock(c: TestClient) -> None:
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    before = counters(c, sid)
    wrap(c, "save", before=True, after=False)
    r = c.post(f"{S}/{sid}/train", json={"epochs": 2})
    assert r.status_code == 503 and "was not saved" in r.text, r.text
    assert counters(c, sid) == before
    # settle released our lock: no wait for lock_timeout (10 s) before the next change
    r = c.post(f"{S}/{sid}/train", json={"epochs": 2})
    assert r.status_code == 200 and counters(c, sid)[1] == before[1] + 2


def test_when_redis_cannot_say_the_reply_says_so(c: TestClient) -> None:
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    wrap(c, "save", before=True, after=False)
    wrap(c, "settle", before=True, after=False)
    r = c.post(f"{S}/{sid}/step")
    assert r.status_code == 503 and "may or may not" in r.text, r.text
    assert "discarded" not in r.text


def test_a_retried_save_that_finds_its_lock_gone_was_saved(c: TestClient) -> None:
    """The issue's case: the first attempt ran, its reply was lost, the client's retry found
    the lock released (-1): that is a save, not a discard."""
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    v, e, _ = counters(c, sid)
    real = scripts(c)["save"]

    async def twice(keys: list[Any], args: list[Any]) -> Any:
        scripts(c)["save"] = real
        await real(keys=keys, args=args)
        return await real(keys=keys, args=args)  # the retry: -1

    scripts(c)["save"] = twice
    r = c.post(f"{S}/{sid}/train", json={"epochs": 3})
    assert r.status_code == 200, r.text
    assert counters(c, sid)[:2] == (v + 1, e + 3)


def test_redis_paused_during_a_save(make_client: Callable[..., TestClient], redis_url: str,
                                    redis_server: RedisServer) -> None:
    """SIGSTOP redis-server just before the save, SIGCONT after the client's socket timeout
    (5 s): the save's reply is lost and the client retries; whatever happened, the reply and
    the stored state agree, and the change is applied once."""
    c = make_client(store=redis_url, lock_timeout=30)
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    v, e, _ = counters(c, sid)
    real = scripts(c)["save"]
    assert redis_server.proc is not None
    pid = redis_server.proc.pid

    async def paused(keys: list[Any], args: list[Any]) -> Any:
        scripts(c)["save"] = real
        os.kill(pid, signal.SIGSTOP)
        threading.Timer(6.0, os.kill, (pid, signal.SIGCONT)).start()
        return await real(keys=keys, args=args)

    scripts(c)["save"] = paused
    try:
        r = c.post(f"{S}/{sid}/train", json={"epochs": 2})
    finally:
        os.kill(pid, signal.SIGCONT)
    after = counters(c, sid)
    if r.status_code == 200:
        assert after[:2] == (v + 1, e + 2)
    else:
        assert r.status_code == 503 and "discarded" not in r.text, r.text
        assert after[:2] == (v, e) or "may or may not" in r.text
    # the same change again applies once more, no more
    assert c.post(f"{S}/{sid}/train", json={"epochs": 2}).status_code == 200
    assert counters(c, sid)[1] == after[1] + 2
