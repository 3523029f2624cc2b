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


def test_columns_grow_in_place_and_earlier_views_keep_their_rows() -> None:
    """The buffers grow by doubling (a tick converts only its new points, whatever the age):
    columns taken before more points were added still read the rows they had."""
    h = History()
    L = 2
    taken = []
    for e in range(300):
        h.append(e, 1.0 / (e + 1), None if e % 3 else 2.0 / (e + 1),
                 None if e % 5 == 0 else [float(e), float(-e)])
        cols = h.columns(L)
        if e in (0, 7, 100, 299):
            taken.append((e + 1, tuple(c.copy() for c in cols), cols))
        assert same(cols, from_scratch(h, L))
    for n, copy, view in taken:
        assert all(len(c) == n for c in view)
        assert same(view, copy)
    capacity = len(h._columns[2][0])  # type: ignore[index]
    assert 300 <= capacity < 600  # doubling: at most twice the points, not one per append
