"""Links that recreate a setup on any server: the normalized config, compressed into the
query of ``/new?c=…`` (packed by app/sessions/snapshot.py; the config holds the seeds or the
initial weights, so the new session starts from the same weights)."""

from __future__ import annotations

from dataclasses import replace

from pydantic import ValidationError

from app.config import Settings
from app.sessions import snapshot
from app.sessions.config import PRESETS, ConfigError, SessionConfig, normalize
from app.sessions.normalized import NormalizedConfig

MAX_URL = 2000  # what browsers, chat apps and QR codes carry without trouble


def setup_url(config: NormalizedConfig) -> str:
    url = "/new?c=" + snapshot.pack_config(config)
    if len(url) > MAX_URL:
        raise ConfigError(("link",), f"this setup needs a {len(url)}-character link; the limit "
                          f"is {MAX_URL} (inline data is too large for a link): download the "
                          "lesson file (export) instead")
    return url


def config_from_link(code: str, settings: Settings) -> NormalizedConfig:
    """The normalized config a link carries (ConfigError, field ``c``, when it is not one)."""
    try:
        doc = snapshot.unpack_config(code, settings.max_body_bytes)
    except ValueError:
        raise ConfigError(("c",), "not a Backprop Lab setup link (it may be cut short)") \
            from None
    if not isinstance(doc, dict):
        raise ConfigError(("c",), "not a Backprop Lab setup link")
    preset = doc.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(("c", "preset"), "preset must be a preset's name or null")
    try:
        cfg = SessionConfig.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(("c", *err["loc"]), f"invalid setup: {err['msg']}") from None
    return replace(normalize(cfg, settings), preset=preset if preset in PRESETS else None)
