"""Play pushed over one stream: GET /s/{id}/play?n=… (text/event-stream).

A playing page opens one EventSource (static/js/app.js) instead of posting a tick every 250 ms:
the server runs a tick every ``play_interval`` (setting, 0.25 s) from the start of the last,
through the door as the polled tick does (``tick_budget``, a restore point per tick, an event
for watchers), and pushes the regions that changed as an event ``frame``. The stream remembers
which region hashes it sent, so nothing is echoed back. It ends with an event ``stop`` (the
full regions, the controls and the player, as the polled tick's 286 reply) when the network
diverges or something else changes the session (a step in another tab, the API), with an
empty ``stop`` when the session is gone (a 404 if it is gone before the stream opens), and
when the page closes it (Pause and every other toolbar request close it before they leave;
Pause also marks it paused: ``pause``). Beyond ``play_max_streams`` open streams the
page is told (event ``poll``) to play by polling POST /s/{id}/tick as before.

The stream is gzipped as one deflate stream, flushed after each event: consecutive frames
share most of their markup, so a 27 KB spiral frame is about 7.5 KB on the wire (10 KB as a
gzipped reply of its own).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from fastapi.sse import format_sse_event

from app.config import Settings
from app.sessions.budget import PageTooLarge, check_page
from app.sessions.commands import State
from app.sessions.commands import Tick as TickCommand
from app.sessions.door import Door, Outcome
from app.sessions.model import Session
from app.sessions.render_budget import page_cost
from app.sessions.store import SessionBusy, SessionNotFound, StoreUnavailable
from app.web.infra import i18n
from app.web.routes import tick
from app.web.views import train_run
from app.web.views.session import ViewState

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Streams:
    """The Play streams open on this worker (play_max_streams), by session."""

    open = 0
    of: ClassVar[dict[str, set[Tick]]] = {}


def pause(sid: str) -> None:
    """Pause pressed on the page: this worker's streams of the session train no more. The
    page closes its stream before Pause leaves, but the server may notice that after a tick
    has started; a tick checks this under the session's lock, so Pause (which waits for the
    lock) shows the state where training stopped."""
    for t in Streams.of.get(sid, ()):
        t.paused = True


class Interrupted(Exception):
    """Something other than this stream changed the session since its last tick."""


class Paused(Exception):
    """Pause was pressed: the page has closed (or is closing) this stream."""


def event(name: str, html: str = "", comment: str | None = None) -> bytes:
    return format_sse_event(event=name, data_str=html, comment=comment)


class Encoder:
    """Events as they go on the wire: one gzip stream flushed after each event (the browser
    decodes it as it comes), or plain."""

    def __init__(self, gzip_ok: bool) -> None:
        # 32 KB window: a frame finds its predecessor's markup; memLevel 6 keeps each open
        # stream's compressor at about 160 KB.
        self.z = zlib.compressobj(1, zlib.DEFLATED, 31, 6) if gzip_ok else None

    def __call__(self, data: bytes) -> bytes:
        if self.z is None:
            return data
        return self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)

    def end(self) -> bytes:
        return self.z.flush() if self.z is not None else b""


async def stream(request: Request, sid: str, settings: Settings, door: Door, render: Any,
                 base_ctx: Any, timeline: int) -> Response:
    # An unknown (expired, deleted) session is a 404 before the stream starts, as on every
    # page; the page's EventSource then fails, falls back to POST /tick, which says 286 (stop).
    await door.apply(sid, State())
    vs = ViewState.parse(request.query_params)
    vs = ViewState(vs.sel, vs.log, True, vs.n)
    encode = Encoder("gzip" in request.headers.get("accept-encoding", ""))
    headers = dict(HEADERS)
    if encode.z is not None:
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"

    return StreamingResponse(frames(request, sid, settings, door, render, base_ctx, timeline,
                                    vs, encode),
                             media_type="text/event-stream", headers=headers)


class Tick:
    """What one page's stream keeps between ticks, and the door's callbacks of a tick. The
    frame is formatted and compressed in the tick's worker thread (zlib lets go of the GIL),
    not on the event loop."""

    def __init__(self, settings: Settings, render: Any, vs: ViewState, _: Any,
                 timeline: int, encode: Encoder) -> None:
        self.settings, self.render, self.vs, self._, self.timeline = (
            settings, render, vs, _, timeline)
        self.encode = encode
        self.held: dict[str, str] = {}  # region → what the page now holds (hash or HTML)
        self.version: int | None = None  # the session's version after this stream's tick
        self.ctx: dict[str, Any] = {}
        self.stamp = ""
        self.encoded = False  # this tick's frame went into the compressor
        self.paused = False  # Pause was pressed (pause())

    @staticmethod
    def cost(s: Session) -> int:
        return page_cost(s.config)

    def before(self, s: Session) -> None:
        check_page(s.config, self.settings.max_reply_bytes)
        if self.paused:
            raise Paused
        if self.version is not None and s.version != self.version:
            raise Interrupted

    def view(self, s: Session, outcome: Outcome[Any]) -> tuple[bytes, bool]:
        html, stop = tick.play_frame(s, self.ctx, self.render, self.held, self.settings,
                                     self.vs, self._, self.timeline)
        self.version = s.version
        if not html and not stop:
            return b"", False  # nothing changed (the kernel still compiling)
        self.encoded = True
        data = self.encode(event("stop" if stop else "frame", html, self.stamp))
        return (data + self.encode.end() if stop else data), stop

    def stopped(self, s: Session, outcome: Outcome[Any]) -> str:
        """The page as the session now is, in full (Play ends)."""
        self.ctx["timeline"] = train_run.timeline(s.undo, self.timeline, self._)
        return tick.frame(s, self.ctx, self.render, {}, True, self.settings, self.vs,
                          self._)[0]


async def frames(request: Request, sid: str, settings: Settings, door: Door, render: Any,
                 base_ctx: Any, timeline: int, vs: ViewState, encode: Encoder
                 ) -> AsyncIterator[bytes]:
    if Streams.open >= settings.play_max_streams:  # play by polling: not refused
        yield encode(event("poll")) + encode.end()
        return
    base = base_ctx(request)
    t = Tick(settings, render, vs, i18n.gettext_for(base["lang"]), timeline, encode)
    Streams.open += 1
    Streams.of.setdefault(sid, set()).add(t)
    try:
        due = time.monotonic()
        while True:
            # The comment: when this tick was due (wall clock), for benchmarks/classroom.py.
            t.stamp = f"due {time.time() - (time.monotonic() - due):.4f}"
            t.ctx, t.encoded = dict(base), False
            try:
                data, stop = await door.apply(sid, TickCommand(vs.n, settings.tick_budget),
                                              view=t.view, before=t.before, cost=t.cost)
            except Paused:
                return
            except (SessionNotFound, PageTooLarge):
                if not t.encoded:
                    yield encode(event("stop")) + encode.end()
                return
            except Interrupted:  # something else changed the session: Play ends here
                try:
                    html = await door.apply(sid, State(), view=t.stopped, cost=t.cost)
                except SessionNotFound:
                    html = ""
                yield encode(event("stop", html)) + encode.end()
                return
            except (SessionBusy, StoreUnavailable):
                if t.encoded:
                    # A frame went into the compressor but not out (the save failed after
                    # it): the rest of this gzip stream would not decode. End it; the
                    # page's EventSource reconnects to a new one.
                    return
                data, stop = b"", False  # this tick is skipped; the next one tries again
            if data:
                yield data
            if stop:
                return
            due = max(due + settings.play_interval, time.monotonic())
            await asyncio.sleep(due - time.monotonic())
    finally:
        Streams.open -= 1
        mine = Streams.of.get(sid, set())
        mine.discard(t)
        if not mine:
            Streams.of.pop(sid, None)
