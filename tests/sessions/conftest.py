"""Store fixtures: settings on each store in turn, and opened stores inside a test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from app.config import Settings
from app.sessions.config import SessionConfig, normalize
from app.sessions.model import Session
from app.sessions.store import SessionStore, make_store


@pytest.fixture
def make_settings(store_url: str) -> Callable[..., Settings]:
    """make_settings(**overrides) -> Settings on the store under test (memory, then Redis)."""

    def make(**overrides: Any) -> Settings:
        return Settings(store=store_url, **overrides)

    return make


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[SessionStore]:
    store = make_store(settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def new_session(settings: Settings, **config: Any) -> Session:
    return Session.create(normalize(SessionConfig(**config), settings), settings)
