"""Class polls through the JSON API, on both stores: each field and kind, the 409s, the
tolerance, the reveal (exactly the needed steps, undoable), the CSV, the students' side
through the watch link only, and the bounds. Expected values come from NumPy written here
(the forward pass, the update) or from hand-picked answers around the truth."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

API = "/api/v1"
S = f"{API}/sessions"
TOKENS = ["student-aaaa", "student-bbbb", "student-cccc"]


def setup(c: TestClient) -> tuple[str, str]:
    """A 2–3–1 tanh network with biases (4 xor samples) and its watch link."""
    sid = c.post(S, json={"preset": "xor-bias"}).json()["id"]
    wid = c.post(f"{S}/{sid}/watch").json()["watch_id"]
    return sid, wid


def ask(c: TestClient, sid: str, expect: int = 201, **body: Any) -> dict[str, Any]:
    r = c.post(f"{S}/{sid}/polls", json=body)
    assert r.status_code == expect, r.text
    return r.json()  # type: ignore[no-any-return]


def answer(c: TestClient, wid: str, pid: str, token: str, value: Any, expect: int = 200
           ) -> dict[str, Any]:
    r = c.post(f"{API}/watch/{wid}/polls/{pid}/answers", json={"student": token,
                                                                "answer": value})
    assert r.status_code == expect, r.text
    return r.json()  # type: ignore[no-any-return]


def reveal(c: TestClient, sid: str, pid: str, expect: int = 200) -> dict[str, Any]:
    r = c.post(f"{S}/{sid}/polls/{pid}/reveal")
    assert r.status_code == expect, r.text
    return r.json()  # type: ignore[no-any-return]


# field, layer, index, steps from a fresh pass (F1 F2 B2 B1 U) and where the cursor ends
CASES = [
    ("z", 1, [2, 1], 1, ("forward", 2)),
    ("a", 2, [3, 0], 2, ("backward", 2)),
    ("loss", None, None, 2, ("backward", 2)),
    ("delta", 2, [1, 0], 3, ("backward", 1)),
    ("grad_W", 1, [1, 2], 4, ("update", None)),
    ("grad_b", 2, [0], 3, ("backward", 1)),
    ("delta", 1, [0, 1], 4, ("update", None)),
    ("W", 2, [2, 0], 5, ("forward", 1)),
    ("b", 1, [1], 5, ("forward", 1)),
]


def value_in(state: dict[str, Any], field: str, layer: int | None, index: list[int] | None
             ) -> float:
    if field == "loss":
        return float(state["loss"])
    x: Any = state["layers"][layer - 1][field]  # type: ignore[operator]
    for i in index or []:
        x = x[i]
    return float(x)


@pytest.mark.parametrize(("field", "layer", "index", "steps", "cursor"), CASES)
def test_a_number_poll_reveals_exactly_the_needed_steps(
        any_store_client: TestClient, field: str, layer: int | None, index: list[int] | None,
        steps: int, cursor: tuple[str, int | None]) -> None:
    c = any_store_client
    sid, wid = setup(c)
    before = c.get(f"{S}/{sid}").json()
    quantity: dict[str, Any] = {"field": field}
    if layer is not None:
        quantity.update(layer=layer, index=index)
    poll = ask(c, sid, quantity=quantity, kind="number")
    assert poll["status"] == "open" and poll["answers"] == 0 and "truth" not in poll
    assert c.get(f"{S}/{sid}").json()["version"] == 0  # asking changes nothing
    pid = poll["poll_id"]
    for k, token in enumerate(TOKENS):
        assert answer(c, wid, pid, token, 0.5 * k)["answers"] == k + 1
    got = reveal(c, sid, pid)
    after = c.get(f"{S}/{sid}").json()
    assert (after["cursor"]["next"], after["cursor"]["layer"]) == cursor
    assert after["version"] == 1 and after["undo"]["back"] == 1  # one operation
    assert got["status"] == "revealed" and got["steps"] == steps and got["answers"] == 3
    assert got["truth"] == value_in(after, field, layer, index)
    # Independent checks of the two values a reader can derive by hand here.
    X = np.array(before["batch"]["X"])
    W1, b1 = np.array(before["layers"][0]["W"]), np.array(before["layers"][0]["b"])
    if field == "z":
        assert got["truth"] == pytest.approx(float((X @ W1 + b1)[2, 1]), rel=1e-12)
    if field == "b":
        mid = c.post(f"{S}/{sid}/undo").json()  # back to before the reveal: the whole pass
        assert mid["cursor"] == {"next": "forward", "layer": 1} and mid["version"] == 2
        for _ in range(4):
            mid = c.post(f"{S}/{sid}/step").json()
        lr = before["config"]["learning_rate"]
        expect = b1[1] - lr * mid["layers"][0]["grad_b"][1]
        assert got["truth"] == pytest.approx(expect, rel=1e-12, abs=1e-15)
        return
    # Undo puts the session back exactly; redo gives the same values again.
    back = c.post(f"{S}/{sid}/undo").json()
    assert back["cursor"] == before["cursor"] and back["layers"] == before["layers"]
    again = c.post(f"{S}/{sid}/redo").json()
    assert value_in(again, field, layer, index) == got["truth"]


def test_a_value_on_screen_and_a_second_open_poll_are_409(any_store_client: TestClient) -> None:
    c = any_store_client
    sid, _ = setup(c)
    c.post(f"{S}/{sid}/forward")  # F1: z and a of layer 1 are computed
    for field in ("z", "a"):
        r = c.post(f"{S}/{sid}/polls", json={"quantity": {"field": field, "layer": 1,
                                                          "index": [0, 0]}, "kind": "number"})
        assert r.status_code == 409 and "already computed" in r.json()["detail"]
    ask(c, sid, quantity={"field": "z", "layer": 2, "index": [0, 0]}, kind="sign")
    r = c.post(f"{S}/{sid}/polls", json={"quantity": {"field": "loss"}, "kind": "number"})
    assert r.status_code == 409 and "open" in r.json()["detail"]
    c.post(f"{S}/{sid}/forward")  # F2: now the loss is on screen too
    assert c.get(f"{S}/{sid}/polls").json()[0]["status"] == "open"


def test_tolerance_is_relative(any_store_client: TestClient) -> None:
    c = any_store_client
    sid, wid = setup(c)
    # Learn the truth on a twin session first (same preset, same seed: same numbers).
    twin = c.post(S, json={"preset": "xor-bias"}).json()["id"]
    c.post(f"{S}/{twin}/forward")
    truth = c.get(f"{S}/{twin}").json()["layers"][0]["z"][3][1]
    assert truth != 0
    for tol, within, outside in ((0.01, 1.0099, 1.0101), (0.2, 0.81, 0.79)):
        pid = ask(c, sid, quantity={"field": "z", "layer": 1, "index": [3, 1]},
                  kind="number", tolerance=tol)["poll_id"]
        answer(c, wid, pid, "tol-in-aaaa", truth * within)
        answer(c, wid, pid, "tol-out-bbbb", truth * outside)
        answer(c, wid, pid, "exact-cccc", truth)
        got = reveal(c, sid, pid)
        assert got["truth"] == truth and got["correct"] == 2
        assert got["share_correct"] == pytest.approx(2 / 3)
        mine = c.get(f"{API}/watch/{wid}/polls/{pid}", params={"student": "tol-out-bbbb"})
        assert mine.json()["correct"] is False and mine.json()["answer"] == truth * outside
        assert sum(b["count"] for b in got["histogram"]) == 3
        c.post(f"{S}/{sid}/undo")  # the same value can be asked again


def test_sign_and_choice_polls(any_store_client: TestClient) -> None:
    c = any_store_client
    sid, wid = setup(c)
    pid = ask(c, sid, quantity={"field": "grad_W", "layer": 2, "index": [1, 0]},
              kind="sign")["poll_id"]
    for token, sign in zip(TOKENS, ["+", "-", "0"], strict=True):
        answer(c, wid, pid, token, sign)
    answer(c, wid, pid, "student-dddd", 0.5, expect=422)  # a number is no sign
    got = reveal(c, sid, pid)
    truth = got["truth"]
    right = "+" if truth > 0 else "-" if truth < 0 else "0"
    assert got["right_answer"] == right and got["correct"] == 1
    assert got["histogram"] == [{"answer": s, "count": 1} for s in ("+", "-", "0")]
    # Which hidden neuron gets the largest |δ| for sample 3? (a fresh pass: undo)
    c.post(f"{S}/{sid}/undo")
    names = ["first", "second", "third"]
    poll = ask(c, sid, quantity={"field": "delta", "layer": 1, "index": [3]}, kind="choice",
               choices=names, prompt="Which hidden neuron gets the largest |δ|?")
    assert poll["choices"] == names
    pid = poll["poll_id"]
    answer(c, wid, pid, TOKENS[0], "second")
    answer(c, wid, pid, TOKENS[1], "fourth", expect=422)
    got = reveal(c, sid, pid)
    row = c.get(f"{S}/{sid}").json()["layers"][0]["delta"][3]
    assert got["truth"] == row
    assert got["right_answer"] == names[int(np.argmax(np.abs(row)))]
    assert got["correct"] == (1 if got["right_answer"] == "second" else 0)
    # Choices must name the row's entries (3 here).
    c.post(f"{S}/{sid}/undo")
    r = c.post(f"{S}/{sid}/polls", json={"quantity": {"field": "delta", "layer": 1,
                                                      "index": [3]}, "kind": "choice",
                                         "choices": ["x", "y"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "choices"]


@pytest.mark.parametrize(("body", "loc"), [
    ({"quantity": {"field": "q"}, "kind": "number"}, ["body", "quantity", "field"]),
    ({"quantity": {"field": "z", "layer": 3, "index": [0, 0]}, "kind": "number"},
     ["body", "quantity", "layer"]),
    ({"quantity": {"field": "z", "layer": 1, "index": [4, 0]}, "kind": "number"},
     ["body", "quantity", "index", 0]),
    ({"quantity": {"field": "W", "layer": 2, "index": [0, 1]}, "kind": "number"},
     ["body", "quantity", "index", 1]),
    ({"quantity": {"field": "b", "layer": 1, "index": [0, 0]}, "kind": "number"},
     ["body", "quantity", "index"]),
    ({"quantity": {"field": "loss", "layer": 1}, "kind": "number"}, ["body", "quantity"]),
    ({"quantity": {"field": "loss"}, "kind": "choice"}, ["body", "kind"]),
    ({"quantity": {"field": "loss"}, "kind": "guess"}, ["body", "kind"]),
    ({"quantity": {"field": "loss"}, "kind": "number", "tolerance": 2}, ["body", "tolerance"]),
    ({"quantity": {"field": "loss"}, "kind": "number", "prompt": "x" * 301}, ["body", "prompt"]),
    ({"quantity": {"field": "loss"}, "kind": "number", "choices": ["a", "b"]},
     ["body", "choices"]),
    ({"quantity": "loss", "kind": "number"}, ["body", "quantity"]),
])
def test_bad_polls_are_422_naming_the_field(client: TestClient, body: dict[str, Any],
                                           loc: list[Any]) -> None:
    sid, _ = setup(client)
    r = client.post(f"{S}/{sid}/polls", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc
    assert client.get(f"{S}/{sid}/polls").json() == []


def test_one_token_one_answer_and_none_after_the_reveal(any_store_client: TestClient) -> None:
    c = any_store_client
    sid, wid = setup(c)
    pid = ask(c, sid, quantity={"field": "loss"}, kind="number")["poll_id"]
    assert answer(c, wid, pid, TOKENS[0], 1.0)["answers"] == 1
    assert answer(c, wid, pid, TOKENS[0], 2.0)["answers"] == 1  # replaced
    mine = c.get(f"{API}/watch/{wid}/polls/{pid}", params={"student": TOKENS[0]}).json()
    assert mine["answer"] == 2.0 and "truth" not in mine and mine["status"] == "open"
    assert c.get(f"{API}/watch/{wid}").json()["poll"]["answers"] == 1
    got = reveal(c, sid, pid)
    assert got["answers"] == 1 and got["histogram"][-1]["count"] + sum(
        b["count"] for b in got["histogram"][:-1]) == 1
    r = c.post(f"{API}/watch/{wid}/polls/{pid}/answers",
               json={"student": TOKENS[0], "answer": 3.0})
    assert r.status_code == 409 and "revealed" in r.json()["detail"]
    r = c.post(f"{API}/watch/{wid}/polls/{pid}/answers",
               json={"student": TOKENS[1], "answer": 3.0})
    assert r.status_code == 409
    assert reveal(c, sid, pid, expect=409)["detail"] == "this poll is revealed already"
    public = c.get(f"{API}/watch/{wid}").json()["poll"]
    assert public["status"] == "revealed" and public["truth"] == got["truth"]
    mine = c.get(f"{API}/watch/{wid}/polls/{pid}", params={"student": TOKENS[0]}).json()
    assert mine["answer"] == 2.0 and mine["truth"] == got["truth"]
    assert mine["correct"] == (abs(2.0 - got["truth"]) <= 0.01 * abs(got["truth"]))


def test_watch_link_holders_cannot_ask_or_reveal(any_store_client: TestClient) -> None:
    c = any_store_client
    sid, wid = setup(c)
    pid = ask(c, sid, quantity={"field": "loss"}, kind="number")["poll_id"]
    body = {"quantity": {"field": "z", "layer": 2, "index": [0, 0]}, "kind": "number"}
    assert c.post(f"{S}/{wid}/polls", json=body).status_code == 404
    assert c.post(f"{S}/{wid}/polls/{pid}/reveal").status_code == 404
    assert c.get(f"{S}/{wid}/polls/{pid}").status_code == 404
    assert c.get(f"{S}/{wid}/polls/{pid}/answers.csv").status_code == 404
    assert c.post(f"{API}/watch/{wid}/polls", json=body).status_code in (404, 405)
    assert c.post(f"{API}/watch/{wid}/polls/{pid}/reveal").status_code in (404, 405)
    # Students never see the truth before the reveal, nor the session id.
    public = c.get(f"{API}/watch/{wid}").json()["poll"]
    assert public["status"] == "open" and "truth" not in public and "quantity" not in public
    assert sid not in c.get(f"{API}/watch/{wid}").text
    # Answering needs a live link; the session's own id is no watch link.
    assert c.post(f"{API}/watch/{sid}/polls/{pid}/answers",
                  json={"student": TOKENS[0], "answer": 1}).status_code == 404
    c.delete(f"{S}/{sid}/watch")
    assert c.post(f"{API}/watch/{wid}/polls/{pid}/answers",
                  json={"student": TOKENS[0], "answer": 1}).status_code == 404
    assert c.get(f"{S}/{sid}/polls/{pid}").json()["answers"] == 0


def test_bounds(make_client: Any, store_url: str) -> None:
    c = make_client(store=store_url, poll_max_answers=2, poll_max_per_session=2,
                    poll_answer_max_bytes=200)
    sid, wid = setup(c)
    pid = ask(c, sid, quantity={"field": "loss"}, kind="number")["poll_id"]
    url = f"{API}/watch/{wid}/polls/{pid}/answers"
    r = c.post(url, json={"student": TOKENS[0], "answer": 1, "nickname": "n" * 300})
    assert r.status_code == 413 and "poll_answer_max_bytes" in r.json()["detail"]
    for bad, loc in (({"student": "short", "answer": 1}, "student"),
                     ({"student": "bad token!!", "answer": 1}, "student"),
                     ({"student": TOKENS[0], "answer": "1"}, "answer"),
                     ({"student": TOKENS[0], "answer": True}, "answer"),
                     ({"student": TOKENS[0], "answer": 1e308 * 10}, "json")):
        r = c.post(url, content=__import__("json").dumps(bad),
                   headers={"content-type": "application/json"})
        assert r.status_code in (400, 422), (bad, r.text)
        if r.status_code == 422 and loc != "json":
            assert r.json()["detail"][0]["loc"][:2] == ["body", loc]
    answer(c, wid, pid, TOKENS[0], 1)
    answer(c, wid, pid, TOKENS[1], 1)
    r = c.post(url, json={"student": TOKENS[2], "answer": 1})
    assert r.status_code == 409 and "poll_max_answers" in r.json()["detail"]
    answer(c, wid, pid, TOKENS[1], 5)  # a known token may still change its answer
    reveal(c, sid, pid)
    c.post(f"{S}/{sid}/undo")
    pid2 = ask(c, sid, quantity={"field": "loss"}, kind="sign")["poll_id"]
    reveal(c, sid, pid2)
    c.post(f"{S}/{sid}/undo")
    r = c.post(f"{S}/{sid}/polls", json={"quantity": {"field": "loss"}, "kind": "number"})
    assert r.status_code == 409 and "poll_max_per_session" in r.json()["detail"]
    assert len(c.get(f"{S}/{sid}/polls").json()) == 2


def test_csv_has_one_row_per_answer_and_no_tokens(any_store_client: TestClient) -> None:
    c = any_store_client
    sid, wid = setup(c)
    pid = ask(c, sid, quantity={"field": "a", "layer": 2, "index": [0, 0]},
              kind="sign")["poll_id"]
    for token, sign in zip(TOKENS, ["+", "-", "-"], strict=True):
        answer(c, wid, pid, token, sign)
    before = list(csv.reader(io.StringIO(c.get(f"{S}/{sid}/polls/{pid}/answers.csv").text)))
    assert before[0] == ["poll", "quantity", "kind", "answer", "correct", "time"]
    assert {r[4] for r in before[1:]} == {""}  # not revealed yet
    got = reveal(c, sid, pid)
    r = c.get(f"{S}/{sid}/polls/{pid}/answers.csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))[1:]
    assert len(rows) == 3 and all(row[:3] == [pid, "a[2][0, 0]", "sign"] for row in rows)
    assert sorted(row[3] for row in rows) == ["+", "-", "-"]
    right = got["right_answer"]
    assert [row[4] for row in rows] == [str(row[3] == right).lower() for row in rows]
    assert all(token not in r.text for token in TOKENS) and "testclient" not in r.text
    assert all(row[5].endswith("+00:00") for row in rows)


def test_reveal_after_the_teacher_stepped_there_or_past(any_store_client: TestClient) -> None:
    c = any_store_client
    sid, wid = setup(c)
    # Stepped to the value by hand: the reveal runs nothing and takes the value on screen.
    pid = ask(c, sid, quantity={"field": "a", "layer": 1, "index": [1, 2]},
              kind="number")["poll_id"]
    answer(c, wid, pid, TOKENS[0], 0.0)
    on_screen = c.post(f"{S}/{sid}/forward").json()
    got = reveal(c, sid, pid)
    assert got["steps"] == 0 and got["truth"] == on_screen["layers"][0]["a"][1][2]
    assert c.get(f"{S}/{sid}").json()["version"] == on_screen["version"]  # nothing ran
    # Moved past it (a whole pass later): no true value, nothing runs, nobody is right.
    pid = ask(c, sid, quantity={"field": "z", "layer": 2, "index": [0, 0]},
              kind="sign")["poll_id"]
    answer(c, wid, pid, TOKENS[1], "+")
    for _ in range(4):  # F2 B2 B1 U: iteration 1, a new pass
        c.post(f"{S}/{sid}/step")
    before = c.get(f"{S}/{sid}").json()
    assert before["iteration"] == 1
    got = reveal(c, sid, pid)
    assert got["truth"] is None and got["right_answer"] is None and got["correct"] == 0
    assert c.get(f"{S}/{sid}").json()["version"] == before["version"]
    mine = c.get(f"{API}/watch/{wid}/polls/{pid}", params={"student": TOKENS[1]}).json()
    assert mine["truth"] is None and mine["correct"] is None


def test_a_reveal_that_died_mid_way_is_taken_over(make_client: Any, store_url: str) -> None:
    import time

    c = make_client(store=store_url, lock_timeout=1.2, train_time_budget=0.1)
    sid, wid = setup(c)
    pid = ask(c, sid, quantity={"field": "loss"}, kind="number")["poll_id"]
    store = c.app.state.polls.store  # type: ignore[attr-defined]
    assert c.portal.call(store.close, sid, pid) == "open"  # a reveal that never finishes
    assert c.get(f"{S}/{sid}/polls/{pid}").json()["status"] == "closing"
    assert reveal(c, sid, pid, expect=409)["detail"] == "this poll is being revealed"
    answer(c, wid, pid, TOKENS[0], 1.0, expect=409)
    time.sleep(2 * 1.2 + 0.2)  # stale_after: twice lock_timeout
    got = reveal(c, sid, pid)
    assert got["status"] == "revealed" and got["truth"] is not None and got["steps"] == 2
