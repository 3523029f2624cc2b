"""Two networks side by side (issue #21 part 2): Compare with… (the fork), the /compare page
(both diagrams, both curves on one scale), the toolbar moving both in lockstep, and the setup
links. Numbers are checked against the JSON API and against a session trained alone."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from app.web.routes import compare_watch
from tests.web.helpers import API, HX, new_page
from tests.web.test_korean import check


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    # A generous tick budget: a tick of these small networks always finishes its epochs, so
    # the counts below do not depend on the machine's load.
    return make_client(tick_budget=5.0)


def sid_of(path: str) -> str:
    return path.rsplit("/", 1)[-1].split("?")[0]


def api(client: TestClient, sid: str) -> dict[str, Any]:
    r = client.get(f"{API}/sessions/{sid}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def pair_of(location: str) -> tuple[str, str]:
    q = parse_qs(urlsplit(location).query)
    return q["a"][0], q["b"][0]


def fork(client: TestClient, path: str, **fields: Any) -> tuple[str, str]:
    r = client.post(f"{path}/compare", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/compare?")
    return pair_of(r.headers["location"])


def config(client: TestClient, sid: str) -> dict[str, Any]:
    cfg = dict(api(client, sid)["config"])
    cfg.pop("preset")
    return cfg


def weights(client: TestClient, sid: str) -> list[Any]:
    return [(layer["W"], layer["b"]) for layer in api(client, sid)["layers"]]


def do(client: TestClient, pair: tuple[str, str], op: str, **fields: Any) -> str:
    r = client.post(f"/compare/do?a={pair[0]}&b={pair[1]}", data={"op": op, **fields},
                    headers=HX)
    assert r.status_code == 200, r.text
    return r.text


def epochs(client: TestClient, pair: tuple[str, str]) -> list[int]:
    return [api(client, sid)["epoch"] for sid in pair]


# --- Compare with… ----------------------------------------------------------------------------
def test_the_session_page_offers_compare_with(client: TestClient) -> None:
    page = client.get(new_page(client, "spiral")).text
    assert 'id="compare-with"' in page
    for field in ("hidden_activation", "optimizer", "learning_rate", "features"):
        assert f'name="change" value="{field}"' in page


def test_fork_changes_one_setting_and_keeps_the_seeded_weights(client: TestClient) -> None:
    path = new_page(client, "xor-bias")  # tanh hidden units, Xavier weights from seed 3
    a, b = fork(client, path, change="hidden_activation", hidden_activation="relu")
    assert a == sid_of(path)  # a session still as created is compared as it is
    ca, cb = config(client, a), config(client, b)
    assert cb["hidden_activation"] == "relu" and ca["hidden_activation"] == "tanh"
    assert {k: v for k, v in cb.items() if k != "hidden_activation"} == \
        {k: v for k, v in ca.items() if k != "hidden_activation"}
    assert api(client, b)["config"]["preset"] is None  # "xor-bias" no longer describes it
    # Xavier's draw does not depend on the activation: the same seed, the same weights.
    assert weights(client, a) == weights(client, b)


@pytest.mark.parametrize(("fields", "key", "expected"), [
    ({"change": "optimizer", "optimizer": "adam"}, "optimizer", "adam"),
    ({"change": "learning_rate", "learning_rate": "0.25"}, "learning_rate", 0.25),
    ({"change": "features", "features": ["x1", "x2", "x1_sq"]}, "features",
     ["x1", "x2", "x1_sq"]),
])
def test_fork_each_kind_of_change(client: TestClient, fields: dict[str, Any], key: str,
                                  expected: Any) -> None:
    path = new_page(client, "spiral")
    a, b = fork(client, path, **fields)
    cb = config(client, b)
    got = cb[key]["name"] if key == "optimizer" else cb[key]
    assert got == expected
    if key == "features":
        assert cb["layers"] == [3, *config(client, a)["layers"][1:]]
    else:
        assert {k: v for k, v in cb.items() if k != key} == \
            {k: v for k, v in config(client, a).items() if k != key}


def test_fork_of_a_trained_session_starts_both_afresh(client: TestClient) -> None:
    path = new_page(client, "xor-bias")
    first = weights(client, sid_of(path))
    r = client.post(f"{API}/sessions/{sid_of(path)}/train", json={"epochs": 5})
    assert r.status_code == 200, r.text
    a, b = fork(client, path, change="learning_rate", learning_rate="1.5")
    assert a != sid_of(path)
    assert epochs(client, (a, b)) == [0, 0]
    assert weights(client, a) == first == weights(client, b)
    assert api(client, sid_of(path))["epoch"] == 5  # the original is left alone


@pytest.mark.parametrize(("fields", "says"), [
    ({"change": "nonsense"}, "Choose the setting to change"),
    ({"change": "learning_rate", "learning_rate": "abc"}, "Learning rate"),
    ({"change": "learning_rate", "learning_rate": "-1"}, "Learning rate"),
    ({"change": "hidden_activation", "hidden_activation": "tanh"}, "already has that"),
    ({"change": "optimizer", "optimizer": "lbfgs"}, "Optimizer must be one of"),
    ({"change": "features", "features": ["x1", "x1"]}, "Input features"),
])
def test_a_refused_fork_says_why_and_creates_nothing(client: TestClient, fields: dict[str, Any],
                                                      says: str) -> None:
    path = new_page(client, "xor-bias")
    before = api(client, sid_of(path))["version"]
    r = client.post(f"{path}/compare", data=fields, follow_redirects=False)
    assert r.status_code == 422
    m = re.search(r'id="page-error">(.*?)<', r.text, re.S)
    assert m and says in html.unescape(m.group(1)), m
    assert api(client, sid_of(path))["version"] == before


# --- the page ---------------------------------------------------------------------------------
def compare(client: TestClient, pa: str = "deep-sigmoid", pb: str = "deep-relu"
            ) -> tuple[str, str]:
    r = client.get(f"/compare/new?pa={pa}&pb={pb}", follow_redirects=False)
    assert r.status_code == 303, r.text
    return pair_of(r.headers["location"])


def page(client: TestClient, pair: tuple[str, str], extra: str = "") -> str:
    r = client.get(f"/compare?a={pair[0]}&b={pair[1]}{extra}")
    assert r.status_code == 200, r.text
    return r.text


def test_the_page_shows_both_networks_and_names_the_difference(client: TestClient) -> None:
    pair = compare(client)
    text = page(client, pair)
    for who in ("a", "b"):
        assert f'id="diagram-{who}"' in text and f'id="gradnorms-{who}"' in text
    legend = html.unescape(re.search(r'id="cmp-legend".*?</ul>', text, re.S).group(0))
    assert "sigmoid, Xavier (Glorot)" in legend and "ReLU, He" in legend
    # Each diagram draws its own network: 2+6·5+1 neurons, 2·6+6·6·4+6 edges.
    for who in ("a", "b"):
        svg = re.search(rf'id="diagram-{who}".*?</svg>', text, re.S).group(0)
        assert svg.count('class="node"') == 33
        assert svg.count("<path") == 2 * 6 + 6 * 6 * 4 + 6


def ticks(svg: str) -> list[tuple[float, float]]:
    """(value, y) of the y-axis labels of a chart."""
    out = []
    for y, label in re.findall(r'<text x="\d+" y="([\d.]+)" text-anchor="end">([^<]+)<', svg):
        out.append((float(label.replace("−", "-")), float(y) - 4))
    return out


def test_both_curves_share_one_scale(client: TestClient) -> None:
    pair = compare(client)
    do(client, pair, "train", epochs="6")
    text = page(client, pair)
    svg = re.search(r'<svg class="curve".*?</svg>', text, re.S).group(0)
    assert svg.count("<path") == 4  # train and test of both
    # Read the scale off the axis (two labelled ticks), then place each network's last
    # training and test loss (from the API) with it: they must land on the lines' ends.
    (v0, y0), (v1, y1) = ticks(svg)[0], ticks(svg)[-1]

    def y_of(v: float) -> float:
        return y0 + (v - v0) * (y1 - y0) / (v1 - v0)

    for who, sid in zip(("a", "b"), pair, strict=True):
        last = api(client, sid)["history"][-1]
        shape = "circle" if who == "a" else "rect"
        ends = re.findall(rf'<{shape} class="end-{who}" (?:cx="[\d.]+" cy|x="[\d.]+" y)='
                          r'"([\d.]+)"', svg)
        got = sorted(float(e) + (4 if shape == "rect" else 0) for e in ends)
        want = sorted(y_of(v) for v in (last["loss"], last["test_loss"]))
        assert got == pytest.approx(want, abs=0.6)
    # The gradient-norm charts: one decade range for both.
    tops = re.findall(r'class="normchart"[^>]*data-top="([^"]*)" data-bottom="([^"]*)"', text)
    assert len(tops) == 2 and tops[0] == tops[1]


# --- lockstep ---------------------------------------------------------------------------------
def test_step_epoch_and_train_move_both(client: TestClient) -> None:
    pair = compare(client, "xor-bias", "circle")
    do(client, pair, "step")
    assert [api(client, s)["cursor"]["next"] for s in pair] == ["forward", "forward"]
    assert [api(client, s)["cursor"]["layer"] for s in pair] == [2, 2]
    do(client, pair, "epoch")
    assert epochs(client, pair) == [1, 1]
    do(client, pair, "train", epochs="7")
    assert epochs(client, pair) == [8, 8]
    do(client, pair, "reset")
    assert epochs(client, pair) == [0, 0]


def test_training_side_by_side_equals_training_alone(client: TestClient) -> None:
    """The comparison adds nothing to either network's arithmetic."""
    pair = compare(client, "xor-bias", "circle")
    do(client, pair, "train", epochs="9")
    for preset, sid in zip(("xor-bias", "circle"), pair, strict=True):
        alone = sid_of(new_page(client, preset))
        r = client.post(f"{API}/sessions/{alone}/train", json={"epochs": 9})
        assert r.status_code == 200
        assert weights(client, alone) == weights(client, sid)


def test_play_ticks_advance_both_and_the_one_behind_catches_up(client: TestClient) -> None:
    pair = compare(client, "xor-bias", "circle")
    url = f"/compare/tick?a={pair[0]}&b={pair[1]}&play=1&n=10"
    r = client.post(url, headers=HX)
    assert r.status_code == 200
    assert epochs(client, pair) == [10, 10]
    for region in ("cmp-diagrams", "cmp-charts", "cmp-status"):
        assert re.search(rf'id="{region}"[^>]*hx-swap-oob="true"', r.text), region
    # A trained alone (its own page, the API): the next tick brings B level, A waits.
    client.post(f"{API}/sessions/{pair[0]}/train", json={"epochs": 25})
    client.post(url, headers=HX)
    assert epochs(client, pair) == [35, 35]
    client.post(url, headers=HX)
    assert epochs(client, pair) == [45, 45]


def test_play_without_htmx_trains_both_one_tick(client: TestClient) -> None:
    pair = compare(client, "xor-bias", "circle")
    r = client.post(f"/compare/do?a={pair[0]}&b={pair[1]}&n=100", data={"op": "play"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert epochs(client, pair) == [100, 100]


def test_play_stops_when_both_diverge(client: TestClient) -> None:
    pair = compare(client, "plane-regression", "plane-regression")
    for sid in pair:  # a learning rate that overflows within a few epochs
        r = client.patch(f"{API}/sessions/{sid}", json={"learning_rate": 100.0})
        assert r.status_code == 200, r.text
    url = f"/compare/tick?a={pair[0]}&b={pair[1]}&play=1&n=1000"
    codes = [client.post(url, headers=HX).status_code for _ in range(5)]
    assert 286 in codes
    assert [api(client, s)["status"] for s in pair] == ["diverged", "diverged"]


def test_bad_requests_are_4xx(client: TestClient) -> None:
    pair = compare(client, "xor-bias", "circle")
    r = client.post(f"/compare/do?a={pair[0]}&b={pair[1]}", data={"op": "train",
                                                                  "epochs": "0"}, headers=HX)
    assert r.status_code == 422 and "epochs" in r.text
    assert epochs(client, pair) == [0, 0]
    assert client.get(f"/compare?a={pair[0]}&b={pair[0]}").status_code == 422
    assert client.get(f"/compare?a={pair[0]}&b=nosuchsession").status_code == 404
    assert client.get("/compare").status_code == 404
    assert client.post(f"/compare/tick?a={pair[0]}&b=gone", headers=HX).status_code == 286


# --- setup links and the landing page ---------------------------------------------------------
def test_the_setup_link_recreates_both(client: TestClient) -> None:
    path = new_page(client, "spiral")
    pair = fork(client, path, change="optimizer", optimizer="momentum")
    do(client, pair, "epoch")
    text = page(client, pair)
    link = html.unescape(re.search(r'id="compare-link"[^>]*value="([^"]+)"', text).group(1))
    assert link.startswith("/compare/new?a=")
    r = client.get(link, follow_redirects=False)
    assert r.status_code == 303
    again = pair_of(r.headers["location"])
    assert set(again).isdisjoint(pair)
    for old, new in zip(pair, again, strict=True):
        assert config(client, new) == config(client, old)
    assert epochs(client, again) == [0, 0]
    assert weights(client, again[0]) == weights(client, again[1])


def test_compare_new_refuses_a_broken_link(client: TestClient) -> None:
    r = client.get("/compare/new?a=notalink&pb=spiral")
    assert r.status_code == 422 and "a is not a Backprop Lab setup link" in r.text
    r = client.get("/compare/new?pa=spiral")
    assert r.status_code == 422 and "required" in r.text


def test_the_landing_page_has_two_ready_made_comparisons(client: TestClient) -> None:
    text = client.get("/").text
    hrefs = [html.unescape(h) for h in re.findall(
        r'id="cmp-[a-z-]+">\s*<h3><a href="([^"]+)"', text)]
    assert len(hrefs) == 2
    deep = pair_of(client.get(hrefs[0], follow_redirects=False).headers["location"])
    assert [config(client, s)["hidden_activation"] for s in deep] == ["sigmoid", "relu"]
    spiral = pair_of(client.get(hrefs[1], follow_redirects=False).headers["location"])
    ca, cb = config(client, spiral[0]), config(client, spiral[1])
    assert (ca["optimizer"]["name"], cb["optimizer"]["name"]) == ("sgd", "adam")
    assert ca["dataset"] == cb["dataset"] and ca["dataset"]["name"] == "spiral"
    assert weights(client, spiral[0]) == weights(client, spiral[1])


def test_korean(client: TestClient) -> None:
    """Korean throughout, by the Korean review's checker (no stray Latin words, no breakable
    formulas); the networks are 가 and 나."""
    pair = compare(client)
    do(client, pair, "train", epochs="3")
    text = page(client, pair, "&lang=ko")
    check(text, "the comparison page")
    h1 = re.search(r"<h1.*?</h1>", text, re.S).group(0)
    assert "두 신경망" in h1 and ">가<" in h1 and ">나<" in h1
    form = re.search(r'<details id="compare-with".*?</details>',
                     client.get(new_page(client, "spiral") + "?lang=ko").text, re.S).group(0)
    check(f"<main>{form}</main>", "Compare with…")
    # Networks of different sizes (their sizes name the difference), shared with the class.
    pair = compare(client, "xor-bias", "circle")
    client.post(f"/compare/share?a={pair[0]}&b={pair[1]}")
    text = page(client, pair, "&lang=ko")
    check(text, "the comparison page, shared")
    link = html.unescape(re.search(r'id="compare-watch-link" href="([^"]+)"', text).group(1))
    check(client.get("/" + link.split("://", 1)[1].split("/", 1)[1]).text, "the class's page")


# --- the class's link -------------------------------------------------------------------------
def test_the_class_follows_a_comparison_read_only(client: TestClient) -> None:
    pair = compare(client, "xor-bias", "circle")
    assert 'id="compare-start-share"' in page(client, pair)
    r = client.post(f"/compare/share?a={pair[0]}&b={pair[1]}", follow_redirects=False)
    assert r.status_code == 303
    link = html.unescape(re.search(r'id="compare-watch-link" href="([^"]+)"',
                                   page(client, pair)).group(1))
    watch = "/" + link.split("://", 1)[1].split("/", 1)[1]
    text = client.get(watch).text
    assert 'id="cmp-diagrams"' in text and 'id="watch-poll"' in text
    assert 'id="steps"' not in text and "/compare/do" not in text  # no controls
    assert all(sid not in text for sid in pair)  # a watcher never learns the sessions' ids
    do(client, pair, "train", epochs="4")
    frame = client.get(watch.replace("/compare/w?", "/compare/w/frame?")).text
    assert re.findall(r'id="epoch-[ab]">(\d+)<', frame) == ["4", "4"]
    assert 'hx-swap-oob="true"' in frame
    # Rendered once per version, whoever asks: a second watcher gets the same, cached frame.
    hits = compare_watch.FRAMES.hits
    again = client.get(watch.replace("/compare/w?", "/compare/w/frame?")).text
    assert again == frame and compare_watch.FRAMES.hits == hits + 1
    # Stopping either network's sharing ends the comparison's link.
    client.post(f"/s/{pair[1]}/share", data={"action": "stop"})
    assert client.get(watch.replace("/compare/w?", "/compare/w/frame?")).status_code == 286
    assert client.get(watch).status_code == 404
