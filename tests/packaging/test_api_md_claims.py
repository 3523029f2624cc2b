"""Spot checks of docs/api.md against the running app: a claim the contract makes is what the
app does (defaults, the limits table, the history's size and mse, where train stops), and
/docs shows the summary once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from tests.conftest import API, new_session

ROOT = Path(__file__).resolve().parents[2]
API_MD = (ROOT / "docs" / "api.md").read_text()
S = f"{API}/sessions"

UNITS = {"s": 1, "KiB": 1 << 10, "MiB": 1 << 20}
POWERS = {"10⁶": 1e6, "10⁹": 1e9, "10¹⁵": 1e15}


def table_default(text: str) -> float | None:
    """A number as the limits table writes it ("100,000", "2 s", "512 MiB", "10⁶"), or None."""
    text = text.strip()
    if text in POWERS:
        return POWERS[text]
    found = re.fullmatch(r"([0-9][0-9,]*(?:\.[0-9]+)?)(?: (s|KiB|MiB))?", text)
    if not found:
        return None
    return float(found[1].replace(",", "")) * UNITS.get(found[2] or "s", 1)


def test_the_limits_table_gives_the_settings_defaults() -> None:
    section = API_MD[API_MD.index("## 7. Limits"):]
    rows = re.findall(r"^\| `([a-z_0-9]+)`(?:, `([a-z_0-9]+)`)? \| ([^|]+) \|", section, re.M)
    # The declared defaults (the suite's conftest sets a few through the environment).
    defaults = {name: f.default for name, f in Settings.model_fields.items()}
    checked = 0
    for first, second, value in rows:
        names = [first] if not second else [first, second]
        values = [value] if not second else [v.strip() for v in value.split(",")]
        for name, text in zip(names, values, strict=True):
            number = table_default(text)
            if number is None or name not in defaults:
                continue
            assert defaults[name] == pytest.approx(number), (name, text, defaults[name])
            checked += 1
    assert checked >= 30  # nearly every row is a plain number


def test_focus_defaults_to_2_for_the_truth_tables(client: Any) -> None:
    assert "`2` for the truth tables" in API_MD
    for name in ("xor", "and", "or"):
        created = new_session(client, dataset={"name": name})
        assert created["config"]["focus"] == 2
        assert created["batch"]["indices"] == [0, 1, 2, 3]  # the whole batch: focus on row 2
    assert new_session(client, preset="spiral")["config"]["focus"] == 0


def test_replies_carry_250_history_points_by_default(make_client: Any) -> None:
    assert "**250 points** (setting `history_default_points`)" in API_MD
    client = make_client(train_time_budget=60)
    sid = new_session(client, preset="seed-xor")["id"]
    state = client.post(f"{S}/{sid}/train", json={"epochs": 1000}).json()
    assert state["history_length"] == 1000 and len(state["history"]) == 250
    assert [p["epoch"] for p in state["history"]][::249] == [0, 999]


def test_train_stops_between_mini_batches(make_client: Any) -> None:
    """"the clock is read between mini-batches, so it may stop inside an epoch": with a budget
    that only lets the first chunk run, a long epoch of batches of 1 ends part-way."""
    assert "the clock is read between mini-batches" in API_MD
    client = make_client(train_time_budget=1e-9, max_samples=5000)
    sid = new_session(client, layers=[2, 64, 64, 1], dataset={"name": "circle",
                      "samples": 5000, "test_ratio": 0.0}, batch_size=1)["id"]
    state = client.post(f"{S}/{sid}/train", json={"epochs": 1}).json()
    assert state["stopped"] == "time_budget" and state["ran"] == 0
    assert 0 < state["iteration"] < 5000 and state["epoch"] == 0
    exported = client.get(f"{S}/{sid}/export").json()
    assert exported["batch_pos"] == state["iteration"]  # inside the epoch


def test_docs_show_the_summary_once(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    summary = "Step through backpropagation, layer by layer, with every number exact."
    assert spec["info"]["summary"] == summary
    assert summary not in spec["info"]["description"]
