"""A Korean page shows no English: every page state and every error path, rendered in Korean,
has no English word in its visible text (or accessible names) outside a short allow-list of
formula symbols, proper names and API values shown as code."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from app.sessions.config import PRESETS
from app.web import i18n, page_errors
from app.web.page_errors import PageError
from tests.web.helpers import HX, new_page, op

# Proper names, formula symbols and abbreviations that stay as they are in a Korean class.
ALLOWED = {
    "Backprop", "Lab", "API", "HTTP", "ReLU", "tanh", "Xavier", "Glorot", "He", "XOR", "AND",
    "OR", "L1", "L2", "Matt", "Mazur", "Tab", "Enter", "Space", "Esc", "ln", "exp", "max",
    "JSON", "QR", "Ctrl",
    "MSE",  # the lesson's printed metric, an abbreviation kept in Korean classes (glossary)
    "sin",  # the input features sin x₁, sin x₂ (formula)
}
ALLOWED |= {part for name in PRESETS for part in re.split(r"[-_]", name)}  # API values
SKIP = {"code", "kbd", "math", "script", "style"}  # code, key names and formulas


class Visible(HTMLParser):
    """Text a person sees or hears: text nodes and the aria-label/title/placeholder/alt
    attributes, outside <code>, <kbd>, <math>, translate="no" and lang="en" (the language
    switch names English in English)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        skip = (bool(self.stack and self.stack[-1]) or tag in SKIP
                or a.get("translate") == "no" or a.get("lang") == "en")
        if tag not in ("meta", "link", "input", "br", "img", "hr", "image", "line", "path",
                       "circle", "rect", "source"):
            self.stack.append(skip)
        if not skip:
            for key in ("aria-label", "title", "placeholder", "alt"):
                if a.get(key):
                    self.parts.append(str(a[key]))
            if tag == "meta" and a.get("name") == "description":
                self.parts.append(str(a.get("content")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("meta", "link", "input", "br", "img", "hr", "image", "line", "path",
                       "circle", "rect", "source"):
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def english_words(html: str) -> set[str]:
    v = Visible()
    v.feed(html)
    # A word has two letters or more: x1, w2 or b1 are formula symbols.
    words = set(re.findall(r"[A-Za-z]{2,}[A-Za-z0-9]*", " ".join(v.parts)))
    return {w for w in words if w not in ALLOWED and not re.fullmatch(r"e\d+", w)}


def check(html: str, where: str) -> None:
    assert '<html lang="ko"' in html or "hx-swap-oob" in html or "<main" in html, where
    assert english_words(html) == set(), where


@pytest.fixture
def ko(client: TestClient) -> TestClient:
    client.cookies.set(i18n.COOKIE, "ko")
    return client


def test_every_korean_page_state_is_korean(ko: TestClient) -> None:
    check(ko.get("/").text, "landing")
    for preset in PRESETS:
        path = new_page(ko, preset)
        check(ko.get(path).text, preset)
    path = new_page(ko)
    pages = {"fresh": ko.get(path).text}
    for k in range(5):
        pages[f"step {k}"] = op(ko, path, "step")
    for sel in ("n-0-0", "n-1-0", "n-2-0", "w-1-0-0", "w-2-1-0", "loss"):
        pages[sel] = ko.get(f"{path}?sel={sel}").text
    op(ko, path, "forward")
    op(ko, path, "forward")
    op(ko, path, "backward")
    pages["mid-pass weight"] = ko.get(f"{path}?sel=w-2-1-0", headers=HX).text
    pages["trained"] = ko.post(f"{path}/do", data={"op": "train", "epochs": "3"}).text
    pages["log"] = ko.get(f"{path}?log=1").text
    pages["playing"] = op(ko, path, "play")
    pages["tick"] = ko.post(f"{path}/tick?n=1", headers=HX).text
    bias = new_page(ko, "xor-bias")
    op(ko, bias, "step")
    pages["bias"] = ko.get(f"{bias}?sel=b-1-0").text
    sid = ko.post("/api/v1/sessions", json={"preset": "plane-regression",
                                              "learning_rate": 50}).json()["id"]
    pages["diverged"] = ko.post(f"/s/{sid}/do", data={"op": "train", "epochs": "100"}).text
    assert "다음 단계에서 값이 발산하므로 멈췄습니다" in pages["diverged"]
    pages["diverged tick"] = ko.post(f"/s/{sid}/tick?n=1", headers=HX).text
    for where, html in pages.items():
        check(html, where)


FORM = {"hidden": "3", "hidden_activation": "tanh", "output_activation": "sigmoid",
        "loss": "squared_error", "reduction": "mean", "learning_rate": "0.25", "bias": "on",
        "train_bias": "on", "init_scheme": "xavier", "init_seed": "1", "dataset": "circle",
        "samples": "100", "noise": "0.1", "test_ratio": "0.2", "data_seed": "2",
        "batch_size": "10", "reg_kind": "none", "reg_rate": "0", "action": "start"}
BAD_FORMS = [
    {"loss": "cross_entropy"}, {"loss": "binary_cross_entropy", "output_activation": "tanh"},
    {"learning_rate": "0,5"}, {"learning_rate": "0"}, {"learning_rate": "1e9"},
    {"batch_size": "1.5"}, {"batch_size": "0"}, {"reg_rate": "-1"}, {"reg_rate": "1e9"},
    {"init_scheme": "uniform", "init_low": "1", "init_high": "0"},
    {"init_scheme": "uniform", "init_low": "-1e12"}, {"init_scheme": "normal", "init_std": "-1"},
    {"init_seed": "-3"}, {"samples": "1"}, {"samples": "10000000"}, {"noise": "2"},
    {"test_ratio": "1"}, {"dataset": "nope"}, {"hidden_activation": "swish"},
    {"reduction": "median"}, {"output_activation": "softmax", "loss": "cross_entropy",
                              "dataset": "plane"},
]


def test_every_error_on_a_korean_page_is_korean(ko: TestClient) -> None:
    for bad in BAD_FORMS:
        r = ko.post("/", data={**FORM, **bad})
        assert r.status_code == 422, bad
        assert 'class="alert"' in r.text, bad
        check(r.text, str(bad))
    r = ko.post("/", data={**FORM, "hidden": ["64"] * 12})
    assert r.status_code == 422
    check(r.text, "too many layers")
    check(ko.get("/new?preset=nope").text, "unknown preset")
    path = new_page(ko)
    for fields in ({"learning_rate": "1..2"}, {"learning_rate": "-1"}, {"batch_size": "0"},
                   {"reg_kind": "l3"}, {"reg_rate": "1e9"}, {"focus": "99"}):
        r = ko.post(f"{path}/settings", data=fields, headers=HX)
        assert r.status_code == 422, fields
        check(r.text, str(fields))
    for epochs in ("0", "2.5", "100000000"):  # the user's own text is echoed: no words
        r = ko.post(f"{path}/do", data={"op": "train", "epochs": epochs}, headers=HX)
        assert r.status_code == 422
        check(r.text, f"epochs {epochs}")
    r = ko.post(f"{path}/do", data={"op": "update"})  # not next: a translated message
    assert "다음 단계는 ‘순전파’입니다" in r.text
    check(r.text, "cursor")
    for url, method in (("/nowhere", "get"), ("/s/nope", "get"), (f"{path}/do", "get"),
                        ("/s/nope/do", "post")):
        r = getattr(ko, method)(url)
        assert r.status_code in (404, 405) and '<html lang="ko"' in r.text, url
        check(r.text, url)


def test_every_page_error_code_has_a_message_and_renders() -> None:
    _ = i18n.gettext_for("ko")
    for code in page_errors.MESSAGES:
        text = PageError(code, ("learning_rate",), {"low": 0, "high": 1, "got": 2}).render(_)
        assert english_words(text) == set(), code
        assert "{" not in text, code
    for loc in page_errors.FIELDS:
        text = PageError("invalid", tuple(loc.split("."))).render(_)
        assert english_words(text) == set(), loc


def test_the_catalogue_follows_the_glossary() -> None:
    from babel.messages.pofile import read_po

    from app.web import catalog

    glossary = (catalog.ROOT / "docs" / "glossary-ko.md").read_text(encoding="utf-8")
    terms = glossary.split("## Terms")[1].split("\n## ")[0]
    rows = re.findall(r"^\| (.+?) \| (.+?) \| .*\|$", terms, re.M)
    pairs = [(en, ko) for en, ko in rows if not en.startswith(("English", "---"))]
    assert len(pairs) > 30
    with catalog.po_path("ko").open("rb") as f:
        po = read_po(f, locale="ko")
    strings = {m.id: m.string for m in po if isinstance(m.id, str) and m.id}
    used = [(en, ko) for en, ko in pairs if en in strings]
    assert len(used) >= len(pairs) - 2, [en for en, _ko in pairs if en not in strings]
    for en, ko in used:
        assert strings[en] == ko, (en, strings[en], ko)
    rejected = glossary.split("## Rejected phrasings (must not appear)")[1].split("\n## ")[0]
    bad = [w.strip().rstrip(".") for w in rejected.strip().split(",")]
    everything = " ".join(s if isinstance(s, str) else " ".join(s) for s in
                          (m.string for m in po if m.id))
    assert [w for w in bad if w and w in everything] == []


def test_the_time_budget_message_is_korean(make_client: Callable[..., TestClient]) -> None:
    c = make_client(train_time_budget=1e-6)
    c.cookies.set(i18n.COOKIE, "ko")
    path = new_page(c, "spiral")
    r = c.post(f"{path}/do", data={"op": "train", "epochs": "100000"})
    assert "한 번의 요청에 허용된 시간을 다 썼습니다" in r.text
    check(r.text, "time budget")
