"""Issue 23, the ten 500s: superscript digits and 4,400-digit numbers in page parameters,
lesson files that bypassed the API's document model, crafted setup links. Each answers a page
(no 500, no raw JSON on an HTML route) and changes nothing it should not."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import API

S = f"{API}/sessions"
HUGE = "7" * 4400  # int() refuses more than 4,300 digits
ODD = ["²", "٣", "1²", HUGE, "-1", "", " 1", "1_0"]


@pytest.fixture
def c(make_client: Any) -> TestClient:
    return make_client()


def html(r: Any, status: int) -> str:
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("text/html")
    return str(r.text)


@pytest.mark.parametrize("ran", ODD)
def test_flash_message_with_odd_digits_is_no_message(c: TestClient, ran: str) -> None:
    sid = c.post(S, json={"preset": "seed-xor"}).json()["id"]
    page = html(c.get(f"/s/{sid}", params={"msg": f"trained:{ran}"}), 200)
    assert "Trained" not in page
    ok = html(c.get(f"/s/{sid}", params={"msg": "trained:3:"}), 200)
    assert "Trained 3 epochs." in ok


@pytest.mark.parametrize("arg", ODD)
def test_landing_action_with_odd_digits(c: TestClient, arg: str) -> None:
    r = c.post("/", data={"action": f"inc:{arg}", "hidden": ["4", "3"]})
    page = html(r, 200)
    assert 'value="4"' in page and 'value="3"' in page  # nothing changed
    r = c.post("/", data={"action": "inc:1", "hidden": ["4", "3"]})
    assert 'value="4"' in html(r, 200) and 'value="4"' in r.text.split('value="4"', 1)[1]


@pytest.mark.parametrize("arg", ODD)
def test_experiment_action_with_odd_digits(c: TestClient, arg: str) -> None:
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    layers = c.get(f"{S}/{sid}").json()["config"]["layers"]
    r = c.post(f"/s/{sid}/experiment", data={"action": f"inc:{arg}"},
               headers={"hx-request": "true"})
    assert r.status_code in (200, 422), r.text[:300]
    assert r.status_code != 500
    assert c.get(f"{S}/{sid}").json()["config"]["layers"] == layers
    r = c.post(f"/s/{sid}/experiment", data={"action": "inc:0"}, headers={"hx-request": "true"})
    assert r.status_code == 200
    assert c.get(f"{S}/{sid}").json()["config"]["layers"][1] == layers[1] + 1


def lesson(c: TestClient) -> dict[str, Any]:
    sid = c.post(S, json={"preset": "seed-xor"}).json()["id"]
    c.post(f"{S}/{sid}/train", json={"epochs": 2})
    doc: dict[str, Any] = c.get(f"{S}/{sid}/export").json()
    return doc


def open_page(c: TestClient, text: str) -> Any:
    return c.post("/open", data={"lesson": text}, follow_redirects=False)


def test_open_a_good_lesson_file(c: TestClient) -> None:
    r = open_page(c, json.dumps(lesson(c)))
    assert r.status_code == 303 and r.headers["location"].startswith("/s/")


@pytest.mark.parametrize("mutate", [
    lambda d: "[" * 2000 + "]" * 2000,
    lambda d: json.dumps({**d, "config": {"x": "[" * 2000}}).replace('"[[', "[" * 2000),
    lambda d: json.dumps({**d, "weights": [5, 5]}),
    lambda d: json.dumps({**d, "config": [list(kv) for kv in d["config"].items()]}),
    lambda d: json.dumps({**d, "history": [[0, 1.0]]}),
    lambda d: json.dumps({**d, "epoch": "3"}),
    lambda d: json.dumps({**d, "extra": 1}),
    lambda d: "5",
    lambda d: "",
    lambda d: "{",
], ids=["nested brackets", "nested in config", "weights [5, 5]", "config as pairs",
        "history as pairs", "epoch as text", "unknown key", "a number", "empty", "cut short"])
def test_open_refuses_what_the_api_refuses(c: TestClient, mutate: Any) -> None:
    doc = lesson(c)
    text = mutate(doc)
    page = html(open_page(c, text), 422)
    assert "lesson file" in page
    try:
        api = c.post(f"{S}/import", content=text.encode(),
                     headers={"content-type": "application/json"})
        assert api.status_code in (400, 413, 422), api.text[:300]
    except RecursionError:  # (the test client's own JSON, not the server's)
        pass


def link(doc: Any) -> str:
    raw = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


@pytest.mark.parametrize("doc", [
    "[" * 5000 + "]" * 5000,
    '{"layers": ' + "[" * 5000 + "]" * 5000 + "}",
    {"preset": ["x"]},
    {"preset": {"a": 1}},
    {"preset": 5, "layers": [2, 2, 1]},
    {"layers": "²"},
], ids=["nested", "nested field", "preset list", "preset dict", "preset number", "text"])
def test_crafted_setup_links_are_refused(c: TestClient, doc: Any) -> None:
    page = html(c.get("/new", params={"c": link(doc)}, follow_redirects=False), 422)
    assert "setup" in page or "preset" in page or "layers" in page
    assert c.get(f"{API}/health").status_code in (200, 404)


def test_a_good_setup_link_still_works(c: TestClient) -> None:
    sid = c.post(S, json={"preset": "circle"}).json()["id"]
    url = c.get(f"{S}/{sid}/link").json()["url"]
    r = c.get(url[url.index("/new"):], follow_redirects=False)
    assert r.status_code == 303
