"""Small HTML helpers for the page tests (standard library only)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient

API = "/api/v1"
HX = {"HX-Request": "true"}


def new_page(client: TestClient, preset: str = "seed-xor") -> str:
    r = client.get(f"/new?preset={preset}", follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def state(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    sid = path.rsplit("/", 1)[-1].split("?")[0]
    r = client.get(f"{API}/sessions/{sid}", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def op(client: TestClient, path: str, name: str, **fields: Any) -> str:
    r = client.post(f"{path}/do", data={"op": name, **fields}, headers=HX)
    assert r.status_code == 200, r.text
    return r.text


class Finder(HTMLParser):
    """Collects the text inside the element with a given id (and its attributes)."""

    def __init__(self, target: str) -> None:
        super().__init__(convert_charrefs=True)
        self.target, self.depth, self.text, self.attrs = target, 0, [], {}
        self.found = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.depth:
            self.depth += 1
        elif a.get("id") == self.target:
            self.depth, self.attrs, self.found = 1, a, True

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)


def element(page: str, id_: str) -> tuple[dict[str, str | None], str]:
    f = Finder(id_)
    f.feed(page)
    assert f.found, f"no element #{id_}"
    return f.attrs, " ".join(t.strip() for t in f.text if t.strip())


def section(page: str, id_: str) -> str:
    """The raw HTML of a top-level region (<section|aside|div id=…>…)."""
    m = re.search(rf'<(section|aside|div) id="{id_}"[^>]*>.*?</\1>', page, re.S)
    assert m, f"no region #{id_}"
    return m.group(0)


def node_values(page: str, node_id: str) -> dict[str, str]:
    m = re.search(rf'<a id="{node_id}".*?</a>', page, re.S)
    assert m, node_id
    return {k: html.unescape(v) for k, v in
            re.findall(r'data-k="([^"]+)"[^>]*>([^<]*)<', m.group(0))}


def text(page: str) -> str:
    return html.unescape(page)
