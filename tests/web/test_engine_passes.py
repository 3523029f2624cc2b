"""A page render asks the engine at most once: one forward and one backward pass over the data,
read by the diagram, the batch table, the metrics and the heatmaps (issue #18).

The network's forward and backward are wrapped in counters; passes over the heatmaps' grids
(their own drawing of the plane, cached per weights) are told apart by their row count."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.nn.network import Network
from app.sessions.config import SessionConfig, normalize
from app.sessions.model import Session
from app.web.drawing import charts, heatmaps
from app.web.views.session import ViewState, session_view
from tests.web.helpers import API

GRIDS = {heatmaps.GRID**2, heatmaps.PLAY_GRID**2, charts.GRID**2, charts.PLAY_GRID**2}


@dataclass
class Passes:
    forward: list[int] = field(default_factory=list)  # rows of each pass over the data
    backward: list[int] = field(default_factory=list)
    grid: int = 0  # passes over a heatmap's grid

    def reset(self) -> None:
        self.forward.clear()
        self.backward.clear()
        self.grid = 0


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Passes]:
    counted = Passes()
    forward, backward = Network.forward, Network.backward

    def counting_forward(self: Network, X: Any) -> Any:
        if len(X) in GRIDS:
            counted.grid += 1
        else:
            counted.forward.append(len(X))
        return forward(self, X)

    def counting_backward(self: Network, zs: Any, acts: Any, Y: Any) -> Any:
        counted.backward.append(len(Y))
        return backward(self, zs, acts, Y)

    monkeypatch.setattr(Network, "forward", counting_forward)
    monkeypatch.setattr(Network, "backward", counting_backward)
    yield counted


def create(client: TestClient, config: dict[str, Any]) -> str:
    r = client.post(f"{API}/sessions", json=config)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# 200 generated points, a quarter held out (150 train + 50 test), batches of 10.
MINI_BATCH = {"dataset": {"name": "gauss", "test_ratio": 0.25}, "batch_size": 10,
              "layers": [2, 3, 1]}


@pytest.mark.parametrize("config", [{"preset": "seed-xor"}, MINI_BATCH], ids=["xor", "gauss"])
@pytest.mark.parametrize("query", ["", "?play=1", "?play=1&sel=n-1-0", "?sel=w-1-0-0"])
def test_a_page_render_runs_one_forward_and_one_backward_at_most(
        client: TestClient, passes: Passes, config: dict[str, Any], query: str) -> None:
    sid = create(client, config)
    for stage in ("fresh", "mid-pass", "trained"):
        if stage == "mid-pass":
            assert client.post(f"{API}/sessions/{sid}/forward").status_code == 200
        if stage == "trained":
            r = client.post(f"{API}/sessions/{sid}/train", json={"epochs": 3})
            assert r.status_code == 200
        client.get(f"/s/{sid}{query}")  # draws (and caches) this version's heatmaps
        passes.reset()
        assert client.get(f"/s/{sid}{query}").status_code == 200
        assert len(passes.forward) <= 1, (stage, passes.forward)
        assert len(passes.backward) <= 1, (stage, passes.backward)
        assert passes.grid == 0, stage  # the heatmaps came from their caches
        if "play" in query and stage != "mid-pass":
            # Play shows the mechanics: the batch's backward pass, and the forward it reads.
            assert len(passes.backward) == 1 and len(passes.forward) == 1
    if config is MINI_BATCH and "play" in query:
        # The one forward pass covers the training and the test set (the split metrics); the
        # batch of 10 is read from it.
        assert passes.forward == [200] and passes.backward == [10]


def test_a_play_frame_runs_one_forward_and_one_backward(passes: Passes) -> None:
    """A Play frame (live): the batch alone, as a forward step would, then its backward."""
    settings = Settings()
    s = Session.create(normalize(SessionConfig.model_validate(MINI_BATCH), settings), settings)
    passes.reset()
    session_view(s, settings, ViewState(play=True), lambda m: m, live=True)
    assert passes.forward == [10] and passes.backward == [10]
