"""POST …/train says how many epochs remain, and trains up to a target epoch: the loop a script
uses to go past one call's time budget (docs/api.md)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

S = "/api/v1/sessions"


def test_remaining_counts_down_and_the_loop_reaches_the_target(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client(train_time_budget=1e-9, create_rate_limit=0)  # one kernel chunk per call
    sid = c.post(S, json={"preset": "xor-bias", "batch_size": 1}).json()["id"]
    r = c.post(f"{S}/{sid}/train", json={"epochs": 100}).json()
    assert r["stopped"] == "time_budget" and r["remaining"] == 100 - r["ran"] > 0
    target, calls = 200, 0
    while True:  # while epoch < target: train
        r = c.post(f"{S}/{sid}/train", json={"target_epoch": target}).json()
        calls += 1
        assert r["remaining"] == target - r["epoch"]
        if not r["remaining"]:
            break
        assert r["stopped"] == "time_budget"
    assert calls > 1 and r["epoch"] == target and r["stopped"] is None
    # Repeating the call when nothing remains changes nothing (not even the version).
    again = c.post(f"{S}/{sid}/train", json={"target_epoch": target}).json()
    assert (again["epoch"], again["version"], again["ran"], again["remaining"]) == (
        target, r["version"], 0, 0)
    # A whole call's worth reports 0 remaining with the old fields unchanged.
    r = c.post(f"{S}/{sid}/train", json={"epochs": 1}).json()
    assert (r["ran"], r["stopped"], r["remaining"]) == (1, None, 0)


def test_target_epoch_errors_name_the_field_and_the_limit(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client(max_epochs=50, create_rate_limit=0)
    sid = c.post(S, json={"preset": "seed-xor"}).json()["id"]
    for body, words in (({"target_epoch": 51}, "at most max_epochs (50)"),
                        ({"target_epoch": 5, "epochs": 3}, "not both"),
                        ({"target_epoch": -1}, "greater than or equal to 0")):
        r = c.post(f"{S}/{sid}/train", json=body)
        assert r.status_code == 422, body
        err = r.json()["detail"][0]
        assert err["loc"] == ["body", "target_epoch"] and words in err["msg"], err
    assert c.get(f"{S}/{sid}").json()["epoch"] == 0
    assert c.post(f"{S}/{sid}/train", json={"target_epoch": 50}).json()["epoch"] == 50


def test_a_target_call_is_named_train_in_the_timeline(make_client: Callable[..., TestClient]
                                                      ) -> None:
    c = make_client(create_rate_limit=0)
    sid = c.post(S, json={"preset": "seed-xor"}).json()["id"]
    c.post(f"{S}/{sid}/train", json={"target_epoch": 5})
    page = c.get(f"/s/{sid}").text
    assert 'aria-current="step">Train</span>' in page
