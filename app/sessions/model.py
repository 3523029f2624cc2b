"""A Session: the normalized config plus a Trainer (network, data, cursor, trace, history),
and its exact serialisation (np.savez bytes with a JSON header; never pickle)."""

from __future__ import annotations

import io
import json
import secrets
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.config import Settings
from app.nn import datasets
from app.nn import features as feats
from app.nn.activations import Array
from app.nn.init import init_weights
from app.nn.losses import LOSSES, Regularization
from app.nn.network import Network, Spec
from app.nn.optimizers import OptState
from app.nn.stepper import Data, History, Trace, Trainer
from app.sessions.config import ConfigError
from app.sessions.normalized import GeneratedData, InlineData, NormalizedConfig, Rows
from app.sessions.run_state import Run
from app.sessions.undo import UndoRing

FORMAT = "backprop-lab-session/1"


def new_id() -> str:
    # 128 random bits: the id is the capability to use the session.
    return secrets.token_urlsafe(16)


def raw_data(config: NormalizedConfig) -> tuple[Data, str]:
    """The data in its own coordinates (before the input features), added points last."""
    d = config.dataset
    if isinstance(d, InlineData):
        def arr(m: Rows | None) -> Array | None:
            return None if m is None else np.array(m, dtype=np.float64)

        X, Y = np.array(d.X, dtype=np.float64), np.array(d.Y, dtype=np.float64)
        X_test, Y_test = arr(d.X_test), arr(d.Y_test)
        task = datasets.infer_task(Y)
    else:
        if isinstance(d, GeneratedData):
            ds = datasets.generate(d.name, d.samples, d.noise, d.test_ratio, d.seed)
        else:
            ds = datasets.truth_table(d.name)
        X, Y, X_test, Y_test, task = ds.X, ds.Y, ds.X_test, ds.Y_test, ds.task
    if d.extra:
        extra = np.array(d.extra, dtype=np.float64)
        X = np.vstack([X, extra[:, :2]])
        y_extra = extra[:, 2:3]
        Y = np.vstack([Y, y_extra if Y.shape[1] == 1 else datasets.one_hot_binary(y_extra)])
        if isinstance(d, InlineData):
            task = datasets.infer_task(Y)
    if config.layers[-1] == 2 and Y.shape[1] == 1:
        Y = datasets.one_hot_binary(Y)
        Y_test = None if Y_test is None else datasets.one_hot_binary(Y_test)
    return Data(X, Y, X_test, Y_test), task


def build_data(config: NormalizedConfig) -> tuple[Data, str]:
    """The data the network sees: the raw data through the input features."""
    raw, task = raw_data(config)
    fs = config.features
    if feats.is_default(fs):
        return raw, task
    X_test = None if raw.X_test is None else feats.apply(fs, raw.X_test)
    return Data(feats.apply(fs, raw.X), raw.Y, X_test, raw.Y_test), task


def spec_of(config: NormalizedConfig) -> Spec:
    reg = config.regularization
    return Spec(
        layers=config.layers,
        hidden_activation=config.hidden_activation,
        output_activation=config.output_activation,
        loss=config.loss,
        reduction=config.reduction,
        bias=config.bias,
        regularization=Regularization(reg.kind, float(reg.rate)),
    )


def initial_network(config: NormalizedConfig) -> Network:
    spec = spec_of(config)
    if config.weights is not None:
        Ws = [np.array(w.W, dtype=np.float64) for w in config.weights]
        bs = [np.array(w.b, dtype=np.float64) for w in config.weights] if spec.bias else None
        return Network(spec, Ws, bs)
    i = config.init
    Ws, bs = init_weights(
        spec.layers, i.scheme, seed=i.seed, low=i.low, high=i.high, std=i.std,
        bias=spec.bias, bias_value=i.bias,
    )
    return Network(spec, Ws, bs)


def check_focus(config: NormalizedConfig, n_samples: int) -> None:
    """focus indexes a training sample: 422 (ConfigError) beyond the data."""
    focus = config.focus
    if focus >= n_samples:
        raise ConfigError(("focus",), f"focus must be a sample index 0..{n_samples - 1} (the "
                          f"training data has {n_samples} samples); got {focus}")


def check_targets(config: NormalizedConfig, data: Data) -> None:
    """Every target suits the loss (binary cross-entropy: [0, 1]; cross-entropy: ≥ 0, so an
    added point's class is 0 or 1 for a softmax of width 2): else a ConfigError naming the
    first offending value, so a loss can never go negative. Checked on the data as the
    network sees it, whichever way it came in (inline, named set, added points, import)."""
    lo, hi = LOSSES[config.loss].targets
    d = config.dataset
    n_base = len(data.X) - len(d.extra or ())
    for key, y in (("Y", data.Y), ("Y_test", data.Y_test)):
        if y is None or not len(y):
            continue
        bad = np.flatnonzero(((y < lo) | (y > hi)).any(axis=1))
        if not len(bad):
            continue
        i = int(bad[0])
        rule = f"in [{lo:g}, {hi:g}]" if hi < np.inf else f"≥ {lo:g}"
        need = f"loss {config.loss} needs every target {rule}"
        if key == "Y" and i >= n_base:
            v = float((d.extra or ())[i - n_base][2])
            if config.layers[-1] == 2:  # y is class 1's probability: one-hot [1 − y, y]
                need = f"loss {config.loss} with 2 outputs needs an added point's y (its " \
                    "class: 0 or 1) in [0, 1]"
            raise ConfigError(("dataset", "extra", i - n_base, 2), f"{need}; got {v:g}")
        if isinstance(d, InlineData):
            raise ConfigError(("dataset", key, i), f"{need}; row {i} holds "
                              f"{', '.join(f'{v:g}' for v in y[i])}")
        raise ConfigError(("loss",), f"{need}; the data set {d.name!r} has targets from "
                          f"{float(y.min()):g} to {float(y.max()):g}: choose squared_error")


@dataclass
class Session:
    id: str
    config: NormalizedConfig
    trainer: Trainer
    task: str
    last_used: float = field(default_factory=time.time)
    # Bumped by every state change (undo and redo included): the SSE event id, the key of
    # rendered frames, the anchor of the undo timeline.
    version: int = 0
    undo: UndoRing = field(default_factory=UndoRing)
    watch_id: str | None = None  # the read-only capability to follow this session
    view_sel: str | None = None  # what the teacher's inspector shows (watchers see it too)
    run: Run | None = None  # a long training run in progress (app/sessions/runs.py)

    @classmethod
    def create(cls, config: NormalizedConfig, settings: Settings, id: str | None = None
               ) -> Session:
        data, task = build_data(config)
        check_focus(config, len(data.X))
        check_targets(config, data)
        trainer = Trainer(
            net=initial_network(config),
            data=data,
            learning_rate=config.learning_rate,
            batch_size=config.batch_size,
            train_bias=config.train_bias,
            shuffle_seed=config.init.seed,
            history_limit=settings.history_limit,
            optimizer=config.optimizer,
        )
        return cls(id or new_id(), config, trainer, task)

    @property
    def focus(self) -> int:
        return self.config.focus

    def resident_bytes(self) -> int:
        """Bytes held between requests (the server-wide memory budget's unit), from what it
        really holds: its arrays (weights, gradients, data, a pass's trace), its history at
        its measured size per point, its undo ring, its config's inline numbers."""
        from app.sessions import budget

        t = self.trainer
        h = t.history
        return (budget.RESIDENT_OVERHEAD + budget.held_bytes(t, skip=(h,))
                + len(h.epoch) * budget.history_point_bytes(len(t.net.W))
                + budget.undo_bytes(self.undo)
                + budget.PYFLOAT * budget.config_floats(self.config))

    def apply_settings(self, settings: Settings) -> None:
        self.trainer.history_limit = settings.history_limit

    # --- serialisation -------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        t = self.trainer
        arrays: dict[str, Array | NDArray[np.int64] | NDArray[np.uint8]] = {}
        for l, W in enumerate(t.net.W):
            arrays[f"W{l}"] = W
        for l, b in enumerate(t.net.b or []):
            arrays[f"b{l}"] = b
        for key in ("X", "Y", "X_test", "Y_test"):
            v = getattr(t.data, key)
            if v is not None:
                arrays[f"data_{key}"] = v
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
        # The optimizer's moments, per parameter array (W₁…W_L, then b₁…b_L).
        opt = t.opt_state
        assert opt is not None
        for key, xs in (("m", opt.m), ("v", opt.v)):
            for i, x in enumerate(xs or ()):
                arrays[f"opt_{key}{i}"] = x
        header = {
            "format": FORMAT,
            "id": self.id,
            "config": self.config.to_dict(),
            "task": self.task,
            "last_used": self.last_used,
            "learning_rate": t.learning_rate,
            "batch_size": t.batch_size,
            "train_bias": t.train_bias,
            "shuffle_seed": t.shuffle_seed,
            "epoch": t.epoch,
            "iteration": t.iteration,
            "batch_pos": t.batch_pos,
            "mse_since": t.mse_since,
            "epoch_loss_sum": t.epoch_loss_sum.hex(),  # exact
            "epoch_test_loss": None if t.epoch_test_loss is None else t.epoch_test_loss.hex(),
            "phase": t.phase,
            "layer": t.layer,
            "status": t.status,
            "last_loss": None if t.last_loss is None else t.last_loss.hex(),
            "opt_step": opt.step,
            "trace": None if t.trace is None else {
                "loss": None if t.trace.loss is None else t.trace.loss.hex()
            },
        }
        header["version"] = self.version
        header["watch_id"] = self.watch_id
        header["view_sel"] = self.view_sel
        header["run"] = None if self.run is None else self.run.to_dict()
        header["undo"], arrays["undo"] = self.undo.dump()
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes, settings: Settings) -> Session:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        h = json.loads(arrays.pop("header").tobytes().decode())
        if h.get("format") != FORMAT:
            raise ValueError("not a Backprop Lab session")
        config = NormalizedConfig.from_dict(h["config"])
        spec = spec_of(config)
        Ws = [arrays[f"W{l}"] for l in range(spec.L)]
        bs = [arrays[f"b{l}"] for l in range(spec.L)] if spec.bias else None
        data = Data(arrays["data_X"], arrays["data_Y"], arrays.get("data_X_test"),
                    arrays.get("data_Y_test"))
        # Whole columns at once (a long history is thousands of rows, loaded on every request
        # with the Redis store); NaN marks a missing test loss or gradient norm.
        h_test = arrays["h_test"]
        h_gnorm = arrays.get("h_gnorm", np.full((len(arrays["h_epoch"]), spec.L), np.nan))
        history = History(
            arrays["h_epoch"].tolist(),
            arrays["h_loss"].tolist(),
            [None if gap else v
             for v, gap in zip(h_test.tolist(), np.isnan(h_test).tolist(), strict=True)],
            [None if gap else row for row, gap in zip(
                h_gnorm.tolist(), np.isnan(h_gnorm).any(axis=1).tolist(), strict=True)],
        )
        history.remember_columns((arrays["h_epoch"].astype(np.int64), arrays["h_loss"], h_test,
                                  h_gnorm.reshape(-1, spec.L)))
        trace = None
        if h["trace"] is not None:
            L = spec.L

            def layer_list(name: str) -> list[Array | None]:
                return [arrays.get(f"tr_{name}{l}") for l in range(L)]

            trace = Trace(
                arrays["tr_indices"], layer_list("z"), layer_list("a"), layer_list("delta"),
                layer_list("grad_W"), layer_list("grad_b"),
                None if h["trace"]["loss"] is None else float.fromhex(h["trace"]["loss"]),
                arrays.get("tr_ell"),
            )
        n_params = spec.L * (2 if spec.bias else 1)

        def moments(key: str) -> tuple[Array, ...] | None:
            if f"opt_{key}0" not in arrays:
                return None
            return tuple(arrays[f"opt_{key}{i}"] for i in range(n_params))

        # A session stored before optimizers existed has none: fresh state (Trainer's check).
        opt_state = OptState(int(h.get("opt_step", 0)), moments("m"), moments("v"))
        trainer = Trainer(
            net=Network(spec, Ws, bs), data=data, learning_rate=h["learning_rate"],
            batch_size=h["batch_size"], train_bias=h["train_bias"],
            shuffle_seed=h["shuffle_seed"], history_limit=settings.history_limit,
            epoch=h["epoch"], iteration=h["iteration"], batch_pos=h["batch_pos"],
            mse_since=h.get("mse_since", 0),
            epoch_loss_sum=float.fromhex(h["epoch_loss_sum"]),
            epoch_test_loss=None if h["epoch_test_loss"] is None
            else float.fromhex(h["epoch_test_loss"]),
            phase=h["phase"], layer=h["layer"], status=h["status"], history=history,
            trace=trace,
            last_loss=None if h.get("last_loss") is None else float.fromhex(h["last_loss"]),
            last_output=arrays.get("last_output"), last_targets=arrays.get("last_targets"),
            optimizer=config.optimizer, opt_state=opt_state,
        )
        return cls(h["id"], config, trainer, h["task"], h["last_used"],
                   version=int(h.get("version", 0)),
                   undo=UndoRing.load(h.get("undo"), arrays.get("undo")),
                   watch_id=h.get("watch_id"), view_sel=h.get("view_sel"),
                   run=Run.from_dict(h.get("run")))
