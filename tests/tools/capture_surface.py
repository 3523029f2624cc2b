"""Capture the app's outward surface, for a reshaping that must change nothing (issue #18):
``/openapi.json`` and a fixed walk through the pages and the API, written one file per request
into a folder. Run it before and after, then ``diff -r`` the two folders.

    python3 -m tests.tools.capture_surface /tmp/before

Random ids (sessions, watch links, runs, polls) come from a counter instead of ``secrets``, and
the figures that are measured times (render ms) are masked, so two runs of the same code give
the same bytes. A Play tick gets a budget long enough that it always trains the epochs it asks
for, whatever the machine's load.
"""

from __future__ import annotations

import itertools
import re
import secrets
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

_counter = itertools.count()


def _token(n: int | None = 16) -> str:
    return f"id{next(_counter):04d}x".ljust(max(8, (n or 16)), "x")


TIMES = re.compile(
    rb"\"(created|revealed|answered_at|closed)\": ?[0-9.e]+"  # wall-clock stamps
    rb"|\d{4}-\d\d-\d\dT[0-9:.]+\+00:00"  # the CSV's answer times
    rb"|\d+(\.\d+)? ?ms\b|\"(render_ms|elapsed_ms|took_ms|ms)\": ?[0-9.e-]+")


def main(out: Path) -> int:
    secrets.token_urlsafe = _token  # type: ignore[assignment]
    secrets.token_hex = _token  # type: ignore[assignment]
    from app.config import Settings
    from app.main import create_app
    from app.nn import kernel_slot

    kernel_slot.wait_for("compiled", 600)  # the same replies whenever numba finished
    out.mkdir(parents=True, exist_ok=True)
    n = itertools.count()

    with TestClient(create_app(Settings(tick_budget=30.0))) as c:
        def save(name: str, r: Any) -> Any:
            body = TIMES.sub(b"<ms>", r.content)
            (out / f"{next(n):03d}_{name}.txt").write_bytes(
                f"{r.status_code} {r.headers.get('content-type')}\n".encode() + body)
            return r

        save("openapi", c.get("/openapi.json"))
        save("landing", c.get("/"))
        save("landing_ko", c.get("/", headers={"Accept-Language": "ko"}))
        save("docs", c.get("/docs"))
        sids: list[str] = []
        for preset in ("seed-xor", "spiral"):
            r = save(f"api_create_{preset}", c.post("/api/v1/sessions", json={"preset": preset}))
            sid = r.json()["id"]
            api = f"/api/v1/sessions/{sid}"
            save("state", c.get(api))
            save("forward", c.post(f"{api}/forward"))
            save("forward_through", c.post(f"{api}/forward", json={"through": "all"}))
            save("backward", c.post(f"{api}/backward", json={"through": "all"}))
            save("update", c.post(f"{api}/update"))
            save("step", c.post(f"{api}/step"))
            save("train", c.post(f"{api}/train", json={"epochs": 50}))
            save("patch", c.patch(api, json={"learning_rate": 0.3}))
            save("undo", c.post(f"{api}/undo"))
            save("redo", c.post(f"{api}/redo"))
            save("export", c.get(f"{api}/export"))
            save("page", c.get(f"/s/{sid}"))
            save("page_ko", c.get(f"/s/{sid}", headers={"Accept-Language": "ko"}))
            save("page_do", c.post(f"/s/{sid}/do", data={"op": "step"}))
            save("page_tick", c.post(f"/s/{sid}/tick", data={"epochs": "10"}))
            save("page_after", c.get(f"/s/{sid}"))
            save("share", c.post(f"/s/{sid}/share"))
            save("page_shared", c.get(f"/s/{sid}"))
            w = save("watch", c.post(f"{api}/watch")).json()
            wid = w.get("watch_id") or w.get("id") or ""
            save("watch_page", c.get(f"/w/{wid}"))
            save("watch_api", c.get(f"/api/v1/watch/{wid}"))
            save("link", c.get(f"{api}/link"))
            save("gradcheck", c.get(f"{api}/gradcheck"))
            save("points_add", c.post(f"{api}/points", json={"x1": 0.5, "x2": -0.5, "y": 1}))
            lay = c.get(api).json()["layers"]
            save("weights", c.put(f"{api}/weights", json={"layers": [
                {"W": L["W"], "b": L["b"]} for L in lay]}))
            save("reset", c.post(f"{api}/reset"))
            poll = save("poll", c.post(f"{api}/polls", json={
                "quantity": {"field": "a", "layer": 1, "index": [0, 0]},
                "kind": "number"})).json()
            pid = poll.get("poll_id", "x")
            save("polls", c.get(f"{api}/polls"))
            save("answer", c.post(f"/api/v1/watch/{wid}/polls/{pid}/answers",
                                  json={"student": "student-1", "answer": 0.5}))
            save("student", c.get(f"/api/v1/watch/{wid}/polls/{pid}?student=student-1"))
            save("reveal", c.post(f"{api}/polls/{pid}/reveal"))
            save("poll_one", c.get(f"{api}/polls/{pid}"))
            save("csv", c.get(f"{api}/polls/{pid}/answers.csv"))
            save("page_polls", c.get(f"/s/{sid}"))
            save("watch_page_polls", c.get(f"/w/{wid}"))
            save("lecture", c.get(f"/s/{sid}?view=lecture"))
            doc = c.get(f"{api}/export").json()
            imp = save("import", c.post("/api/v1/sessions/import", json=doc)).json()
            sids.append(sid)
            save("unwatch", c.delete(f"{api}/watch"))
            save("imported_page", c.get(f"/s/{imp.get('id')}"))
            save("points", c.get(f"/s/{sid}/points.svg"))
            save("bad_train", c.post(f"{api}/train", json={"epochs": -1}))
        save("compare", c.get(f"/compare?a={sids[0]}&b={sids[1]}"))
        save("presets", c.get("/api/v1/presets"))
        save("datasets", c.get("/api/v1/datasets"))
        for sid in sids:
            save("delete", c.delete(f"/api/v1/sessions/{sid}"))
            save("gone", c.get(f"/api/v1/sessions/{sid}"))
        save("new", c.get("/new"))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
