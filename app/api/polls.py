"""Class polls (docs/api.md, "Class polls"): the teacher asks about the value the next steps
compute, students answer through the watch link, the reveal runs the steps. The routes are
thin: app/sessions/poll_service.py does the work for the API and the pages alike."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from app.api.operate import BODY_ERRORS, INVALID, ON_SESSION, SESSION, UNAVAILABLE, SessionId
from app.api.operate import _documented as documented
from app.api.teaching import WATCH_NOT_FOUND, WatchId
from app.deps import PollsDep, SettingsDep
from app.sessions.poll_store import PollNotFound
from app.sessions.polls import PollConflict, PollError

router = APIRouter(prefix="/api/v1", tags=["polls"])
Field_ = Literal["z", "a", "delta", "grad_W", "grad_b", "W", "b", "loss"]


class PollQuantity(BaseModel):
    """What a poll asks about: a value of the state's layers[layer-1], or the loss."""

    model_config = ConfigDict(extra="forbid")
    field: Field_ = Field(description="a key of the state's layers[layer-1] (W and b: after "
                          "the next update), or loss")
    layer: int | None = Field(None, ge=1, le=64, description="1-based layer (none for the loss)")
    index: list[Annotated[int, Field(ge=0, le=100_000)]] | None = Field(
        None, max_length=2, description="[i, j] as the state's arrays are indexed ([j] for b "
        "and grad_b); a choice poll leaves out the last index")


class PollRequest(BaseModel):
    """A new class poll."""

    model_config = ConfigDict(extra="forbid")
    quantity: PollQuantity = Field(description="the value the class predicts")
    kind: Literal["number", "sign", "choice"] = Field(
        description="how students answer: a number, a sign (+, -, 0) or one of choices")
    choices: list[Annotated[str, Field(min_length=1, max_length=40)]] | None = Field(
        None, min_length=2, max_length=12, description="a choice poll's options, one per "
        "entry of the row (default 1, 2, …)")
    tolerance: float | None = Field(None, ge=0, le=1, description="relative tolerance of a "
                                    "number poll (default 0.01)")
    prompt: str | None = Field(None, max_length=300, description="the question students see")


class AnswerRequest(BaseModel):
    """A student's answer."""

    model_config = ConfigDict(extra="forbid")
    student: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                         description="a random token the browser keeps (one answer per poll)")
    # Strict: JSON true is no number (pydantic's lax float would take it as 1.0).
    answer: StrictFloat | StrictInt | Annotated[str, Field(max_length=40)] = Field(
        description='a number (number poll), "+", "-" or "0" (sign poll) or one of the choices')
    nickname: str | None = Field(None, max_length=40, description="optional, shown nowhere")
T = TypeVar("T")

PollId = Annotated[str, Path(max_length=32, description="the poll's id (its `poll_id`)")]
CONFLICT = documented(409, "a poll is open already, the value is already computed in the "
                      "current pass, the poll is revealed already, or a limit is reached")
NO_POLL = {**documented(404, "unknown session or poll"), **UNAVAILABLE}
ASK_EXAMPLE = {"quantity": {"field": "delta", "layer": 1, "index": [0, 1]}, "kind": "number",
               "tolerance": 0.01, "prompt": "What will δ of hidden neuron 2 be?"}
ANSWER_EXAMPLE = {"student": "k3J9x0QpZr7w", "answer": -0.042}
# Reply examples (an open poll, then the same revealed on the xor-bias network after 3 answers).
POLL = {"poll_id": "SXVT7H7_", "quantity": {"field": "delta", "layer": 1, "index": [0, 1]},
        "kind": "number", "choices": [], "tolerance": 0.01,
        "prompt": "What will δ of hidden neuron 2 be?", "status": "open",
        "created": 1796649565.364, "answers": 0, "histogram": []}
REVEALED = {**POLL, "status": "revealed", "answers": 3, "histogram": [
    {"lo": -0.1, "hi": -0.08, "count": 2}, {"lo": -0.08, "hi": -0.06, "count": 0},
    {"lo": -0.06, "hi": -0.04, "count": 1}], "truth": -0.08963819589090455,
    "right_answer": -0.08963819589090455, "correct": 1, "share_correct": 1 / 3, "steps": 4,
    "revealed": 1796649601.483}
PUBLIC = {"poll_id": "SXVT7H7_", "kind": "number", "prompt": POLL["prompt"], "choices": [],
          "tolerance": 0.01, "status": "open", "answers": 3}
ANSWERED = {"poll_id": "SXVT7H7_", "status": "open", "answer": -0.042, "answers": 3}
RESULT = {**PUBLIC, "status": "revealed", "truth": REVEALED["truth"],
          "right_answer": REVEALED["truth"], "answer": -0.042, "correct": False}
CSV_EXAMPLE = ("poll,quantity,kind,answer,correct,time\r\n"
               'SXVT7H7_,"delta[1][0, 1]",number,-0.042,false,2026-12-07T13:19:25.430+00:00\r\n')


def replies(code: int, description: str, example: object) -> dict[int | str, dict[str, object]]:
    return {code: {"description": description,
                   "content": {"application/json": {"example": example}}}}


def _error(status: int, detail: Any) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _guarded(call: Awaitable[T], where: str = "body") -> T | JSONResponse:
    """The poll errors as HTTP answers (the session's own errors go to app/api/errors.py)."""
    try:
        return await call
    except PollError as e:
        return _error(422, [{"loc": [where, *e.field], "msg": e.msg, "type": "value_error"}])
    except PollConflict as e:
        return _error(409, str(e))
    except PollNotFound:
        return _error(404, "no such poll in this session")


def _reply(result: Any, status: int = 200) -> Response:
    return result if isinstance(result, Response) else JSONResponse(result, status_code=status)


@router.post(f"{SESSION}/polls", status_code=201, summary="Ask the class about the next value",
             responses={**replies(201, "the open poll", POLL), **ON_SESSION, **CONFLICT,
                        **INVALID, **BODY_ERRORS})
async def create_poll(session_id: SessionId, service: PollsDep, body: Annotated[
        PollRequest, Body(openapi_examples={"delta": {
            "summary": "δ of hidden neuron 2 for the first sample", "value": ASK_EXAMPLE},
            "sign": {"summary": "the sign of a weight's gradient", "value": {
                "quantity": {"field": "grad_W", "layer": 2, "index": [1, 0]},
                "kind": "sign"}}})]) -> Response:
    """Opens a poll on a quantity the session has not computed yet in the current pass:
    `{"quantity": {"field": F, "layer": L, "index": [i, j]}, "kind": "number" | "sign" |
    "choice", "choices": […], "tolerance": r, "prompt": "…"}`. `field` is a key of the state's
    `layers[L-1]` (z, a, delta, grad_W, grad_b, W, b; W and b mean their values after the next
    update) indexed like the state's arrays, or `"loss"` (no layer, no index). A choice poll
    leaves out the last index: its choices name the entries of that row (default "1", "2", …)
    and the right one is the entry of largest magnitude. `tolerance` is relative (default
    0.01). 201 with the poll (`status` "open", `answers` 0). 409 when the value is already
    computed in the current pass, or another poll of the session is open. The session's state
    and version do not change."""
    quantity = body.quantity.model_dump(exclude_none=True)
    return _reply(await _guarded(service.create(
        session_id, quantity, body.kind, body.choices, body.tolerance, body.prompt)), 201)


@router.get(f"{SESSION}/polls", summary="The session's polls",
            responses={**replies(200, "every poll, oldest first", [REVEALED]), **ON_SESSION})
async def list_polls(session_id: SessionId, service: PollsDep) -> Response:
    """Every poll of the session, oldest first, as GET …/polls/{poll_id} gives each."""
    return _reply(await service.all(session_id))


@router.get(f"{SESSION}/polls/{{poll_id}}", summary="A poll: its count, histogram and result",
            responses={**replies(200, "the poll", REVEALED), **NO_POLL})
async def get_poll(session_id: SessionId, poll_id: PollId, service: PollsDep) -> Response:
    """`status` ("open", "closing" while a reveal runs, "revealed"), `answers` (how many),
    `histogram` (numbers: equal-width bins `{lo, hi, count}`; signs and choices: `{answer,
    count}` for each option) and, only once revealed, `truth` (the exact value as the state
    has it; a row for a choice poll; null when the session had moved past the value),
    `right_answer`, `correct` (answers within tolerance: |answer − truth| ≤ tolerance·|truth|,
    the same sign, or the right choice) and `share_correct`."""
    return _reply(await _guarded(service.get(session_id, poll_id)))


@router.post(f"{SESSION}/polls/{{poll_id}}/reveal", summary="Reveal: run the steps to the value",
             responses={**replies(200, "the revealed poll", REVEALED), **NO_POLL, **CONFLICT})
async def reveal_poll(session_id: SessionId, poll_id: PollId, service: PollsDep) -> Response:
    """Closes the poll to answers, runs exactly the steps that compute its value (through the
    door: one operation, undoable; `version` +1 when a step ran) and returns the revealed poll
    (as GET gives it). 409 when it is revealed already."""
    return _reply(await _guarded(service.reveal(session_id, poll_id)))


@router.get(f"{SESSION}/polls/{{poll_id}}/answers.csv", summary="A poll's answers as CSV",
            response_class=Response, responses={**NO_POLL, 200: {
                "content": {"text/csv": {"schema": {"type": "string"},
                                         "example": CSV_EXAMPLE}},
                "description": "one row per answer"}})
async def poll_csv(session_id: SessionId, poll_id: PollId, service: PollsDep) -> Response:
    """One row per answer: poll, quantity, kind, answer, correct (empty before the reveal),
    time (UTC, ISO 8601). No addresses, no tokens."""
    text = await _guarded(service.csv(session_id, poll_id))
    if isinstance(text, Response):
        return text
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="poll-{poll_id}.csv"'})


# --- students, through the watch link ---------------------------------------------------------
async def small_answer(request: Request, settings: SettingsDep) -> None:
    """413 before the body is even parsed: a class sends many answers, each must be small."""
    if len(await request.body()) > settings.poll_answer_max_bytes:
        raise HTTPException(413, f"an answer's body is at most {settings.poll_answer_max_bytes}"
                            " bytes (setting poll_answer_max_bytes)")


@router.post("/watch/{watch_id}/polls/{poll_id}/answers", summary="A student's answer",
             dependencies=[Depends(small_answer)],
             responses={**replies(200, "the answer as kept, and the poll's count", ANSWERED),
                        **WATCH_NOT_FOUND, **CONFLICT, **INVALID, **UNAVAILABLE, **BODY_ERRORS,
                        **documented(413, "the body is over poll_answer_max_bytes (or "
                                     "max_body_bytes)")})
async def answer_poll(watch_id: WatchId, poll_id: PollId, service: PollsDep, body: Annotated[
                          AnswerRequest, Body(openapi_examples={"number": {
                              "summary": "a number poll's answer", "value": ANSWER_EXAMPLE},
                              "sign": {"summary": "a sign poll's answer", "value": {
                                  "student": "k3J9x0QpZr7w", "answer": "-"}}})]) -> Response:
    """`{"student": token, "answer": value, "nickname": "…"}` (nickname optional). `student` is
    a random token the browser keeps (8 to 64 letters, digits, - or _): again with the same
    token replaces that answer. `answer` is a number for a number poll, "+", "-" or "0" for a
    sign poll, one of `choices` for a choice poll. 200 with the count; 409 once the poll is
    revealed (or at poll_max_answers tokens). Never takes the session's lock."""
    return _reply(await _guarded(service.answer(
        watch_id, poll_id, body.student, body.answer, body.nickname)))


@router.get("/watch/{watch_id}/polls/{poll_id}", summary="A student's own result",
            responses={**replies(200, "this student's answer and, after the reveal, result",
                                 RESULT), **WATCH_NOT_FOUND, **INVALID, **UNAVAILABLE})
async def student_result(watch_id: WatchId, poll_id: PollId, service: PollsDep,
                         student: Annotated[str, Query(max_length=64, description=(
                             "the student's token, as sent with the answer"))]) -> Response:
    """The poll as students see it, with this token's `answer` (null if none) and, after the
    reveal, `truth`, `right_answer` and `correct`."""
    return _reply(await _guarded(service.result(watch_id, poll_id, student), "query"))

