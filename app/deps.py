"""The request dependencies every router shares, as ``Annotated`` aliases for ``Depends``: the
settings, the store, the door and the hub that app.main's lifespan puts on ``app.state``, and
the creation check (rate limit per client)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.sessions.door import Door
from app.sessions.events import Hub
from app.sessions.poll_service import PollService
from app.sessions.store import SessionStore


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_store(request: Request) -> SessionStore:
    return request.app.state.store  # type: ignore[no-any-return]


def get_door(request: Request) -> Door:
    return request.app.state.door  # type: ignore[no-any-return]


def get_hub(request: Request) -> Hub:
    return get_door(request).hub


def get_polls(request: Request) -> PollService:
    return request.app.state.polls  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
DoorDep = Annotated[Door, Depends(get_door)]
HubDep = Annotated[Hub, Depends(get_hub)]
PollsDep = Annotated[PollService, Depends(get_polls)]


async def check_creation(request: Request) -> None:
    """429 (RateLimited) when this client created create_rate_limit sessions this minute. The
    address is the TCP peer's, or the proxy's X-Forwarded-For as uvicorn's proxy-headers
    handling set it (--forwarded-allow-ips), never a header read here. Called by each creating
    route where it stands (after the cheap checks of its input), not as a dependency."""
    if request.scope.get("state", {}).get("creation_checked"):
        return  # an import, counted before its body was read (app/main.py)
    client = request.client.host if request.client else "unknown"
    await request.app.state.limiter.check(client)
