"""Train the lesson's XOR (seed-xor) for 10,000 epochs three ways, in one process:

1. the lesson's plain NumPy loop (verbatim algorithm: the reference),
2. the engine (Trainer.run, the in-place kernel),
3. the JSON API (POST /sessions + POST /train through an in-process ASGI client),

and print each time and its speed-up over the reference, after checking that all three end with
the same weights, predictions and printed losses. Run: ``python -m benchmarks.engine``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

EPOCHS = 10_000
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
y = np.array([[0], [1], [1], [0]])


def sigmoid(x: Any) -> Any:
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x: Any) -> Any:
    return sigmoid(x) * (1 - sigmoid(x))


def lesson(epochs: int = EPOCHS, lr: float = 0.1) -> tuple[Any, Any, list[float]]:
    """The lesson's train(): unchanged but for collecting the printed losses."""
    np.random.seed(1)
    weights_0 = np.random.rand(X.shape[1], 4)
    weights_1 = np.random.rand(4, 1)
    printed = []
    for epoch in range(epochs):
        layer_0 = X
        z_1 = np.dot(layer_0, weights_0)
        layer_1 = sigmoid(z_1)
        z_2 = np.dot(layer_1, weights_1)
        layer_2 = sigmoid(z_2)
        loss = np.mean((layer_2 - y) ** 2)
        if epoch % 1000 == 0:
            printed.append(float(loss))
        layer_2_error = layer_2 - y
        layer_2_delta = layer_2_error * sigmoid_derivative(z_2)
        layer_1_error = layer_2_delta.dot(weights_1.T)
        layer_1_delta = layer_1_error * sigmoid_derivative(z_1)
        weights_1 -= layer_1.T.dot(layer_2_delta) * lr
        weights_0 -= layer_0.T.dot(layer_1_delta) * lr
    return weights_0, weights_1, printed


def engine() -> tuple[Any, Any, list[float]]:
    from app.config import Settings
    from app.sessions.config import SessionConfig, normalize
    from app.sessions.model import Session

    s = Session.create(normalize(SessionConfig(preset="seed-xor"), Settings()), Settings())
    s.trainer.run(EPOCHS)
    W = s.trainer.net.W
    mse = [2 * s.trainer.history.loss[e] / 4 for e in range(0, EPOCHS, 1000)]
    return W[0], W[1], mse


def make_api() -> Callable[[], tuple[Any, Any, list[float]]]:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    client = TestClient(create_app(Settings(train_time_budget=120.0, create_rate_limit=0)))
    client.__enter__()

    def api() -> tuple[Any, Any, list[float]]:
        # Timed: what a script does to train (a one-point history keeps the reply small).
        sid = client.post("/api/v1/sessions", json={"preset": "seed-xor"}).json()["id"]
        r = client.post(f"/api/v1/sessions/{sid}/train", json={"epochs": EPOCHS},
                        params={"history": 1})
        assert r.json()["ran"] == EPOCHS, r.json()["stopped"]
        return sid  # type: ignore[return-value]

    def fetch(sid: str) -> tuple[Any, Any, list[float]]:
        # Untimed: the numbers to check, the whole history included.
        state = client.get(f"/api/v1/sessions/{sid}", params={"history": EPOCHS}).json()
        client.delete(f"/api/v1/sessions/{sid}")
        hist = state["history"]
        W = [np.array(layer["W"]) for layer in state["layers"]]
        return W[0], W[1], [2 * hist[e]["loss"] / 4 for e in range(0, EPOCHS, 1000)]

    api.fetch = fetch  # type: ignore[attr-defined]
    return api


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts")
    args = parser.parse_args()
    api = make_api()
    t_ref, ref = best_of(lesson, args.repeat)
    rows = [("lesson's NumPy loop (reference)", t_ref)]
    for name, fn in (("engine: Trainer.run", engine), ("API: POST /train", api)):
        t, out = best_of(fn, args.repeat)
        if hasattr(fn, "fetch"):
            out = fn.fetch(out)
        for got, want in zip(out[:2], ref[:2], strict=True):
            assert np.array_equal(got, want), f"{name}: weights differ from the lesson"
        assert np.allclose(out[2], ref[2], rtol=0, atol=1e-15), f"{name}: losses differ"
        rows.append((name, t))
    print(f"seed-xor, {EPOCHS} epochs, best of {args.repeat}; weights bit-identical to the "
          "lesson's in every row")
    print("| run | time (s) | µs/epoch | speed-up vs lesson |")
    print("|---|---:|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t:.3f} | {t / EPOCHS * 1e6:.1f} | {t_ref / t:.2f}× |")


if __name__ == "__main__":
    main()
