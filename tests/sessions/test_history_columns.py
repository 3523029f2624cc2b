"""Saving a session converts its history to arrays once and then only the points added since:
the saved bytes must be exactly those of a conversion from scratch, through training (one
epoch and many), compaction, undo and a save/load cycle."""

from __future__ import annotations

import numpy as np

from app.config import Settings
from app.nn.stepper import History
from app.sessions import undo
from app.sessions.config import SessionConfig, normalize
from app.sessions.model import Session


def from_scratch(h: History, L: int) -> tuple[np.ndarray, ...]:
    """The columns written out here, point by point, with NaN for what is missing."""
    return (np.array(h.epoch, dtype=np.int64), np.array(h.loss, dtype=np.float64),
            np.array([np.nan if v is None else v for v in h.test_loss], dtype=np.float64),
            np.array([[np.nan] * L if g is None else g for g in h.grad_norm],
                     dtype=np.float64).reshape(-1, L))


def same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
               for x, y in zip(a, b, strict=True))


def test_incremental_columns_are_the_columns_from_scratch() -> None:
    settings = Settings(history_limit=64, kernel="numpy")
    s = Session.create(normalize(SessionConfig(preset="spiral"), settings), settings)
    t = s.trainer
    L = t.net.spec.L
    h = t.history
    assert same(h.columns(L), from_scratch(h, L))  # empty
    reused = 0
    for epochs in (1, 3, 1, 20, 1, 40, 2):  # passes the limit: compacted on the way
        before = undo.capture(s)
        cached = t.history._columns
        t.run(epochs)
        s.undo.push(undo.point_after(s, before, "train"), settings.undo_depth,
                    settings.undo_max_bytes)
        reused += cached is not None and cached[0] is t.history.epoch
        assert same(t.history.columns(L), from_scratch(t.history, L))
        assert len(t.history.epoch) <= 64
    assert reused >= 3  # most saves only converted the new points
    # A point where no test loss / gradient norm was recorded.
    t.history.append(t.epoch, 0.5, None, None)
    assert same(t.history.columns(L), from_scratch(t.history, L))
    # Undo replaces the lists: converted from scratch, still equal.
    undo.restore(s, s.undo.back[-1].get(), lambda c: (t.data, s.task),
                 lambda c: t.net.spec)
    assert same(t.history.columns(L), from_scratch(t.history, L))
    # Saved and loaded: the loaded columns seed the next save, which is byte-identical.
    raw = s.to_bytes()
    loaded = Session.from_bytes(raw, settings)
    assert loaded.to_bytes() == raw
    loaded.trainer.run(2)
    assert same(loaded.trainer.history.columns(L),
                from_scratch(loaded.trainer.history, L))
