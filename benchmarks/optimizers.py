"""Each optimizer's cost per epoch on the compiled (numba) kernel, against plain SGD in the same
process: the spiral preset (2-8-8-1 tanh, 200 training points, mini-batches of 10, binary
cross-entropy), so the update's share of an epoch is that of a typical classroom network.
The runs are interleaved (SGD, momentum, …, SGD, momentum, …) and the best of each counts, so a
load spike on a shared machine hits every optimizer alike. Target: ≤ 1.3× SGD's time.

Run: ``python -m benchmarks.optimizers`` (also part of ``python -m benchmarks.engine``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

EPOCHS = 300
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd": {"name": "sgd"},
    "momentum": {"name": "momentum"},
    "nesterov": {"name": "momentum", "nesterov": True},
    "rmsprop": {"name": "rmsprop"},
    "adam": {"name": "adam"},
}


def time_one(optimizer: dict[str, Any], kernel: str) -> float:
    from app.config import Settings
    from app.sessions.config import SessionConfig, normalize
    from app.sessions.model import Session

    settings = Settings()
    config = normalize(SessionConfig.model_validate({"preset": "spiral",
                                                     "optimizer": optimizer}), settings)
    s = Session.create(config, settings)
    t0 = time.perf_counter()
    ran, _ = s.trainer.run(EPOCHS, kernel=kernel)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t0
    assert ran == EPOCHS
    return elapsed


def main(repeat: int = 5, kernel: str = "numba") -> dict[str, float]:
    from app.nn import numba_kernel

    if kernel == "numba":
        assert numba_kernel.warm(), "numba kernel failed to compile"
    for opt in OPTIMIZERS.values():  # compile/load each path once, untimed
        time_one(opt, kernel)
    best = {name: float("inf") for name in OPTIMIZERS}
    for _ in range(repeat):
        for name, opt in OPTIMIZERS.items():
            best[name] = min(best[name], time_one(opt, kernel))
    print(f"spiral preset, {EPOCHS} epochs of 20 mini-batches, {kernel} kernel, best of {repeat}")
    print("| optimizer | time (s) | µs/epoch | vs SGD |")
    print("|---|---:|---:|---:|")
    for name, t in best.items():
        print(f"| {name} | {t:.3f} | {t / EPOCHS * 1e6:.1f} | {t / best['sgd']:.2f}× |")
    return {name: t / best["sgd"] for name, t in best.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; the best counts")
    parser.add_argument("--kernel", default="numba", choices=("numba", "numpy"))
    args = parser.parse_args()
    main(args.repeat, args.kernel)
