"""Languages, the loss curve, the heatmap, big networks and the strict-CSP rules."""

from __future__ import annotations

import re
from collections.abc import Callable

from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from app.web.drawing.charts import loss_curve, nice_ticks
from app.web.infra import catalog, i18n
from tests.web.helpers import API, HX, element, new_page, op, section, state


def test_every_message_has_a_korean_translation() -> None:
    messages = catalog.extract()
    with catalog.po_path("ko").open("rb") as f:
        ko = read_po(f, locale="ko")
    missing = [m for m in messages if not (ko.get(m) and ko.get(m).string)]  # type: ignore[union-attr]
    assert missing == []
    assert len(messages) > 100


def test_lang_query_sets_a_cookie_and_accept_language_picks_the_default(
        client: TestClient) -> None:
    r = client.get("/?lang=ko")
    assert '<html lang="ko"' in r.text and "준비된 신경망" in r.text
    assert "lang=ko" in r.headers["set-cookie"]
    assert '<html lang="ko"' in client.get("/").text  # the cookie remembers
    client.cookies.clear()
    assert '<html lang="en"' in client.get("/").text
    r = client.get("/", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"})
    assert '<html lang="ko"' in r.text
    r = client.get("/", headers={"Accept-Language": "fr, en;q=0.8, ko;q=0.3"})
    assert '<html lang="en"' in r.text


def test_negotiate() -> None:
    assert i18n.negotiate("ko", "en", "en") == "ko"
    assert i18n.negotiate(None, "ko", "en") == "ko"
    assert i18n.negotiate("xx", None, "ko;q=0.5, de") == "ko"
    assert i18n.negotiate(None, None, None) == "en"


def test_korean_session_page_has_the_same_formulas(client: TestClient) -> None:
    path = new_page(client)
    for _ in range(4):
        op(client, path, "step")
    en = client.get(f"{path}?sel=w-1-0-0", headers=HX).text
    ko = client.get(f"{path}?sel=w-1-0-0&lang=ko", headers=HX).text
    assert ">순전파</button>" in ko and ">역전파</button>" in ko and "에포크" in ko
    assert re.findall(r"<math.*?</math>", en, re.S) == re.findall(r"<math.*?</math>", ko, re.S)


def test_projector_toggle(client: TestClient) -> None:
    r = client.get("/?projector=1")
    assert '<html lang="en" class="projector">' in r.text
    assert 'class="projector"' in client.get("/").text
    assert 'class="projector"' not in client.get("/?projector=0").text


def test_loss_curve_axes_log_scale_and_size_at_100k_epochs(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(train_time_budget=120.0, run_chunk_budget=120.0)  # one chunk
    path = new_page(client)
    r = client.post(f"{path}/do", data={"op": "train", "epochs": "100000"}, headers=HX)
    assert state(client, path, history=1)["epoch"] == 100_000
    loss = section(r.text, "loss")
    assert len(loss.encode()) <= 16 * 1024, len(loss.encode())
    assert element(loss, "curve-epoch")[1] == "99999"
    ticks = re.findall(r'<text x="[\d.]+" y="[\d.]+" text-anchor="middle">([^<]+)</text>', loss)
    assert "100k" in ticks or "1e+05" in ticks or "80k" in ticks
    log = section(client.get(f"{path}?log=1", headers=HX).text, "loss")
    assert 'aria-checked="true"' in log and "loss (log scale)" in log and ">1e-" in log
    tick = client.post(f"{path}/tick?n=1", headers=HX).text
    assert len(section(tick, "loss").encode()) <= 16 * 1024


def test_curve_geometry() -> None:
    c = loss_curve([{"epoch": e, "loss": 1.0 / (e + 1), "test_loss": 2.0 / (e + 1)}
                    for e in range(50)], log=False)
    assert not c.empty and c.points == 50 and c.train.startswith("M") and c.test
    assert [t.label for t in c.yticks][:2] == ["0", "0.5"]
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert loss_curve([], log=True).empty


def test_heatmap_and_points_for_2d_data(client: TestClient) -> None:
    path = new_page(client, "circle")
    page = client.get(path).text
    heat = section(page, "data")
    assert '<image href="data:image/png;base64,' in heat
    s = state(client, path)
    n = len(re.findall(r'class="pt(?: test)?"', heat))
    assert n == 200  # every training and test point
    assert len(re.findall(r'class="pt test"', heat)) == 100
    assert len(re.findall(r'<td class="yhat">', heat)) == 10  # the batch of 10 as a table
    before = re.search(r'data:image/png;base64,[^"]+', heat)
    client.post(f"{path}/do", data={"op": "train", "epochs": "20"})
    after = re.search(r'data:image/png;base64,[^"]+', client.get(path).text)
    assert before and after and before.group(0) != after.group(0)  # updated live
    assert s["config"]["batch_size"] == 10


def test_big_network_uses_colour_only_with_labels_for_assistive_tech(
        client: TestClient) -> None:
    r = client.post(f"{API}/sessions", json={"layers": [2, 8, 8, 8, 1],
                                             "dataset": {"name": "spiral", "samples": 500}})
    path = "/s/" + r.json()["id"]
    page = client.get(path).text
    diagram = section(page, "diagram")
    assert 'class="tip"' in diagram  # too tall for cards: values on hover, focus, selection
    data = section(page, "data")
    assert "<table" not in data and "The batch has 250 samples" in data
    r = client.post(f"{API}/sessions", json={"layers": [2, 12, 1]})
    page = client.get("/s/" + r.json()["id"]).text
    diagram = section(page, "diagram")
    assert 'class="net compact"' in diagram and '<image class="dotheat"' in diagram
    # the accessible name starts with the card's visible text (WCAG 2.5.3)
    assert re.search(r'<a id="n-1-11"[^>]*role="button"[^>]*aria-label="h₁₂⁽¹⁾ z — a — δ — '
                     r'\(Hidden layer 1, neuron 12\)', diagram)
    # Every edge has its label: drawn where it fits (only the 12 × 1 output edges may be),
    # else shown on hover, focus or selection.
    assert len(re.findall(r'<text class="elabel', diagram)) == 36
    assert len(re.findall(r'<g class="ondemand"', diagram)) >= 24


def test_strict_csp_no_inline_script_style_or_handlers(client: TestClient) -> None:
    path = new_page(client, "circle")
    pages = [client.get("/"), client.get(path), client.get(path + "?sel=w-1-0-0"),
             client.get("/s/missing"), client.post("/", data={"loss": "x"}),
             client.post(f"{path}/tick", headers=HX)]
    for r in pages:
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "unsafe-inline" not in r.headers["content-security-policy"]
        body = r.text
        assert not re.search(r"\sstyle=", body)
        assert "<style" not in body
        assert not re.search(r"<script(?![^>]*\ssrc=)", body)
        assert not re.search(r"\son[a-z]+=", body)
        assert "hx-on" not in body
    head = client.get("/").text
    assert '"allowEval":false' in head and '"includeIndicatorStyles":false' in head
    assert '<script src="/static/vendor/htmx-2.0.11.min.js"' in head
    for asset in ("/static/vendor/htmx-2.0.11.min.js", "/static/js/app.js",
                  "/static/css/app.css", "/static/favicon.svg"):
        assert client.get(asset).status_code == 200


def test_error_pages_are_html_for_pages_and_json_for_the_api() -> None:
    from app.config import Settings
    from app.main import create_app
    from app.nn.stepper import CursorError
    from app.sessions.store import SessionBusy, StoreUnavailable
    from tests.web.test_korean import english_words

    app = create_app(Settings())
    raised: dict[str, Exception] = {"busy": SessionBusy("x", 1.0), "down": StoreUnavailable("x"),
                                    "cursor": CursorError("update", "forward")}

    async def boom(kind: str) -> None:
        raise raised[kind]

    app.add_api_route("/s/x/boom/{kind}", boom)
    app.add_api_route("/api/v1/boom/{kind}", boom)
    with TestClient(app) as c:
        for url, status in (("/nowhere", 404), ("/s/x/boom/busy", 503),
                            ("/s/x/boom/down", 503), ("/s/x/boom/cursor", 409)):
            r = c.get(url, headers={"Accept-Language": "ko"})
            assert r.status_code == status and r.headers["content-type"].startswith("text/html")
            assert '<html lang="ko"' in r.text and "<title>" in r.text and "<h1>" in r.text
            assert f"HTTP 상태 코드 {status}" in r.text
            assert english_words(r.text) == set(), url
            if status == 503:
                assert r.headers["retry-after"] == "1"
        r = c.delete("/s/anything/do")  # 405 keeps its Allow header
        assert r.status_code == 405 and "text/html" in r.headers["content-type"]
        assert r.headers["allow"] == "POST"
        for url, status in (("/api/v1/nowhere", 404), ("/api/v1/boom/busy", 503),
                            ("/api/v1/boom/cursor", 409)):
            r = c.get(url)
            assert r.status_code == status and r.headers["content-type"] == "application/json"


def test_html_css_and_js_are_compressed(client: TestClient) -> None:
    for url in ("/", "/new?preset=seed-xor", "/static/css/app.css", "/static/js/app.js",
                "/static/vendor/htmx-2.0.11.min.js"):
        r = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers.get("content-encoding") == "gzip", url
        if not url.startswith("/static"):
            assert '<meta name="description" content="' in r.text and "<h1" in r.text


def test_event_streams_are_never_compressed() -> None:
    from fastapi.responses import StreamingResponse

    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings())

    async def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"data: " + b"x" * 4000 + b"\n\n"]),
                                 media_type="text/event-stream")

    app.add_api_route("/s/x/events", stream)
    with TestClient(app) as c:
        r = c.get("/s/x/events", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and "content-encoding" not in r.headers
        assert r.text.startswith("data: xxx")
