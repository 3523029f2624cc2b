"""What every session route shares: the session id in a path, the documented error
responses, the reply's query (``samples``, ``history``), the reply itself and ``Operate``, a
route's command through the door."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from app.api import schemas
from app.config import Settings
from app.deps import DoorDep, SettingsDep
from app.sessions.commands import Command
from app.sessions.door import Outcome
from app.sessions.model import Session
from app.sessions.render_budget import session_state_cost
from app.sessions.state import StateQueryError, precheck_reply, session_state


class SessionIdConvertor(Convertor[str]):
    """A session id in a path: any segment but "import", so POST /sessions/import is its own
    route and GET/PATCH/DELETE there are 405 (Allow: POST), not a lookup of session "import"."""

    regex = "(?!import$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("session_id", SessionIdConvertor())
SESSION = "/sessions/{session_id:session_id}"


# A route's documented responses, as FastAPI's ``responses`` takes them (OpenAPI objects).
Responses = dict[int | str, dict[str, object]]


def _documented(code: int, description: str, model: type[schemas.ErrorMessage]
                = schemas.ErrorMessage) -> Responses:
    return {code: {"model": model, "description": description}}


# The error responses each route can give, documented so clients (and schemathesis) know them.
NOT_FOUND = _documented(404, "unknown session, or expired after its idle time (session_ttl), "
                        "or evicted as least recently used (max_sessions)")
UNAVAILABLE = _documented(503, "the session stayed locked longer than lock_timeout, or the "
                          "session store is unreachable; retry (Retry-After)")
BODY_ERRORS = {**_documented(413, "request body over max_body_bytes"),
             **_documented(400, "the body could not be read as UTF-8 JSON")}
CURSOR = _documented(409, "the cursor is not at this step: the reply names where it is",
                     schemas.CursorConflict)
INVALID: Responses = {422: {"model": schemas.ValidationErrorReply,
                 "description": "a field or query parameter is out of its limits; `loc` names "
                 "it and `msg` the limit"}}
CREATION = {**_documented(429, "more than create_rate_limit new sessions a minute from this "
                          "client address; retry after Retry-After seconds"),
            **_documented(503, "the session store is unreachable, or at max_sessions or "
                          "memory_budget every session that could be evicted was used within "
                          "active_window; retry after Retry-After seconds")}
ON_SESSION = {**NOT_FOUND, **UNAVAILABLE, **INVALID}
WITH_BODY = {**NOT_FOUND, **UNAVAILABLE, **BODY_ERRORS, **INVALID}


SessionId = Annotated[str, Path(
    description="the session's id, as returned by POST /api/v1/sessions (its `id` field and "
    "the end of its Location header)", examples=["3q2-7wEjbD4pHVwWQbQ6VA"])]
SamplesQ = Annotated[str | None, Query(
    description="which samples of the current batch the trace shows: 'all' or comma-separated "
    "positions in the batch (0-based); default all when the batch has at most "
    "trace_default_max (32) samples, else the focus sample", max_length=20000,
    examples=["all", "0,3"])]
# Parsed here (one clear 422 naming the setting); app/api/openapi.py documents it as an
# integer from 1 to history_max_points, or "all".
HistoryQ = Annotated[str | None, Query(max_length=12,
    description="how many loss-history points the reply carries: N (1 to history_max_points, "
    "100,000) evenly decimated with the first and last kept, or 'all'; default "
    "history_default_points (250). history_length always gives the true length.",
    examples=["all", "1", "2000"])]


def history_points(history: int | str | None, settings: Settings) -> int:
    """The number of history points a reply may carry (the query's N, 'all', or the default)."""
    if history is None:
        return settings.history_default_points
    if history == "all":
        return settings.history_max_points
    n = history if isinstance(history, int) else (
        int(history) if history.isascii() and history.isdecimal() else 0)
    if not 1 <= n <= settings.history_max_points:
        raise StateQueryError(("history",), "history must be 'all' or a number of points from 1 "
                              f"to {settings.history_max_points} (setting history_max_points); "
                              f"got {str(history)[:12]}")
    return n


def location_of(request: Request, settings: Settings, sid: str) -> str:
    """Relative (or under the configured public_base_url), never built from the Host header."""
    path = request.app.url_path_for("get_session", session_id=sid)
    return settings.public_base_url.rstrip("/") + str(path)


def render(s: Session, settings: Settings, samples: str | None, points: int
           ) -> dict[str, object]:
    state = session_state(s, samples=samples, history=points,
                          default_max=settings.trace_default_max,
                          max_bytes=settings.max_reply_bytes)
    return {**state, "config": s.config.to_dict()}  # the wire form, in its place


def prechecked(settings: Settings, samples: str | None, points: int
               ) -> Callable[[Session], None]:
    """Run before an operation, under its lock: a reply that would be refused as too large
    refuses the operation first, so it never half-applies."""
    def check(s: Session) -> None:
        precheck_reply(s, samples, points, settings.trace_default_max, settings.max_reply_bytes)
    return check


def respond(content: Mapping[str, object], status_code: int = 200,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """The state as JSON, skipping FastAPI's re-validation against the response model: the
    state is built from plain Python values (every float finite, checked by the engine) and
    the tests validate it against the schema. JSONResponse refuses NaN (allow_nan=False), so a
    bug could never put one on the wire."""
    return JSONResponse(content, status_code=status_code, headers=headers)


class Operate:
    """A route's command on the session in its path, as a dependency: ``await
    op(Patch(changes))`` sends it through the door and answers the state, rendered under the
    same lock with the reply's query (``samples``, ``history``)."""

    def __init__(self, session_id: SessionId, door: DoorDep, settings: SettingsDep,
                 samples: SamplesQ = None, history: HistoryQ = None) -> None:
        self.sid, self.door, self.settings = session_id, door, settings
        self.samples, self.history = samples, history

    async def __call__(self, command: Command[Any]) -> JSONResponse:
        settings, samples = self.settings, self.samples
        points = history_points(self.history, settings)  # a bad query is 422 before the lock

        def view(s: Session, _: Outcome[Any]) -> JSONResponse:
            return respond(render(s, settings, samples, points))  # its bytes, in the thread

        return await self.door.apply(
            self.sid, command, view=view, before=prechecked(settings, samples, points),
            cost=lambda s: session_state_cost(s, samples, points, settings.trace_default_max))


OperateDep = Annotated[Operate, Depends()]


STATE_REPLY = ("Replies with the session's state: config, epoch, iteration, cursor, every "
               "layer's W and b, the trace of the current pass (z, a, delta, grad_W, grad_b for "
               "the samples chosen by `samples`), loss, metrics and the loss history (at most "
               "`history` points, 250 by default).")


def state_doc(text: str) -> str:
    return f"{text}\n\n{STATE_REPLY}"

