"""docs/api.md against /openapi.json and the state model (issue #18): the endpoint list of
section 4.1 and the OpenAPI paths name the same operations (method, path, operation id) both
ways, and section 3 names every field of the state (app/sessions/state_model.py), nested ones
too, with its table listing exactly the top-level ones. Each check is a function of the texts,
shown here to fail on a planted mismatch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest
from typing_extensions import get_type_hints, is_typeddict

from app.main import create_app
from app.sessions.state_model import SessionState

ROOT = Path(__file__).resolve().parents[2]
API_MD = (ROOT / "docs" / "api.md").read_text()
ENDPOINT = re.compile(r"^\*\*`(GET|POST|PUT|PATCH|DELETE) (/\S*)`\*\* \(`(\w+)`\)", re.M)
TABLE_ROW = re.compile(r"^\| `(\w+)` \|", re.M)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


def documented(md: str) -> set[tuple[str, str, str]]:
    """(method, path, operation id) of each entry of section 4.1's list."""
    return {(m, p, op) for m, p, op in ENDPOINT.findall(md)}


def served(spec: dict[str, Any]) -> set[tuple[str, str, str]]:
    """The same from the OpenAPI document, written as docs/api.md writes paths (under
    /api/v1, a session's id as {id})."""
    return {(method.upper(), path.removeprefix("/api/v1").replace("{session_id}", "{id}"),
             op["operationId"])
            for path, ops in spec["paths"].items() for method, op in ops.items()}


def endpoint_mismatches(md: str, spec: dict[str, Any]) -> list[str]:
    missing = sorted(served(spec) - documented(md))
    stale = sorted(documented(md) - served(spec))
    return ([f"not in docs/api.md: {' '.join(e)}" for e in missing]
            + [f"not served: {' '.join(e)}" for e in stale])


def state_section(md: str) -> str:
    """Section 3 (the state), its subsections included."""
    start = md.index("## 3. The session state")
    return md[start:md.index("\n## 4.", start)]


def typed_dicts(tp: object) -> list[type]:
    """The TypedDicts a field's type holds (through lists, unions and Optional)."""
    if is_typeddict(tp):
        return [tp]  # type: ignore[list-item]
    return [td for arg in get_args(tp) for td in typed_dicts(arg)]


def fields_of(model: type, seen: set[type] | None = None) -> dict[str, set[str]]:
    """Every TypedDict reachable from ``model``: its name → its field names."""
    seen = set() if seen is None else seen
    if model in seen:
        return {}
    seen.add(model)
    hints = get_type_hints(model)
    out = {model.__name__: set(hints)}
    for tp in hints.values():
        for td in typed_dicts(tp):
            out.update(fields_of(td, seen))
    return out


def field_mismatches(md: str, model: type = SessionState) -> list[str]:
    section = state_section(md)
    table = set(TABLE_ROW.findall(section))
    top = set(get_type_hints(model))
    out = [f"state field not in section 3's table: {f}" for f in sorted(top - table)]
    out += [f"section 3's table names no state field: {f}" for f in sorted(table - top)]
    for name, fields in fields_of(model).items():
        for f in sorted(fields):
            if f"`{f}`" not in section and f'"{f}"' not in section:
                out.append(f"{name}.{f} is not named in section 3")
    return out


def test_the_endpoint_list_is_the_openapi_paths(spec: dict[str, Any]) -> None:
    assert len(documented(API_MD)) == len(served(spec)) == 32
    assert endpoint_mismatches(API_MD, spec) == []


def test_every_state_field_is_named_in_section_3() -> None:
    assert {"SessionState", "LayerState", "LayerOptimizerState", "Cursor", "Batch", "Metrics",
            "HistoryPoint", "UndoCounts"} <= set(fields_of(SessionState))
    assert field_mismatches(API_MD) == []


def test_a_planted_endpoint_mismatch_fails(spec: dict[str, Any]) -> None:
    line = "**`POST /sessions/{id}/step`** (`step`)"
    assert line in API_MD
    assert endpoint_mismatches(API_MD.replace(line, "**`POST /sessions/{id}/stride`** "
                                              "(`step`)"), spec) == [
        "not in docs/api.md: POST /sessions/{id}/step step",
        "not served: POST /sessions/{id}/stride step"]
    assert endpoint_mismatches(API_MD.replace(line, "**`GET /sessions/{id}/step`** (`step`)"),
                               spec) == ["not in docs/api.md: POST /sessions/{id}/step step",
                                         "not served: GET /sessions/{id}/step step"]
    assert endpoint_mismatches(API_MD.replace(line, "**`POST /sessions/{id}/step`** "
                                              "(`one_step`)"), spec)
    extra = API_MD + "\n**`DELETE /presets`** (`delete_presets`) — gone.\n"
    assert endpoint_mismatches(extra, spec) == ["not served: DELETE /presets delete_presets"]


def test_a_planted_field_mismatch_fails() -> None:
    row = "| `history_length` |"
    assert row in API_MD
    assert field_mismatches(API_MD.replace(row, "| `history_size` |")) == [
        "state field not in section 3's table: history_length",
        "section 3's table names no state field: history_size"]
    renamed = API_MD.replace("`positions`", "`places`")
    assert field_mismatches(renamed) == ["Batch.positions is not named in section 3"]
