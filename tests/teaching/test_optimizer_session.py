"""The optimizer's state is part of the session: undo/redo restore it exactly, export → import
continues bit for bit, the stores keep it, Reset and a change of optimizer start it afresh, a
setup link carries the optimizer, and bad parameters are field-named 422s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import assert_422
from tests.teaching.helpers import S, snapshot, state

ADAM = {"name": "adam", "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}
CONFIG: dict[str, Any] = {"preset": "circle", "dataset": {"name": "circle", "samples": 40},
                          "batch_size": 7, "optimizer": ADAM}


@pytest.fixture
def c(make_client: Callable[..., TestClient], store_url: str) -> TestClient:
    return make_client(store=store_url, create_rate_limit=0)


def create(c: TestClient, **over: Any) -> str:
    r = c.post(S, json={**CONFIG, **over})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def post(c: TestClient, path: str, body: Any = None, expect: int = 200) -> dict[str, Any]:
    r = c.post(path, json=body)
    assert r.status_code == expect, r.text
    return r.json()  # type: ignore[no-any-return]


def test_state_shows_the_moments_and_step(c: TestClient) -> None:
    sid = create(c)
    s = state(c, sid)
    assert s["config"]["optimizer"] == ADAM
    assert s["optimizer_step"] == 0
    layer = s["layers"][0]["optimizer"]
    assert np.array_equal(layer["m_W"], np.zeros_like(layer["m_W"]))
    post(c, f"{S}/{sid}/train", {"epochs": 2})
    s = state(c, sid)
    assert s["optimizer_step"] == 2 * 3  # 40 samples, test ratio 0.5: 20 rows, 3 batches
    layer = s["layers"][0]["optimizer"]
    assert np.any(np.array(layer["m_W"]) != 0) and np.all(np.array(layer["v_W"]) >= 0)
    assert layer["m_b"] is not None and layer["v_b"] is not None


def test_undo_after_an_update_then_the_same_update_is_bit_identical(c: TestClient) -> None:
    sid = create(c)
    post(c, f"{S}/{sid}/train", {"epochs": 3})
    post(c, f"{S}/{sid}/forward", {"through": "all"})
    post(c, f"{S}/{sid}/backward", {"through": "all"})
    before = snapshot(c, sid)
    post(c, f"{S}/{sid}/update")
    after = snapshot(c, sid)
    assert after != before
    post(c, f"{S}/{sid}/undo")
    assert snapshot(c, sid) == before
    post(c, f"{S}/{sid}/update")
    assert snapshot(c, sid) == after
    # and training on from there, with undo and redo of a train call in between
    post(c, f"{S}/{sid}/train", {"epochs": 4})
    trained = snapshot(c, sid)
    post(c, f"{S}/{sid}/undo")
    assert snapshot(c, sid) == after
    post(c, f"{S}/{sid}/redo")
    assert snapshot(c, sid) == trained


def test_changing_the_optimizer_keeps_weights_resets_state_and_undoes(c: TestClient) -> None:
    sid = create(c)
    post(c, f"{S}/{sid}/train", {"epochs": 2})
    before = snapshot(c, sid)
    s0 = state(c, sid)
    r = c.patch(f"{S}/{sid}", json={"optimizer": {"name": "momentum", "nesterov": True}})
    assert r.status_code == 200, r.text
    s1 = r.json()
    assert s1["config"]["optimizer"] == {"name": "momentum", "momentum": 0.9, "nesterov": True}
    assert [l["W"] for l in s1["layers"]] == [l["W"] for l in s0["layers"]]
    assert s1["optimizer_step"] == 0
    assert s1["layers"][0]["optimizer"]["v_W"] is None
    assert not np.any(np.array(s1["layers"][0]["optimizer"]["m_W"]))
    # The same optimizer with a parameter left out keeps the others (and resets the state).
    s2 = c.patch(f"{S}/{sid}", json={"optimizer": {"momentum": 0.5}}).json()
    assert s2["config"]["optimizer"] == {"name": "momentum", "momentum": 0.5, "nesterov": True}
    post(c, f"{S}/{sid}/undo", None)
    post(c, f"{S}/{sid}/undo", None)
    assert snapshot(c, sid) == before
    # Changing the learning rate keeps the state.
    s3 = c.patch(f"{S}/{sid}", json={"learning_rate": 0.05}).json()
    assert s3["optimizer_step"] == s0["optimizer_step"]
    assert s3["layers"][1]["optimizer"] == s0["layers"][1]["optimizer"]


def test_reset_starts_the_state_afresh(c: TestClient) -> None:
    sid = create(c)
    post(c, f"{S}/{sid}/train", {"epochs": 2})
    s = post(c, f"{S}/{sid}/reset")
    assert s["optimizer_step"] == 0 and s["config"]["optimizer"] == ADAM
    assert not np.any(np.array(s["layers"][0]["optimizer"]["v_W"]))


def test_export_import_train_equals_train(c: TestClient) -> None:
    a = create(c)
    post(c, f"{S}/{a}/train", {"epochs": 3})
    post(c, f"{S}/{a}/step")  # mid-epoch: the import continues the partial epoch too
    doc = c.get(f"{S}/{a}/export").json()
    assert doc["optimizer_state"]["step"] == 3 * 3
    b = post(c, f"{S}/import", doc, expect=201)["id"]
    post(c, f"{S}/{a}/train", {"epochs": 5})
    post(c, f"{S}/{b}/train", {"epochs": 5})
    sa, sb = state(c, a), state(c, b)
    for key in ("layers", "optimizer_step", "epoch", "iteration"):
        assert sa[key] == sb[key], key
    assert [h["loss"] for h in sa["history"]] == [h["loss"] for h in sb["history"]]


def test_import_checks_the_optimizer_state(c: TestClient) -> None:
    a = create(c)
    post(c, f"{S}/{a}/train", {"epochs": 1})
    doc = c.get(f"{S}/{a}/export").json()
    bad = {**doc, "optimizer_state": {**doc["optimizer_state"], "layers": doc[
        "optimizer_state"]["layers"][:1]}}
    assert_422(post(c, f"{S}/import", bad, expect=422), ["body", "optimizer_state", "layers"],
               "expected 2 layers")
    layers = [dict(l) for l in doc["optimizer_state"]["layers"]]
    layers[0]["v_W"] = [[-1.0] * len(row) for row in layers[0]["v_W"]]
    bad = {**doc, "optimizer_state": {**doc["optimizer_state"], "layers": layers}}
    assert_422(post(c, f"{S}/import", bad, expect=422),
               ["body", "optimizer_state", "layers", 0, "v_W"], "≥ 0")
    # An export from before optimizers (no optimizer_state): fresh state.
    old = {k: v for k, v in doc.items() if k != "optimizer_state"}
    assert post(c, f"{S}/import", old, expect=201)["optimizer_step"] == 0


def test_a_setup_link_carries_the_optimizer(c: TestClient) -> None:
    sid = create(c)
    url = c.get(f"{S}/{sid}/link").json()["url"]
    r = c.get(url, follow_redirects=False)
    assert r.status_code in (302, 303), r.text
    new = r.headers["location"].rstrip("/").split("/")[-1]
    assert state(c, new)["config"]["optimizer"] == ADAM


@pytest.mark.parametrize(("opt", "loc", "words"), [
    ({"name": "sgd", "beta1": 0.9}, ["optimizer", "beta1"], ("sgd has no parameter beta1",)),
    ({"name": "adam", "momentum": 0.9}, ["optimizer", "momentum"], ("adam",)),
    ({"name": "momentum", "momentum": 0.0, "nesterov": True}, ["optimizer", "nesterov"],
     ("momentum > 0",)),
    ({"name": "adam", "beta2": 1.0}, ["optimizer", "beta2"], ()),
    ({"name": "rmsprop", "eps": 0.0}, ["optimizer", "eps"], ()),
    ({"name": "rmsprop", "alpha": -0.1}, ["optimizer", "alpha"], ()),
    ({"name": "lion"}, ["optimizer", "name"], ()),
])
def test_bad_optimizers_are_field_named_422s(client: TestClient, opt: dict[str, Any],
                                             loc: list[str], words: tuple[str, ...]) -> None:
    r = client.post(S, json={"optimizer": opt})
    assert r.status_code == 422, r.text
    assert_422(r.json(), ["body", *loc], *words)
    sid = client.post(S, json={}).json()["id"]
    r = client.patch(f"{S}/{sid}", json={"optimizer": opt})
    assert r.status_code == 422, r.text
    assert_422(r.json(), ["body", *loc], *words)


def test_openapi_documents_the_optimizer(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "optimizer" in schemas["SessionConfig"]["properties"]
    assert "optimizer" in schemas["PatchRequest"]["properties"]
    props = schemas["OptimizerConfig"]["properties"]
    assert {"name", "momentum", "nesterov", "alpha", "eps", "beta1", "beta2"} <= set(props)


def test_default_is_plain_sgd(client: TestClient) -> None:
    s = client.post(S, json={"preset": "seed-xor"}).json()
    assert s["config"]["optimizer"] == {"name": "sgd"}
    assert s["layers"][0]["optimizer"] == {"m_W": None, "v_W": None, "m_b": None, "v_b": None}


def test_import_refuses_ragged_moments(client: TestClient) -> None:
    sid = client.post(S, json={**CONFIG}).json()["id"]
    doc = client.get(f"{S}/{sid}/export").json()
    layers = [dict(l) for l in doc["optimizer_state"]["layers"]]
    layers[0]["m_W"] = [[0.0], [0.0, 1.0]]
    bad = {**doc, "optimizer_state": {"step": 0, "layers": layers}}
    r = client.post(f"{S}/import", json=bad)
    assert r.status_code == 422, r.text
    assert_422(r.json(), ["body", "optimizer_state", "layers", 0, "m_W"], "shape")
