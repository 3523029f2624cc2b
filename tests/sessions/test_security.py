"""Session ids are capabilities: 128 random bits, never listed. Every response (API, errors,
pages) carries the security headers."""

from __future__ import annotations

import base64
import re

import pytest
from fastapi.testclient import TestClient

from app.sessions import model
from tests.conftest import API

SESSIONS = f"{API}/sessions"


def assert_security_headers(r: object, what: str) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    assert headers.get("referrer-policy") == "no-referrer", what
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("x-frame-options") == "DENY", what
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, what


def test_session_ids_carry_at_least_128_random_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = {model.new_id() for _ in range(2000)}
    assert len(ids) == 2000
    for sid in list(ids)[:50]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", sid)
        assert len(base64.urlsafe_b64decode(sid + "==")) == 16  # 128 bits
    # They come from the secrets module (the OS CSPRNG), not from a seeded generator.
    calls: list[int] = []
    monkeypatch.setattr(model.secrets, "token_urlsafe",
                        lambda n: calls.append(n) or "x" * 22)  # type: ignore[func-returns-value]
    assert model.new_id() == "x" * 22 and calls == [16]


def test_no_endpoint_lists_sessions(client: TestClient) -> None:
    sid = client.post(SESSIONS, json={}).json()["id"]
    assert client.get(SESSIONS).status_code == 405
    assert client.get(f"{API}/").status_code == 404
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"][SESSIONS]) == {"post"}
    listing = [(path, method) for path, ops in schema["paths"].items()
               for method, op in ops.items()
               if method == "get" and "{" not in path
               and "array" in str(op.get("responses", {}).get("200", {}))]
    assert sorted(listing) == [(f"{API}/datasets", "get"), (f"{API}/presets", "get")]
    for path, _ in listing:
        assert sid not in client.get(path).text
    assert sid not in client.get("/healthz").text


def test_api_and_error_responses_carry_the_security_headers(client: TestClient) -> None:
    r = client.post(SESSIONS, json={"preset": "seed-xor"})
    sid = r.json()["id"]
    responses = {
        "201 create": r,
        "200 state": client.get(f"{SESSIONS}/{sid}"),
        "200 step": client.post(f"{SESSIONS}/{sid}/step"),
        "409 cursor": client.post(f"{SESSIONS}/{sid}/update"),
        "422 invalid": client.post(SESSIONS, json={"layers": [2, 1000, 1]}),
        "404 unknown": client.get(f"{SESSIONS}/nope"),
        "405 listing": client.get(SESSIONS),
        "413 too big": client.post(SESSIONS, content=b"[" + b"0," * 600_000 + b"0]",
                                   headers={"content-type": "application/json"}),
        "healthz": client.get("/healthz"),
        "openapi": client.get("/openapi.json"),
        "docs": client.get("/docs"),
        "204 delete": client.delete(f"{SESSIONS}/{sid}"),
    }
    assert responses["413 too big"].status_code == 413
    for what, resp in responses.items():
        assert_security_headers(resp, what)


def test_every_page_carries_the_security_headers(client: TestClient) -> None:
    """Every GET path of the OpenAPI schema with a real session id for path parameters, and
    the pages (the home page, the session page); pages get the strict policy."""
    sid = client.post(SESSIONS, json={"preset": "seed-xor"}).json()["id"]
    schema = client.get("/openapi.json").json()
    paths = [re.sub(r"\{[^}]+\}", sid, path) for path, ops in schema["paths"].items()
             if "get" in ops]
    assert "/healthz" in paths and f"{SESSIONS}/{sid}" in paths
    pages = ["/", f"/s/{sid}", "/s/unknown-session"]
    for path in [*paths, *pages]:
        r = client.get(path)
        assert r.status_code < 500, path
        assert_security_headers(r, path)
        if r.headers.get("content-type", "").startswith("text/html"):
            csp = r.headers["content-security-policy"]
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
            assert "script-src 'self'" in csp and "default-src 'self'" in csp, path
