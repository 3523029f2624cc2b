"""The typed commands (app/sessions/commands/) through the door: each returns its own
result, Watch / Unwatch / Delete keep the hub's link in step, and every new session (API
create, API import, "make my own copy", the pages) comes through the one create path, which
keeps the session cap and the memory budget for all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.sessions.commands import (
    Create,
    Delete,
    Export,
    Forward,
    Import,
    State,
    Train,
    Undo,
    Unwatch,
    Watch,
)
from app.sessions.config import SessionConfig, normalize
from app.sessions.door import Door
from app.sessions.events import Hub
from app.sessions.model import Session
from app.sessions.store import MemoryStore, SessionNotFound
from tests.teaching.helpers import S

HX = {"hx-request": "true"}


def test_commands_return_their_typed_results() -> None:
    settings = Settings(kernel="numpy")

    async def run() -> None:
        store = MemoryStore(settings)
        await store.open()
        door = Door(store, settings, Hub(settings))
        sid = await door.create(Create(SessionConfig(preset="seed-xor")))
        assert isinstance(sid, str) and await store.count() == 1
        # seed-xor: 4 samples in one batch, so an epoch is one iteration.
        assert await door.apply(sid, Train(3)) == (3, None)
        assert await door.apply(sid, Forward()) is None
        epoch, version = await door.apply(sid, State(), view=lambda s, o: (
            s.trainer.epoch, s.version))
        assert (epoch, version) == (3, 2)
        assert await door.apply(sid, Undo(2)) == 2  # the number of operations undone
        assert await door.apply(sid, State(), view=lambda s, o: s.trainer.epoch) == 0

        link = await door.apply(sid, Watch())
        assert await door.hub.resolve(link) == sid  # linked by the door
        assert await door.apply(sid, Watch()) == link  # the same link until revoked
        assert await door.apply(sid, Unwatch()) == link
        assert await door.hub.resolve(link) is None  # revoked by the door
        assert await door.apply(sid, Unwatch()) is None

        link = await door.apply(sid, Watch())
        assert await door.apply(sid, Delete()) == link
        assert await store.count() == 0 and await door.hub.resolve(link) is None
        with pytest.raises(SessionNotFound):
            await door.apply(sid, Delete())
        await store.close()

    asyncio.run(run())


def test_import_makes_the_exported_session_again() -> None:
    settings = Settings(kernel="numpy")

    async def run() -> None:
        store = MemoryStore(settings)
        await store.open()
        door = Door(store, settings, Hub(settings))
        a = await door.create(Create(normalize(SessionConfig(preset="seed-xor"), settings)))
        assert await door.apply(a, Train(5)) == (5, None)
        exported = await door.apply(a, Export())
        b, epoch = await door.create(Import(exported), view=lambda s: s.trainer.epoch)
        assert b != a and epoch == 5 and await store.count() == 2
        await store.close()

    asyncio.run(run())


@pytest.fixture
def creations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds of command each Door.create call was given."""
    seen: list[str] = []
    original = Door.create

    async def create(self: Door, command: Any, **kw: Any) -> Any:
        seen.append(type(command).__name__)
        return await original(self, command, **kw)

    monkeypatch.setattr(Door, "create", create)
    return seen


def _first_and_its_link(client: TestClient) -> tuple[str, dict[str, Any], str]:
    sid = client.post(S, json={"preset": "seed-xor"}).json()["id"]
    doc = client.get(f"{S}/{sid}/export").json()
    watch_id = client.post(f"{S}/{sid}/watch").json()["watch_id"]
    return sid, doc, watch_id


def _refused_everywhere(client: TestClient, doc: dict[str, Any], watch_id: str) -> None:
    """API create, API import and the watch page's copy: all refused with 503, nothing
    added."""
    replies = [client.post(S, json={"preset": "seed-xor"}),
               client.post(f"{S}/import", json=doc),
               client.post(f"/w/{watch_id}/copy", follow_redirects=False)]
    for r in replies:
        assert r.status_code == 503, (r.request.url, r.status_code, r.text[:200])
    assert client.get("/healthz").json()["sessions"] == 1  # nothing added


def test_one_create_path_keeps_the_session_cap_for_all(
        make_client: Callable[..., TestClient], store_url: str, creations: list[str]) -> None:
    # The first session stays (in active use): a second cannot evict it.
    client = make_client(store=store_url, max_sessions=1, active_window=600)
    _sid, doc, watch_id = _first_and_its_link(client)
    _refused_everywhere(client, doc, watch_id)
    assert creations == ["Create", "Create", "Import", "Fork"]


def test_one_create_path_keeps_the_memory_budget_for_all(
        make_client: Callable[..., TestClient], creations: list[str]) -> None:
    settings = Settings(kernel="numpy")
    one = Session.create(normalize(SessionConfig(preset="seed-xor"), settings),
                         settings).resident_bytes()
    # Room for the first session, not for a second beside it (it is in active use).
    client = make_client(memory_budget=one * 3 // 2, active_window=600)
    _sid, doc, watch_id = _first_and_its_link(client)
    _refused_everywhere(client, doc, watch_id)
    assert creations == ["Create", "Create", "Import", "Fork"]


def test_the_pages_create_through_the_door(make_client: Callable[..., TestClient],
                                           creations: list[str]) -> None:
    client = make_client()
    r = client.get("/new?preset=seed-xor", follow_redirects=False)
    assert r.status_code == 303
    sid = r.headers["location"].rsplit("/", 1)[1]
    doc = client.get(f"{S}/{sid}/export").text
    assert client.post("/open", data={"lesson": doc},
                       follow_redirects=False).status_code == 303
    assert creations == ["Create", "Import"]
