"""Cross-site request forgery: a browser on another site cannot make a visitor's browser change
a session (docs/security-notes.md).

The app has no login cookie, but a session page's address is its capability, and a page on
another site that learnt it (or a link a student followed) could submit forms to it. Unsafe
methods (POST, PUT, PATCH, DELETE) are therefore refused with 403 when the browser says the
request comes from elsewhere:

- ``Sec-Fetch-Site`` (set by the browser, a script on a page cannot forge it) ``cross-site``
  or ``same-site`` (another host of the same site, e.g. a student's page on the school's
  domain), unless ``Origin`` is a trusted origin;
- else ``Origin`` present and not trusted: the server's own (the ``Host`` the browser sent,
  which a cross-site page cannot choose), ``public_base_url``'s or one of
  ``csrf_trusted_origins``. ``Origin: null`` (sandboxed frames, and same-origin forms under our
  ``Referrer-Policy: no-referrer`` in browsers without Sec-Fetch-Site) is refused then.

Requests without either header (curl, httpx, notebooks, the test client) pass: a browser
always sends at least one of them on a cross-origin POST. And on the JSON API a "simple"
Content-Type (text/plain, form-encoded, multipart), the only kinds a cross-site page can send
without a CORS preflight, is refused with 415 whatever the headers say: the API reads JSON.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a form or a no-preflight fetch() may send (the CORS-safelisted request content types).
SIMPLE_TYPES = frozenset({b"text/plain", b"application/x-www-form-urlencoded",
                          b"multipart/form-data"})
API = "/api/"


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-case, default ports dropped (None if none)."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class CrossSiteGuard:
    """The ASGI middleware; ``trusted`` are extra origins (public_base_url, the settings')."""

    def __init__(self, app: ASGIApp, trusted: list[str] | tuple[str, ...] = ()) -> None:
        self.app = app
        self.trusted = {o for o in (origin_of(t) for t in trusted if t) if o}

    def _allowed_origin(self, origin: str, host: str, scheme: str) -> bool:
        if origin == "null":
            return False
        mine = origin_of(f"{scheme}://{host}") if host else None
        o = origin_of(origin)
        if o is None:
            return False
        if o in self.trusted or o == mine:
            return True
        # Behind a proxy that ends TLS without telling us (no X-Forwarded-Proto), the page's
        # origin is https://host while we see http: the host is what a foreign page cannot set.
        return mine is not None and o.split("://", 1)[1] == mine.split("://", 1)[1]

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) when this request must be refused, else None."""
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            return None
        headers = {k: v for k, v in scope.get("headers", [])}
        path: str = scope.get("path", "")
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if path.startswith(API) and ctype in SIMPLE_TYPES:
            return 415, (f"the JSON API reads application/json, not {ctype.decode()}: send "
                         "the body as JSON with Content-Type: application/json (or no body)")
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        scheme = str(scope.get("scheme", "http"))
        if site in ("same-origin", "none"):  # "none": typed by the user, a bookmark
            return None
        if site in ("cross-site", "same-site"):
            if origin and self._allowed_origin(origin, host, scheme):
                return None
            return 403, ("cross-site request refused: this change must come from the app's "
                         f"own pages (Sec-Fetch-Site: {site})")
        if origin and not self._allowed_origin(origin, host, scheme):
            return 403, ("cross-site request refused: this change must come from the app's "
                         f"own pages (Origin: {origin[:100]}; settings public_base_url and "
                         "csrf_trusted_origins name other trusted origins)")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, reason = refused
        if scope.get("path", "").startswith(API) or status == 415:
            body = json.dumps({"detail": reason}).encode()
            ctype = b"application/json"
        else:
            body = _page(Request(scope), status, reason).encode()
            ctype = b"text/html; charset=utf-8"
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _page(request: Request, status: int, reason: str) -> str:
    """The error page in the visitor's language (app/web/infra/page_errors.py holds its text)."""
    from app.web.infra.page_errors import cross_site_page

    return cross_site_page(request, status)
