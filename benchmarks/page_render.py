"""Server time to render the session page, and the loss-curve fragment size.

    python3 benchmarks/page_render.py [--repeat 30]

Measures, through the ASGI app (Starlette's TestClient, no network), the median time of
GET /s/{id} (the whole page: state, diagram, inspector MathML, heatmap, loss curve) for
seed-xor and for a 2-8-8-8-1 network on 500 spiral points, each after one forward and
backward pass with an edge selected; and the size of the loss-curve fragment after 100,000
epochs of seed-xor.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import Settings
from app.main import create_app
from app.web.drawing import heatmaps
from app.web.inspector import mathml

API = "/api/v1"
HX = {"HX-Request": "true"}


def create(client: TestClient, config: dict[str, Any]) -> str:
    r = client.post(f"{API}/sessions", json=config)
    r.raise_for_status()
    sid = r.json()["id"]
    client.post(f"{API}/sessions/{sid}/forward", json={"through": "all"}).raise_for_status()
    client.post(f"{API}/sessions/{sid}/backward", json={"through": "all"}).raise_for_status()
    return str(sid)


def time_page(client: TestClient, url: str, repeat: int, headers: dict[str, str] | None = None,
              cold: bool = False) -> tuple[float, float, float, int]:
    """(server ms median, server ms min, round-trip ms median, bytes). The server time is the
    page's Server-Timing header: building the view under the session lock and rendering it.
    ``cold`` empties the MathML and heatmap caches before every request."""
    client.get(url, headers=headers).raise_for_status()  # warm up (template compile)
    server, trip = [], []
    size = 0
    for _ in range(repeat):
        if cold:
            mathml._convert.cache_clear()
            heatmaps.CACHE.clear()
        t0 = time.perf_counter()
        r = client.get(url, headers=headers)
        trip.append((time.perf_counter() - t0) * 1000)
        server.append(float(r.headers["server-timing"].split("dur=")[1]))
        size = len(r.content)
    return statistics.median(server), min(server), statistics.median(trip), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    rows = []
    with TestClient(create_app(Settings(train_time_budget=120.0, create_rate_limit=0))) as client:
        cases = {
            "seed-xor (2-4-1, 4 samples)": ({"preset": "seed-xor"}, 20.0),
            "2-8-8-1 spiral preset (400 points)": ({"preset": "spiral"}, 100.0),
            "2-8-8-8-1, spiral 500 points": ({"layers": [2, 8, 8, 8, 1],
                                              "hidden_activation": "tanh",
                                              "dataset": {"name": "spiral", "samples": 500}},
                                             100.0),
        }
        for name, (config, aim) in cases.items():
            sid = create(client, config)
            for label, cold in (("cold MathML + heatmap caches", True), ("warm", False)):
                med, low, trip, size = time_page(client, f"/s/{sid}?sel=w-2-0-0", args.repeat,
                                                 cold=cold)
                rows.append((f"page {name}, {label}", f"{med:.1f} ms", f"{low:.1f} ms",
                             f"< {aim:g} ms", f"{trip:.1f} ms round trip, {size / 1024:.0f} KB"))
        # What the per-neuron heatmaps cost alone: one grid pass + 19 PNGs (2-8-8-1).
        from app.sessions.config import SessionConfig, normalize
        from app.sessions.model import Session
        settings = Settings()
        net = Session.create(normalize(SessionConfig(preset="spiral"), settings),
                             settings).trainer.net
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            heatmaps.compute(net, ["x1", "x2"], (-6.0, 6.0))
            times.append((time.perf_counter() - t0) * 1000)
        rows.append(("heatmaps of a 2-8-8-1 net (19 images), uncached",
                     f"{statistics.median(times):.2f} ms", f"{min(times):.2f} ms", "",
                     "once per weights version (LRU cache)"))
        sid = client.post(f"{API}/sessions", json={"preset": "seed-xor"}).json()["id"]
        t0 = time.perf_counter()
        epoch = 0
        while epoch < 100_000:
            r = client.post(f"{API}/sessions/{sid}/train", json={"epochs": 100_000 - epoch},
                            params={"history": 1})
            epoch = r.json()["epoch"]
        train_s = time.perf_counter() - t0
        page = client.get(f"/s/{sid}", headers=HX).text
        m = re.search(r'<section id="loss".*?</section>', page, re.S)
        assert m is not None
        loss_kb = len(m.group(0).encode()) / 1024
        tick = client.post(f"/s/{sid}/tick?n=10", headers=HX)
        rows.append(("loss-curve fragment at 100,000 epochs", f"{loss_kb:.1f} KB", "",
                     "≤ 16 KB", f"100k epochs trained in {train_s:.1f} s"))
        rows.append(("Play tick response at 100,000 epochs",
                     f"{len(tick.content) / 1024:.1f} KB", "", "", "all live regions, seed-xor"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'median':>9}  {'min':>8}  {'aim':>9}  note")
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>9}  {r[2]:>8}  {r[3]:>9}  {r[4]}")


if __name__ == "__main__":
    main()
