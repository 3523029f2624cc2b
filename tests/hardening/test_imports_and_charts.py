"""Issue #8, defects 1, 5 and 7: imports validated as strictly as creation, charts that
terminate for any finite input, finiteness checks that do not overflow."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.nn.network import Network, Spec, all_finite
from app.nn.stepper import Data, Hyper, Trainer
from app.web.drawing.charts import MAX_TICKS, loss_curve, nice_ticks
from tests.conftest import API

SESSIONS = f"{API}/sessions"
MakeClient = Callable[..., TestClient]


def exported(client: TestClient, **config: Any) -> dict[str, Any]:
    sid = client.post(SESSIONS, json=config or {"preset": "seed-xor"}).json()["id"]
    assert client.post(f"{SESSIONS}/{sid}/train", json={"epochs": 3}).status_code == 200
    doc: dict[str, Any] = client.get(f"{SESSIONS}/{sid}/export").json()
    return doc


def assert_422(r: Any, loc: list[Any], *words: str) -> None:
    assert r.status_code == 422, r.text[:400]
    detail = r.json()["detail"]
    assert any(d["loc"][: len(loc)] == loc for d in detail), detail
    for word in words:
        assert word in r.text, (word, r.text)


# --- defect 1: the endless loop ----------------------------------------------------------------
@pytest.mark.timeout(20)
def test_history_epochs_beyond_2_53_are_refused_and_charts_terminate(
    any_store_client: TestClient,
) -> None:
    client = any_store_client
    doc = exported(client)
    doc["history"] = [{"epoch": 9007199254740992, "loss": 1}, {"epoch": 9007199254740994,
                                                               "loss": 0.5}]
    assert_422(client.post(f"{SESSIONS}/import", json=doc), ["body", "history", 0, "epoch"],
               "max_history_epoch")
    # The chart itself no longer loops on such points (it did for ever: v += step was a no-op).
    curve = loss_curve([{"epoch": 9007199254740992, "loss": 1.0, "test_loss": None},
                        {"epoch": 9007199254740994, "loss": 0.5, "test_loss": None}], False)
    assert curve.points == 2 and len(curve.xticks) <= MAX_TICKS


@pytest.mark.parametrize("history, field", [
    ([{"epoch": 10**400, "loss": 1}], "epoch"),  # 10**400: beyond any float
    ([{"epoch": 10**17, "loss": 1}], "epoch"),
    ([{"epoch": 2**63, "loss": 1}], "epoch"),  # the Redis store's int64
    ([{"epoch": 1, "loss": 1}, {"epoch": 1, "loss": 1}], "epoch"),  # not increasing
    ([{"epoch": 2, "loss": 1}, {"epoch": 1, "loss": 1}], "epoch"),
    ([{"epoch": 5, "loss": 1}], "epoch"),  # not below the session's epoch (3)
    ([{"epoch": -1, "loss": 1}], "epoch"),
    ([{"epoch": 0, "loss": -1}], "loss"),
    ([{"epoch": 0, "loss": 1, "test_loss": -2}], "test_loss"),
])
def test_bad_history_points_are_422(
    any_store_client: TestClient, history: list[Any], field: str,
) -> None:
    doc = exported(any_store_client)
    doc["history"] = history
    r = any_store_client.post(f"{SESSIONS}/import", json=doc)
    assert_422(r, ["body", "history"], field)


@pytest.mark.parametrize("key, value", [
    ("epoch", 2**64), ("epoch", 10**9 + 1), ("iteration", 10**16), ("batch_pos", 7),
    ("epoch_loss_sum", "0x1p+1024"), ("epoch_loss_sum", "inf"), ("epoch_loss_sum", "zz"),
    ("epoch_test_loss", "0x1p+1024"),
])
def test_bad_counters_are_422(any_store_client: TestClient, key: str, value: Any) -> None:
    doc = exported(any_store_client)
    doc[key] = value
    r = any_store_client.post(f"{SESSIONS}/import", json=doc)
    assert_422(r, ["body", key])


def test_a_huge_but_finite_history_imports_and_every_view_works(
    any_store_client: TestClient,
) -> None:
    """Losses up to the largest float are what training can reach: they import (a round trip
    must work) and the page, the loss curve on both scales, a Play tick and train all answer."""
    client = any_store_client
    doc = exported(client)
    doc["history"] = [{"epoch": 0, "loss": 1.75e308, "test_loss": 1.7e308},
                      {"epoch": 1, "loss": 5e-324}, {"epoch": 2, "loss": 0.0}]
    r = client.post(f"{SESSIONS}/import", json=doc)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    for url in (f"/s/{sid}", f"/s/{sid}?log=1"):
        assert client.get(url).status_code == 200
    assert client.post(f"/s/{sid}/tick?n=1").status_code == 200
    r = client.post(f"{SESSIONS}/{sid}/train", json={"epochs": 2})
    assert r.status_code == 200 and r.json()["epoch"] == 6


def test_the_largest_importable_counters_keep_working_and_round_trip(
    any_store_client: TestClient,
) -> None:
    """Counters at the limits import, render, step, train (on Redis: serialise) up to the
    limit and no further, and the export imports again."""
    client = any_store_client
    doc = exported(client)
    doc["epoch"], doc["iteration"] = 10**9 - 2, 10**15 - 10
    doc["history"] = [{"epoch": 10**9 - 3, "loss": 1.75e308}]
    r = client.post(f"{SESSIONS}/import", json=doc)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert client.get(f"/s/{sid}").status_code == 200
    assert client.post(f"{SESSIONS}/{sid}/step").status_code == 200
    r = client.post(f"{SESSIONS}/{sid}/train", json={"epochs": 2})
    assert r.status_code == 200 and r.json()["epoch"] == 10**9
    r = client.post(f"{SESSIONS}/{sid}/train", json={"epochs": 1})
    assert r.status_code == 422 and "max_history_epoch" in r.text
    again = client.post(f"{SESSIONS}/import", json=client.get(f"{SESSIONS}/{sid}/export").json())
    assert again.status_code == 201, again.text


def test_empty_inline_test_sets_are_422(client: TestClient) -> None:
    r = client.post(SESSIONS, json={"layers": [2, 1], "dataset": {
        "X": [[0, 1]], "Y": [[1]], "X_test": [], "Y_test": []}})
    assert_422(r, ["body", "dataset", "X_test"], "omit")


def test_new_with_a_long_preset_is_422_not_500(client: TestClient) -> None:
    r = client.get("/new", params={"preset": "x" * 200}, follow_redirects=False)
    assert r.status_code == 422 and "<html" in r.text
    assert "is too long: at most 64 characters." in r.text


# --- charts for any finite input ------------------------------------------------------------
finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(finite, finite, st.integers(1, 10))
def test_nice_ticks_terminate_and_stay_small(lo: float, hi: float, count: int) -> None:
    ticks = nice_ticks(lo, hi, count)
    assert 1 <= len(ticks) <= MAX_TICKS
    assert all(math.isfinite(t) for t in ticks)
    assert ticks == sorted(set(ticks))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 2**80), finite.filter(lambda v: v >= 0),
                          st.none() | finite), min_size=1, max_size=6),
       st.booleans())
def test_loss_curve_terminates_for_any_finite_history(
    points: list[tuple[int, float, float | None]], log: bool,
) -> None:
    points = sorted({e: (e, v, t) for e, v, t in points}.values())
    curve = loss_curve([{"epoch": e, "loss": v, "test_loss": t} for e, v, t in points], log)
    assert curve.points == len(points)
    assert len(curve.xticks) <= MAX_TICKS and len(curve.yticks) <= MAX_TICKS + 1
    for number in curve.train.replace("M", " ").replace("L", " ").split():
        assert math.isfinite(float(number))
    for tick in curve.xticks + curve.yticks:
        assert math.isfinite(tick.pos)


# --- defect 7: finiteness checks must not overflow -----------------------------------------
def test_all_finite_is_element_wise() -> None:
    big = np.array([1.7e308, 1.7e308])
    assert all_finite(big)  # the old check summed: 3.4e308 overflowed to inf
    assert not all_finite(np.array([1.0, np.inf])) and not all_finite(np.array([np.nan]))


def huge_but_fine() -> Trainer:
    """1-2-1, linear: z1 = [1e308, 1e308] (finite, their sum is not), ŷ ≈ 2 = y, so every
    gradient is tiny and nothing diverges."""
    spec = Spec(layers=(1, 2, 1), hidden_activation="linear", output_activation="linear",
                bias=False)
    net = Network(spec, [np.array([[1e308, 1e308]]), np.array([[1e-308], [1e-308]])], None)
    return Trainer(net=net, data=Data(np.array([[1.0]]), np.array([[2.0]])), hyper=Hyper(0.1))


def test_a_step_and_train_agree_on_large_finite_weights() -> None:
    stepped = huge_but_fine()
    stepped.forward_all()
    stepped.backward_all()
    assert stepped.update_step() and stepped.status == "ok"
    trained = huge_but_fine()
    assert trained.run(1) == (1, None) and trained.status == "ok"
    for a, b in zip(stepped.net.W, trained.net.W, strict=True):
        assert np.array_equal(a, b)
    assert stepped.history.loss == trained.history.loss
    assert 0 <= stepped.history.loss[0] < 1e-30  # ŷ = 2 up to rounding
