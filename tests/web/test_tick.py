"""Play ticks (app/web/routes/tick.py): lean frames, regions the client already holds not re-sent,
the per-tick training budget, the cached point image, and full regions again when Play stops."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.web.helpers import API, HX, new_page, section, state

REGIONS = ("diagram", "inspector", "data", "loss", "status", "undo")


def sent(html: str) -> list[str]:
    return re.findall(r'<(?:section|aside|div) id="([\w-]+)"[^>]*hx-swap-oob="true"', html)


def have_of(html: str) -> str:
    m = re.search(r'<input type="hidden" id="tick-have" name="have" value="([^"]*)" '
                  r'hx-swap-oob="true">', html)
    assert m, "the reply carries the hashes the client now holds"
    return m.group(1)


def tick(client: TestClient, path: str, have: str = "", n: int = 10) -> str:
    r = client.post(f"{path}/tick?n={n}", data={"have": have}, headers=HX)
    assert r.status_code == 200, r.text
    return r.text


def test_lean_frames_send_only_what_changed(make_client: Callable[..., TestClient]) -> None:
    # A budget no loaded machine reaches: each tick trains all its 10 epochs (the count is
    # checked below; the default 50 ms budget is tested on its own further down).
    client = make_client(tick_budget=30.0)
    path = new_page(client, "spiral")
    first = tick(client, path)
    assert sent(first) == list(REGIONS)  # the client holds nothing yet
    diagram = section(first, "diagram")
    assert "<a " not in diagram and "hx-get" not in diagram  # no per-edge links while playing
    assert diagram.count("<path ") == 2 * 8 + 8 * 8 + 8 * 1  # every edge is drawn
    have = have_of(first)
    assert {p.split(":")[0] for p in have.split(",")} == set(REGIONS)
    second = tick(client, path, have)
    # The inspector (nothing selected) did not change: not sent; the trained regions were.
    # (Each tick is an undoable step: the undo bar and its timeline change too.)
    assert sent(second) == ["diagram", "data", "loss", "status", "undo"]
    assert have_of(second).split(",")[1] == have.split(",")[1]
    assert state(client, path)["epoch"] == 20
    # A malformed echo counts as holding nothing: everything is sent.
    assert sent(tick(client, path, "garbage,diagram:xyz")) == list(REGIONS)


def test_spiral_frame_stays_small(client: TestClient) -> None:
    path = new_page(client, "spiral")
    have = ""
    for _ in range(30):
        html = tick(client, path, have)
        have = have_of(html)
    # Issue #13: at most 30 KB with every picture of the diagram and the data plot on (each
    # layer's neuron pictures in one palette image, the sample marks a cached image).
    assert len(html.encode()) <= 30 * 1024, len(html.encode())
    assert html.count('<image id="hs-') == 4 and "data:image/png" in section(html, "data")


def test_points_image_is_cached_and_redrawn_when_missing(client: TestClient) -> None:
    path = new_page(client, "spiral")
    html = tick(client, path)
    m = re.search(r'href="(/s/[\w-]+/points\.svg\?v=(\w+))"', html)
    assert m
    r = client.get(m.group(1))
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "immutable" in r.headers["cache-control"]
    n = state(client, path)["config"]["dataset"]["samples"]
    assert r.text.count("<circle") + r.text.count("<rect") == n  # every sample, train and test
    from app.web.drawing import heatcache

    heatcache.POINTS.clear()  # as on another worker: drawn again from the session
    again = client.get(m.group(1))
    assert again.status_code == 200 and again.text == r.text
    assert "immutable" in again.headers["cache-control"]
    # An old hash (the data changed since): the current points, not to be kept.
    stale = client.get(m.group(1).split("?")[0] + "?v=000000000000")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    assert client.get("/s/nope/points.svg?v=abc").status_code == 404


def test_a_tick_trains_within_its_budget(make_client: Callable[..., TestClient]) -> None:
    client = make_client(tick_budget=0.001)
    path = new_page(client, "spiral")
    r = client.post(f"{path}/tick?n=100000", headers=HX)
    assert r.status_code == 200  # stopped by the budget, still playing
    epoch = state(client, path)["epoch"]
    assert 1 <= epoch < 100000


def test_stopping_sends_the_full_regions(client: TestClient) -> None:
    r = client.post(f"{API}/sessions", json={"preset": "plane-regression", "learning_rate": 100})
    path = "/s/" + r.json()["id"]
    r = client.post(f"{path}/tick?n=1000", data={"have": ""}, headers=HX)
    assert r.status_code == 286
    assert "hx-get" in section(r.text, "diagram")  # clickable again
    # No hash echo any more (the player's own, empty input comes with it), the player is back.
    assert not re.search(r'id="tick-have"[^>]*hx-swap-oob', r.text) and 'id="player"' in r.text


def test_heatmaps_are_cached_per_weights_version() -> None:
    import numpy as np

    from app.nn.network import Network, Spec
    from app.web.drawing import charts, heatcache

    rng = np.random.default_rng(3)
    net = Network(Spec((2, 3, 1), "tanh", "sigmoid"), [rng.normal(size=(2, 3)),
                                                       rng.normal(size=(3, 1))],
                  [np.zeros(3), np.zeros(1)])
    X, Y = rng.normal(size=(30, 2)), rng.integers(0, 2, (30, 1)).astype(float)
    raw = (X, Y, None, None)
    xy = ["x1", "x2"]
    first = heatcache.heatmap(net, raw, xy, "sigmoid", "classification")
    assert heatcache.heatmap(net, raw, xy, "sigmoid", "classification") is first  # cached
    fresh = charts.heatmap(net.predict, X, Y, None, None, "sigmoid", "classification")
    assert fresh.image == first.image and fresh.points == first.points
    net.W = [net.W[0] + 0.5, net.W[1]]  # a new weights version: drawn again
    second = heatcache.heatmap(net, raw, xy, "sigmoid", "classification")
    assert second is not first and second.image != first.image


def test_frames_are_gzipped_when_the_browser_accepts_it(client: TestClient) -> None:
    path = new_page(client, "spiral")
    plain = client.post(f"{path}/tick?n=1", headers={**HX, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.num_bytes_downloaded > 20_000
    r = client.post(f"{path}/tick?n=1", headers={**HX, "Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    # On the wire vs decoded: the neurons' PNG pictures (base64) hardly compress, the rest
    # of the frame to about a fifth.
    assert r.num_bytes_downloaded < len(r.content) / 1.8
    assert 'id="diagram"' in r.text and 'id="tick-have"' in r.text


def test_the_server_hands_the_gil_over_at_its_setting_and_restores_it() -> None:
    """While the app runs, a thread waiting for the GIL (a tick whose compiled training ended)
    gets it after ``gil_switch_interval``; Python's own value is back after shutdown."""
    import sys

    from app.config import Settings
    from app.main import create_app

    before = sys.getswitchinterval()
    with TestClient(create_app(Settings(gil_switch_interval=0.002))):
        assert sys.getswitchinterval() == pytest.approx(0.002)
    assert sys.getswitchinterval() == before
