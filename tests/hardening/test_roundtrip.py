"""Issue 23: every creatable session's export imports again and continues bit for bit: each
preset (trained, mid-pass, with an added point where it takes one) and fuzzed odd configs
(Hypothesis: any config the API accepts, trained, exports a document the API imports)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.nn import choices
from app.sessions.config import PRESETS
from tests.conftest import API

S = f"{API}/sessions"
NAMED = ("xor", "and", "or", "circle", "xor_scatter", "gauss", "spiral", "plane", "multi_gauss")


@pytest.fixture
def c(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def exported(c: TestClient, sid: str) -> dict[str, Any]:
    r = c.get(f"{S}/{sid}/export")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def roundtrip(c: TestClient, sid: str, epochs: int = 2) -> None:
    """Export, import: the same weights, counters and history; then both continue the same."""
    doc = exported(c, sid)
    r = c.post(f"{S}/import", json=doc)
    assert r.status_code == 201, r.text[:400]
    new = r.json()["id"]
    keys = ("weights", "epoch", "iteration", "batch_pos", "epoch_loss_sum", "history", "status")
    again = exported(c, new)
    assert {k: again[k] for k in keys} == {k: doc[k] for k in keys}
    assert all(p["loss"] >= 0 for p in doc["history"])
    runs = [c.post(f"{S}/{x}/train", json={"epochs": epochs}) for x in (sid, new)]
    assert [r.status_code for r in runs] == [200, 200]
    a, b = exported(c, sid), exported(c, new)
    assert a["weights"] == b["weights"] and a["history"] == b["history"]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_exports_and_imports(c: TestClient, preset: str) -> None:
    sid = c.post(S, json={"preset": preset}).json()["id"]
    assert c.post(f"{S}/{sid}/train", json={"epochs": 3}).status_code == 200
    assert c.post(f"{S}/{sid}/forward").status_code == 200  # a pass in progress
    cfg = c.get(f"{S}/{sid}").json()["config"]
    point = c.post(f"{S}/{sid}/points", json={"x1": 0.25, "x2": -0.5, "y": 1})
    assert point.status_code in (200, 422), point.text  # (only 2-D one-target data takes it)
    if cfg["dataset"].get("name") not in (None, "inline"):
        assert point.status_code == 200 or cfg["layers"][-1] > 2
    roundtrip(c, sid)


def configs() -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out_act = draw(st.sampled_from(choices.OUTPUT_ACTIVATIONS))
        loss = {"softmax": "cross_entropy"}.get(out_act) or draw(st.sampled_from(
            ["squared_error", "binary_cross_entropy"] if out_act == "sigmoid"
            else ["squared_error"]))
        n_out = draw(st.sampled_from([2, 3])) if out_act == "softmax" else 1
        hidden = draw(st.lists(st.integers(1, 5), min_size=0, max_size=3))
        feats = draw(st.sampled_from([None, ["x1", "x2", "x1_sq"], ["x1_x2", "sin_x1"],
                                      ["x2_sq"]]))
        n_in = 2 if feats is None else len(feats)
        cfg: dict[str, Any] = {
            "layers": [n_in, *hidden, n_out], "output_activation": out_act, "loss": loss,
            "hidden_activation": draw(st.sampled_from(choices.HIDDEN_ACTIVATIONS)),
            "reduction": draw(st.sampled_from(choices.REDUCTIONS)),
            "learning_rate": draw(st.sampled_from([0.01, 0.5, 3.0, 80.0])),
            "bias": draw(st.booleans()), "batch_size": draw(st.sampled_from([None, 1, 3])),
            "regularization": {"kind": draw(st.sampled_from(choices.REG_KINDS)),
                               "rate": draw(st.sampled_from([0.0, 0.01, 5.0]))},
        }
        if feats is not None:
            cfg["features"] = feats
        lo, hi = {"binary_cross_entropy": (0.0, 1.0), "cross_entropy": (0.0, 3.0)}.get(
            loss, (-50.0, 50.0))
        target = st.floats(lo, hi, allow_nan=False)
        if draw(st.booleans()):
            n = draw(st.integers(1, 6))
            cfg["dataset"] = {
                "X": draw(st.lists(st.lists(st.floats(-5, 5), min_size=2, max_size=2),
                                   min_size=n, max_size=n)),
                "Y": draw(st.lists(st.lists(target, min_size=n_out, max_size=n_out),
                                   min_size=n, max_size=n))}
        else:
            cfg["dataset"] = {"name": draw(st.sampled_from(NAMED)), "samples": 20}
            if cfg["dataset"]["name"] in ("xor", "and", "or"):
                del cfg["dataset"]["samples"]
        if n_out <= 2 and draw(st.booleans()):
            y = st.sampled_from([0.0, 1.0]) if n_out == 2 else target
            cfg["dataset"]["extra"] = draw(st.lists(
                st.tuples(st.floats(-5, 5), st.floats(-5, 5), y).map(list), max_size=3))
        return cfg

    return build()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cfg=configs(), epochs=st.sampled_from([1, 4]), mid_pass=st.booleans())
def test_any_accepted_config_exports_and_imports(c: TestClient, cfg: dict[str, Any],
                                                 epochs: int, mid_pass: bool) -> None:
    r = c.post(S, json=cfg)
    assert r.status_code in (201, 422), r.text[:400]
    if r.status_code == 422:
        return
    sid = r.json()["id"]
    assert c.post(f"{S}/{sid}/train", json={"epochs": epochs}).status_code == 200
    if mid_pass:
        assert c.post(f"{S}/{sid}/step").status_code == 200
    roundtrip(c, sid, epochs=1)
    c.delete(f"{S}/{sid}")
