"""A session's training kernel is fixed at creation and never depends on timing: the lesson
preset on NumPy, the others on the compiled kernel (setting kernel = auto), a 422 where the
compiled one is asked for and not available, and a 503 (not a silent NumPy run) when a train
arrives before this process has compiled it."""

from __future__ import annotations

from typing import Any

import pytest

from app.nn import kernel_slot, numba_kernel
from tests.conftest import API, new_session

S = f"{API}/sessions"
needs_numba = pytest.mark.skipif(not numba_kernel.available(), reason="numba not installed")


@needs_numba
def test_defaults_by_preset_and_setting(make_client: Any) -> None:
    auto = make_client(kernel="auto")
    assert new_session(auto, preset="seed-xor")["config"]["kernel"] == "numpy"
    assert new_session(auto, preset="spiral")["config"]["kernel"] == "compiled"
    assert new_session(auto, preset="seed-xor", kernel="compiled")["config"]["kernel"] == \
        "compiled"
    assert new_session(auto, preset="spiral", kernel="numpy")["config"]["kernel"] == "numpy"
    numpy_only = make_client(kernel="numpy")
    assert new_session(numpy_only, preset="spiral")["config"]["kernel"] == "numpy"
    r = numpy_only.post(S, json={"preset": "spiral", "kernel": "compiled"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "kernel"]
    assert "kernel = numpy" in r.json()["detail"][0]["msg"]
    assert numpy_only.post(S, json={"kernel": "fast"}).status_code == 422


@needs_numba
def test_a_train_before_the_compile_finished_is_503_and_changes_nothing(
        make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client(kernel="auto", kernel_wait=0.05)
    compiled = new_session(client, preset="spiral")
    lesson = new_session(client, preset="seed-xor")
    monkeypatch.setattr(numba_kernel, "ready", lambda: False)  # still compiling
    monkeypatch.setattr(numba_kernel, "wait", lambda timeout: False)
    r = client.post(f"{S}/{compiled['id']}/train", json={"epochs": 1})
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
    assert "compiling" in r.json()["detail"]
    after = client.get(f"{S}/{compiled['id']}").json()
    assert after["epoch"] == 0 and after["version"] == compiled["version"]
    assert after["layers"] == compiled["layers"]
    # A NumPy session trains meanwhile; healthz says the compiled kernel is not loaded.
    assert client.post(f"{S}/{lesson['id']}/train", json={"epochs": 1}).status_code == 200
    assert client.get("/healthz").json()["kernel"] == "numpy"
    monkeypatch.undo()
    assert client.post(f"{S}/{compiled['id']}/train", json={"epochs": 1}).status_code == 200


def test_wait_for_numpy_never_waits() -> None:
    assert kernel_slot.wait_for("numpy", 0.0) == 0.0


@needs_numba
def test_a_play_tick_while_compiling_trains_nothing_and_keeps_polling(
        make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.web.helpers import HX, new_page, state

    client = make_client(kernel="auto")
    path = new_page(client, "spiral")
    assert state(client, path)["config"]["kernel"] == "compiled"
    monkeypatch.setattr(numba_kernel, "ready", lambda: False)
    monkeypatch.setattr(numba_kernel, "wait", lambda timeout: False)
    r = client.post(f"{path}/tick?n=10", data={"have": ""}, headers=HX)
    assert r.status_code == 200  # not 286: the page polls again
    after = state(client, path)
    assert after["epoch"] == 0 and after["version"] == 0 and after["undo"]["back"] == 0
    monkeypatch.undo()
    r = client.post(f"{path}/tick?n=10", data={"have": ""}, headers=HX)
    assert r.status_code == 200 and state(client, path)["epoch"] > 0  # (as many as 50 ms ran)
