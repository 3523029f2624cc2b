"""A Korean page shows no English: every page state and every error path, rendered in Korean,
has no English word in its visible text (or accessible names) outside a short allow-list of
formula symbols, proper names and API values shown as code."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.sessions.config import PRESETS
from app.web.infra import forms, i18n, page_errors
from app.web.infra.page_errors import PageError
from tests.web.helpers import HX, new_page, op

# Proper names, formula symbols and abbreviations that stay as they are in a Korean class.
ALLOWED = {
    "Backprop", "Lab", "API", "HTTP", "ReLU", "Leaky", "tanh", "Xavier", "Glorot", "He", "XOR",
    "AND", "OR", "L1", "L2", "Matt", "Mazur", "Tab", "Enter", "Space", "Esc", "ln", "exp", "max",
    "JSON", "QR", "Ctrl",
    "MSE",  # the lesson's printed metric, an abbreviation kept in Korean classes (glossary)
    "sin",  # the input features sin x₁, sin x₂ (formula)
    "SGD", "RMSprop", "Adam",  # the optimizers' proper names
    "CSV", "JavaScript",  # the class polls' answer file, and what answering needs
}
# One-letter formula symbols (x₁, w1,2, b1, h₁⁽¹⁾, z, a, ŷ − y, ∂L/∂W, 1/N). Any other single
# letter, with or without a number (F1, B2: the undo timeline's old codes), is English here.
SYMBOLS = set("abhwxyzLNW") | set("gmtv")  # + the optimizers' g, m, v and step t
SKIP = {"code", "kbd", "math", "script", "style"}  # code, key names and formulas
# Names shown as they are: preset names and the settings an error message names.
CODES = sorted([*PRESETS, *Settings.model_fields], key=len, reverse=True)
VOID = ("meta", "link", "input", "br", "img", "hr", "image", "line", "path", "circle", "rect",
        "source")
# What a person hears: the accessible names and descriptions of an element.
NAMES = ("aria-label", "title", "placeholder", "alt", "aria-description", "aria-roledescription",
         "aria-valuetext", "aria-placeholder", "label")


class Visible(HTMLParser):
    """Text a person sees or hears: text nodes (the tab's <title> included) and the accessible
    names (NAMES, a button-like input's value, the page description), outside <code>, <kbd>,
    <math>, translate="no" and lang="en" (the language switch names English in English)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []
        self.parts: list[str] = []
        self.title: list[str] = []
        self.tags: list[str] = []
        self.nowrap: list[bool] = []
        self.wrapping: list[str] = []  # text the browser may break into lines

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        skip = (bool(self.stack and self.stack[-1]) or tag in SKIP
                or a.get("translate") == "no" or a.get("lang") == "en")
        if tag not in VOID:
            self.stack.append(skip)
            self.tags.append(tag)
            self.nowrap.append(bool(self.nowrap and self.nowrap[-1])
                               or "nowrap" in (a.get("class") or "").split())
        if not skip:
            for key in NAMES:
                if a.get(key):
                    self.parts.append(str(a[key]))
            if tag == "input" and a.get("type") in ("submit", "button", "reset") and a.get("value"):
                self.parts.append(str(a["value"]))
            if tag == "meta" and a.get("name") == "description":
                self.parts.append(str(a.get("content")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            self.stack.pop()
            self.tags.pop()
            self.nowrap.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)
            if self.tags[-1:] == ["title"] and "svg" not in self.tags:
                self.title.append(data)
            elif not (self.nowrap and self.nowrap[-1]) and "svg" not in self.tags:
                self.wrapping.append(data)


def latin_words(text: str) -> set[str]:
    """The Latin-letter words of ``text`` outside the allow-list, with their digits ("F1")."""
    text = text.replace("\u2060", "")  # word joiners (app/web/infra/typeset.py) glue, never split
    for name in CODES:  # API values and setting names, whole names only
        text = re.sub(rf"(?<![A-Za-z0-9_-]){re.escape(name)}(?![A-Za-z0-9_-])", " ", text)
    text = re.sub(r"\d(?:\.\d+)?e[+\-−]?\d+", " ", text)  # 1.5e-05, 8.1e−06
    words = re.findall(r"[A-Za-z]+[0-9]*", text)
    return {w for w in words if w not in ALLOWED and w.rstrip("0123456789") not in ALLOWED
            and not (len(w) == 1 and w in SYMBOLS)
            and not (w[0] in SYMBOLS and w[1:].isdigit() and w[0].islower())}


def english_words(html: str) -> set[str]:
    v = Visible()
    v.feed(html)
    return latin_words(" ".join(v.parts))


def title_of(html: str) -> str:
    v = Visible()
    v.feed(html)
    return "".join(v.title).strip()


def breaks(html: str) -> set[str]:
    """Words a Korean line may break inside: a "/", "-" or "–" between two characters with no
    word joiner after it, in text that wraps (not .nowrap, <code>, the title or SVG)."""
    v = Visible()
    v.feed(html)
    return {m.group() for part in v.wrapping
            for m in re.finditer(r"\S*\S[/\-–](?=[^\s\u2060])\S*", part)}


def check(html: str, where: str) -> None:
    assert '<html lang="ko"' in html or "hx-swap-oob" in html or "<main" in html, where
    assert english_words(html) == set(), where
    assert breaks(html) == set(), where


def test_the_checker_catches_what_the_last_review_found() -> None:
    """One-letter codes, API names in the tab title, English accessible names, breakable
    formulas: each is reported (the checker itself must be able to fail)."""
    assert english_words("<ol><li><button>F1</button></li><li>B2</li></ol>") == {"F1", "B2"}
    assert english_words('<button aria-label="F1 다음 상태로 이동">순전파 1</button>') == {"F1"}
    assert english_words("<title>세션 2–4–1 · multi_gauss · Backprop Lab</title>") == {
        "multi", "gauss"}
    assert english_words('<img alt="Loss curve">') == {"Loss", "curve"}
    assert english_words('<input type="submit" value="Undo">') == {"Undo"}
    assert english_words("<p>가중치 w1,2, x₁, h₁⁽¹⁾, ∂L/∂W, 1/N, 8.1e−06, deep-relu</p>") == set()
    assert english_words("<p><code>F1</code> <kbd>F</kbd></p>") == set()
    assert breaks("<p>‖∂L/∂W‖가 작아집니다. deep-relu와 비교</p>") == {"‖∂L/∂W‖가", "deep-relu와"}
    assert breaks("<p>∂L/\u2060∂w 합, <span class='nowrap'>2–4–1</span></p>") == set()


def test_every_korean_translation_uses_only_allowed_latin_words() -> None:
    """The catalogue itself: a Latin letter in a Korean string is a proper name, a formula
    symbol or an API value (placeholders aside); the report lists every other one at once."""
    from babel.messages.pofile import read_po

    from app.web.infra import catalog

    with catalog.po_path("ko").open("rb") as f:
        po = read_po(f, locale="ko")
    stray = {}
    for m in po:
        if not m.id:
            continue
        for text in [m.string] if isinstance(m.string, str) else m.string:
            words = latin_words(re.sub(r"\{[^}]*\}", " ", text))
            if words:
                stray[m.id if isinstance(m.id, str) else m.id[0]] = sorted(words)
    assert stray == {}


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
    # The undo timeline with steps on both sides, projector mode, sharing and the watch page.
    tl = new_page(ko)
    for _k in range(4):
        op(ko, tl, "step")
    ko.post(f"{tl}/do", data={"op": "undo", "steps": "2"}, headers=HX)
    pages["timeline"] = ko.get(tl).text
    pages["projector"] = ko.get(f"{tl}?projector=1&sel=w-1-0-0").text
    ko.cookies.set("projector", "0")
    pages["shared"] = ko.post(f"{tl}/share", data={}).text
    assert "따라 보기 링크" in pages["shared"]
    wid = ko.post(f"/api/v1/sessions/{tl.rsplit('/', 1)[-1]}/watch").json()["watch_id"]
    pages["watch"] = ko.get(f"/w/{wid}").text
    assert "따라 보는 중" in pages["watch"]
    for where, html in pages.items():
        check(html, where)


def test_the_undo_bar_and_its_timeline_are_korean(ko: TestClient) -> None:
    """Undo/Redo are 되돌리기/다시 실행 (buttons and keyboard help); the timeline's steps are
    named like the pipeline's chips, for sight and for screen readers."""
    path = new_page(ko)  # seed-xor: 2-4-1, so steps F1 F2 B2 B1 update
    for _k in range(3):
        op(ko, path, "step")
    html = ko.post(f"{path}/do", data={"op": "undo", "steps": "1"}).text
    assert ">되돌리기</button>" in html and ">다시 실행</button>" in html
    assert "<dd>되돌리기</dd>" in html and "<dd>다시 실행</dd>" in html  # keyboard help
    timeline = html.split('class="timeline"')[1].split("</ol>")[0]
    assert 'aria-label="순전파 1 직후 상태로 이동">순전파 1</button>' in timeline
    assert '<span class="now" aria-current="step">순전파 2</span>' in timeline
    assert 'aria-label="역전파 2 직후 상태로 이동">역전파 2</button>' in timeline
    check(html, "timeline")
    en = ko.get(f"{path}?lang=en").text
    assert ">Undo</button>" in en and ">Redo</button>" in en and "← Back" not in en
    assert ">F1</button>" in en  # English keeps the chips' short names


@pytest.mark.parametrize("dataset", ["xor", "and", "or", "circle", "xor_scatter", "gauss",
                                     "spiral", "plane", "multi_gauss", None])
def test_the_tab_title_names_the_data_set_in_korean(ko: TestClient, dataset: str | None
                                                    ) -> None:
    """A custom network's title shows its data set's Korean label, never the API name."""
    body: dict[str, object] = (
        {"dataset": {"name": dataset}} if dataset else
        {"dataset": {"X": [[0, 0], [1, 1]], "Y": [[0], [1]]}})
    r = ko.post("/api/v1/sessions", json=body)
    assert r.status_code == 201, r.text
    html = ko.get(f"/s/{r.json()['id']}").text
    title = title_of(html)
    label = i18n.gettext_for("ko")(forms.OPTION_LABELS[dataset or "inline"])
    assert title.startswith("세션 ") and label in title, title
    assert latin_words(title) == {"Backprop", "Lab"} - ALLOWED, title
    check(html, str(dataset))


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

    from app.web.infra import catalog

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
    everything = "  ".join(s if isinstance(s, str) else "  ".join(s) for s in
                           (m.string for m in po if m.id))
    assert [w for w in bad if w and w in everything] == []
    # Layers are named one way: "{l}층" or "은닉층 {k}", never "층 {l}" or "{k}번째 층".
    assert [t for t in everything.split("  ") if re.search(r"(?<!은닉)층 \{|번째 층", t)] == []


def test_the_time_budget_message_is_korean(make_client: Callable[..., TestClient]) -> None:
    c = make_client(train_time_budget=1e-6)
    c.cookies.set(i18n.COOKIE, "ko")
    path = new_page(c, "spiral")
    r = c.post(f"{path}/do", data={"op": "train", "epochs": "100000"})
    assert "한 번의 요청에 허용된 시간을 다 썼습니다" in r.text
    check(r.text, "time budget")
