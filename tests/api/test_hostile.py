"""A battery of hostile and heavy input: every answer is a clear 4xx naming the field (or the
limit), in strict JSON (never NaN or Infinity), small (the input is not echoed back), never a
5xx and never a hang. The limits of API.md §5: body size, layers, neurons, samples, values,
learning rate, epochs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import API

SESSIONS = f"{API}/sessions"
JSON = {"content-type": "application/json"}


def _refuse(name: str) -> Any:
    raise AssertionError(f"non-standard JSON constant {name} in a response")


def strict(r: Any) -> Any:
    return json.loads(r.text, parse_constant=_refuse)


def assert_refused(r: Any, status: int, *words: str, loc: list[Any] | None = None) -> None:
    """The status, a small strict-JSON body whose text names every word, and (for 422) the
    field's location."""
    assert r.status_code == status, r.text[:500]
    body = strict(r)
    assert len(r.content) < 4096, "the answer must not echo the input back"
    text = json.dumps(body)
    for word in words:
        assert word in text, (word, text)
    if loc is not None:
        assert any(d["loc"][: len(loc)] == loc for d in body["detail"]), (loc, body)


@pytest.fixture
def session(client: TestClient) -> str:
    return str(client.post(SESSIONS, json={"preset": "seed-xor"}).json()["id"])


# --- the body limit (413) --------------------------------------------------------------------
def test_a_body_over_the_limit_is_413_by_content_length(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(max_body_bytes=2000)
    body = json.dumps({"layers": [2, 1], "dataset": {"X": [[0.5, 0.5]] * 200, "Y": [[1]] * 200}})
    r = client.post(SESSIONS, content=body, headers=JSON)
    assert_refused(r, 413, "2000", "max_body_bytes")
    assert client.post(SESSIONS, json={"preset": "seed-xor"}).status_code == 201


def test_a_streamed_body_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=2000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"layers": [2, 1], "dataset": {"X": ['
        for _ in range(300):
            yield b"[0.5, 0.5],"
        yield b'[0.5, 0.5]], "Y": [[1]]}}'

    r = client.post(SESSIONS, content=chunks(), headers=JSON)
    assert_refused(r, 413, "2000", "max_body_bytes")


def test_the_default_limit_is_one_mebibyte(client: TestClient, session: str) -> None:
    big = b'{"layers": [{"W": [[' + b"0.1, " * 300_000 + b'0.1]]}]}'
    assert len(big) > 1 << 20
    assert_refused(client.put(f"{SESSIONS}/{session}/weights", content=big, headers=JSON),
                   413, str(1 << 20))


# --- non-finite numbers ----------------------------------------------------------------------
NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e309", b"-1e400"]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize(("template", "loc"), [
    (b'{"learning_rate": %s}', ["body", "learning_rate"]),
    (b'{"init": {"scheme": "uniform", "low": %s, "high": 1}}', ["body", "init", "low"]),
    (b'{"layers": [1, 1], "dataset": {"X": [[%s]], "Y": [[1]]}}', ["body", "dataset", "X"]),
    (b'{"layers": [1, 1], "dataset": {"X": [[1]], "Y": [[%s]]}}', ["body", "dataset", "Y"]),
    (b'{"layers": [1, 1], "bias": false, "weights": [{"W": [[%s]]}]}', ["body", "weights"]),
    (b'{"regularization": {"kind": "l2", "rate": %s}}', ["body", "regularization", "rate"]),
])
def test_non_finite_numbers_are_refused_and_never_echoed(
    client: TestClient, template: bytes, loc: list[Any], value: bytes
) -> None:
    r = client.post(SESSIONS, content=template % value, headers=JSON)
    assert_refused(r, 422, loc=loc)
    assert "NaN" not in r.text and "Infinity" not in r.text and "inf" not in r.text.lower()


@pytest.mark.parametrize("value", NON_FINITE)
def test_non_finite_weights_patches_and_queries_are_refused(
    client: TestClient, session: str, value: bytes
) -> None:
    body = b'{"layers": [{"W": [[%s, 0, 0, 0], [0, 0, 0, 0]]}, {"W": [[0], [0], [0], [0]]}]}'
    assert_refused(client.put(f"{SESSIONS}/{session}/weights", content=body % value,
                              headers=JSON), 422, loc=["body", "layers", 0, "W"])
    assert_refused(client.patch(f"{SESSIONS}/{session}", content=b'{"learning_rate": %s}' % value,
                                headers=JSON), 422, loc=["body", "learning_rate"])
    r = client.get(f"{SESSIONS}/{session}/gradcheck", params={"epsilon": value.decode()})
    assert_refused(r, 422, loc=["query", "epsilon"])
    assert strict(client.get(f"{SESSIONS}/{session}"))["epoch"] == 0  # nothing changed


def test_divergence_is_reported_never_serialised_as_nan(client: TestClient) -> None:
    sid = client.post(SESSIONS, json={"preset": "plane-regression", "learning_rate": 100.0,
                                      "dataset": {"name": "plane", "samples": 50},
                                      "batch_size": None}).json()["id"]
    r = client.post(f"{SESSIONS}/{sid}/train", json={"epochs": 2000}, params={"history": 5})
    body = strict(r)
    assert r.status_code == 200 and body["stopped"] == "diverged" and body["status"] == "diverged"
    strict(client.get(f"{SESSIONS}/{sid}/export"))
    strict(client.get(f"{SESSIONS}/{sid}/gradcheck"))


# --- the limits of API.md §5 -----------------------------------------------------------------
@pytest.mark.parametrize(("config", "loc", "words"), [
    ({"layers": [2]}, ["body", "layers"], ["2 to 10"]),
    ({"layers": [2] + [4] * 10}, ["body", "layers"], ["2 to 10"]),
    ({"layers": [2, 65, 1]}, ["body", "layers", 1], ["64"]),
    ({"layers": [2, 0, 1]}, ["body", "layers", 1], ["1 to 64"]),
    ({"learning_rate": 100.5}, ["body", "learning_rate"], ["100"]),
    ({"learning_rate": 0}, ["body", "learning_rate"], []),
    ({"learning_rate": -1}, ["body", "learning_rate"], []),
    ({"dataset": {"name": "spiral", "samples": 5001}}, ["body", "dataset", "samples"], ["5000"]),
    ({"layers": [1, 1], "dataset": {"X": [[0.0]] * 5001, "Y": [[0.0]] * 5001}},
     ["body", "dataset", "X"], ["5000"]),
    ({"layers": [1, 1], "dataset": {"X": [[2e6]], "Y": [[0.0]]}}, ["body", "dataset", "X"],
     ["1e+06"]),
    ({"init": {"scheme": "uniform", "low": -1e7, "high": 0}}, ["body", "init", "low"], ["1e+06"]),
])
def test_limits_are_422_naming_the_field_and_the_limit(
    client: TestClient, config: dict[str, Any], loc: list[Any], words: list[str]
) -> None:
    assert_refused(client.post(SESSIONS, json=config), 422, *words, loc=loc)


@pytest.mark.parametrize("epochs", [0, -1, 100_001, 10**30])
def test_epochs_out_of_range(client: TestClient, session: str, epochs: int) -> None:
    r = client.post(f"{SESSIONS}/{session}/train", json={"epochs": epochs})
    assert_refused(r, 422, "1 to 100000", loc=["body", "epochs"])


# --- wrong types, unknown fields, malformed bodies ---------------------------------------------
@pytest.mark.parametrize(("config", "loc"), [
    ({"layers": "2,4,1"}, ["body", "layers"]),
    ({"layers": [2, 4.5, 1]}, ["body", "layers", 1]),
    ({"layers": [2, "4", 1]}, ["body", "layers", 1]),
    ({"layers": [2, True, 1]}, ["body", "layers", 1]),
    ({"learning_rate": "0.1"}, ["body", "learning_rate"]),
    ({"bias": "yes"}, ["body", "bias"]),
    ({"bias": 1}, ["body", "bias"]),
    ({"batch_size": 2.0}, ["body", "batch_size"]),
    ({"hidden_activation": "gelu"}, ["body", "hidden_activation"]),
    ({"dataset": "xor"}, ["body", "dataset"]),
    ({"dataset": {"X": [[0, "a"]], "Y": [[1]]}}, ["body", "dataset", "X"]),
    ({"init": {"seed": -1}}, ["body", "init", "seed"]),
    ({"init": {"seed": 2**40}}, ["body", "init", "seed"]),
    ({"layerz": [2, 1]}, ["body", "layerz"]),
    ({"init": {"scheme": "xavier", "sede": 1}}, ["body", "init", "sede"]),
    ({"preset": "A" * 100_000}, ["body", "preset"]),
    ({"dataset": {"name": "B" * 100_000}}, ["body", "dataset", "name"]),
])
def test_wrong_types_and_unknown_fields_are_422_naming_the_field(
    client: TestClient, config: dict[str, Any], loc: list[Any]
) -> None:
    assert_refused(client.post(SESSIONS, json=config), 422, loc=loc)


@pytest.mark.parametrize(("path", "body", "loc"), [
    ("train", {"epochs": True}, ["body", "epochs"]),
    ("train", {"epochs": 2.0}, ["body", "epochs"]),
    ("train", {"epochs": 1, "extra": 1}, ["body", "extra"]),
    ("forward", {"through": "everything"}, ["body", "through"]),
    ("weights", {"layers": "W"}, ["body", "layers"]),
    ("weights", {"layers": [{"W": [[1.0, 2.0]]}]}, ["body", "layers"]),
])
def test_operation_bodies_are_strict(
    client: TestClient, session: str, path: str, body: dict[str, Any], loc: list[Any]
) -> None:
    method = client.put if path == "weights" else client.post
    assert_refused(method(f"{SESSIONS}/{session}/{path}", json=body), 422, loc=loc)


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,  # nesting far beyond any parser's recursion limit
    b'{"layers": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"preset": "\xff\xfe"}',  # not UTF-8
    b'{"preset": ',  # truncated
    b"\x00" * 1000,
])
def test_malformed_bodies_are_4xx(client: TestClient, raw: bytes) -> None:
    r = client.post(SESSIONS, content=raw, headers=JSON)
    assert r.status_code in (400, 422), r.text[:300]
    assert len(r.content) < 4096 and "detail" in strict(r)


def test_a_text_plain_body_is_415(client: TestClient) -> None:
    """What a cross-site page can send without a preflight (app/csrf.py): the API reads JSON."""
    r = client.post(SESSIONS, content=b'{"preset": "seed-xor"}',
                    headers={"content-type": "text/plain"})
    assert_refused(r, 415, "application/json")


@pytest.mark.parametrize(("content", "headers"), [
    (b"[1, 2]", JSON),
    (b'"seed-xor"', JSON),
    (b"42", JSON),
])
def test_bodies_that_are_not_a_config_object_are_422(
    client: TestClient, content: bytes, headers: dict[str, str]
) -> None:
    assert_refused(client.post(SESSIONS, content=content, headers=headers), 422, loc=["body"])


def test_hostile_paths_and_queries(client: TestClient, session: str) -> None:
    for sid in ("a" * 10_000, "..%2F..%2Fetc%2Fpasswd", "%00", "ñ" * 50, "' OR 1=1 --"):
        r = client.get(f"{SESSIONS}/{sid}")
        assert r.status_code in (404, 405), sid
        assert len(r.content) < 4096
    for params, loc in (({"samples": "x" * 19_000}, ["query", "samples"]),
                        ({"samples": "0,99"}, ["query", "samples"]),
                        ({"history": 0}, ["query", "history"]),
                        ({"history": "many"}, ["query", "history"]),
                        ({"samples": "9" * 4000}, ["query", "samples"]),
                        ({"samples": "0" * 20_001}, ["query", "samples"])):
        assert_refused(client.get(f"{SESSIONS}/{session}", params=params), 422, loc=loc)
    assert_refused(client.get(f"{SESSIONS}/{session}/gradcheck", params={"epsilon": 1}), 422,
                   loc=["query", "epsilon"])
