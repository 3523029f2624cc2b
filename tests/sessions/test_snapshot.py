"""One snapshot (#18), stored in two parts with Redis (#22): a part of a session named in
app/sessions/snapshot.py travels everywhere — the optimizer's moments of an Adam session come
back bit for bit from the store, from an export and from an undo — and a session whose core
and history rows are stored apart (the Redis store) reads back exactly what a session that
never left memory holds, through undo, redo, compaction, reset and import, with two workers
taking turns (each reading only the rows it lacks)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np

from app.config import Settings
from app.nn.optimizers import OptState
from app.sessions import parts, service, undo
from app.sessions.model import Session, build_data, spec_of
from tests.sessions.conftest import new_session, opened

MakeSettings = Callable[..., Settings]
ADAM = {"name": "adam", "beta1": 0.8, "beta2": 0.99, "eps": 1e-6}


def moments(s: Session) -> list[bytes]:
    """The optimizer's state as bytes, array by array (bit-for-bit comparisons)."""
    opt = s.trainer.opt_state
    assert opt is not None
    out = [str(opt.step).encode()]
    for f in fields(OptState):
        if f.name != "step":
            out += [x.tobytes() for x in getattr(opt, f.name) or ()]
    return out


def did(s: Session, label: str, op: Callable[[Session], Any], settings: Settings) -> None:
    """An operation with its restore point, as the door records it."""
    before = undo.capture(s)
    op(s)
    s.undo.push(undo.point_after(s, before, label), settings.undo_depth,
                settings.undo_max_bytes)
    s.version += 1


def step_back(s: Session, redo: bool = False) -> None:
    """One undo (or redo), as the door applies it."""
    src, dst = (s.undo.forward, s.undo.back) if redo else (s.undo.back, s.undo.forward)
    inverse = undo.restore(s, src[-1].get(), build_data, spec_of)
    src.pop()
    dst.append(undo.Entry.of(inverse))
    s.version += 1


def test_the_snapshot_names_every_moment_of_the_optimizer_state() -> None:
    # A new moment added to OptState is a new field there: the snapshot stores, exports and
    # undoes it without another change.
    assert set(parts.MOMENTS) == {f.name for f in fields(OptState)} - {"step"}


def test_adam_moments_round_trip_through_store_export_and_undo(
        make_settings: MakeSettings) -> None:
    settings = make_settings()
    s = new_session(settings, preset="circle", optimizer=ADAM, batch_size=10)
    service.train(s, 3, settings)
    trained = moments(s)
    assert any(np.frombuffer(b).any() for b in trained[1:])  # the moments are not zeros

    async def scenario() -> None:
        async with opened(settings) as store:
            await store.add(s)
            _, copy = await store.saved(s.id, None)  # store → bytes → load
            assert copy is not None and moments(copy) == trained
            async with store.use(s.id) as live:  # step → undo, through the stored ring
                did(live, "step", service.step, settings)
                did(live, "train", lambda x: service.train(x, 2, settings), settings)
                assert moments(live) != trained
        async with opened(settings) as store:
            if store.name == "redis":  # another worker: reads the session's bytes afresh
                async with store.use(s.id) as again:
                    step_back(again)
                    step_back(again)
                    assert moments(again) == trained
                    step_back(again, redo=True)
                    step_back(again)
                    assert moments(again) == trained

    asyncio.run(scenario())
    if settings.store == "memory":
        step_back(s)
        step_back(s)
        assert moments(s) == trained
    # export → import
    back = service.import_session(service.export(s), settings)
    assert moments(back) == moments(s)


def state(s: Session) -> tuple[Any, ...]:
    """What must come back exactly: the history, counters, weights, moments, undo stacks."""
    t = s.trainer
    h = t.history
    cols = h.columns(t.L)
    return (list(h.epoch), [c.tobytes() for c in cols], parts.Counters.of(t),
            [W.tobytes() for W in t.net.W], [b.tobytes() for b in t.net.b or []], moments(s),
            s.undo.counts(), s.version, s.config)


def test_split_storage_reads_back_what_memory_holds_through_every_operation(
        make_settings: MakeSettings) -> None:
    """Two workers take turns on one session (Redis: each reads only the rows it lacks; a
    compaction, an undo, a reset rewrite them); after every operation a third reader's copy
    equals a reference session that never left memory."""
    settings = make_settings(history_limit=40, undo_depth=4)
    ref = new_session(settings, preset="seed-xor", optimizer=ADAM)
    sid = ref.id
    ops: list[tuple[str, Callable[[Session], Any]]] = [
        ("train", lambda s: did(s, "train", lambda x: service.train(x, 15, settings),
                                settings)),
        ("step", lambda s: did(s, "step", service.step, settings)),
        ("train", lambda s: did(s, "train", lambda x: service.train(x, 30, settings),
                                settings)),  # past history_limit: compacted
        ("undo", step_back),
        ("redo", lambda s: step_back(s, redo=True)),
        ("undo", step_back),
        ("train", lambda s: did(s, "train", lambda x: service.train(x, 7, settings),
                                settings)),
        ("reset", lambda s: did(s, "reset", lambda x: service.reset(x, None, settings),
                                settings)),
        ("train", lambda s: did(s, "train", lambda x: service.train(x, 5, settings),
                                settings)),
        ("undo", step_back),
    ]

    async def scenario() -> None:
        raw = ref.to_bytes()
        async with opened(settings) as a, opened(settings) as b, opened(settings) as c:
            if a.name == "memory":  # one process, one store
                b = c = a
            await a.add(Session.from_bytes(raw, settings))
            for i, (name, op) in enumerate(ops):
                op(ref)
                async with (a if i % 2 == 0 else b).use(sid) as s:
                    op(s)
                _, copy = await c.saved(sid, None)  # a third reader: afresh, or its rows
                assert copy is not None
                assert state(copy) == state(ref), name
                _, seen = await (b if i % 2 == 0 else a).saved(sid, None)
                assert seen is not None and state(seen) == state(ref), name
            # import: a new session from the export, stored whole, read back exactly
            doc = service.export(ref)
            imported = service.import_session(doc, settings)
            await a.add(imported)
            _, copy = await c.saved(imported.id, None)
            assert copy is not None
            assert state(copy)[:6] == state(ref)[:6]

    asyncio.run(scenario())
