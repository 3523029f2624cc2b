"""Helpers for the teaching tests: the full state of a session, down to the bytes of every
array the Trainer holds (read from the store itself, not through the API)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from tests.conftest import API

S = f"{API}/sessions"
IGNORED = ("version", "undo")  # change with every undo/redo by design


def state(client: TestClient, sid: str) -> dict[str, Any]:
    r = client.get(f"{S}/{sid}", params={"samples": "all"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def comparable(s: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in s.items() if k not in IGNORED}


def _bytes(x: np.ndarray | None) -> bytes:
    if x is None:
        return b"<none>"
    return repr((x.dtype.str, x.shape)).encode() + x.tobytes()


def fingerprint(client: TestClient, sid: str) -> str:
    """A digest of every number the session holds: weights, trace, last pass, data,
    history and counters, exact to the bit."""
    async def grab() -> str:
        async with client.app.state.store.use(sid, write=False) as s:  # type: ignore[attr-defined]
            t = s.trainer
            h = hashlib.sha256()
            for W in t.net.W:
                h.update(_bytes(W))
            for b in t.net.b or []:
                h.update(_bytes(b))
            if t.trace is not None:
                h.update(_bytes(t.trace.indices))
                for name in ("z", "a", "delta", "grad_W", "grad_b"):
                    for x in getattr(t.trace, name):
                        h.update(_bytes(x))
                h.update(repr(t.trace.loss).encode() + _bytes(t.trace.per_sample_loss))
            else:
                h.update(b"<no trace>")
            h.update(_bytes(t.last_output) + _bytes(t.last_targets))
            opt = t.opt_state  # the optimizer's step count and moments
            h.update(repr((t.optimizer, opt.step)).encode())
            for x in (opt.m or ()) + (opt.v or ()):
                h.update(_bytes(x))
            for x in (t.data.X, t.data.Y, t.data.X_test, t.data.Y_test):
                h.update(_bytes(x))
            h.update(repr((t.history.epoch, [v.hex() for v in t.history.loss],
                           t.history.test_loss)).encode())
            h.update(repr((t.epoch, t.iteration, t.batch_pos, t.epoch_loss_sum.hex(),
                           t.epoch_test_loss, t.phase, t.layer, t.status, t.last_loss,
                           t.learning_rate, t.batch_size, t.train_bias, s.config,
                           s.task)).encode())
            return h.hexdigest()

    return client.portal.call(grab)  # type: ignore[union-attr]


def snapshot(client: TestClient, sid: str) -> tuple[dict[str, Any], str]:
    return comparable(state(client, sid)), fingerprint(client, sid)


