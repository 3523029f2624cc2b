"""A Session: the normalized config plus a Trainer (network, data, cursor, trace, history),
and its exact serialisation (app/sessions/snapshot.py)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

import numpy as np

from app.config import Settings
from app.nn import datasets
from app.nn import features as feats
from app.nn.activations import Array
from app.nn.init import init_weights
from app.nn.losses import LOSSES, Regularization
from app.nn.network import Network, Spec
from app.nn.stepper import Data, History, Trainer
from app.sessions import budget, snapshot
from app.sessions.config import ConfigError
from app.sessions.normalized import GeneratedData, InlineData, NormalizedConfig, Rows
from app.sessions.run_state import Run
from app.sessions.undo import UndoRing


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
    # The config lives in the trainer (it reads its hyperparameters there): ``config`` below.
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
    # What resident_bytes() need not walk again (the config, the spec): it runs on every write.
    held_memo: budget.HeldMemo = field(default_factory=dict, repr=False, compare=False)

    @property
    def config(self) -> NormalizedConfig:
        config = self.trainer.hyper
        assert isinstance(config, NormalizedConfig)  # (a session's trainer reads its config)
        return config

    @config.setter
    def config(self, config: NormalizedConfig) -> None:
        self.trainer.hyper = config

    @classmethod
    def create(cls, config: NormalizedConfig, settings: Settings, id: str | None = None
               ) -> Session:
        data, task = build_data(config)
        check_focus(config, len(data.X))
        check_targets(config, data)
        trainer = Trainer(
            net=initial_network(config),
            data=data,
            hyper=config,
            history_limit=settings.history_limit,
            optimizer=config.optimizer,
        )
        return cls(id or new_id(), trainer, task)

    @property
    def focus(self) -> int:
        return self.config.focus

    def resident_bytes(self) -> int:
        """Bytes held between requests (the server-wide memory budget's unit), from what it
        really holds: its arrays (weights, gradients, data, a pass's trace), its history at
        its measured size per point, its undo ring, its config's inline numbers."""
        t = self.trainer
        h = t.history
        return (budget.RESIDENT_OVERHEAD + budget.held_bytes(t, skip=(h,), memo=self.held_memo)
                + len(h.epoch) * budget.history_point_bytes(len(t.net.W))
                + budget.undo_bytes(self.undo)
                + budget.PYFLOAT * budget.config_floats(self.config))

    def apply_settings(self, settings: Settings) -> None:
        self.trainer.history_limit = settings.history_limit

    # --- bytes: app/sessions/snapshot.py ---------------------------------------------------
    def to_bytes(self, history: bool = True) -> bytes:
        return snapshot.dumps(self, history)

    @classmethod
    def from_bytes(cls, raw: bytes, settings: Settings) -> Session:
        return cls.from_stored(snapshot.loads(raw), settings)

    @classmethod
    def from_stored(cls, p: snapshot.Stored, settings: Settings,
                    history: History | None = None) -> Session:
        """The session of a read snapshot; ``history`` when it was stored apart."""
        h = p.header
        if p.history is not None:
            history = p.history
        elif history is None:
            raise ValueError("the session's history is stored apart")
        trainer = Trainer(
            net=Network(spec_of(p.config), p.Ws, p.bs), data=p.data, hyper=p.config,
            history_limit=settings.history_limit, history=history, trace=p.trace,
            last_output=p.last_output, last_targets=p.last_targets,
            optimizer=p.config.optimizer, opt_state=p.opt_state,
        )
        p.counters.put(trainer)
        return cls(h["id"], trainer, h["task"], h["last_used"],
                   version=int(h.get("version", 0)),
                   undo=UndoRing.load(p.undo_index, p.undo_blob),
                   watch_id=h.get("watch_id"), view_sel=h.get("view_sel"), run=p.run)
