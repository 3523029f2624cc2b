"""The commands that make a new session, through ``Door.create`` (the one create path)."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.jsontypes import JSONObject
from app.sessions.budget import PageTooLarge, check_page
from app.sessions.config import ConfigError, SessionConfig
from app.sessions.normalized import NormalizedConfig


def drawable(normalized: NormalizedConfig, settings: Settings, field: str) -> NormalizedConfig:
    """A network created from the pages must be drawable within the reply budget."""
    try:
        check_page(normalized, settings.max_reply_bytes)
    except PageTooLarge as e:
        raise ConfigError((field,), str(e)) from None
    return normalized


@dataclass(frozen=True)
class Create:
    """A new session from a config (normalized by the door unless it already is).
    ``drawable``: the field to blame when the pages could not draw it (None: not checked)."""

    config: SessionConfig | NormalizedConfig
    drawable: str | None = None


@dataclass(frozen=True)
class Import:
    """A new session from an export document (GET …/export, a lesson file)."""

    doc: JSONObject  # before validation: service.import_session checks it


@dataclass(frozen=True)
class Fork:
    """"Make my own copy": a new session from the last saved state behind a watch link."""

    watch_id: str


Creation = Create | Import | Fork
