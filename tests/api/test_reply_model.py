"""The one reply model (app/sessions/state_model.py, issue #18): every endpoint that answers a
session state answers exactly the SessionState TypedDict (TrainState for train, WatchState for
a watch link) — no key more, none missing, every value of its declared type — on every preset
with every optimizer, at every place of the cursor; the poll endpoints answer the TypedDicts
of app/sessions/polls.py; and the check itself fails on a planted extra or missing key.

The routes skip FastAPI's response validation (``respond()``, for speed): this is where the
replies meet the model."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from app.api import schemas
from app.nn.optimizers import NAMES as OPTIMIZERS
from app.sessions.config import PRESETS
from app.sessions.polls import Receipt, StudentResult, TeacherPoll
from app.sessions.state_model import SessionState, TrainState, WatchState
from tests.api.helpers import SESSIONS, Api, module_api
from tests.conftest import API

# strict: no "1" for 1, no 1.5 for an int; extra="forbid" in every nested TypedDict too.
# (A list: TypeAdapter takes a config only for a type that has none of its own.)
STRICT = ConfigDict(extra="forbid", strict=True)
STATES = TypeAdapter(list[SessionState], config=STRICT)
TRAINED = TypeAdapter(list[TrainState], config=STRICT)
WATCHED = TypeAdapter(list[WatchState], config=STRICT)
TEACHER = TypeAdapter(list[TeacherPoll], config=STRICT)
RECEIPT = TypeAdapter(list[Receipt], config=STRICT)
RESULT = TypeAdapter(list[StudentResult], config=STRICT)
TWO_D = ("xor-bias", "circle", "spiral", "gauss-softmax", "plane-regression")


def check(reply: Any, model: TypeAdapter[Any] = STATES) -> None:
    model.validate_python([reply])


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    yield from module_api()


def _walk(api: Api, sid: str) -> Iterator[tuple[str, Any, TypeAdapter[Any]]]:
    """The replies of a pass taken step by step, then of whole passes and epochs."""
    yield "get", api.get(sid), STATES
    for step in ("forward", "backward"):
        state = api.op(sid, step)  # one layer
        yield step, state, STATES
        if state["cursor"]["next"] == step:  # (more than one layer)
            yield f"{step} all", api.op(sid, step, {"through": "all"}), STATES
    yield "update", api.op(sid, "update"), STATES
    yield "step", api.op(sid, "step"), STATES
    yield "train", api.train(sid, 2), TRAINED
    yield "all samples", api.get(sid, samples="all", history="all"), STATES


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_state_reply_is_the_model(api: Api, preset: str, optimizer: str) -> None:
    s = api.create(preset=preset, optimizer={"name": optimizer})
    check(s)
    assert s["config"]["optimizer"]["name"] == optimizer
    for what, reply, model in _walk(api, s["id"]):
        try:
            check(reply, model)
        except ValidationError as e:  # pragma: no cover - the message says where
            raise AssertionError(f"{preset}/{optimizer}, {what}: {e}") from None
    moments = reply["layers"][0]["optimizer"]
    assert (moments["m_W"] is not None) == (optimizer in ("momentum", "adam"))
    assert (moments["v_W"] is not None) == (optimizer in ("rmsprop", "adam"))


@pytest.mark.parametrize("preset", ["seed-xor", *TWO_D[:2]])
def test_the_other_state_replies_are_the_model(api: Api, preset: str) -> None:
    sid = api.create(preset=preset)["id"]
    api.train(sid, 3)
    check(api.patch(sid, {"learning_rate": 0.2, "batch_size": 2,
                          "regularization": {"kind": "l2", "rate": 0.01}}))
    check(api.op(sid, "undo"))
    check(api.op(sid, "redo"))
    layers = [{k: v for k, v in layer.items() if k in ("W", "b") and v is not None}
              for layer in api.get(sid)["layers"]]
    check(api.put_weights(sid, layers))
    if preset in TWO_D:
        check(api.op(sid, "points", {"x1": 0.5, "x2": -0.5, "y": 1}))
    check(api.op(sid, "reset", {"preset": preset, "learning_rate": 0.3}))
    doc = api.call("GET", f"{SESSIONS}/{sid}/export")
    check(api.call("POST", f"{SESSIONS}/import", 201, json=doc))
    watch_id = api.call("POST", f"{SESSIONS}/{sid}/watch")["watch_id"]
    check(api.call("GET", f"{API}/watch/{watch_id}"), WATCHED)
    check(api.get(sid, history=1))


def test_a_planted_extra_or_missing_key_fails(api: Api) -> None:
    s = api.op(api.create(preset="spiral", optimizer={"name": "adam"})["id"], "forward",
               {"through": "all"})
    check(s)
    plants: list[tuple[str, Any]] = [
        ("extra at the top", lambda d: d.update(bonus=1)),
        ("missing at the top", lambda d: d.pop("history_length")),
        ("extra in a layer", lambda d: d["layers"][0].update(bonus=1)),
        ("missing in a layer", lambda d: d["layers"][1].pop("delta")),
        ("extra in the cursor", lambda d: d["cursor"].update(bonus=1)),
        ("missing in the batch", lambda d: d["batch"].pop("positions")),
        ("extra in the config", lambda d: d["config"].update(bonus=1)),
        ("missing in the config", lambda d: d["config"].pop("focus")),
        ("extra in the dataset", lambda d: d["config"]["dataset"].update(bonus=1)),
        ("extra in the moments", lambda d: d["layers"][0]["optimizer"].update(bonus=1)),
        ("a string for a number", lambda d: d.update(epoch="0")),
        ("a task of no kind", lambda d: d.update(task="ranking")),
    ]
    for what, plant in plants:
        bad = copy.deepcopy(s)
        plant(bad)
        with pytest.raises(ValidationError):
            check(bad)
            pytest.fail(what)
    trained = api.train(s["id"], 1)
    check(trained, TRAINED)
    with pytest.raises(ValidationError):
        check({k: v for k, v in trained.items() if k != "remaining"}, TRAINED)
    with pytest.raises(ValidationError):
        check(trained)  # ran, stopped, remaining are not a plain state's


@pytest.mark.parametrize("kind", ["number", "sign", "choice"])
def test_poll_replies_are_their_models(api: Api, kind: str) -> None:
    """A poll's replies for the teacher, for a student, and the watch state that carries it,
    before and after the reveal."""
    s = api.create(preset="xor-bias")
    sid = s["id"]
    watch_id = api.call("POST", f"{SESSIONS}/{sid}/watch")["watch_id"]
    student = f"{API}/watch/{watch_id}/polls"
    check(api.call("GET", f"{API}/watch/{watch_id}"), WATCHED)  # no poll yet
    quantity = {"field": "a", "layer": 1, "index": [0] if kind == "choice" else [0, 1]}
    poll = api.call("POST", f"{SESSIONS}/{sid}/polls", 201,
                    json={"quantity": quantity, "kind": kind})
    check(poll, TEACHER)
    pid = poll["poll_id"]
    answer = poll["choices"][0] if kind == "choice" else {"number": 0.5, "sign": "+"}[kind]
    for n, token in enumerate(("student-aaaa", "student-bbbb")):
        receipt = api.call("POST", f"{student}/{pid}/answers",
                           json={"student": token, "answer": answer, "nickname": f"s{n}"})
        check(receipt, RECEIPT)
    check(api.call("GET", f"{student}/{pid}", params={"student": "student-aaaa"}), RESULT)
    check(api.call("GET", f"{API}/watch/{watch_id}"), WATCHED)  # the open poll
    check(api.call("GET", f"{SESSIONS}/{sid}/polls/{pid}"), TEACHER)
    check(api.call("POST", f"{SESSIONS}/{sid}/polls/{pid}/reveal"), TEACHER)
    for reply in api.call("GET", f"{SESSIONS}/{sid}/polls"):
        check(reply, TEACHER)
    revealed = api.call("GET", f"{student}/{pid}", params={"student": "student-aaaa"})
    check(revealed, RESULT)
    assert revealed["correct"] in (True, False)
    watched = api.call("GET", f"{API}/watch/{watch_id}")
    check(watched, WATCHED)
    assert watched["poll"]["status"] == "revealed"
    with pytest.raises(ValidationError):
        check({**revealed, "truth_x": 1}, RESULT)
    with pytest.raises(ValidationError):
        check({k: v for k, v in poll.items() if k != "histogram"}, TEACHER)


def _keys_within(model: type[BaseModel], reply: Any, where: str) -> None:
    """No key the model does not declare, nested models included (their extras would pass
    pydantic's default validation unseen)."""
    assert isinstance(reply, dict), where
    extra = set(reply) - set(model.model_fields)
    assert not extra, f"{where}: {sorted(extra)} not in {model.__name__}"
    for name, field in model.model_fields.items():
        inner = [a for a in (field.annotation, *get_args(field.annotation))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        for arg in get_args(field.annotation):  # list[Model] (and list[Model] | None)
            inner += [a for a in get_args(arg) if isinstance(a, type) and issubclass(a, BaseModel)]
        value = reply.get(name)
        for sub in inner[:1]:
            for i, item in enumerate(value if isinstance(value, list) else [value]):
                if item is not None:
                    _keys_within(sub, item, f"{where}.{name}[{i}]")


@pytest.mark.parametrize("preset", ["seed-xor", "spiral"])
def test_the_other_replies_are_their_documented_models(api: Api, preset: str) -> None:
    """The replies that are not a state, against their pydantic models (app/api/schemas.py,
    app/sessions/documents.py): valid, and no undeclared key at any depth."""
    sid = api.create(preset=preset, optimizer={"name": "adam"})["id"]
    api.train(sid, 2)
    replies: list[tuple[type[BaseModel], Any]] = [
        (schemas.ExportDocument, api.call("GET", f"{SESSIONS}/{sid}/export")),
        (schemas.Gradcheck, api.call("GET", f"{SESSIONS}/{sid}/gradcheck")),
        (schemas.WatchLink, api.call("POST", f"{SESSIONS}/{sid}/watch")),
        (schemas.SetupLink, api.call("GET", f"{SESSIONS}/{sid}/link")),
        (schemas.Health, api.call("GET", "/healthz")),
        *[(schemas.Preset, p) for p in api.call("GET", f"{API}/presets")],
        *[(schemas.DatasetInfo, d) for d in api.call("GET", f"{API}/datasets")],
    ]
    for model, reply in replies:
        model.model_validate(reply)
        _keys_within(model, reply, model.__name__)
    with pytest.raises(AssertionError):
        _keys_within(schemas.Gradcheck, {**replies[1][1], "bonus": 1}, "planted")
    with pytest.raises(AssertionError):
        layer = {**replies[1][1]["layers"][0], "bonus": 1}
        _keys_within(schemas.Gradcheck, {**replies[1][1], "layers": [layer]}, "planted")
