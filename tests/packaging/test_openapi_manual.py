"""The OpenAPI document reads as a manual and works offline: every operation has a summary, a
description, one tag, a human operation id and examples; every field and parameter says what
it is; the examples are valid replies; /docs and /redoc load only assets served here."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from app.main import create_app


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items()
            for method, op in ops.items()]


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


def test_every_operation_is_documented(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    assert len(ops) == 32  # 25, and the 7 of class polls (app/api/polls.py)
    ids = [op["operationId"] for _, _, op in ops]
    assert len(set(ids)) == len(ids)
    assert {"forward", "backward", "update", "step", "train", "create_session",
            "get_session", "import_session", "export_session", "undo", "redo", "watch",
            "unwatch", "watch_state", "watch_events", "setup_link"} <= set(ids)
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", op["operationId"]), where
        assert len(op.get("tags", [])) == 1, where
        assert len(op.get("summary", "")) >= 10, where
        assert len(op.get("description", "")) >= 60, where
        for param in op.get("parameters", []):
            assert param.get("description"), (where, param["name"])


def test_cursor_rules_are_in_the_descriptions(spec: dict[str, Any]) -> None:
    by_id = {op["operationId"]: op for _, _, op in operations(spec)}
    for op_id, rule in (("forward", "cursor.next is `forward`"),
                        ("backward", "cursor.next is `backward`"),
                        ("update", "cursor.next is `update`"), ("step", "any cursor"),
                        ("train", "any cursor")):
        assert rule in by_id[op_id]["description"], op_id
        assert "409" in by_id[op_id]["responses"] or op_id in ("step", "train")


def test_tags_are_described(spec: dict[str, Any]) -> None:
    declared = {t["name"]: t.get("description") for t in spec["tags"]}
    used = {op["tags"][0] for _, _, op in operations(spec)}
    assert used <= set(declared) and all(declared.values())


def test_every_schema_and_property_is_described(spec: dict[str, Any]) -> None:
    missing = []
    for name, schema in spec["components"]["schemas"].items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue  # FastAPI's, used by no operation here
        if not schema.get("description"):
            missing.append(name)
        for prop, sub in schema.get("properties", {}).items():
            if not sub.get("description"):
                missing.append(f"{name}.{prop}")
    assert missing == []


def test_examples_are_valid_and_everywhere(spec: dict[str, Any]) -> None:
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        body = op.get("requestBody")
        if body is not None:
            content = body["content"]["application/json"]
            assert "anyOf" not in content["schema"], where  # generators want a plain model
            examples = content.get("examples") or {}
            assert examples, where
            v = validator(spec, content["schema"])
            for example in examples.values():
                v.validate(example["value"])
        for code, reply in op["responses"].items():
            content = (reply.get("content") or {}).get("application/json")
            if content is None:
                stream = (reply.get("content") or {}).get("text/event-stream")
                if stream is not None:  # the watch stream: an example of its frames
                    assert code == "200" and stream["example"].startswith("event: "), where
                    continue
                table = (reply.get("content") or {}).get("text/csv")
                if table is not None:  # a poll's answers: an example of the table
                    assert code == "200" and table["example"].startswith("poll,"), where
                    continue
                assert code == "204", (where, code)
                continue
            assert "example" in content, (where, code)
            validator(spec, content["schema"]).validate(content["example"])


def test_examples_are_the_engines_numbers(spec: dict[str, Any]) -> None:
    """The forward example is the lesson's first layer: z = X W[1], a = σ(z), by hand."""
    op = spec["paths"]["/api/v1/sessions/{session_id}/forward"]["post"]
    state = op["responses"]["200"]["content"]["application/json"]["example"]
    import numpy as np

    np.random.seed(1)
    W1 = np.random.rand(2, 4)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(state["layers"][0]["W"], W1, rtol=0, atol=0)
    np.testing.assert_allclose(state["layers"][0]["z"], X @ W1, rtol=1e-15, atol=0)
    np.testing.assert_allclose(state["layers"][0]["a"], 1 / (1 + np.exp(-(X @ W1))),
                               rtol=1e-15, atol=0)
    assert state["cursor"] == {"next": "forward", "layer": 2}


def test_nothing_points_outside_the_repository(spec: dict[str, Any]) -> None:
    text = json.dumps(spec, ensure_ascii=False)
    assert "shared/" not in text and "API.md" not in text
    assert "docs/api.md" in spec["info"]["description"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_local_assets(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "http" not in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self';" in csp
    assert "<script>" not in r.text  # no inline script: every script has a src
    refs = re.findall(r'(?:src|href|spec-url)="([^"]+)"', r.text)
    assert refs, page
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert len(asset.content) > 100, ref
