"""The HTTP surface a tool or a person meets first: HEAD, Allow headers, --help, and replies
that stay small however long a session trained."""

from __future__ import annotations

import json
import random
from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cli import main as cli_main
from tests.conftest import API, new_session

SESSIONS = f"{API}/sessions"


def test_head_is_answered_on_every_get_page(client: TestClient) -> None:
    sid = new_session(client, preset="seed-xor")["id"]
    for path in ("/", f"/s/{sid}", "/static/css/app.css", "/docs", "/redoc", "/openapi.json",
                 f"{API}/presets", f"{SESSIONS}/{sid}", "/healthz"):
        get = client.get(path)
        head = client.head(path)
        assert get.status_code == 200, path
        assert head.status_code == 200, (path, head.status_code)
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert "content-security-policy" in head.headers, path
    assert client.head(f"{SESSIONS}/nope").status_code == 404


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("OPTIONS", "/sessions/import", "POST"),
    ("GET", "/sessions/import", "POST"),
    ("DELETE", "/sessions/import", "POST"),
    ("OPTIONS", "/sessions/SID", "GET, HEAD, PATCH, DELETE"),
    ("PUT", "/sessions/SID", "GET, HEAD, PATCH, DELETE"),
    ("GET", "/sessions/SID/forward", "POST"),
    ("OPTIONS", "/sessions", "POST"),
    ("POST", "/presets", "GET, HEAD"),
])
def test_allow_header_lists_exactly_the_methods_served(client: TestClient, method: str,
                                                       path: str, allow: str) -> None:
    sid = new_session(client, preset="seed-xor")["id"]
    r = client.request(method, API + path.replace("SID", sid))
    assert r.status_code == 405
    assert r.headers["allow"] == allow


def test_import_path_is_not_a_session_id(client: TestClient) -> None:
    doc = client.get(f"{SESSIONS}/{new_session(client)['id']}/export").json()
    r = client.post(f"{SESSIONS}/import", json=doc)
    assert r.status_code == 201 and r.headers["location"].endswith(r.json()["id"])


def test_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli_main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: backprop-lab")
    assert "``" not in out and "Backprop Lab" in out and "--store" in out


# --- bounded replies ----------------------------------------------------------------------
def long_session(client: TestClient, epochs: int) -> str:
    """A seed-xor session with ``epochs`` finished epochs of history, made by export/import
    (training 100,000 epochs here would cost seconds of CPU for the same stored history)."""
    sid = new_session(client, preset="seed-xor")["id"]
    doc = client.get(f"{SESSIONS}/{sid}/export").json()
    doc["epoch"] = doc["iteration"] = epochs
    doc["history"] = [{"epoch": e, "loss": 0.5 / (1 + e), "test_loss": None}
                      for e in range(epochs)]
    r = client.post(f"{SESSIONS}/import", json=doc)
    assert r.status_code == 201, r.text[:300]
    return str(r.json()["id"])


def check_decimated(state: dict[str, Any], n: int, limit: int) -> None:
    epochs = [h["epoch"] for h in state["history"]]
    assert state["history_length"] == n
    assert len(epochs) == min(n, limit)
    assert epochs[0] == 0 and epochs[-1] == n - 1  # first and last kept
    assert epochs == sorted(set(epochs))
    gaps = {b - a for a, b in pairwise(epochs)}
    assert max(gaps) - min(gaps) <= 1  # evenly spaced
    for h in state["history"][:-1]:
        assert h["loss"] == 0.5 / (1 + h["epoch"])  # the stored points, not resampled


def test_a_100000_epoch_session_replies_small_by_default(make_client: Any) -> None:
    # ?history=all of 100,000 points is ~11 MB of JSON: over the default max_reply_bytes
    # (8 MiB), which the reply budget now counts truthfully (issue #23).
    client = make_client(max_body_bytes=16 << 20, max_reply_bytes=32 << 20)
    sid = long_session(client, 100_000)
    r = client.post(f"{SESSIONS}/{sid}/step")
    assert r.status_code == 200
    assert len(r.content) < 50_000, len(r.content)
    check_decimated(r.json(), 100_000, 250)
    for path, method in ((f"{SESSIONS}/{sid}", "GET"), (f"{SESSIONS}/{sid}/forward", "POST")):
        check_decimated(client.request(method, path).json(), 100_000, 250)
    check_decimated(client.get(f"{SESSIONS}/{sid}", params={"history": 2000}).json(),
                    100_000, 2000)
    everything = client.get(f"{SESSIONS}/{sid}", params={"history": "all"}).json()
    check_decimated(everything, 100_000, 100_000)
    # One more epoch goes past history_limit (100,000): the store thins itself; the reply
    # still carries at most 250 points and history_length says how many are stored.
    trained = client.post(f"{SESSIONS}/{sid}/train").json()
    assert len(trained["history"]) == 250 and trained["history"][-1]["epoch"] == 100_000
    stored = client.get(f"{SESSIONS}/{sid}", params={"history": "all"}).json()
    assert trained["history_length"] == len(stored["history"]) < 100_000


def test_a_long_lesson_session_with_every_field_replies_under_50_kb(make_client: Any) -> None:
    """The worst case of a 2-4-1 session's default reply: every history point with a
    full-precision loss, both layers' gradient norms and its mse (the page draws its charts
    on the server, from the stored history: the reply's points are for API clients)."""
    client = make_client(max_body_bytes=16 << 20)
    sid = new_session(client, preset="seed-xor")["id"]
    doc = client.get(f"{SESSIONS}/{sid}/export").json()
    doc["epoch"] = doc["iteration"] = 100_000
    rng = random.Random(0)
    doc["history"] = [{"epoch": e, "loss": rng.random() / 3, "test_loss": None,
                       "grad_norm": [rng.random() / 7, rng.random() / 7]}
                      for e in range(100_000)]
    sid = client.post(f"{SESSIONS}/import", json=doc).json()["id"]
    r = client.post(f"{SESSIONS}/{sid}/step")
    assert r.status_code == 200 and len(r.content) < 50_000, len(r.content)
    history = r.json()["history"]
    assert len(history) == 250 and history[-1]["epoch"] == 99_999
    wanted = {p["epoch"]: p for p in doc["history"]}
    for point in history:  # the stored points, each with the lesson's mse = 2L/(4 samples · 1)
        assert point["loss"] == wanted[point["epoch"]]["loss"]
        assert point["grad_norm"] == wanted[point["epoch"]]["grad_norm"]
        assert point["mse"] == point["loss"] / 2


@pytest.mark.parametrize("value", ["0", "-1", "100001", "many", "1.5", ""])
def test_bad_history_queries_are_422(make_client: Any, value: str) -> None:
    client = make_client()
    sid = new_session(client)["id"]
    r = client.get(f"{SESSIONS}/{sid}", params={"history": value})
    assert r.status_code == 422, (value, r.text)
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["query", "history"]
    if value == "100001":
        assert "history_max_points" in json.dumps(detail)


def test_history_cap_is_a_setting(make_client: Any) -> None:
    client = make_client(history_default_points=3, history_max_points=10)
    sid = long_session(client, 50)
    check_decimated(client.get(f"{SESSIONS}/{sid}").json(), 50, 3)
    check_decimated(client.get(f"{SESSIONS}/{sid}", params={"history": "all"}).json(), 50, 10)
    assert client.get(f"{SESSIONS}/{sid}", params={"history": 11}).status_code == 422
