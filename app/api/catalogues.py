"""The read-only lists a config may name from: GET /api/v1/presets and /api/v1/datasets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypedDict

from fastapi import APIRouter
from pydantic import BaseModel

from app.api import schemas
from app.jsontypes import JSONObject
from app.nn import datasets
from app.sessions.config import GENERATED_DEFAULTS, PRESETS

router = APIRouter()  # included by app/api/routes.py after the session routes (their order)


class PresetItem(TypedDict):
    """An entry of GET /presets (schemas.Preset)."""

    name: str
    description: str
    config: JSONObject  # the wire form of a SessionConfig


class DatasetItem(TypedDict):
    """An entry of GET /datasets (schemas.DatasetInfo)."""

    name: str
    kind: Literal["truth_table", "classification", "regression", "inline"]
    inputs: int | None
    parameters: dict[str, float | int | None]
    description: str


def _catalogue(path: str, item: type[BaseModel], name: str, summary: str, text: str,
               data: Callable[[], Sequence[PresetItem | DatasetItem]]) -> None:
    """A read-only list a config may name from (presets, data sets)."""

    async def catalogue() -> Sequence[PresetItem | DatasetItem]:
        return data()

    router.get(path, response_model=list[item], tags=["catalogues"],  # type: ignore[valid-type]
               name=name, summary=summary, description=text)(catalogue)


def presets_data() -> list[PresetItem]:
    return [{"name": name, "description": p["description"], "config": p["config"]}
            for name, p in PRESETS.items()]


_catalogue("/presets", schemas.Preset, "list_presets", "List the presets",
           "The named configs POST /sessions accepts as `preset`, each with its "
           "description and the complete config it stands for.", presets_data)


DATASET_DESCRIPTIONS = {
    "xor": "the lesson's XOR truth table, rows (0,0) (0,1) (1,0) (1,1)",
    "and": "AND truth table", "or": "OR truth table",
    "circle": "points inside (1) or outside (0) a circle",
    "xor_scatter": "points labelled by the sign of x₁·x₂",
    "gauss": "two Gaussian clusters", "spiral": "two interleaved spirals",
    "plane": "regression of a tilted plane, targets in [0, 1]",
    "multi_gauss": "regression of a sum of Gaussian bumps, targets in [0, 1]",
}


def list_datasets_data() -> list[DatasetItem]:
    out: list[DatasetItem] = []
    for name in datasets.NAMES:
        kind: Literal["truth_table", "classification", "regression"] = (
            "truth_table" if name in datasets.TRUTH_TABLES else
            "classification" if name in datasets.CLASSIFICATION else "regression")
        params: dict[str, float | int | None] = (
            {} if kind == "truth_table" else {k: v for k, v in GENERATED_DEFAULTS.items()}  # type: ignore[misc]
            )
        out.append({"name": name, "kind": kind, "inputs": 2, "parameters": params,
                    "description": DATASET_DESCRIPTIONS[name]})
    out.append({"name": "inline", "kind": "inline", "inputs": None,
                "parameters": {"X": None, "Y": None, "X_test": None, "Y_test": None},
                "description": "your own data: X (N × layers[0]) and Y (N × layers[-1])"})
    return out


_catalogue("/datasets", schemas.DatasetInfo, "list_datasets", "List the data sets",
           "The built-in data sets a config may name in dataset.name, with their "
           "kind, input width and default parameters, plus `inline` (your own X and Y).",
           list_datasets_data)
