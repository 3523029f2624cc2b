"""Teaching endpoints: undo and redo, watch links (follow a session read-only, live over
Server-Sent Events) and links that recreate a setup. All of them go through the door."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, TypedDict

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api import schemas
from app.api.operate import (
    ON_SESSION,
    SESSION,
    UNAVAILABLE,
    HistoryQ,
    OperateDep,
    Responses,
    SamplesQ,
    SessionId,
    _documented,
    history_points,
    render,
    respond,
)
from app.deps import DoorDep, PollsDep, SettingsDep
from app.lan import lan_urls, server_port
from app.sessions import links
from app.sessions.commands import Redo, State, Undo, Unwatch, Watch
from app.sessions.door import summary
from app.sessions.render_budget import session_state_cost
from app.sessions.store import SessionBusy, SessionNotFound, StoreUnavailable

router = APIRouter(prefix="/api/v1", tags=["teaching"])

NOTHING = _documented(409, "nothing to undo (or redo)")
WATCH_NOT_FOUND = _documented(404, "unknown or revoked watch link, or its session expired")
WATCH_LIMIT = _documented(429, "too many watch streams on this worker (watch_max_streams, "
                          "watch_buffer_bytes), for the session (watch_max_per_session) or "
                          "from this client (watch_max_per_client, off by default)")
StepsQ = Annotated[int, Query(ge=1, le=10_000, description="how many operations to undo (or "
                              "redo) at once, 1 to 10,000; default 1", examples=[1, 3])]
WatchId = Annotated[str, Path(description="the watch id from POST /api/v1/sessions/{id}/watch "
                              "(its `watch_id`, also the end of its `url`); never a session id",
                              examples=["Yd0x5m7bQ0K2pXh4sT9wZg"])]


@router.post(f"{SESSION}/undo", response_model=schemas.SessionState,
             responses={**ON_SESSION, **NOTHING}, summary="Undo the last operation(s)")
async def undo(op: OperateDep, steps: StepsQ = 1) -> JSONResponse:
    """Puts the session back to the state before its last `steps` operations (forward,
    backward, update, step, train, PATCH, PUT weights, reset), exactly: weights, cursor, trace
    of the pass in progress, epoch, iteration, mini-batch position, history, metrics, status
    and config. Any cursor. The undone operations can be redone until a new operation is
    applied. Changes: `version` +1, `undo.back` −steps, `undo.forward` +steps. 409 when fewer
    than `steps` operations are recorded (at most undo_depth, within undo_max_bytes)."""
    return await op(Undo(steps))


@router.post(f"{SESSION}/redo", response_model=schemas.SessionState,
             responses={**ON_SESSION, **NOTHING}, summary="Redo undone operation(s)")
async def redo(op: OperateDep, steps: StepsQ = 1) -> JSONResponse:
    """Applies again the last `steps` undone operations, giving exactly the state they had
    produced. Any cursor. Changes: `version` +1, `undo.forward` −steps, `undo.back` +steps.
    409 when fewer than `steps` undone operations wait (a new operation after an undo drops
    them)."""
    return await op(Redo(steps))


# --- watch links ---------------------------------------------------------------------------
class WatchReply(TypedDict):
    """POST …/watch's reply (schemas.WatchLink)."""

    watch_id: str
    url: str
    lan_urls: list[str]


def watch_url(watch_id: str) -> str:
    return f"/w/{watch_id}"


@router.post(f"{SESSION}/watch", response_model=schemas.WatchLink,
             responses=ON_SESSION, summary="The session's watch link (read-only)")
async def watch(session_id: SessionId, door: DoorDep, request: Request) -> WatchReply:
    """Returns the session's watch link: a read-only capability to follow it (the page
    /w/{watch_id}, GET /api/v1/watch/{watch_id} and its event stream). The same link each time
    until it is revoked; it cannot be turned into the session id. `lan_urls`: the page's
    absolute URLs on this machine's network addresses, for students in the room (empty when
    the server listens on loopback only). Any cursor; the session's state and version do not
    change."""
    watch_id = await door.apply(session_id, Watch())  # (linked in the hub by the door)
    return {"watch_id": watch_id, "url": watch_url(watch_id),
            "lan_urls": lan_urls(door.settings.listen_host, server_port(request),
                                 watch_url(watch_id))}


@router.delete(f"{SESSION}/watch", status_code=204, response_class=Response,
               responses=ON_SESSION, summary="Revoke the watch link")
async def unwatch(session_id: SessionId, door: DoorDep) -> Response:
    """Revokes the session's watch link: the link answers 404 from now on and every open
    stream on it ends. Any cursor; the session's state and version do not change. 204 also
    when there was no link. The next POST …/watch makes a new link."""
    await door.apply(session_id, Unwatch())  # (revoked in the hub by the door)
    return Response(status_code=204)


@router.get("/watch/{watch_id}", response_model=schemas.SessionState,
            responses={**WATCH_NOT_FOUND, **UNAVAILABLE}, summary="A watched session's state")
async def watch_state(watch_id: WatchId, door: DoorDep, settings: SettingsDep,
                      polls: PollsDep, samples: SamplesQ = None, history: HistoryQ = None
                      ) -> JSONResponse:
    """The watched session's whole state, as GET /api/v1/sessions/{id} gives it, read-only:
    its `id` is the watch id (never the session id), and `poll` is the class poll students
    answer (the open one, else the latest; null if none): poll_id, kind, prompt, choices,
    tolerance, status, answers, and only once revealed truth and right_answer. Any cursor;
    changes nothing. 404 for an unknown or revoked link, or when the session expired."""
    points = history_points(history, settings)
    sid_state = await door.watched(
        watch_id, lambda s: (s.id, render(s, settings, samples, points)),
        lambda s: session_state_cost(s, samples, points, settings.trace_default_max))
    sid, state = sid_state
    return respond({**state, "id": watch_id, "poll": await polls.current(sid)})


async def watch_target(watch_id: WatchId, request: Request, door: DoorDep) -> tuple[str, str]:
    """The session behind a watch link and the client's address; 404 / 429 before the stream
    starts."""
    sid: str = await door.watched(watch_id, lambda s: s.id)
    client = request.client.host if request.client else "unknown"
    door.hub.check(sid, client)
    return sid, client


def _as_json(responses: Responses) -> Responses:
    """Error responses of a stream are JSON, not text/event-stream (FastAPI would document
    them with the route's media type)."""
    ref = {"$ref": "#/components/schemas/ErrorMessage"}
    return {code: {"description": r["description"],
                   "content": {"application/json": {"schema": ref}}}
            for code, r in responses.items()}


@router.get("/watch/{watch_id}/events", response_class=EventSourceResponse,
            responses=_as_json({**WATCH_NOT_FOUND, **WATCH_LIMIT, **UNAVAILABLE}),
            summary="Follow a session live (Server-Sent Events)")
async def watch_events(watch_id: WatchId, door: DoorDep,
                       target: Annotated[tuple[str, str], Depends(watch_target)]
                       ) -> AsyncIterator[ServerSentEvent]:
    """A Server-Sent Events stream (text/event-stream) following the watched session: one
    `state` event per change (id: the session's version; data: version, epoch, iteration,
    cursor, loss); for class polls, a `poll` event when one is asked or revealed (data:
    {type, poll} as `poll` in GET /api/v1/watch/{watch_id}) and `answers` events with its live
    count (data: {type, poll_id, answers}). A (re)connecting client, with or without
    Last-Event-ID, gets the current state at once; while the session changes quickly, only
    the newest state is sent (at most one event per watch_min_interval seconds). The stream
    ends when the link is revoked or the session is deleted or expires. Any cursor; changes
    nothing. 429 over watch_max_streams (per worker), watch_max_per_session or
    watch_max_per_client (off by default) open streams."""
    sid, client = target
    sub = door.hub.subscribe(sid, watch_id, client, counts=True)
    try:
        try:
            first = await door.watched(watch_id, summary)
        except (SessionNotFound, SessionBusy, StoreUnavailable):
            return  # the client reconnects (EventSource does) and gets a clear status
        last = first["version"]
        yield ServerSentEvent(event="state", id=str(last), data=first)
        pause = door.settings.watch_min_interval
        while True:
            event = await door.next_change(sub, watch_id)
            if event is None:
                return  # revoked, or the session is gone
            if "type" in event:  # a class poll: asked or revealed ("poll"), or its count
                yield ServerSentEvent(event=event["type"], data=event)
                continue
            if event["version"] == last:
                continue
            last = event["version"]
            yield ServerSentEvent(event="state", id=str(last), data=event)
            if pause:
                await asyncio.sleep(pause)  # newer states pile up as one (the newest)
    finally:
        door.hub.unsubscribe(sub)


# --- links that recreate a setup -----------------------------------------------------------
@router.get(f"{SESSION}/link", response_model=schemas.SetupLink,
            responses={**ON_SESSION, 422: {
                "model": schemas.ValidationErrorReply, "description": "the setup (inline "
                "data) would need a link over 2,000 characters: `loc` is [\"body\", \"link\"]"}},
            summary="A /new?… link recreating this setup")
async def setup_link(session_id: SessionId, door: DoorDep) -> dict[str, str]:
    """Returns a /new?c=… link that recreates this session's setup on any Backprop Lab
    server: the configuration (network, activations, loss, data and seeds, learning rate,
    batch size, regularization) with the same initial weights. Weights set later (training,
    PUT weights) are not part of it: use the export for those. Any cursor; changes nothing.
    422 when inline data would make the link longer than 2,000 characters."""
    url = await door.apply(session_id, State(), view=lambda s, _: links.setup_url(s.config))
    return {"url": url}

