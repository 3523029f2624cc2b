"""Train N on the page as a long run (app/sessions/runs.py): its progress bar, what the live
region says, and how the timeline names a run.

With JavaScript the reply to Train turns the page's player (partials/player.html) into a
poller of POST /s/{id}/tick?run=<id> (app/web/routes/tick.py): each poll is one chunk of at most
``run_chunk_budget`` seconds, answered with a lean frame and the progress bar, until the run
is done (286 stops the polling and the full regions come back), a step diverges, or the person
presses Cancel (or Pause, or Escape). Without JavaScript each press of Train (then Continue)
is one call's worth, ``train_time_budget`` seconds, and the message says how many remain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from typing_extensions import TypedDict

from app.config import Settings
from app.sessions import runs
from app.sessions.parts import TimelineEntry
from app.sessions.run_state import Run
from app.sessions.runs import Chunk
from app.sessions.undo import UndoRing

Gettext = Callable[[str], str]


def count(n: int) -> str:
    """A count with thousands separators (the same in English and Korean)."""
    return f"{n:,}"


def duration(seconds: float, _: Gettext) -> str:
    if seconds < 90:
        return _("{s} s").format(s=max(1, round(seconds)))
    if seconds < 5400:
        return _("{m} min").format(m=round(seconds / 60))
    return _("{h} h").format(h=round(seconds / 3600, 1))


def run_label(total: int, _: Gettext) -> str:
    return _("Train ×{n}").format(n=count(total))


class Progress(TypedDict):
    """The progress bar of a long run (the page's and the Play frame's)."""

    id: str
    total: int
    done: int
    live: bool
    percent: int
    label: str
    text: str
    poll_ms: int


def progress(s: Any, settings: Settings, _: Gettext, live: bool, watching: bool = False
             ) -> Progress | None:
    """The progress bar's numbers for the session's run (None: no run). ``live``: this reply
    drives the run (the player polls for the next chunk); the pace and time left are shown
    then, and to watchers (a frame per chunk)."""
    run: Run | None = s.run
    if run is None:
        return None
    done = run.done(s.trainer.epoch)
    elapsed = max(1e-3, time.time() - run.started)
    rate = done / elapsed
    parts = [_("{done} of {total} epochs").format(done=count(done), total=count(run.total))]
    if done:
        parts.append(_("{rate} epochs/s").format(rate=count(round(rate))))
        if live or watching:
            parts.append(_("about {t} left").format(t=duration((run.total - done) / rate, _)))
    return {"id": run.id, "total": run.total, "done": done, "live": live,
            "percent": 100 * done // run.total, "label": run_label(run.total, _),
            "text": " · ".join(parts), "poll_ms": round(settings.run_poll_interval * 1000)}


def timeline(ring: UndoRing, limit: int, _: Gettext) -> list[TimelineEntry]:
    """The undo timeline with each run named "Train ×N" (its chunks are one step)."""
    out = ring.timeline(limit)
    for t in out:
        total = runs.total_of(t["label"])
        if total is not None:
            t["label"] = run_label(total, _)
    return out


def announcement(c: Chunk, _: Gettext) -> str | None:
    """What the live region says after a chunk that goes on: only when the run passes a
    tenth of its epochs (start and end are the messages of the first and last replies)."""
    total = c.run.total
    if c.finished or c.done * 10 // total <= c.done_before * 10 // total:
        return None
    return _("Training: {p} % ({done} of {total} epochs).").format(
        p=100 * c.done // total, done=count(c.done), total=count(total))
