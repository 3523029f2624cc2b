"""Class polls on the pages and over the event streams: the teacher's panel (ask about the
selected value, the live count and Reveal while open — never the answer —, the histogram and
the list after), the students' region on the watch page, and poll events reaching both the JSON
stream (with live counts) and the watch page's stream, on each store."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.sessions.poll_service import COUNT_INTERVAL
from tests.live import live_server
from tests.teaching.test_watch import events

API = "/api/v1"
S = f"{API}/sessions"


def panel(html: str) -> str:
    m = re.search(r'<section id="polls".*?</section>', html, re.S)
    assert m, "no poll panel"
    return m.group(0)


def region(html: str) -> str:
    m = re.search(r'<section id="poll".*?</section>', html, re.S)
    assert m, "no poll region"
    return m.group(0)


def test_the_teacher_asks_reveals_and_sees_the_histogram(any_store_client: TestClient) -> None:
    c = any_store_client
    sid = c.post(S, json={"preset": "xor-bias"}).json()["id"]
    page = panel(c.get(f"/s/{sid}").text)
    assert "Ask the class" not in page and "poll-needs-link" in page  # no selection, no link
    c.post(f"/s/{sid}/share")
    wid = c.post(f"{S}/{sid}/watch").json()["watch_id"]
    page = panel(c.get(f"/s/{sid}?sel=n-1-0").text)
    values = re.findall(r'name="quantity" value="([^"]+)"', page)
    focus = c.get(f"{S}/{sid}").json()["config"]["focus"]
    assert values == [f"z|1|{focus},0", f"a|1|{focus},0", f"delta|1|{focus},0"]
    # After F1, z and a of layer 1 are on screen: only δ is left to ask about.
    c.post(f"{S}/{sid}/forward")
    page = panel(c.get(f"/s/{sid}?sel=n-1-0").text)
    assert re.findall(r'name="quantity" value="([^"]+)"', page) == [f"delta|1|{focus},0"]
    r = c.post(f"/s/{sid}/polls", data={"quantity": f"delta|1|{focus},0", "kind": "number",
                                        "prompt": "", "tolerance": "5", "sel": "n-1-0"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("#polls")
    poll = c.get(f"{S}/{sid}/polls").json()[0]
    assert poll["tolerance"] == 0.05 and poll["prompt"] == \
        "What will δ of neuron 1 in layer 1 be?"  # the page's default, translated
    pid = poll["poll_id"]
    for k, token in enumerate(["tok-aaaaaaaa", "tok-bbbbbbbb"]):
        c.post(f"{API}/watch/{wid}/polls/{pid}/answers", json={"student": token,
                                                               "answer": 0.1 * k})
    open_panel = panel(c.get(f"/s/{sid}").text)
    assert 'id="poll-reveal"' in open_panel and 'id="poll-count">2<' in open_panel
    assert "True value" not in open_panel and "poll-truth" not in open_panel
    student = region(c.get(f"/w/{wid}").text)
    assert f'data-poll="{pid}"' in student and 'data-status="open"' in student
    assert "poll-answer-form" in student and "True value" not in student
    # A second poll while this one is open: the page says so, nothing is asked.
    r = c.post(f"/s/{sid}/polls", data={"quantity": "loss||", "kind": "number"},
               follow_redirects=False)
    assert "pollmsg=open" in r.headers["location"]
    assert "A poll is open already" in c.get(r.headers["location"]).text
    r = c.post(f"/s/{sid}/polls/{pid}/reveal", follow_redirects=False)
    assert r.status_code == 303
    done = panel(c.get(f"/s/{sid}").text)
    truth = c.get(f"{S}/{sid}/polls/{pid}").json()["truth"]
    assert c.get(f"{S}/{sid}").json()["layers"][0]["delta"][focus][0] == truth
    assert 'id="poll-truth"' in done and "<svg" in done and 'class="truth"' in done
    assert re.search(r"Right: \d of 2 answers", done)
    assert f"/api/v1/sessions/{sid}/polls/{pid}/answers.csv" in done
    student = region(c.get(f"/w/{wid}").text)
    assert 'data-status="revealed"' in student and 'id="student-truth"' in student
    assert "poll-answer-form" not in student
    korean = region(c.get(f"/w/{wid}?lang=ko").text)
    assert "참값" in korean


def test_poll_forms_refuse_bad_input_without_asking(client: TestClient) -> None:
    c = client
    sid = c.post(S, json={"preset": "xor-bias"}).json()["id"]
    for data, code in (({"quantity": "z|1|0,0", "kind": "number", "tolerance": "x"},
                        "tolerance"),
                       ({"quantity": "nonsense", "kind": "number"}, "invalid"),
                       ({"quantity": "z|9|0,0", "kind": "number"}, "invalid")):
        r = c.post(f"/s/{sid}/polls", data=data, follow_redirects=False)
        assert f"pollmsg={code}" in r.headers["location"], data
    c.post(f"{S}/{sid}/forward")
    r = c.post(f"/s/{sid}/polls", data={"quantity": "z|1|0,0", "kind": "number"},
               follow_redirects=False)
    assert "pollmsg=computed" in r.headers["location"]
    assert c.get(f"{S}/{sid}/polls").json() == []


@pytest.mark.parametrize("store", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_poll_events_reach_both_streams(store: str, request: pytest.FixtureRequest) -> None:
    url = "memory" if store == "memory" else str(request.getfixturevalue("redis_url"))
    settings = Settings(store=url, watch_min_interval=0.0, watch_max_per_client=0)
    with live_server(settings) as base, httpx.Client(base_url=base, timeout=10) as c:
        sid = c.post(S, json={"preset": "xor-bias"}).json()["id"]
        wid = c.post(f"{S}/{sid}/watch").json()["watch_id"]
        api: list[dict[str, Any]] = []
        page: list[dict[str, Any]] = []
        ready = [threading.Event(), threading.Event()]

        def follow_api() -> None:
            with httpx.stream("GET", f"{base}{API}/watch/{wid}/events", timeout=10) as r:
                for ev in events(r):
                    api.append(ev)
                    ready[0].set()
                    if ev["event"] == "poll" and ev["data"]["poll"]["status"] == "revealed":
                        return

        def follow_page() -> None:
            with httpx.stream("GET", f"{base}/w/{wid}/events", timeout=10) as r:
                ev: dict[str, Any] = {}
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        ev = {"event": line[6:].strip(), "data": ""}
                    elif line.startswith("data:"):
                        ev["data"] += line[5:]
                    elif not line and ev:
                        page.append(ev)
                        ready[1].set()
                        if ev["event"] == "poll" and 'data-status="revealed"' in ev["data"]:
                            return
                        ev = {}

        threads = [threading.Thread(target=f, daemon=True) for f in (follow_api, follow_page)]
        for t in threads:
            t.start()
        assert ready[0].wait(10) and ready[1].wait(10)
        pid = c.post(f"{S}/{sid}/polls", json={"quantity": {"field": "loss"},
                                                "kind": "number"}).json()["poll_id"]
        started = time.monotonic()
        for k in range(20):
            c.post(f"{API}/watch/{wid}/polls/{pid}/answers",
                   json={"student": f"student-{k:04d}", "answer": k})
        took = time.monotonic() - started
        counts_seen = threading.Event()
        for _ in range(100):
            if any(e["event"] == "answers" and e["data"]["answers"] == 20 for e in api):
                counts_seen.set()
                break
            threading.Event().wait(0.05)
        assert counts_seen.is_set(), api
        # The count is coalesced (at most one event per COUNT_INTERVAL), the last one final.
        counts = [e["data"]["answers"] for e in api if e["event"] == "answers"]
        assert counts[-1] == 20 and counts == sorted(counts)
        assert len(counts) <= 2 + took / COUNT_INTERVAL, (counts, took)
        c.post(f"{S}/{sid}/polls/{pid}/reveal")
        for t in threads:
            t.join(10)
        polls_api = [e["data"]["poll"] for e in api if e["event"] == "poll"]
        assert [p["status"] for p in polls_api] == ["open", "revealed"]
        assert "truth" not in polls_api[0] and polls_api[1]["truth"] is not None
        assert any(e["event"] == "state" and e["data"]["cursor"]["next"] == "backward"
                   for e in api)  # the reveal's steps reach watchers as a state
        polls_page = [e["data"] for e in page if e["event"] == "poll"]
        assert len(polls_page) == 2 and 'hx-swap-oob="true"' in polls_page[0]
        assert 'data-status="open"' in polls_page[0] and "poll-answer-form" in polls_page[0]
        assert not any(e["event"] == "answers" for e in page)  # students get no counts
