"""The session state (docs/api.md, section 3) built from a session: which samples and how much
history a reply carries, whether it fits the reply budget, and the state itself, of the one
model in app/sessions/state_model.py (whose names are imported from here too)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from app.nn.activations import Array
from app.nn.trace import IntArray
from app.sessions import budget
from app.sessions.config import FieldPath
from app.sessions.model import Session
from app.sessions.state_model import (
    Batch,
    BatchState,
    Cursor,
    CursorState,
    HistoryPoint,
    LayerOptimizerState,
    LayerState,
    Metrics,
    Rows,
    SessionState,
    TrainState,
    UndoCounts,
    WatchState,
)

__all__ = ["Batch", "BatchState", "Cursor", "CursorState", "HistoryPoint",
           "LayerOptimizerState", "LayerState", "Metrics", "SessionState", "StateQueryError",
           "TrainState", "UndoCounts", "WatchState", "session_state"]

class StateQueryError(ValueError):
    """An unanswerable question about the state (which samples, how much history): ``path``
    names the parameter, as ConfigError's does."""

    def __init__(self, path: FieldPath, msg: str) -> None:
        super().__init__(msg)
        self.path = path
        self.msg = msg


def _matrix(x: Array | None) -> Rows | None:
    return None if x is None else x.tolist()


def _vector(x: Array | None) -> list[float] | None:
    return None if x is None else x.tolist()


def _finite_list(v: Sequence[float] | None) -> list[float] | None:
    return None if v is None or not all(math.isfinite(x) for x in v) else list(v)


def _undo_counts(c: dict[str, int]) -> UndoCounts:
    return {"back": c["back"], "forward": c["forward"]}


def parse_samples(spec: str | None, batch_len: int, focus: int, default_max: int) -> list[int]:
    """Positions in the batch: 'all', '0,3', or the default (all if ≤ default_max, else focus).
    Repeated positions count once (in their first place)."""
    if spec is None or spec == "":
        if batch_len <= default_max:
            return list(range(batch_len))
        return [min(focus, batch_len - 1)]
    if spec == "all":
        return list(range(batch_len))
    out: dict[int, None] = {}  # ordered and de-duplicated
    for part in spec.split(","):
        try:
            i = int(part)
        except ValueError:
            raise StateQueryError(("samples",), "samples must be 'all' or comma-separated "
                                  "positions in the batch (whole numbers)") from None
        if not 0 <= i < batch_len:
            raise StateQueryError(("samples",), f"sample positions must be in 0..{batch_len - 1} "
                                  f"(the batch has {batch_len})")
        out[i] = None
    return list(out)


def check_reply(session: Session, rows: int, history: int | None, max_bytes: int) -> None:
    layers = list(session.config.layers)
    n_hist = len(session.trainer.history.epoch)
    points = n_hist if history is None else min(history, n_hist)
    floats = budget.config_floats(session.config)
    g = session.trainer.history.grad_norm  # (imported histories may carry no norms)
    norms = bool(g) and (g[0] is not None or g[-1] is not None)
    need = budget.state_reply_bytes(layers, rows, points, floats, norms)
    if need <= max_bytes:
        return
    fixed = budget.state_reply_bytes(layers, 0, points, floats, norms)
    per_row = budget.state_reply_bytes(layers, 1, 0, 0) - budget.state_reply_bytes(
        layers, 0, 0, 0)
    fits = max(0, (max_bytes - fixed) // per_row)
    if fixed > max_bytes:  # the rows are not the problem: the history is
        raise StateQueryError(("history",), f"this reply could reach {need:,} bytes, over the "
                              f"reply budget of {max_bytes:,} (setting max_reply_bytes): ask "
                              "for fewer history points with ?history=N (e.g. 500)")
    raise StateQueryError(("samples",), f"{rows} trace rows could make this reply {need:,} bytes, "
                          f"over the reply budget of {max_bytes:,} (setting max_reply_bytes): "
                          f"ask for at most {fits} rows with ?samples=0,1,… (positions in the "
                          "batch), or leave samples out for the focus sample")


def precheck_reply(session: Session, samples: str | None, history: int | None,
                   default_max: int, max_bytes: int) -> None:
    """check_reply before an operation (which must not run if its reply will be refused),
    with the most rows the reply can have whatever batch comes next."""
    t = session.trainer
    if samples == "all":
        rows = t.effective_batch_size
    elif samples:
        rows = len(set(samples.split(",")))
    else:
        rows = default_max
    check_reply(session, rows, history, max_bytes)


def decimate(n_points: int, limit: int | None) -> list[int]:
    """Evenly spaced indices, at most ``limit``, always keeping the first and the last."""
    return [int(i) for i in decimate_array(n_points, limit).tolist()]


def decimate_array(n_points: int, limit: int | None) -> IntArray:
    """:func:`decimate` as an index array (the charts index the history's columns with it)."""
    if limit is None or n_points <= limit:
        return np.arange(n_points, dtype=np.int64)
    if limit <= 1:
        return np.array([n_points - 1], dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n_points - 1, limit)).astype(np.int64))


def metrics(output: Array | None, targets: Array | None, task: str) -> Metrics:
    if output is None or targets is None:
        return {"mse": None, "accuracy": None}
    with np.errstate(over="ignore", invalid="ignore"):  # huge outputs: mse null, no warning
        err = output - targets
        mse = float(np.mean(err * err))
    accuracy = None
    if task == "classification":
        if output.shape[1] == 1:
            hit = (output[:, 0] > 0.5) == (targets[:, 0] > 0.5)
        else:
            hit = output.argmax(axis=1) == targets.argmax(axis=1)
        accuracy = float(np.mean(hit))
    return {"mse": mse if math.isfinite(mse) else None, "accuracy": accuracy}


def _finite(x: float) -> float | None:
    """x, or None where it overflowed (an imported loss near 1.8e308 doubled): never inf in JSON."""
    return x if math.isfinite(x) else None


def mse_divisor(session: Session) -> int | None:
    """The history's ``loss`` is the objective, ½ Σ (ŷ − y)² per batch (reduction sum, as the
    lesson's derivative implies) or its batch mean; the lesson prints mean((ŷ − y)²). With
    equal batches of B samples and K outputs an epoch's mse is loss · 2 / (B·K) (sum) or
    loss · 2 / K (mean): exact up to that one division (bit for bit the lesson's numbers where
    the divisor is a power of two, as its 4 × 1). None where it is not that: another loss,
    a penalty in the objective, or a last batch smaller than the others."""
    c, t = session.config, session.trainer
    if c.loss != "squared_error" or (c.regularization.kind != "none"
                                     and c.regularization.rate > 0):
        return None
    B, K = t.effective_batch_size, c.layers[-1]
    if t.n_samples % B:
        return None
    return K if c.reduction == "mean" else B * K


def session_state(
    session: Session,
    *,
    samples: str | None = None,
    history: int | None = None,
    default_max: int = 32,
    max_bytes: int | None = None,
) -> SessionState:
    """The state; with ``max_bytes``, StateQueryError (422) before anything is built when its
    JSON could exceed that many bytes (the message says how to ask for less)."""
    t = session.trainer
    net, trace = t.net, t.trace
    indices = trace.indices if trace is not None else t.batch_indices()
    rows = parse_samples(samples, len(indices), session.focus, default_max)
    if max_bytes is not None:
        check_reply(session, len(rows), history, max_bytes)
    sel = np.array(rows, dtype=np.int64)
    layers: list[LayerState] = []
    opt = t.opt_state
    assert opt is not None
    L = net.spec.L

    def moment(xs: tuple[Array, ...] | None, i: int) -> Array | None:
        return None if xs is None or i >= len(xs) else xs[i]

    for l in range(L):
        def rows_of(x: Array | None) -> Rows | None:
            return None if x is None else x[sel].tolist()

        layers.append({
            "W": net.W[l].tolist(),
            "b": None if net.b is None else net.b[l].tolist(),
            "z": rows_of(trace.z[l]) if trace else None,
            "a": rows_of(trace.a[l]) if trace else None,
            "delta": rows_of(trace.delta[l]) if trace else None,
            "grad_W": _matrix(trace.grad_W[l]) if trace else None,
            "grad_b": _vector(trace.grad_b[l]) if trace else None,
            "optimizer": {"m_W": _matrix(moment(opt.m, l)), "v_W": _matrix(moment(opt.v, l)),
                          "m_b": _vector(moment(opt.m, L + l)),
                          "v_b": _vector(moment(opt.v, L + l))},
        })
    idx_sel = indices[sel]
    output = None
    if trace is not None and trace.a[-1] is not None:
        output = trace.a[-1][sel].tolist()
    per_sample = None
    if trace is not None and trace.per_sample_loss is not None:
        per_sample = trace.per_sample_loss[sel].tolist()
    h = t.history
    keep = decimate(len(h.epoch), history)
    divisor, since = mse_divisor(session), t.mse_since
    hist: list[HistoryPoint] = [
        {"epoch": h.epoch[i], "loss": h.loss[i], "test_loss": h.test_loss[i],
         "grad_norm": _finite_list(h.grad_norm[i]),
         "mse": None if divisor is None or h.epoch[i] < since
         else _finite(h.loss[i] * 2 / divisor)}
        for i in keep]
    return {
        "id": session.id,
        "config": session.config,
        "epoch": t.epoch,
        "iteration": t.iteration,
        "cursor": {"next": t.phase, "layer": t.layer},
        "layers": layers,
        "batch": {
            "indices": idx_sel.tolist(),
            "positions": rows,
            "size": len(indices),
            "X": t.data.X[idx_sel].tolist(),
            "Y": t.data.Y[idx_sel].tolist(),
        },
        "output": output,
        "per_sample_loss": per_sample,
        "loss": t.last_loss,
        "metrics": metrics(t.last_output, t.last_targets, session.task),
        "history": hist,
        "history_length": len(h.epoch),
        "test_loss": h.test_loss[-1] if h.test_loss else None,
        "task": "regression" if session.task == "regression" else "classification",
        "status": t.status,
        "version": session.version,
        "undo": _undo_counts(session.undo.counts()),
        "optimizer_step": opt.step,
    }
