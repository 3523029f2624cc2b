"""A Play frame is a function of the session alone: what app/web keeps between ticks (per-layout
geometry, grid points, column titles, the diagram's heading, the templates' phrases, queries,
the live regions' skeletons)
never changes a byte of it. Each frame is compared with the same session drawn with every cache
emptied, after other sessions of other layouts and languages have filled them, and with the
templates' own gettext and include instead of the remembered ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from app.web.drawing import diagram, diagram_live, heatmaps, plane
from app.web.infra import i18n, skeleton, templating
from app.web.routes import tick
from app.web.views import session as views
from app.web.views.session import ViewState
from tests.web.helpers import API

CASES: dict[str, dict[str, Any]] = {
    "spiral": {"preset": "spiral"},
    "xor": {"preset": "seed-xor"},
    "circle": {"layers": [2, 4, 2, 1], "hidden_activation": "tanh",
               "dataset": {"name": "circle"}},
    # no accuracy (regression), and a one-sample data set of two outputs (Mazur's example)
    "plane": {"preset": "plane-regression"},
    "mazur": {"preset": "worked-example"},
}


def empty_caches() -> None:
    skeleton.SKELETONS.clear()
    diagram_live.PLANS.clear()
    tick.PHRASES.clear()
    tick.HEAD_CACHE.clear()
    tick.REGION_CACHE.clear()
    heatmaps.CACHE.clear()
    for cached in (diagram._path_heads, diagram._names, heatmaps.grid_features,
                   heatmaps._input_max, heatmaps._input_sprite,
                   plane.plane_points, plane._ticks, views._query):
        cached.cache_clear()


def draw(client: TestClient, sid: str, lang: str, sel: str | None = None, log: bool = False
         ) -> tuple[str, dict[str, Any]]:
    """The session's Play frame with every region (nothing held), and its context."""
    s = client.app.state.store._sessions[sid]  # type: ignore[attr-defined]
    ctx = dict(templating.base_ctx(_request(client)))
    ctx["lang"] = lang
    html, _stop = tick.play_frame(s, ctx, templating.render, {}, s_settings(client),
                                  ViewState(sel, log, True, 10), i18n.gettext_for(lang), 8)
    return html, ctx


def s_settings(client: TestClient) -> Any:
    return client.app.state.door.settings  # type: ignore[attr-defined]


def _request(client: TestClient) -> Any:
    from starlette.requests import Request
    return Request({"type": "http", "method": "GET", "path": "/s/x/play", "query_string": b"",
                    "headers": [], "app": client.app})


def test_frames_drawn_with_warm_caches_equal_frames_drawn_cold(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    sids = {}
    for name, body in CASES.items():
        sids[name] = client.post(f"{API}/sessions", json=body).json()["id"]
        client.post(f"{API}/sessions/{sids[name]}/train", json={"epochs": 15}).raise_for_status()
    views_to_draw = [(name, lang, sel, log) for name in CASES for lang in ("en", "ko")
                     for sel in (None, "n-1-0", "n-0-1") for log in (False, True)]
    cold = {}
    for v in views_to_draw:
        empty_caches()
        cold[v] = draw(client, sids[v[0]], v[1], v[2], v[3])[0]
    empty_caches()
    for _round in range(2):  # every other layout and language drawn in between
        for v in views_to_draw:
            assert draw(client, sids[v[0]], v[1], v[2], v[3])[0] == cold[v], v
    assert len({cold[v] for v in views_to_draw}) == len(views_to_draw)  # they do differ


def test_remembered_phrases_and_heading_equal_the_templates_own(
        make_client: Callable[..., TestClient]) -> None:
    """The frame's regions against the same templates rendered with Jinja's gettext and
    ngettext and the heading included, as before they were remembered."""
    client = make_client()
    for body in CASES.values():
        sid = client.post(f"{API}/sessions", json=body).json()["id"]
        client.post(f"{API}/sessions/{sid}/train", json={"epochs": 5}).raise_for_status()
        for lang, log in (("en", False), ("ko", False), ("en", True)):
            draw(client, sid, lang, log=log)  # warm
            html, ctx = draw(client, sid, lang, log=log)
            assert ctx["_"] is tick.phrase and "diagram_head" in ctx
            plain = {k: v for k, v in ctx.items()
                     if k not in ("_", "ngettext", "diagram_head")}
            for name in ("diagram_live", "data_live", "loss", "status"):
                own = templating.render(f"partials/{name}.html", plain)
                if name.endswith("_live"):
                    own = tick.BETWEEN_TAGS.sub("><", own)
                assert own in html, (name, lang)
