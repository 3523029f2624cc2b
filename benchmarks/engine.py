"""Two problems, each timed against a plain NumPy reference loop in the same process.

1. The lesson's XOR (seed-xor), 10,000 epochs: the lesson's own loop (the reference), the
   engine's Trainer.run with the NumPy kernel and with the compiled (numba) kernel, and the JSON
   API (POST /sessions + POST /train through an in-process ASGI client). Weights are checked
   against the lesson's: bit for bit on the NumPy kernel, to 1e-9 on numba.
2. TensorFlow Playground's default problem (circle data, 250 training + 250 test points,
   2-4-2-1 tanh, batch 10, learning rate 0.03, mean squared error, train and test loss every
   epoch): a plain NumPy mini-batch loop (the reference) against Trainer.run on each kernel,
   checked to agree to 1e-9, with the load average and the time as a fraction of the reference's
   and of TF Playground's own nn.ts (301 µs/epoch, measured once; issue #22 aims at ≤ 0.2×).
3. Each optimizer (momentum, Nesterov, RMSprop, Adam) against plain SGD on the spiral preset,
   compiled kernel (benchmarks/optimizers.py): the time per epoch as a ratio to SGD's.

Run: ``python -m benchmarks.engine``.
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


def engine(kernel: str) -> Callable[[], tuple[Any, Any, list[float]]]:
    from app.config import Settings
    from app.sessions.config import SessionConfig, normalize
    from app.sessions.model import Session

    def run() -> tuple[Any, Any, list[float]]:
        s = Session.create(normalize(SessionConfig(preset="seed-xor"), Settings()), Settings())
        s.trainer.run(EPOCHS, kernel=kernel)  # type: ignore[arg-type]
        W = s.trainer.net.W
        mse = [2 * s.trainer.history.loss[e] / 4 for e in range(0, EPOCHS, 1000)]
        return W[0], W[1], mse

    return run


def make_api() -> Callable[[], tuple[Any, Any, list[float]]]:
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    client = TestClient(create_app(Settings(train_time_budget=120.0, create_rate_limit=0,
                                            kernel="numba")))
    client.__enter__()

    def api() -> tuple[Any, Any, list[float]]:
        # Timed: what a script does to train (a one-point history keeps the reply small).
        # (the preset trains on NumPy by default, to match the lesson's script to the last
        # digit: ask for the compiled kernel, which this row measures)
        sid = client.post("/api/v1/sessions",
                          json={"preset": "seed-xor", "kernel": "compiled"}).json()["id"]
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
    from app.nn import numba_kernel

    assert numba_kernel.warm(), "numba kernel failed to compile"
    api = make_api()
    t_ref, ref = best_of(lesson, args.repeat)
    rows = [("lesson's NumPy loop (reference)", t_ref, "—")]
    runs: list[tuple[str, Callable[[], Any], bool]] = [
        ("engine: Trainer.run, NumPy kernel", engine("numpy"), True),
        ("engine: Trainer.run, numba kernel", engine("numba"), False),
        ("API: POST /train (numba)", api, False),
    ]
    for name, fn, exact in runs:
        t, out = best_of(fn, args.repeat)
        if hasattr(fn, "fetch"):
            out = fn.fetch(out)
        worst = 0.0
        for got, want in zip(out[:2], ref[:2], strict=True):
            if exact:
                assert np.array_equal(got, want), f"{name}: weights differ from the lesson"
            worst = max(worst, float(np.max(np.abs(got - want) / np.abs(want))))
        assert worst < 1e-9, f"{name}: weights differ from the lesson by {worst:.1e}"
        assert np.allclose(out[2], ref[2], rtol=0, atol=1e-9), f"{name}: losses differ"
        rows.append((name, t, "bit for bit" if worst == 0 else f"{worst:.0e} relative"))
    print(f"seed-xor, {EPOCHS} epochs, best of {args.repeat}")
    print("| run | time (s) | µs/epoch | speed-up vs lesson | weights vs lesson |")
    print("|---|---:|---:|---:|---|")
    for name, t, agree in rows:
        print(f"| {name} | {t:.3f} | {t / EPOCHS * 1e6:.1f} | {t_ref / t:.2f}× | {agree} |")
    print()
    from benchmarks import optimizers, playground

    playground.main(args.repeat)
    print()
    optimizers.main(args.repeat)


if __name__ == "__main__":
    main()
