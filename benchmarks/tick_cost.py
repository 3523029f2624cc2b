"""Server CPU of one Play tick, without the network: what the door does for a stream's tick
(train, the restore point, the watcher event), the frame (app/web/routes/play.py's Tick.view: view,
templates, hashing, gzip) and the memory store's recount of the session's resident bytes.

    python3 -m benchmarks.tick_cost [--students 10] [--ticks 40] [--profile out.prof]

N sessions (the `spiral` preset, as benchmarks/classroom.py), each played round-robin at 10
epochs per tick, all pictures on. Prints the CPU ms per tick (process time, so the machine's
other load counts less than in wall time) split into training, the frame and the recount.
``--profile``: cProfile over the measured ticks (one thread: the door's work is done inline).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import time
from typing import Any

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.sessions import undo
from app.sessions.commands import Tick as TickCommand
from app.sessions.door import Outcome, summary
from app.sessions.model import Session
from app.web.infra.templating import base_ctx, render
from app.web.routes import play
from app.web.routes.session import TIMELINE
from app.web.views.session import ViewState


def tick(s: Session, settings: Settings, t: play.Tick, times: list[float]) -> None:
    """The door's work() for a Tick, inline (app/sessions/door.py)."""
    c0 = time.process_time()
    outcome: Outcome[Any] = Outcome()
    command = TickCommand(10, settings.tick_budget)
    point_before = undo.capture(s)
    label = command.label(s)
    outcome.result = command.run(s, settings)
    point = undo.point_after(s, point_before, label)
    ring = s.undo
    if ring.back and ring.back[-1].label == label:
        ring.fold(point, settings.undo_depth, settings.undo_max_bytes)
    else:
        ring.push(point, settings.undo_depth, settings.undo_max_bytes)
    s.version += 1
    summary(s)
    c1 = time.process_time()
    t.ctx = dict(t.ctx_base)  # type: ignore[attr-defined]
    t.view(s, outcome)
    c2 = time.process_time()
    s.resident_bytes()  # the memory store's recount on leaving the block
    c3 = time.process_time()
    times[0] += c1 - c0
    times[1] += c2 - c1
    times[2] += c3 - c2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=10)
    ap.add_argument("--ticks", type=int, default=40, help="measured ticks per student")
    ap.add_argument("--warmup", type=int, default=5, help="ticks per student before")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--freeze", action="store_true",
                    help="gc.freeze() after creating the sessions (as app/main.py's start-up)")
    args = ap.parse_args()
    settings = Settings(create_rate_limit=0)
    with TestClient(create_app(settings)) as client:
        sids = []
        for k in range(args.students):
            r = client.post("/api/v1/sessions", json={"preset": "spiral",
                                                      "init": {"seed": k + 1}})
            r.raise_for_status()
            sids.append(r.json()["id"])
        store = client.app.state.store  # type: ignore[attr-defined]
        settings = client.app.state.door.settings  # type: ignore[attr-defined]
        request = client.portal.call(_request, client)  # type: ignore[union-attr]
        streams = []
        for sid in sids:
            t = play.Tick(settings, render, ViewState(None, False, True, 10), _gettext(),
                          TIMELINE, play.Encoder(True))
            t.ctx_base = base_ctx(request)  # type: ignore[attr-defined]
            streams.append((store._sessions[sid], t))
        times = [0.0, 0.0, 0.0]
        while any(s.trainer.status == "warming" for s, _t in streams):
            time.sleep(0.1)
        for _ in range(args.warmup):
            for s, t in streams:
                tick(s, settings, t, times)
        times = [0.0, 0.0, 0.0]
        if args.freeze:
            gc.collect()
            gc.freeze()
        gc_time = [0.0, 0.0]

        def gc_timer(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_time[1] = time.process_time()
            else:
                gc_time[0] += time.process_time() - gc_time[1]
        gc.callbacks.append(gc_timer)
        prof = cProfile.Profile() if args.profile else None
        w0 = time.perf_counter()
        if prof is not None:
            prof.enable()
        for _ in range(args.ticks):
            for s, t in streams:
                tick(s, settings, t, times)
        if prof is not None:
            prof.disable()
            prof.dump_stats(args.profile)
        wall = time.perf_counter() - w0
        gc.callbacks.remove(gc_timer)
    n = args.ticks * args.students
    train, frame, recount = (1000 * x / n for x in times)
    print(f"{n} ticks ({args.students} sessions): CPU ms per tick {train + frame + recount:.2f} "
          f"= train {train:.2f} + frame {frame:.2f} + resident-bytes recount {recount:.2f}; "
          f"wall {1000 * wall / n:.2f} ms per tick; of which garbage collection "
          f"{1000 * gc_time[0] / n:.3f} ms")


def _gettext() -> Any:
    from app.web.infra import i18n
    return i18n.gettext_for(i18n.DEFAULT)


async def _request(client: TestClient) -> Any:
    from starlette.requests import Request
    scope = {"type": "http", "method": "GET", "path": "/s/x/play", "query_string": b"n=10",
             "headers": [], "app": client.app}
    return Request(scope)


if __name__ == "__main__":
    main()
