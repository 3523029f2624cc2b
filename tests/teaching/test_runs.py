"""Long runs (Train N on the page, app/sessions/runs.py): however many chunks a run takes, it is
one undo step, and undoing it restores the state before it exactly — also when the run
compacted the loss history — on both stores. Cancel keeps what was trained; anything else done
to the session ends the run; a chunk of an ended run changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.sessions.config import SessionConfig, normalize
from app.sessions.model import Session
from app.sessions.run_state import Run
from app.sessions.undo import NO_TAIL, RestorePoint, compose
from tests.teaching.helpers import S, snapshot, state

HX = {"hx-request": "true"}


def runner_url(html: str) -> str:
    m = re.search(r'<div id="player" class="playing running" hx-post="([^"]+)"', html)
    assert m, "the reply to Train turns the player into the run's poller"
    return m.group(1).replace("&amp;", "&")


def start(c: TestClient, sid: str, epochs: int) -> str:
    r = c.post(f"/s/{sid}/do", data={"op": "train", "epochs": str(epochs)}, headers=HX)
    assert r.status_code == 200, r.text
    return runner_url(r.text)


def chunk(c: TestClient, url: str) -> tuple[int, str]:
    r = c.post(url, data={"have": ""}, headers=HX)
    assert r.status_code in (200, 286), r.text
    return r.status_code, r.text


def finish(c: TestClient, url: str) -> int:
    """Poll the run's chunks until the server stops the polling (286); how many it took."""
    for n in range(1, 1000):
        if chunk(c, url)[0] == 286:
            return n
    raise AssertionError("the run never ended")


@pytest.fixture
def teach(make_client: Callable[..., TestClient], store_url: str) -> TestClient:
    # Chunks as small as the kernel makes them (one clock reading: 64 mini-batches = 32
    # epochs of xor with batches of 2), and history_limit 16, so a 100-epoch run takes
    # several chunks and compacts the loss curve on the way.
    return make_client(store=store_url, history_limit=16, run_chunk_budget=1e-9,
                       create_rate_limit=0)


def test_a_run_of_many_chunks_is_one_undo_step_exactly(teach: TestClient) -> None:
    c = teach
    sid = c.post(S, json={"preset": "xor-bias", "batch_size": 2}).json()["id"]
    for path, body in (("/train", {"epochs": 3}), ("/forward", {"through": "all"}),
                       ("/backward", {"through": "all"}), ("/update", None)):
        assert c.post(f"{S}/{sid}{path}", json=body).status_code == 200  # mid-epoch now
    assert state(c, sid)["undo"]["back"] == 4
    before = snapshot(c, sid)
    assert (before[0]["epoch"], before[0]["iteration"]) == (3, 7)  # 2 batches an epoch
    url = start(c, sid, 100)
    n = 1 + finish(c, url)
    after = snapshot(c, sid)
    s = after[0]
    assert n >= 4, "the run took several chunks"
    # The partly done epoch counts as the first of the 100 (as for the API's train).
    assert s["epoch"] == 103 and s["status"] == "ok"
    assert len(s["history"]) <= 16 < 103, "the run compacted the history"
    assert state(c, sid)["undo"] == {"back": 5, "forward": 0}, "the whole run is one step"
    assert c.post(f"{S}/{sid}/undo").status_code == 200
    assert snapshot(c, sid) == before
    assert c.post(f"{S}/{sid}/redo").status_code == 200
    assert snapshot(c, sid) == after


def test_cancel_keeps_what_was_trained_and_the_run_stops(teach: TestClient) -> None:
    c = teach
    sid = c.post(S, json={"preset": "xor-bias", "batch_size": 2}).json()["id"]
    url = start(c, sid, 1000)
    assert chunk(c, url)[0] == 200
    trained = state(c, sid)
    assert 0 < trained["epoch"] < 1000
    r = c.post(f"/s/{sid}/do", data={"op": "cancel"}, headers=HX)
    assert r.status_code == 200
    assert f"the {trained['epoch']} epochs trained so far are kept (1,000 asked)" in r.text
    kept = state(c, sid)
    assert kept["epoch"] == trained["epoch"] and kept["undo"] == {"back": 1, "forward": 0}
    # A chunk already on its way when Cancel was pressed changes nothing and stops polling.
    status, html = chunk(c, url)
    assert status == 286 and "That training run has already ended." in html
    again = state(c, sid)
    assert (again["epoch"], again["version"]) == (kept["epoch"], kept["version"])
    assert c.post(f"{S}/{sid}/undo").json()["epoch"] == 0


def test_any_other_step_ends_the_run(teach: TestClient) -> None:
    c = teach
    sid = c.post(S, json={"preset": "xor-bias", "batch_size": 2}).json()["id"]
    url = start(c, sid, 1000)
    assert c.post(f"{S}/{sid}/step").status_code == 200
    epoch = state(c, sid)["epoch"]
    assert chunk(c, url)[0] == 286
    s = state(c, sid)
    assert s["epoch"] == epoch and s["undo"]["back"] == 2  # the run's step, then the step's


def test_a_diverging_run_stops_and_says_so(make_client: Callable[..., TestClient]) -> None:
    c = make_client(run_chunk_budget=1e-9)
    sid = c.post(S, json={"preset": "plane-regression", "learning_rate": 100.0,
                          "dataset": {"name": "plane", "samples": 50},
                          "batch_size": None}).json()["id"]
    r = c.post(f"/s/{sid}/do", data={"op": "train", "epochs": "100000"}, headers=HX)
    html = r.text
    if 'class="playing running"' in html:  # did not diverge in the first chunk
        status, html = 200, ""
        url = runner_url(r.text)
        while status == 200:
            status, html = chunk(c, url)
    assert "The next step would diverge, so training stopped." in html
    assert state(c, sid)["status"] == "diverged"


def point(keep: int, tail: list[int], label: str = "p") -> RestorePoint:
    """A restore point whose history tail is epochs ``tail`` (losses 0.5 × epoch)."""
    t = (tuple(tail), tuple(0.5 * e for e in tail), tuple(None for _ in tail),
         tuple(None for _ in tail))
    return RestorePoint(label, 0.0, 0, (), "t", keep, t if tail else NO_TAIL)


def history_after(h: list[int], p: RestorePoint) -> list[int]:
    """What applying ``p`` does to a history of epochs ``h`` (as undo.restore does)."""
    return h[:p.history_keep] + list(p.history_tail[0])


@pytest.mark.parametrize(("h0", "h1", "h2"), [
    ([0, 1, 2], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5, 6]),  # both chunks appended
    ([0, 1, 2, 3], [0, 1, 2, 3, 4, 5], [0, 2, 4, 6]),  # the second compacted
    ([0, 1, 2, 3], [0, 2, 4, 6], [0, 4, 8]),  # both compacted
    ([], [0, 1], [0, 1, 2]),
])
def test_compose_is_applying_the_newer_point_then_the_older(
        h0: list[int], h1: list[int], h2: list[int]) -> None:
    """Histories h0 → (chunk 1) → h1 → (chunk 2) → h2; each chunk's point keeps the common
    prefix, as undo.point_after does (a replaced list keeps nothing)."""
    def made(before: list[int], after: list[int]) -> RestorePoint:
        k = len(before) if after[:len(before)] == before else 0
        return point(k, before[k:])

    p1, p2 = made(h0, h1), made(h1, h2)
    assert history_after(history_after(h2, p2), p1) == h0  # the two points, one by one
    both = compose(p2, p1)
    assert history_after(h2, both) == h0
    assert both.history_tail[1] == tuple(0.5 * e for e in h0[both.history_keep:])


def test_compose_takes_each_field_from_the_older_point_first() -> None:
    W_old, W_new = np.array([[1.0]]), np.array([[2.0]])
    older = point(0, [], "run:5:x")
    newer = RestorePoint("run:5:x", 9.0, 7, (1,), "u", 0, NO_TAIL,
                         weights=([W_new], None))
    assert compose(newer, older).weights == ([W_new], None)  # older: "unchanged" (None)
    older.weights = ([W_old], None)
    both = compose(newer, older)
    assert both.weights == ([W_old], None)
    assert (both.label, both.at, both.version, both.counters, both.task) == (
        "run:5:x", 0.0, 0, (), "t")


def test_the_run_survives_the_session_bytes() -> None:
    settings = Settings()
    s = Session.create(normalize(SessionConfig(preset="seed-xor"), settings), settings)
    s.run = Run("abc", 30_000, 30_005, 5, 1234.5)
    back = Session.from_bytes(s.to_bytes(), settings)
    assert back.run == s.run
    s.run = None
    assert Session.from_bytes(s.to_bytes(), settings).run is None
