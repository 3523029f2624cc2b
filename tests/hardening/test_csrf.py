"""Cross-site request forgery (issue #23): a page on another site cannot change a session through
the visitor's browser, on any route family; the app's own pages and scripts (no Origin, no
Sec-Fetch-Site) keep working."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.csrf import origin_of
from tests.conftest import API, new_session
from tests.web.helpers import new_page

EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
EVIL_ORIGIN_ONLY = {"Origin": "https://evil.example"}  # a browser without Sec-Fetch-Site
SAME_SITE = {"Origin": "http://other.testserver", "Sec-Fetch-Site": "same-site"}
NULL_ORIGIN = {"Origin": "null"}  # a sandboxed frame (old browser)
OWN = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
OWN_NULL = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # our no-referrer policy
FOREIGN = [EVIL, EVIL_ORIGIN_ONLY, SAME_SITE, NULL_ORIGIN]


def _lr(client: TestClient, sid: str) -> float:
    return float(client.get(f"{API}/sessions/{sid}").json()["config"]["learning_rate"])


def _version(client: TestClient, sid: str) -> int:
    return int(client.get(f"{API}/sessions/{sid}").json()["version"])


# (path template, form fields) of every page form that changes a session.
PAGE_FORMS: list[tuple[str, dict[str, str]]] = [
    ("/s/{sid}/do", {"op": "step"}),
    ("/s/{sid}/settings", {"learning_rate": "50"}),
    ("/s/{sid}/experiment", {"preset": "circle"}),
    ("/s/{sid}/point", {"x1": "0.5", "x2": "0.5", "y": "1"}),
    ("/s/{sid}/share", {"action": "start"}),
    ("/s/{sid}/tick", {"n": "1"}),
]


@pytest.mark.parametrize("headers", FOREIGN, ids=["cross-site", "origin", "same-site", "null"])
@pytest.mark.parametrize(("template", "fields"), PAGE_FORMS, ids=lambda v: str(v)[:20])
def test_cross_site_page_forms_are_refused_and_change_nothing(
        client: TestClient, template: str, fields: dict[str, str],
        headers: dict[str, str]) -> None:
    sid = new_page(client).rsplit("/", 1)[-1]
    before = client.get(f"{API}/sessions/{sid}").json()
    r = client.post(template.format(sid=sid), data=fields, headers=headers,
                    follow_redirects=False)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "another site" in r.text
    assert "content-security-policy" in r.headers  # the refusal is a page like any other
    after = client.get(f"{API}/sessions/{sid}").json()
    assert after["version"] == before["version"]
    assert after["config"] == before["config"]


def test_cross_site_settings_cannot_set_the_learning_rate(client: TestClient) -> None:
    """The reproduction: a foreign form setting η = 50."""
    sid = new_page(client).rsplit("/", 1)[-1]
    lr = _lr(client, sid)
    r = client.post(f"/s/{sid}/settings", data={"learning_rate": "50"}, headers=EVIL,
                    follow_redirects=False)
    assert r.status_code == 403
    assert _lr(client, sid) == lr != 50
    # The app's own page (same origin, even with Origin: null from no-referrer) still can.
    for headers in (OWN, OWN_NULL, {}):
        r = client.post(f"/s/{sid}/settings", data={"learning_rate": "0.5"}, headers=headers,
                        follow_redirects=False)
        assert r.status_code == 303, r.text
    assert _lr(client, sid) == 0.5


@pytest.mark.parametrize("headers", FOREIGN[:2])
def test_cross_site_creation_and_copy_pages_are_refused(client: TestClient,
                                                        headers: dict[str, str]) -> None:
    n = client.get("/healthz").json()["sessions"]
    assert client.post("/", data={"preset": "seed-xor"}, headers=headers).status_code == 403
    sid = new_page(client).rsplit("/", 1)[-1]
    wid = client.post(f"{API}/sessions/{sid}/watch").json()["watch_id"]
    assert client.post(f"/w/{wid}/copy", headers=headers).status_code == 403
    doc = client.get(f"{API}/sessions/{sid}/export").content
    r = client.post("/open", content=doc, headers={**headers,
                                                   "Content-Type": "application/json"})
    assert r.status_code == 403
    assert client.get("/healthz").json()["sessions"] == n + 1


API_WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/sessions/{sid}/forward", None),
    ("POST", "/sessions/{sid}/step", None),
    ("POST", "/sessions/{sid}/train", {"epochs": 1}),
    ("PATCH", "/sessions/{sid}", {"learning_rate": 50}),
    ("POST", "/sessions/{sid}/undo", None),
    ("POST", "/sessions/{sid}/watch", None),
    ("DELETE", "/sessions/{sid}/watch", None),
    ("DELETE", "/sessions/{sid}", None),
]


@pytest.mark.parametrize(("method", "template", "body"), API_WRITES,
                         ids=lambda v: str(v)[:24])
def test_cross_site_api_writes_are_refused(client: TestClient, method: str, template: str,
                                           body: dict[str, Any] | None) -> None:
    sid = new_session(client, preset="seed-xor")["id"]
    client.post(f"{API}/sessions/{sid}/step")  # something to undo
    v = _version(client, sid)
    for headers in FOREIGN:
        r = client.request(method, API + template.format(sid=sid), json=body, headers=headers)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/json"
        assert "cross-site request refused" in r.json()["detail"]
    assert _version(client, sid) == v
    # A script (no Origin) and the app's own pages keep working.
    r = client.request(method, API + template.format(sid=sid), json=body, headers=OWN)
    assert r.status_code in (200, 201, 204), r.text


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x"])
def test_simple_content_types_are_refused_on_the_api(client: TestClient, ctype: str) -> None:
    """What a foreign page can send without a preflight: refused even without Origin."""
    sid = new_session(client, preset="seed-xor")["id"]
    v = _version(client, sid)
    for path in (f"/sessions/{sid}/step", f"/sessions/{sid}/train", "/sessions"):
        r = client.post(API + path, content=b'{"epochs": 1}', headers={"Content-Type": ctype})
        assert r.status_code == 415, r.text
        assert "application/json" in r.json()["detail"]
    assert _version(client, sid) == v


def test_scripts_without_browser_headers_keep_working(client: TestClient) -> None:
    sid = new_session(client, preset="seed-xor")["id"]
    assert client.post(f"{API}/sessions/{sid}/step").status_code == 200
    assert client.post(f"{API}/sessions/{sid}/train", json={"epochs": 2}).status_code == 200
    assert client.get(f"{API}/sessions/{sid}", headers=EVIL).status_code == 200  # reads pass


def test_trusted_origins_from_settings(make_client: Callable[..., TestClient]) -> None:
    client = make_client(public_base_url="https://lab.example.org",
                         csrf_trusted_origins="https://proxy.example.org:8443, ")
    sid = new_session(client, preset="seed-xor")["id"]
    for origin in ("https://lab.example.org", "https://LAB.example.org:443",
                   "https://proxy.example.org:8443"):
        r = client.post(f"{API}/sessions/{sid}/step",
                        headers={"Origin": origin, "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 200, (origin, r.text)
    r = client.post(f"{API}/sessions/{sid}/step", headers={"Origin": "https://proxy.example.org"})
    assert r.status_code == 403


def test_origin_of() -> None:
    assert origin_of("http://Example.org:80/x?y") == "http://example.org"
    assert origin_of("https://example.org:8443") == "https://example.org:8443"
    assert origin_of("http://[::1]:8000") == "http://[::1]:8000"
    assert origin_of("null") is None
    assert origin_of("http://example.org:99999") is None
