"""One snapshot: how a session becomes bytes and back, and the only module that does it.

Every form a session's state takes outside the process goes through here: the stores' bytes
(arrays in a small container with a JSON header; never pickle), the history rows the Redis
store appends (fixed-width float64 rows), the undo ring's restore points (diffs of snapshots:
only the parts an operation changed), the export document and the setup links' code. A part
of a session is named once (app/sessions/parts.py: Counters, OptState's moments; or among the
arrays below), and so is stored, exported, undone and restored everywhere
(tests/sessions/test_snapshot.py; tests/test_architecture.py checks that no other session
module serialises). One module on purpose, a little over 400 lines: the forms share their
helpers (hex floats, the packing of arrays), and "only here" is what keeps them in step.
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from app.jsontypes import JSON, JSONObject
from app.nn.activations import Array
from app.nn.optimizers import OptState
from app.nn.stepper import Data, History, Trace, Trainer
from app.sessions.normalized import NormalizedConfig
from app.sessions.parts import (
    FRESH,
    MOMENTS,
    Counters,
    ExportDoc,
    ExportOptimizerState,
    Header,
    HistoryTail,
    RestorePoint,
    UndoIndex,
    moments_of,
)
from app.sessions.run_state import Run

FORMAT = "backprop-lab-session/1"
EXPORT_FORMAT = "backprop-lab-export/1"
# The trainer's scalars before they were named by Counters (restore points saved then list them
# in this order; learning_rate … shuffle_seed now come from the config).
_LEGACY = ("epoch", "iteration", "batch_pos", "epoch_loss_sum", "epoch_test_loss", "phase",
           "layer", "status", "last_loss", "learning_rate", "batch_size", "train_bias",
           "shuffle_seed", "mse_since")


def dump_counters(c: Counters) -> JSONObject:
    # Floats as hex: exact.
    return {f.name: _hex(getattr(c, f.name)) for f in fields(c)}


def load_counters(d: Mapping[str, object], default: Counters) -> Counters:
    """``default`` supplies a counter a snapshot saved before it existed lacks."""
    return Counters(*(_unhex(d[f.name]) if f.name in d else getattr(default, f.name)
                      for f in fields(Counters)))


def _hex(v: Any) -> Any:
    return {"hex": v.hex()} if isinstance(v, float) else v


def _unhex(v: Any) -> Any:
    return float.fromhex(v["hex"]) if isinstance(v, dict) else v


def hex_float(raw: Any) -> float:
    """A hex float as exported (TypeError, ValueError or OverflowError when it is not)."""
    return float.fromhex(raw)


# --- the session's bytes ------------------------------------------------------------------
class UndoDump(Protocol):
    def dump(self) -> tuple[UndoIndex, bytes]: ...


class SessionLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def config(self) -> NormalizedConfig: ...
    @property
    def trainer(self) -> Trainer: ...
    @property
    def task(self) -> str: ...
    @property
    def last_used(self) -> float: ...
    @property
    def version(self) -> int: ...
    @property
    def watch_id(self) -> str | None: ...
    @property
    def view_sel(self) -> str | None: ...
    @property
    def run(self) -> Run | None: ...
    @property
    def undo(self) -> UndoDump: ...


@dataclass
class Stored:
    """A session's parts as read back from its bytes (app/sessions/model.py assembles them)."""

    header: Header
    config: NormalizedConfig
    Ws: list[Array]
    bs: list[Array] | None
    data: Data
    history: History | None  # None: stored apart (the Redis store's rows)
    trace: Trace | None
    counters: Counters
    last_output: Array | None
    last_targets: Array | None
    opt_state: OptState
    run: Run | None
    undo_index: UndoIndex | None
    undo_blob: bytes | None


def dumps(s: SessionLike, history: bool = True) -> bytes:
    """The session as bytes; ``history=False`` leaves the loss history out (its length is in
    the header: the Redis store keeps the rows apart, appended)."""
    t = s.trainer
    arrays: dict[str, np.ndarray] = {}
    for l, W in enumerate(t.net.W):
        arrays[f"W{l}"] = W
    for l, b in enumerate(t.net.b or []):
        arrays[f"b{l}"] = b
    for key in ("X", "Y", "X_test", "Y_test"):
        v = getattr(t.data, key)
        if v is not None:
            arrays[f"data_{key}"] = v
    if history:
        (arrays["h_epoch"], arrays["h_loss"], arrays["h_test"],
         arrays["h_gnorm"]) = t.history.columns(t.net.spec.L)
    # The last completed forward pass (the state's loss and metrics).
    if t.last_output is not None and t.last_targets is not None:
        arrays["last_output"] = t.last_output
        arrays["last_targets"] = t.last_targets
    if t.trace is not None:
        arrays["tr_indices"] = t.trace.indices
        if t.trace.per_sample_loss is not None:
            arrays["tr_ell"] = t.trace.per_sample_loss
        for name in ("z", "a", "delta", "grad_W", "grad_b"):
            for l, v in enumerate(getattr(t.trace, name)):
                if v is not None:
                    arrays[f"tr_{name}{l}"] = v
    opt = t.opt_state
    assert opt is not None
    for key, xs in moments_of(opt).items():
        for i, x in enumerate(xs or ()):
            arrays[f"opt_{key}{i}"] = x
    header: dict[str, object] = {
        "format": FORMAT, "id": s.id, "config": s.config.to_dict(), "task": s.task,
        "last_used": s.last_used, **dump_counters(Counters.of(t)), "opt_step": opt.step,
        "trace": None if t.trace is None else {
            "loss": None if t.trace.loss is None else t.trace.loss.hex()},
        "history": None if history else len(t.history.epoch),
        "version": s.version, "watch_id": s.watch_id, "view_sel": s.view_sel,
        "run": None if s.run is None else s.run.to_dict()}
    header["undo"], undo = s.undo.dump()
    arrays["undo"] = np.frombuffer(undo, dtype=np.uint8)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return _pack(arrays)


# The stores' container: an index (name → dtype, shape, offset) and the arrays' bytes. It
# replaced np.savez's zip, which took 0.23 of a tick's 0.30 ms of saving on the Redis store
# (this: 0.02); what np.savez saved is still read.
_MAGIC = b"BPLSNAP1"


def _pack(arrays: Mapping[str, NDArray[Any]]) -> bytes:
    index: dict[str, tuple[str, tuple[int, ...], int]] = {}
    parts: list[bytes] = []
    offset = 0
    for name, a in arrays.items():
        b = a.tobytes()  # C order, whatever the array's layout
        index[name] = (a.dtype.str, a.shape, offset)
        parts.append(b)
        offset += len(b)
    head = json.dumps(index).encode()
    return _MAGIC + len(head).to_bytes(4, "little") + head + b"".join(parts)


def _unpack(raw: bytes) -> dict[str, NDArray[Any]]:
    """The arrays of a store's bytes; ValueError for anything else (never pickle: numbers and
    bytes only)."""
    if raw[:2] == b"PK":  # np.savez's zip, as saved before the container
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    if raw[:8] != _MAGIC or len(raw) < 12:
        raise ValueError("not a Backprop Lab session")
    n = int.from_bytes(raw[8:12], "little")
    if 12 + n > len(raw):
        raise ValueError("not a Backprop Lab session")
    body = memoryview(raw)[12 + n:]
    out: dict[str, NDArray[Any]] = {}
    try:
        index = json.loads(bytes(raw[12:12 + n]).decode())
        for name, (dt, shape, offset) in index.items():
            dtype = np.dtype(dt)
            count = int(np.prod(shape, dtype=np.int64))
            if (dtype.kind not in "biuf" or not 0 <= offset <= len(body) or count < 0
                    or offset + count * dtype.itemsize > len(body)):
                raise ValueError(name)
            # A copy: aligned and writable, as np.load's (numba compiles read-only arrays
            # as another type).
            out[str(name)] = np.frombuffer(body, dtype, count, offset).reshape(shape).copy()
    except (TypeError, ValueError, UnicodeDecodeError, AttributeError) as e:
        raise ValueError("not a Backprop Lab session") from e
    return out


def loads(raw: bytes) -> Stored:
    arrays = _unpack(raw)
    if "header" not in arrays:
        raise ValueError("not a Backprop Lab session")
    h: Header = json.loads(arrays.pop("header").tobytes().decode())
    if h.get("format") != FORMAT:
        raise ValueError("not a Backprop Lab session")
    config = NormalizedConfig.from_dict(h["config"])
    L = len(config.layers) - 1
    Ws = [arrays[f"W{l}"] for l in range(L)]
    bs = [arrays[f"b{l}"] for l in range(L)] if config.bias else None
    data = Data(arrays["data_X"], arrays["data_Y"], arrays.get("data_X_test"),
                arrays.get("data_Y_test"))
    history = None
    if "h_epoch" in arrays:
        history = _history(arrays["h_epoch"], arrays["h_loss"], arrays["h_test"],
                           arrays.get("h_gnorm", np.full((len(arrays["h_epoch"]), L), np.nan)),
                           L)
    trace = None
    if h["trace"] is not None:
        def layer_list(name: str) -> list[Array | None]:
            return [arrays.get(f"tr_{name}{l}") for l in range(L)]

        trace = Trace(
            arrays["tr_indices"], layer_list("z"), layer_list("a"), layer_list("delta"),
            layer_list("grad_W"), layer_list("grad_b"),
            None if h["trace"]["loss"] is None else float.fromhex(h["trace"]["loss"]),
            arrays.get("tr_ell"),
        )
    n_params = L * (2 if config.bias else 1)

    def moments(key: str) -> tuple[Array, ...] | None:
        if f"opt_{key}0" not in arrays:
            return None
        return tuple(arrays[f"opt_{key}{i}"] for i in range(n_params))

    # A session stored before optimizers existed has none: fresh state (Trainer's check).
    opt = OptState(int(h.get("opt_step", 0)), **{k: moments(k) for k in MOMENTS})
    counters = load_counters(_stored_counters(h), FRESH)
    undo = arrays.get("undo")
    return Stored(h, config, Ws, bs, data, history, trace, counters,
                  arrays.get("last_output"), arrays.get("last_targets"), opt,
                  Run.from_dict(h.get("run")), h.get("undo"),
                  None if undo is None else undo.tobytes())


def _stored_counters(h: Mapping[str, object]) -> dict[str, object]:
    # Sessions stored before Counters wrote the partial sums as bare hex strings.
    out = dict(h)
    for key in ("epoch_loss_sum", "epoch_test_loss", "last_loss"):
        if isinstance(out.get(key), str):
            out[key] = {"hex": out[key]}
    return out


def _history(e: np.ndarray, loss: Array, test: Array, gnorm: Array, L: int) -> History:
    """Whole columns at once (a long history is thousands of rows); NaN marks a missing test
    loss or gradient norm."""
    history = History(
        e.tolist(), loss.tolist(),
        [None if gap else v for v, gap in zip(test.tolist(), np.isnan(test).tolist(),
                                              strict=True)],
        [None if gap else tuple(row) for row, gap in zip(
            gnorm.tolist(), np.asarray(np.isnan(gnorm).any(axis=1)).tolist(), strict=True)],
    )
    history.remember_columns((e.astype(np.int64), loss, test, gnorm.reshape(-1, L)))
    return history


# --- history rows: what the Redis store appends ------------------------------------------
def row_width(L: int) -> int:
    """Bytes per history row: epoch, loss, test loss (NaN: none), L gradient norms, float64
    (an epoch is exact in a float64 far beyond max_history_epoch)."""
    return 8 * (3 + L)


def history_rows(h: History, L: int, start: int, stop: int) -> bytes:
    """Rows ``start``…``stop`` of the history (converted from its lists: only those rows)."""
    rows = np.empty((stop - start, 3 + L), dtype="<f8")
    if stop <= start:
        return b""
    rows[:, 0] = h.epoch[start:stop]
    rows[:, 1] = h.loss[start:stop]
    rows[:, 2] = [np.nan if v is None else v for v in h.test_loss[start:stop]]
    rows[:, 3:] = [[np.nan] * L if g is None else g for g in h.grad_norm[start:stop]]
    return rows.tobytes()


def history_from_rows(raw: bytes, L: int) -> History:
    rows = np.frombuffer(raw, dtype="<f8").reshape(-1, 3 + L)
    return _history(rows[:, 0].astype(np.int64), rows[:, 1].copy(), rows[:, 2].copy(),
                    rows[:, 3:].copy(), L)


def history_after(base: History, n: int, raw: bytes, L: int, take: bool) -> History:
    """The first ``n`` points of ``base`` (a copy that holds them), then ``raw``'s rows: only
    the new rows are converted. ``take``: ``base`` is being dropped, so its lists are taken
    and extended in place (no copy: the cost does not grow with the history)."""
    new = history_from_rows(raw, L)
    if take and len(base.epoch) == n:
        lists = (base.epoch, base.loss, base.test_loss, base.grad_norm)
    else:
        lists = (base.epoch[:n], base.loss[:n], base.test_loss[:n], base.grad_norm[:n])
    for old, more in zip(lists, (new.epoch, new.loss, new.test_loss, new.grad_norm),
                         strict=True):
        old.extend(more)  # type: ignore[attr-defined]
    return History(*lists)


# --- restore points: diffs of snapshots ----------------------------------------------------
def config_bytes(config: NormalizedConfig | None) -> int:
    """A restore point's config, as its bytes count it."""
    return 0 if config is None else len(json.dumps(config.to_dict()))


class _Pack:
    """Many small arrays in one float64 buffer: every value stored here is a float64, or an
    int64 well inside float64's exact range."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.size = 0

    def put(self, x: np.ndarray) -> list[Any]:
        flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
        ref = [self.size, list(x.shape)]
        self.parts.append(flat)
        self.size += flat.size
        return ref

    def array(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0)


def _get(data: np.ndarray, ref: list[Any]) -> np.ndarray:
    start, shape = ref
    n = int(np.prod(shape)) if shape else 1
    return data[start:start + n].reshape(shape).copy()


def encode_point(p: RestorePoint) -> bytes:
    """The point's JSON header, then its arrays as float64 bytes (the header says where each
    array starts; the first 4 bytes say where the header ends)."""
    pack = _Pack()
    tail = p.history_tail
    hist = [pack.put(np.array(tail[0], dtype=np.float64)),
            pack.put(np.array(tail[1], dtype=np.float64)),
            pack.put(np.array([np.nan if v is None else v for v in tail[2]], dtype=np.float64))]
    weights = None
    if p.weights is not None:
        weights = [[pack.put(W) for W in p.weights[0]],
                   None if p.weights[1] is None else [pack.put(b) for b in p.weights[1]]]
    last = None if p.last is None else [None if x is None else pack.put(x) for x in p.last]
    opt = None
    if p.opt is not None:
        opt = {"step": p.opt.step, **{k: None if xs is None else [pack.put(x) for x in xs]
                                      for k, xs in moments_of(p.opt).items()}}
    header = json.dumps({
        "label": p.label, "at": p.at, "version": p.version, "task": p.task,
        "counters": dump_counters(p.counters), "keep": p.history_keep, "history": hist,
        "config": None if p.config is None else p.config.to_dict(),
        "weights": weights, "last": last, "opt": opt,
        # Gradient norms (a list per point, or null) as hex floats: exact, small.
        "norms": [None if g is None else [v.hex() for v in g] for g in tail[3]]}).encode()
    return len(header).to_bytes(4, "little") + header + pack.array().tobytes()


def decode_point(blob: bytes) -> RestorePoint:
    n = int.from_bytes(blob[:4], "little")
    h = json.loads(blob[4:4 + n].decode())
    data = np.frombuffer(blob[4 + n:], dtype=np.float64)
    he, hl, ht = (_get(data, ref) for ref in h["history"])
    norms = h.get("norms") or [None] * len(he)
    tail: HistoryTail = (tuple(int(v) for v in he), tuple(hl.tolist()),
                         tuple(None if np.isnan(v) else float(v) for v in ht),
                         tuple(None if g is None else tuple(float.fromhex(v) for v in g)
                               for g in norms))
    weights = None
    if h["weights"] is not None:
        Ws, bs = h["weights"]
        weights = ([_get(data, r) for r in Ws], None if bs is None else [_get(data, r) for r in bs])
    last = None
    if h["last"] is not None:
        lo, lt = h["last"]
        last = (None if lo is None else _get(data, lo), None if lt is None else _get(data, lt))
    opt = None
    if h.get("opt") is not None:
        o = h["opt"]
        opt = OptState(int(o["step"]), **{k: None if o.get(k) is None else tuple(
            _get(data, r) for r in o[k]) for k in MOMENTS})
    if "counters" in h:
        counters = load_counters(h["counters"], FRESH)
    else:
        counters = load_counters(dict(zip(_LEGACY, h["scalars"], strict=False)), FRESH)
    return RestorePoint(h["label"], h["at"], h["version"], counters, h["task"], h["keep"],
                        tail, config=None if h["config"] is None
                        else NormalizedConfig.from_dict(h["config"]), weights=weights, last=last,
                        opt=opt)


# --- the export document ------------------------------------------------------------------
def document(s: SessionLike, keep: Sequence[int]) -> ExportDoc:
    """The session as an export document (history points ``keep``)."""
    t = s.trainer
    h = t.history
    c = Counters.of(t)
    return {
        "format": EXPORT_FORMAT,
        "config": s.config.to_dict(),
        "weights": [{"W": W.tolist(), "b": None if t.net.b is None else t.net.b[l].tolist()}
                    for l, W in enumerate(t.net.W)],
        "epoch": c.epoch,
        "iteration": c.iteration,
        "batch_pos": c.batch_pos,
        "mse_since": c.mse_since,
        # Exact partial-epoch sums, as hex floats, so an import continues bit for bit.
        "epoch_loss_sum": c.epoch_loss_sum.hex(),
        "epoch_test_loss": None if c.epoch_test_loss is None else c.epoch_test_loss.hex(),
        "status": c.status,
        "history": [{"epoch": h.epoch[i], "loss": h.loss[i], "test_loss": h.test_loss[i],
                     "grad_norm": None if (g := h.grad_norm[i]) is None else list(g)}
                    for i in keep],
        "version": s.version,
        "optimizer_state": _document_opt(t),
    }


def _document_opt(t: Trainer) -> ExportOptimizerState:
    opt = t.opt_state
    assert opt is not None
    L = t.net.spec.L

    def moment(xs: tuple[Array, ...] | None, i: int) -> JSON:
        return None if xs is None or i >= len(xs) else xs[i].tolist()

    ms = moments_of(opt)
    return {"step": opt.step, "layers": [
        {f"{k}_{part}": moment(ms[k], l + (L if part == "b" else 0))
         for part in ("W", "b") for k in MOMENTS}
        for l in range(L)]}


# --- setup links: the config, compressed ---------------------------------------------------
def pack_config(config: NormalizedConfig) -> str:
    """The config as a link's code (zlib + base64url, no padding)."""
    raw = json.dumps(config.to_dict(), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def unpack_config(code: str, max_bytes: int) -> Any:
    """The JSON a link's code carries; ValueError when it is not one (cut short, not base64,
    not zlib, not JSON, not UTF-8) or inflates beyond ``max_bytes``."""
    try:
        packed = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, max_bytes)
        if inflater.unconsumed_tail:
            raise ValueError("the link's setup is too large")
        return json.loads(raw)
    except (zlib.error, RecursionError) as e:  # (binascii.Error, JSON's errors: ValueError)
        raise ValueError(str(e)) from None
