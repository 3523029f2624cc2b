"""The Share panel's data: the watch link and its QR code (segno, inline SVG), the setup link
and the lesson file's address."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import segno
from fastapi import Request

from app import lan
from app.sessions import links
from app.sessions.config import ConfigError
from app.sessions.model import Session


@lru_cache(maxsize=256)
def qr_svg(url: str) -> str:
    """The QR code as inline SVG (segno), sized by CSS for a projector."""
    return str(segno.make(url, error="m").svg_inline(dark="#000", light="#fff", omitsize=True))


def share_ctx(request: Request, s: Session) -> dict[str, Any]:
    root = str(request.base_url).rstrip("/")
    out: dict[str, Any] = {"watch_url": None, "qr": None, "setup_url": None,
                           "setup_error": None, "export_url": f"/api/v1/sessions/{s.id}/export"}
    listen = request.app.state.settings.listen_host
    out["local_only"] = lan.loopback_only(listen)
    out["lan_urls"] = []
    if s.watch_id is not None:
        out["watch_url"] = f"{root}/w/{s.watch_id}"
        # In a classroom the link on the machine's network address, not the teacher's
        # localhost: students' phones can open it.
        out["lan_urls"] = lan.lan_urls(listen, lan.server_port(request), f"/w/{s.watch_id}")
        if out["lan_urls"]:
            out["watch_url"] = out["lan_urls"][0]
        out["qr"] = qr_svg(out["watch_url"])
    try:
        out["setup_url"] = root + links.setup_url(s.config)
    except ConfigError as e:
        out["setup_error"] = e.msg
    return out


