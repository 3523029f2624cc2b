"""Play's diagram drawn from a layout's plan (app/web/drawing/diagram_live.py) writes the same SVG
as the full drawing (diagram.build with ``live``, then diagram_svg), for every layout, language,
selection, focus row, pass position and sign pattern tried here, with the plan made by another
session of the layout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.web.drawing import diagram_live
from app.web.infra import i18n
from app.web.views import session as views
from app.web.views.session import ViewState
from tests.web.helpers import API

CASES: dict[str, dict[str, Any]] = {
    "spiral": {"preset": "spiral"},  # pictures, tiles, one labelled layer (8 × 1)
    "xor": {"preset": "seed-xor"},  # every neuron a card, every edge labelled
    "circle": {"layers": [2, 4, 2, 1], "hidden_activation": "tanh",
               "dataset": {"name": "circle"}},
    "plane": {"preset": "plane-regression"},
    "mazur": {"preset": "worked-example"},  # two outputs, one sample
    "nobias": {"layers": [2, 3, 1], "bias": False, "dataset": {"name": "xor"}},
    "wide": {"layers": [2, 6, 2], "output_activation": "softmax", "loss": "cross_entropy",
             "dataset": {"name": "spiral"}, "batch_size": 4},
}
SELECTIONS = (None, "n-1-0", "n-0-1", "b-1-0", "w-1-0-0", "w-2-1-0", "b-2-0")


def check(client: TestClient, sid: str, lang: str, sel: str | None, projector: bool) -> bool:
    """The frame's diagram against the full drawing of the same state; False when the layout
    is drawn otherwise (the lecture layout)."""
    s = client.app.state.store._sessions[sid]  # type: ignore[attr-defined]
    settings = client.app.state.door.settings  # type: ignore[attr-defined]
    _ = i18n.gettext_for(lang)
    v = views.session_view(s, settings, ViewState(sel, False, True, 10), _,
                           projector=projector, live=True)
    dg = v["diagram"]
    if not isinstance(dg, diagram_live.LiveDiagram):
        return False
    state: Any = v["state"]
    positions = state["batch"]["positions"]
    focus = min(s.focus, int(state["batch"]["size"]) - 1)
    row = positions.index(focus) if focus in positions else None
    want = diagram_live.reference(state, row, sel, _, v["maps"], projector)  # type: ignore[arg-type]
    assert (str(dg.edges_html), str(dg.labels_svg), str(dg.nodes_html)) == want
    ref = diagram_live._reference(state, row, sel, _, v["maps"], projector)  # type: ignore[arg-type]
    assert (dg.width, dg.height, dg.detailed, dg.sizes) == (ref.width, ref.height, ref.detailed,
                                                            ref.sizes)
    assert [(c.x, c.title, c.subtitle) for c in dg.columns] == [
        (c.x, c.title, c.subtitle) for c in ref.columns]
    return True


def test_the_plan_draws_what_the_full_drawing_draws(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    diagram_live.PLANS.clear()
    drawn = 0
    for body in CASES.values():
        # two sessions of the layout: the second is drawn with the first one's plan
        sids = [client.post(f"{API}/sessions", json={**body, "init": {"seed": k}}).json()["id"]
                for k in (1, 2)]
        for sid in sids:
            for epochs in (0, 7):
                if epochs:
                    client.post(f"{API}/sessions/{sid}/train",
                                json={"epochs": epochs}).raise_for_status()
                for lang in ("en", "ko"):
                    for sel in SELECTIONS:
                        for projector in (False, True):
                            drawn += check(client, sid, lang, sel, projector)
    assert drawn > 300  # the lecture layout takes the small networks at the projector only


def test_signs_zeros_and_a_pass_in_progress(make_client: Callable[..., TestClient]) -> None:
    """Weights of both signs, zeros (all-zero weights: the colour scale's maximum is 1), a
    forward or backward pass half done (the flow arrows' layer sorts the edges)."""
    client = make_client()
    rng = np.random.default_rng(5)
    for name in ("xor", "circle", "spiral"):
        sid = client.post(f"{API}/sessions", json=CASES[name]).json()["id"]
        layers = client.get(f"{API}/sessions/{sid}").json()["layers"]
        for pattern in ("random", "zeros", "mixed"):
            new = []
            for layer in layers:
                W = np.array(layer["W"], dtype=np.float64)
                if pattern == "random":
                    W = rng.normal(scale=3.0, size=W.shape)
                elif pattern == "zeros":
                    W = np.zeros(W.shape)
                else:  # exact halves and a few zeros: widths and colours on their ties
                    W = rng.integers(-8, 9, size=W.shape) / 4.0
                b = None if layer["b"] is None else (-np.arange(len(layer["b"])) / 3).tolist()
                new.append({"W": W.tolist(), "b": b})
            client.put(f"{API}/sessions/{sid}/weights", json={"layers": new}).raise_for_status()
            for _step in range(5):  # forward layer by layer, then backward
                for sel in SELECTIONS:
                    check(client, sid, "en", sel, False)
                client.post(f"{API}/sessions/{sid}/step").raise_for_status()


@pytest.mark.parametrize("values", [
    [0.0, -0.0, 1.0, -1.0, 1234.5, -0.000123, 1e-12, 123456.0, 0.5, -99999.5],
    [float(v) for v in np.random.default_rng(3).normal(size=500) * 10.0 ** np.random.default_rng(
        4).uniform(-9, 9, 500)],
])
def test_fixed_many_writes_each_value_as_fixed(values: list[float]) -> None:
    from app.web.infra import fmt

    for digits in (3, 4, 6):
        for signed in (False, True):
            assert fmt.fixed_many(values, digits, signed) == [
                fmt.fixed(v, digits, signed) for v in values]
    assert fmt.fixed_many([float("inf"), float("-inf"), float("nan")]) == ["∞", "−∞", "NaN"]


def test_labels_go_where_layout_spots_puts_them(make_client: Callable[..., TestClient]) -> None:
    """The plan's placement (per-edge candidates clear of the fixed boxes, then the labels
    placed before) against layout.spots, for label sizes a tick rarely shows."""
    from app.web.drawing.layout import MONO, spots

    client = make_client()
    diagram_live.PLANS.clear()
    rng = np.random.default_rng(11)
    for name in ("xor", "spiral", "nobias"):
        sid = client.post(f"{API}/sessions", json=CASES[name]).json()["id"]
        assert check(client, sid, "en", None, False)
    plans = list(diagram_live.PLANS._d.values())
    tried = 0
    for plan in plans:
        assert plan is not None and plan.labelled
        fz = plan.sizes
        for _ in range(150):
            size_key = tuple((int(rng.integers(3, 30)), int(rng.integers(1, 3)))
                             for _e in plan.labelled)
            want = spots(tuple(map(tuple, plan.placed.tolist())), tuple(
                (*e.ends, fz.label * MONO * m + 8, fz.label * 1.25 * n + 4)
                for e, (m, n) in zip(plan.labelled, size_key, strict=True)))
            assert diagram_live._place(plan, size_key) == want
            tried += sum(s is None for s in want)
    assert tried > 0  # some labels fit nowhere: both say so
