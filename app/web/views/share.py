"""The Share panel's data: the watch link and its QR code (segno, inline SVG), the setup link
and the lesson file's address."""

from __future__ import annotations

from functools import lru_cache

import segno
from fastapi import Request
from typing_extensions import TypedDict

from app import lan
from app.sessions import links
from app.sessions.config import ConfigError
from app.sessions.model import Session


@lru_cache(maxsize=256)
def qr_svg(url: str) -> str:
    """The QR code as inline SVG (segno), sized by CSS for a projector."""
    return str(segno.make(url, error="m").svg_inline(dark="#000", light="#fff", omitsize=True))


def site_root(request: Request, public_base_url: str = "") -> str:
    """The absolute root of links meant for other devices (the watch link, its QR, the setup
    link): ``public_base_url`` when set, else the address this connection actually reached
    (the listening socket's, ASGI's ``server``), never the ``Host`` header, which any client
    may set (issue #23: ``Host: evil.example`` put evil.example in the QR)."""
    if public_base_url:
        return public_base_url.rstrip("/")
    scheme = str(request.scope.get("scheme", "http"))
    server = request.scope.get("server")
    if not server:
        return ""  # (a unix socket without an address): relative links
    host, port = str(server[0]), server[1]
    if ":" in host:  # IPv6
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class ShareBox(TypedDict):
    """What the share box reads: the watch link (on the network where the server listens
    there), its QR code, the setup link (or why there is none) and the export."""

    watch_url: str | None
    qr: str | None
    setup_url: str | None
    setup_error: str | None
    export_url: str
    local_only: bool
    lan_urls: list[str]


def share_ctx(request: Request, s: Session, public_base_url: str = "") -> ShareBox:
    root = site_root(request, public_base_url)
    listen = request.app.state.settings.listen_host
    out: ShareBox = {"watch_url": None, "qr": None, "setup_url": None, "setup_error": None,
                     "export_url": f"/api/v1/sessions/{s.id}/export",
                     "local_only": lan.loopback_only(listen), "lan_urls": []}
    if s.watch_id is not None:
        watch_url = f"{root}/w/{s.watch_id}"
        # In a classroom the link on the machine's network address, not the teacher's
        # localhost: students' phones can open it.
        out["lan_urls"] = lan.lan_urls(listen, lan.server_port(request), f"/w/{s.watch_id}")
        if out["lan_urls"]:
            watch_url = out["lan_urls"][0]
        out["watch_url"] = watch_url
        out["qr"] = qr_svg(watch_url)
    try:
        out["setup_url"] = root + links.setup_url(s.config)
    except ConfigError as e:
        out["setup_error"] = e.msg
    return out


