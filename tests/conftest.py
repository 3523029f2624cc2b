"""Shared fixtures: an app per test on a chosen store, and a TestClient around it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.nn import kernel_slot
from tests.redis_fixture import redis_server, redis_url  # noqa: F401  (fixtures)

API = "/api/v1"
# The suite's bit-for-bit checks are of the NumPy kernel; BACKPROP_LAB_KERNEL=numba runs it on the
# compiled kernel instead (tests/nn/test_kernels.py covers both either way).
os.environ.setdefault("BACKPROP_LAB_KERNEL", "numpy")
kernel_slot.configure(os.environ["BACKPROP_LAB_KERNEL"])  # type: ignore[arg-type]

# The suite creates sessions in floods from one client and tests LRU eviction at small caps:
# per-client throttling and the active-session guard are off unless a test turns them on
# (tests/teaching/test_limits.py does, with their defaults).
os.environ.setdefault("BACKPROP_LAB_CREATE_RATE_LIMIT", "0")
os.environ.setdefault("BACKPROP_LAB_ACTIVE_WINDOW", "0")


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """make_client(**settings) -> a started TestClient (closed after the test)."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(Settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each store in turn: "memory", then the URL of an empty database on a real
    redis-server (skipped without one, failed under CI)."""
    if request.param == "memory":
        return "memory"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def any_store_client(make_client: Callable[..., TestClient], store_url: str) -> TestClient:
    """Like ``client``, once per store."""
    return make_client(store=store_url)


def new_session(client: TestClient, **config: Any) -> dict[str, Any]:
    r = client.post(f"{API}/sessions", json=config)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]
