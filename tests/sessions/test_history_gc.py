"""A session's history does not grow the garbage collector's work with its age: its gradient
norms are tuples of floats, which the collector stops tracking, so a full collection walks no
object per epoch (60 students after ten minutes of Play hold over a million epochs)."""

from __future__ import annotations

import gc

from app.config import Settings
from app.sessions.config import SessionConfig, normalize
from app.sessions.model import Session


def test_epochs_add_no_tracked_objects() -> None:
    settings = Settings(kernel="numpy")
    s = Session.create(normalize(SessionConfig(preset="spiral"), settings), settings)
    s.trainer.run(5)
    gc.collect()
    before = len(gc.get_objects())
    s.trainer.run(300)
    gc.collect()
    after = len(gc.get_objects())
    h = s.trainer.history
    assert len(h.epoch) == 305 and all(g is not None for g in h.grad_norm[-300:])
    assert not any(gc.is_tracked(g) for g in h.grad_norm)
    assert after - before < 60  # was one list per epoch: 300 more


def test_loaded_and_restored_histories_keep_tuples() -> None:
    settings = Settings(kernel="numpy")
    s = Session.create(normalize(SessionConfig(preset="spiral"), settings), settings)
    s.trainer.run(20)
    loaded = Session.from_bytes(s.to_bytes(), settings)
    for h in (s.trainer.history, loaded.trainer.history):
        assert all(type(g) is tuple for g in h.grad_norm)
    assert loaded.trainer.history.grad_norm == s.trainer.history.grad_norm


def test_a_play_tick_leaves_no_cycles_for_the_collector() -> None:
    """What a Play tick does besides drawing — train, the restore point, the memory store's
    recount of the session's bytes — leaves no reference cycle behind: cycles are freed only
    by a collection (the recount's recursive walker held itself in its closure: at 60
    students each young collection walked ~10,000 such objects)."""
    from app.sessions import undo

    settings = Settings(kernel="numpy")
    s = Session.create(normalize(SessionConfig(preset="spiral"), settings), settings)
    s.trainer.run(3)
    s.resident_bytes()
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            before = undo.capture(s)
            s.trainer.run(2)
            s.undo.push(undo.point_after(s, before, "Play"), settings.undo_depth,
                        settings.undo_max_bytes)
            assert s.resident_bytes() > 0
        assert gc.collect() == 0  # nothing unreachable: each object freed when let go
    finally:
        gc.enable()
