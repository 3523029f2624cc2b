"""TensorFlow Playground's default problem, timed in benchmarks/engine.py.

Circle data as Playground's ``classifyCircleData`` makes it (radius 5; half the points inside
radius 2.5 labelled 1, half between 3.5 and 5 labelled −1; no noise), 500 points split 50/50
into training and test; 2-4-2-1 with tanh everywhere, batch 10, learning rate 0.03, the squared
error averaged over the batch, and a train and a test loss every epoch.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import numpy as np

EPOCHS = 200
SEED = 7
# TF Playground's own nn.ts on this problem, measured on the development machine (issue #13:
# its oneStep + getLoss loop under Node); the aim of issue #22 is ≤ 0.2× that.
NN_TS_US = 301.0


def circle(n: int, rng: np.random.Generator) -> tuple[Any, Any]:
    def points(k: int, r_lo: float, r_hi: float, label: float) -> tuple[Any, Any]:
        r = rng.uniform(r_lo, r_hi, k)
        angle = rng.uniform(0, 2 * np.pi, k)
        return np.c_[r * np.sin(angle), r * np.cos(angle)], np.full((k, 1), label)

    (Xa, ya), (Xb, yb) = points(n // 2, 0, 2.5, 1.0), points(n // 2, 3.5, 5.0, -1.0)
    X, y = np.r_[Xa, Xb], np.r_[ya, yb]
    order = rng.permutation(n)
    return X[order], y[order]


def problem() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    X, y = circle(500, rng)
    layers = (2, 4, 2, 1)
    Ws = [rng.uniform(-0.5, 0.5, (a, b)) for a, b in itertools.pairwise(layers)]
    bs = [np.full(b, 0.1) for b in layers[1:]]
    return {"X": X[:250], "Y": y[:250], "X_test": X[250:], "Y_test": y[250:], "Ws": Ws,
            "bs": bs, "layers": layers}


def reference(p: dict[str, Any], epochs: int = EPOCHS
              ) -> tuple[list[Any], list[float], list[float]]:
    """A plain NumPy mini-batch loop: the same shuffle as the engine, mean squared error/2,
    the epoch's loss as the mean of its batch losses, the test loss at the epoch's start."""
    X, Y, Xt, Yt = p["X"], p["Y"], p["X_test"], p["Y_test"]
    Ws = [W.copy() for W in p["Ws"]]
    bs = [b.copy() for b in p["bs"]]
    lr, batch = 0.03, 10
    n = len(X)
    losses, tests = [], []
    for epoch in range(epochs):
        a = Xt
        for W, b in zip(Ws, bs, strict=True):
            a = np.tanh(a @ W + b)
        tests.append(0.5 * float(np.sum((a - Yt) ** 2)) / len(Xt))
        perm = np.random.default_rng([0, epoch]).permutation(n)
        total = 0.0
        for start in range(0, n, batch):
            idx = perm[start : start + batch]
            acts = [X[idx]]
            for W, b in zip(Ws, bs, strict=True):
                acts.append(np.tanh(acts[-1] @ W + b))
            err = acts[-1] - Y[idx]
            m = len(idx)
            total += 0.5 * float(np.sum(err * err)) / m
            delta = err * (1 - acts[-1] ** 2) / m
            for l in range(len(Ws) - 1, -1, -1):
                gW, gb = acts[l].T @ delta, delta.sum(axis=0)
                if l:
                    delta = (delta @ Ws[l].T) * (1 - acts[l] ** 2)
                Ws[l] -= lr * gW
                bs[l] -= lr * gb
        losses.append(total / (n // batch))
    return Ws, losses, tests


def engine(p: dict[str, Any], kernel: str, epochs: int = EPOCHS) -> tuple[list[Any], list[float],
                                                                          list[float]]:
    from app.nn.losses import Regularization
    from app.nn.network import Network, Spec
    from app.nn.stepper import Data, Hyper, Trainer

    spec = Spec(p["layers"], "tanh", "tanh", "squared_error", "mean", True, Regularization())
    t = Trainer(Network(spec, [W.copy() for W in p["Ws"]], [b.copy() for b in p["bs"]]),
                Data(p["X"], p["Y"], p["X_test"], p["Y_test"]), Hyper(0.03, batch_size=10))
    ran, stopped = t.run(epochs, kernel=kernel)  # type: ignore[arg-type]
    assert (ran, stopped) == (epochs, None)
    return t.net.W, t.history.loss, [v or 0.0 for v in t.history.test_loss]


def best_of(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(repeat: int = 5) -> None:
    load_before = os.getloadavg()[0]
    p = problem()
    t_ref, ref = best_of(lambda: reference(p), repeat)
    rows = [("plain NumPy mini-batch loop (reference)", t_ref)]
    for kernel in ("numpy", "numba"):
        t, out = best_of(lambda k=kernel: engine(p, k), repeat)
        for got, want in zip(out[0], ref[0], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(out[1], ref[1], rtol=1e-9)
        np.testing.assert_allclose(out[2], ref[2], rtol=1e-9)
        rows.append((f"engine: Trainer.run, {kernel} kernel", t))
    print(f"TF Playground default (circle, 250 train + 250 test, 2-4-2-1 tanh, batch 10, "
          f"lr 0.03), {EPOCHS} epochs, best of {repeat}; losses and weights agree to 1e-9; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("| run | µs/epoch | time vs plain NumPy | time vs nn.ts |")
    print("|---|---:|---:|---:|")
    for name, t in rows:
        us = t / EPOCHS * 1e6
        print(f"| {name} | {us:.0f} | {t / t_ref:.3f}× | {us / NN_TS_US:.2f}× |")
    print(f"| TF Playground's nn.ts (measured once, issue #13) | {NN_TS_US:.0f} | | 1.00× |")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts")
    from app.nn import numba_kernel

    assert numba_kernel.warm(), "numba kernel failed to compile"
    main(parser.parse_args().repeat)
