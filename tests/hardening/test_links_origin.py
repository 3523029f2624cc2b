"""Absolute links never come from the Host header, and error pages link within the site
(issue #23)."""

from __future__ import annotations

import re
from collections.abc import Callable

import segno
from fastapi.testclient import TestClient

from app.web.infra.templating import site_path
from app.web.views.share import qr_svg
from tests.conftest import API
from tests.web.helpers import new_page

EVIL_HOST = {"Host": "evil.example"}


def _watch_link(html: str) -> str:
    m = re.search(r'id="watch-link" href="([^"]+)"', html)
    assert m, "no watch link on the page"
    return m.group(1)


def test_share_panel_ignores_the_host_header(client: TestClient) -> None:
    path = new_page(client)
    sid = path.rsplit("/", 1)[-1]
    wid = client.post(f"{API}/sessions/{sid}/watch").json()["watch_id"]
    page = client.get(path, headers=EVIL_HOST).text
    assert "evil.example" not in page
    # TestClient's connection reached the server "testserver" (ASGI's scope["server"]).
    assert _watch_link(page) == f"http://testserver/w/{wid}"
    # The QR on the page is the QR of that link.
    assert qr_svg(f"http://testserver/w/{wid}") in page
    assert qr_svg(f"http://evil.example/w/{wid}") not in page


def test_share_panel_uses_public_base_url(make_client: Callable[..., TestClient]) -> None:
    client = make_client(public_base_url="https://lab.example.org/")
    path = new_page(client)
    sid = path.rsplit("/", 1)[-1]
    wid = client.post(f"{API}/sessions/{sid}/watch").json()["watch_id"]
    page = client.get(path, headers=EVIL_HOST).text
    assert _watch_link(page) == f"https://lab.example.org/w/{wid}"
    assert 'value="https://lab.example.org/new?' in page  # the setup link too
    assert "evil.example" not in page


def test_qr_encodes_exactly_the_link() -> None:
    """The QR helper draws the URL it is given (segno's own SVG for that text)."""
    url = "https://lab.example.org/w/abc"
    expected = segno.make(url, error="m").svg_inline(dark="#000", light="#fff", omitsize=True)
    assert qr_svg(url) == expected


def test_not_found_language_link_stays_on_the_site(client: TestClient) -> None:
    for raw in ("/%2F%2Fevil.example", "/%5C%5Cevil.example",
                "/%2F%5Cevil.example", "/%5C/evil.example"):
        r = client.get(raw)
        assert r.status_code == 404
        hrefs = re.findall(r'href="([^"]*)"', r.text)
        assert hrefs, raw
        for href in hrefs:
            assert not href.startswith(("//", "/\\", "\\")), (raw, href)
            assert "://" not in href, (raw, href)
        assert 'href="/evil.example?lang=ko"' in r.text, raw


def test_site_path() -> None:
    assert site_path("/s/abc") == "/s/abc"
    assert site_path("//evil.example") == "/evil.example"
    assert site_path("/\\evil.example") == "/evil.example"
    assert site_path("/a b/\\c") == "/a%20b/%5Cc"
    assert site_path("/%41") == "/%2541"  # a decoded '%' is a literal one
