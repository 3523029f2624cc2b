"""Sessions are independent: operations on one never show in another, and the same config gives
the same numbers in two sessions (and the numbers of an independent reference)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.api.helpers import (
    SESSIONS,
    XOR_X,
    XOR_Y,
    Api,
    arr,
    lesson_weights,
    module_api,
    ref_sigmoid_pass,
)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    yield from module_api()


def test_two_sessions_do_not_affect_each_other(api: Api) -> None:
    a = api.create(preset="seed-xor")
    b = api.create(preset="seed-xor")
    assert a["id"] != b["id"]
    b_fresh = api.get(b["id"])

    api.train(a["id"], 20)
    api.op(a["id"], "forward")
    api.patch(a["id"], {"learning_rate": 3.0, "regularization": {"kind": "l2", "rate": 0.5}})
    api.put_weights(a["id"], [{"W": [[0.0] * 4] * 2}, {"W": [[0.0]] * 4}])
    assert api.get(b["id"]) == b_fresh  # nothing of a shows in b

    before_a = api.get(a["id"])
    api.op(b["id"], "forward", {"through": "all"})
    api.op(b["id"], "backward", {"through": "all"})
    api.op(b["id"], "update")
    api.call("GET", f"{SESSIONS}/{b['id']}/gradcheck")
    api.op(b["id"], "reset", {"preset": "xor-bias"})
    assert api.get(a["id"]) == before_a

    api.call("DELETE", f"{SESSIONS}/{a['id']}", 204)
    api.get(a["id"], expect=404)
    assert api.get(b["id"])["config"]["preset"] == "xor-bias"


def test_same_config_same_numbers(api: Api) -> None:
    a = api.create(preset="seed-xor")["id"]
    b = api.create(preset="seed-xor")["id"]
    # Interleaved, so any shared state would show.
    for _ in range(5):
        sa = api.train(a, 7)
        sb = api.train(b, 7)
    assert sa["layers"] == sb["layers"] and sa["history"] == sb["history"]
    W1, W2 = lesson_weights()
    for _ in range(35):
        g = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)["grad_W"]
        W1, W2 = W1 - 0.1 * g[0], W2 - 0.1 * g[1]
    np.testing.assert_allclose(arr(sa["layers"][0]["W"]), W1, rtol=1e-12)
    np.testing.assert_allclose(arr(sb["layers"][1]["W"]), W2, rtol=1e-12)


def test_same_config_same_mini_batches(api: Api) -> None:
    config = {"preset": "spiral", "dataset": {"samples": 80}}
    a = api.create(**config)["id"]
    b = api.create(**config)["id"]
    c = api.create(**config, init={"seed": 2})["id"]
    seq_a, seq_b = [], []
    for _ in range(4):
        seq_a.append(api.op(a, "forward", {"through": "all"})["batch"]["indices"])
        api.op(a, "backward", {"through": "all"})
        api.op(a, "update")
        seq_b.append(api.op(b, "forward", {"through": "all"})["batch"]["indices"])
        api.op(b, "backward", {"through": "all"})
        api.op(b, "update")
    assert seq_a == seq_b
    assert all(len(idx) == 10 for idx in seq_a)
    assert sorted(i for idx in seq_a for i in idx) == list(range(40))  # one epoch, each once
    ta, tb, tc = api.train(a, 6), api.train(b, 6), api.train(c, 6)
    assert ta["layers"] == tb["layers"] and ta["history"] == tb["history"]
    assert tc["layers"] != ta["layers"]  # another seed: other weights and batches


def test_concurrent_requests(api: Api) -> None:
    """Requests from several threads: each session ends where its own calls take it, and calls
    on one session apply one after another (no lost update)."""
    from concurrent.futures import ThreadPoolExecutor

    a = api.create(preset="seed-xor")["id"]
    b = api.create(preset="seed-xor", learning_rate=0.5)["id"]

    def work(sid: str) -> None:
        for _ in range(10):
            api.train(sid, 5, history=1)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, [a, a, b, b]))
    sa, sb = api.get(a), api.get(b)
    assert sa["epoch"] == sb["epoch"] == 100
    assert [h["epoch"] for h in sa["history"]] == list(range(100))
    for state, lr in ((sa, 0.1), (sb, 0.5)):
        W1, W2 = lesson_weights()
        for _ in range(100):
            g = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)["grad_W"]
            W1, W2 = W1 - lr * g[0], W2 - lr * g[1]
        np.testing.assert_allclose(arr(state["layers"][0]["W"]), W1, rtol=1e-11)
        np.testing.assert_allclose(arr(state["layers"][1]["W"]), W2, rtol=1e-11)
