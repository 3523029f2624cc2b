"""A session as the Redis store writes it: its core (the snapshot without the loss history)
saved whole on every change, its history rows appended (app/sessions/redis_scripts.py).

A :class:`Mark` says which history rows Redis holds for a copy of a session: the first ``n``
points of that copy's history, under generation ``g``. The history's lists only grow in
place (an epoch appends); anything that changes earlier points (a compaction, an undo, a
reset, an import) replaces them, so "the same list object, at least as long" means "only
appended since": then a save sends only the new rows, else it rewrites them all under a new
generation.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.sessions import snapshot
from app.sessions.model import Session

# Sessions bigger than this are (de)serialised in a worker thread, off the event loop.
OFFLOAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Mark:
    rows: list[int]  # the history's epoch list the stored rows were taken from (identity)
    n: int  # how many of its points Redis holds
    L: int  # layers (a row's width)
    g: bytes  # the stored history's generation

    def offset(self) -> int:
        return self.n * snapshot.row_width(self.L)


@dataclass(frozen=True)
class Written:
    core: bytes
    rows: bytes  # the rows to write: all of them, or those added after ``after`` bytes
    after: int | None  # None: the rows replace the stored history
    mark: Mark  # what Redis holds once this is saved


def write(session: Session, mark: Mark | None) -> Written:
    t = session.trainer
    h, L = t.history, t.net.spec.L
    n = len(h.epoch)
    core = snapshot.dumps(session, history=False)
    if mark is not None and h.epoch is mark.rows and mark.L == L and mark.n <= n:
        return Written(core, snapshot.history_rows(h, L, mark.n, n), mark.offset(),
                       Mark(h.epoch, n, L, mark.g))
    g = secrets.token_bytes(8)
    return Written(core, snapshot.history_rows(h, L, 0, n), None, Mark(h.epoch, n, L, g))


def read(core: bytes, g: bytes, rows: bytes, off: int, base: tuple[Mark, Session] | None,
         settings: Settings, take: bool = False) -> tuple[Session, Mark | None]:
    """The session of a stored core and the history rows from byte ``off`` on (``base``: the
    copy that holds the rows before ``off``, when ``off`` > 0; ``take``: a copy being dropped,
    whose history lists the new session takes over)."""
    p = snapshot.loads(core)
    if p.history is not None:  # saved with its history inside (before the rows were apart)
        return Session.from_stored(p, settings), None
    L = len(p.config.layers) - 1
    n = p.header["history"]
    assert n is not None  # the history's length: its rows are stored apart
    if off:
        assert base is not None and base[0].offset() == off and base[0].L == L
        history = snapshot.history_after(
            base[1].trainer.history, base[0].n,
            rows[: (n - base[0].n) * snapshot.row_width(L)], L, take)
    else:
        history = snapshot.history_from_rows(rows[: n * snapshot.row_width(L)], L)
    session = Session.from_stored(p, settings, history)
    return session, Mark(history.epoch, n, L, g)


async def write_off_loop(session: Session, mark: Mark | None) -> Written:
    t = session.trainer
    if t.n_samples * max(t.net.spec.layers) * 8 > OFFLOAD_BYTES:
        return await asyncio.to_thread(write, session, mark)
    return write(session, mark)


async def read_off_loop(reply: list[Any], base: tuple[Mark, Session] | None,
                        settings: Settings, always: bool = False, take: bool = False
                        ) -> tuple[Session, Mark | None]:
    """The session of a LOAD or PEEK reply ``{version, core, generation, rows, off}``
    (app/sessions/redis_scripts.py); in a worker thread when large (or ``always``)."""
    core, g, rows, off = bytes(reply[1]), bytes(reply[2]), bytes(reply[3]), int(reply[4])
    args = (core, g, rows, off, base if off else None, settings, take)
    if always or len(core) + len(rows) > OFFLOAD_BYTES:
        return await asyncio.to_thread(read, *args)
    return read(*args)
