"""The data panel of the session page: the batch table (inputs, targets, ŷ and the loss of
each sample), the focus sample, the counts, the metrics over the whole training and test sets
and the input plane's heatmap. Every value the engine computes comes from the render's
:class:`~app.web.views.passes.Computed`."""

from __future__ import annotations

import numpy as np

from app.nn import features as feats
from app.nn.activations import Array
from app.sessions.model import Session, raw_data
from app.sessions.state import SessionState, metrics
from app.web.drawing import heatcache
from app.web.infra.fmt import fixed, num, signed, sub
from app.web.views.passes import Computed

TABLE_MAX = 32

RawPoints = tuple[Array, Array, Array | None, Array | None]
def raw_points(s: Session) -> RawPoints | None:
    """(X, Y, X_test, Y_test) in the input plane's own coordinates, for 2-D data; else None."""
    fs = s.config.features
    d = s.trainer.data
    if feats.is_default(fs):
        if d.X.shape[1] != 2:
            return None
        return d.X, d.Y, d.X_test, d.Y_test
    r, _task = raw_data(s.config)
    return r.X, r.Y, r.X_test, r.Y_test


def input_names(state: SessionState) -> list[str]:
    """The inputs' names as the diagram shows them: x₁, x₂, or the features (x₁², sin x₁)."""
    n = int(state["config"].layers[0])
    fs = state["config"].features
    return [feats.SYMBOLS.get(f, f) for f in fs] if len(fs) == n else [
        f"x{sub(j + 1)}" for j in range(n)]


def focus_values(state: SessionState, row: int | None) -> str:
    """The focus sample's inputs and target, e.g. "x₁ = 1, x₂ = 0, y = 1"."""
    if row is None:
        return ""
    x, y = state["batch"]["X"][row], state["batch"]["Y"][row]
    names = input_names(state)
    parts = [f"{n}\u00a0=\u00a0{num(v)}" for n, v in zip(names, x, strict=True)]
    ys = ["y" if len(y) == 1 else f"y{sub(k + 1)}" for k in range(len(y))]
    parts += [f"{n}\u00a0=\u00a0{num(v)}" for n, v in zip(ys, y, strict=True)]
    return ", ".join(parts)


def split_metrics(s: Session, computed: Computed) -> dict[str, str | None]:
    """Accuracy (classification) or MSE (regression) over the whole training and test sets at
    the current weights, not over the last batch."""
    t = s.trainer
    out: dict[str, str | None] = {"train": None, "test": None}
    y_hat, y_hat_test = computed.outputs()
    for key, pred, Y in (("train", y_hat, t.data.Y), ("test", y_hat_test, t.data.Y_test)):
        if pred is None or Y is None or len(pred) == 0:
            continue
        with np.errstate(all="ignore"):
            m = metrics(pred, Y, s.task)
        if s.task == "classification" and m["accuracy"] is not None:
            out[key] = f"{m['accuracy'] * 100:.1f}\u00a0%"  # NBSP: never "50.0 |%"
        elif m["mse"] is not None:
            out[key] = fixed(m["mse"])
    return out


def data_panel(s: Session, state: SessionState, computed: Computed, row: int | None,
               all_rows: bool, focus_pos: int, raw: RawPoints | None = None, live: bool = False
               ) -> dict[str, object]:
    """``live``: Play frames show the plot and the counts, not the batch table."""
    t = s.trainer
    batch = state["batch"]
    X, Y = batch["X"], batch["Y"]
    fresh = state["output"] is None
    out, ell = state["output"], state["per_sample_loss"]
    if fresh and not live:  # no forward pass yet: what the current weights predict
        b = computed.batch()
        pos = np.array(batch["positions"], dtype=np.int64)
        with np.errstate(all="ignore"):
            out = b.acts[-1][pos].tolist()
            ell = t.net.per_sample_loss(b.acts[-1][pos], b.Y[pos], b.zs[-1][pos]).tolist()
    rows = []
    for k, p in enumerate([] if live else batch["positions"]):
        rows.append({
            "pos": p, "index": batch["indices"][k],
            "x": [num(v) for v in X[k]], "y": [num(v) for v in Y[k]],
            # computed values keep their digits (0.5000, not 0.5); the data as given
            "y_hat": [fixed(v) for v in out[k]] if out is not None else [],
            "loss": fixed(ell[k]) if ell is not None else "—",
            "focus": p == focus_pos,
        })
    heat = None
    if raw is not None:
        heat = heatcache.heatmap(t.net, raw, list(state["config"].features),
                                 state["config"].output_activation, s.task, live)
    m = state["metrics"]
    split = {"train": None, "test": None} if live else split_metrics(s, computed)
    return {
        "split": split,
        "rows": rows if len(rows) <= TABLE_MAX else rows[:1],
        "table": all_rows and len(rows) <= TABLE_MAX,
        "fresh": fresh,
        "size": batch["size"],
        "n_train": len(t.data.X),
        "n_test": 0 if t.data.X_test is None else len(t.data.X_test),
        "inputs": len(X[0]) if X else 0,
        "input_names": input_names(state),
        "outputs": len(Y[0]) if Y else 0,
        "heat": heat,
        "mse": fixed(m["mse"]), "accuracy": None if m["accuracy"] is None else
        f"{m['accuracy'] * 100:.1f}\u00a0%",
        # Samples are numbered from 1 on the page, like neurons (x₁, h₁); the API from 0.
        "focus_index": batch["indices"][row] + 1 if row is not None else None,
        "focus_values": focus_values(state, row),
        "signed": signed,
    }
