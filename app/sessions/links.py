"""Links that recreate a setup on any server: the normalized config, compressed into the
query of ``/new?c=…`` (zlib + base64url; the config holds the seeds or the initial weights,
so the new session starts from the same weights)."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import replace

from pydantic import ValidationError

from app.config import Settings
from app.sessions.config import PRESETS, ConfigError, SessionConfig, normalize
from app.sessions.normalized import NormalizedConfig

MAX_URL = 2000  # what browsers, chat apps and QR codes carry without trouble


def setup_url(config: NormalizedConfig) -> str:
    raw = json.dumps(config.to_dict(), separators=(",", ":"), sort_keys=True).encode()
    code = base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")
    url = "/new?c=" + code
    if len(url) > MAX_URL:
        raise ConfigError(("link",), f"this setup needs a {len(url)}-character link; the limit "
                          f"is {MAX_URL} (inline data is too large for a link): download the "
                          "lesson file (export) instead")
    return url


def config_from_link(code: str, settings: Settings) -> NormalizedConfig:
    """The normalized config a link carries (ConfigError, field ``c``, when it is not one)."""
    try:
        packed = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, settings.max_body_bytes)
        if inflater.unconsumed_tail:
            raise ConfigError(("c",), "the link's setup is too large")
        doc = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError, UnicodeDecodeError, RecursionError):
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
