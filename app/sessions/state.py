"""The session state (docs/api.md, section 3) as plain JSON-ready data (every float finite),
but for ``config``: the session's NormalizedConfig, whose ``to_dict()`` the JSON API sends and
whose attributes the pages read."""

from __future__ import annotations

import math
from typing import Any, TypedDict

import numpy as np

from app.nn.activations import Array
from app.sessions import budget
from app.sessions.config import FieldPath
from app.sessions.model import Session
from app.sessions.normalized import NormalizedConfig

Rows = list[list[float]]


class CursorState(TypedDict):
    next: str  # forward, backward or update
    layer: int | None


class LayerOptimizerState(TypedDict):
    """The optimizer's moments of one layer (None where the optimizer keeps none)."""

    m_W: Rows | None
    v_W: Rows | None
    m_b: list[float] | None
    v_b: list[float] | None


class LayerState(TypedDict):
    W: Rows
    b: list[float] | None
    z: Rows | None  # the selected rows of the batch
    a: Rows | None
    delta: Rows | None
    grad_W: Rows | None
    grad_b: list[float] | None
    optimizer: LayerOptimizerState


class BatchState(TypedDict):
    indices: list[int]  # of the selected rows, in the training data
    positions: list[int]  # of the selected rows, in the batch
    size: int
    X: Rows
    Y: Rows


class Metrics(TypedDict):
    mse: float | None
    accuracy: float | None


class SessionState(TypedDict):
    id: str
    config: NormalizedConfig
    epoch: int
    iteration: int
    cursor: CursorState
    layers: list[LayerState]
    batch: BatchState
    output: Rows | None
    per_sample_loss: list[float] | None
    loss: float | None
    metrics: Metrics
    history: list[dict[str, Any]]  # {epoch, loss, test_loss, grad_norm, mse} (app/web/charts)
    history_length: int
    test_loss: float | None
    task: str
    status: str
    version: int
    undo: dict[str, int]
    optimizer_step: int  # the optimizer's t: updates made since its state was fresh


class StateQueryError(ValueError):
    """An unanswerable question about the state (which samples, how much history): ``path``
    names the parameter, as ConfigError's does."""

    def __init__(self, path: FieldPath, msg: str) -> None:
        super().__init__(msg)
        self.path = path
        self.msg = msg


def _list(x: Array | None) -> Any:
    return None if x is None else x.tolist()


def _finite_list(v: list[float] | None) -> list[float] | None:
    return None if v is None or not all(math.isfinite(x) for x in v) else v


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
    need = budget.state_reply_bytes(layers, rows, points, floats)
    if need <= max_bytes:
        return
    fixed = budget.state_reply_bytes(layers, 0, points, floats)
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
    if limit is None or n_points <= limit:
        return list(range(n_points))
    if limit <= 1:
        return [n_points - 1]
    idx = np.unique(np.round(np.linspace(0, n_points - 1, limit)).astype(int))
    return [int(i) for i in idx]


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

    def moment(xs: tuple[Array, ...] | None, i: int) -> Any:
        return None if xs is None or i >= len(xs) else xs[i].tolist()

    for l in range(L):
        def rows_of(x: Array | None) -> Rows | None:
            return None if x is None else x[sel].tolist()

        layers.append({
            "W": net.W[l].tolist(),
            "b": None if net.b is None else net.b[l].tolist(),
            "z": rows_of(trace.z[l]) if trace else None,
            "a": rows_of(trace.a[l]) if trace else None,
            "delta": rows_of(trace.delta[l]) if trace else None,
            "grad_W": _list(trace.grad_W[l]) if trace else None,
            "grad_b": _list(trace.grad_b[l]) if trace else None,
            "optimizer": {"m_W": moment(opt.m, l), "v_W": moment(opt.v, l),
                          "m_b": moment(opt.m, L + l), "v_b": moment(opt.v, L + l)},
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
    hist = [{"epoch": h.epoch[i], "loss": h.loss[i], "test_loss": h.test_loss[i],
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
        "task": session.task,
        "status": t.status,
        "version": session.version,
        "undo": session.undo.counts(),
        "optimizer_step": opt.step,
    }
