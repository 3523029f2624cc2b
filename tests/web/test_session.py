"""The session page: every operation with and without htmx, and the numbers it shows equal
the JSON API's state of the same session."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.web.infra.fmt import num, signed
from tests.web.helpers import API, HX, element, new_page, node_values, op, section, state, text


def four(v: float) -> str:
    """A computed value as the page prints it: 4 significant digits, trailing zeros kept
    (0.5000, never 0.5), a real minus sign (written here independently of app/web/infra/fmt.py)."""
    return f"{v:#.4g}".replace("-", "\u2212")


def test_page_renders_with_toolbar_names(client: TestClient) -> None:
    path = new_page(client)
    r = client.get(path)
    assert r.status_code == 200
    for name in ("Forward", "Backward", "Update", "Step", "Run epoch", "Play", "Reset",
                 "Train"):
        assert re.search(rf'<button id="op-\w+" type="submit" name="op" value="\w+"[^>]*>'
                         rf'{name}</button>', r.text), name
    assert 'name="epochs"' in r.text
    pipeline = re.findall(r'<li class="(\w+)"[^>]*>([^<]+)</li>', section(r.text, "status"))
    assert [p[1] for p in pipeline] == ["F1", "F2", "loss", "B2", "B1", "update"]
    assert pipeline[0][0] == "current"
    assert element(r.text, "epoch")[1] == "0" and element(r.text, "iteration")[1] == "0"


def test_unknown_session_is_a_friendly_404(client: TestClient) -> None:
    for r in (client.get("/s/nope"), client.post("/s/nope/do", data={"op": "forward"}),
              client.post("/s/nope/settings", data={"learning_rate": "1"})):
        assert r.status_code == 404
        assert "does not exist" in r.text and "/new?preset=seed-xor" in r.text
    assert client.post("/s/nope/tick").status_code == 286


def test_forms_work_without_javascript(client: TestClient) -> None:
    path = new_page(client)
    r = client.post(f"{path}/do", data={"op": "forward"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == path
    assert state(client, path)["cursor"] == {"next": "forward", "layer": 2}
    r = client.post(f"{path}/do", data={"op": "update"}, follow_redirects=False)
    assert r.status_code == 303 and "msg=cursor%3Aforward" in r.headers["location"]
    page = client.get(r.headers["location"]).text
    assert "the next step is “forward”" in text(page)
    r = client.post(f"{path}/do", data={"op": "train", "epochs": "25"}, follow_redirects=True)
    assert r.status_code == 200 and "Trained 25 epochs." in r.text
    assert state(client, path)["epoch"] == 25


def test_htmx_requests_get_the_workspace_fragment(client: TestClient) -> None:
    path = new_page(client)
    frag = op(client, path, "step")
    assert frag.startswith('<main id="workspace"') and "<html" not in frag
    for region in ("controls", "status", "player", "diagram", "inspector", "data", "loss"):
        assert f'id="{region}"' in frag
    frag = client.get(path + "?sel=n-1-0", headers=HX).text
    assert frag.startswith('<main id="workspace"')
    # a history restore needs the whole page
    full = client.get(path, headers={**HX, "HX-History-Restore-Request": "true"}).text
    assert full.startswith("<!doctype html>")


def test_diagram_numbers_equal_the_api(client: TestClient) -> None:
    path = new_page(client)
    for name in ("forward", "forward", "backward"):
        op(client, path, name)
    page = op(client, path, "backward")
    s = state(client, path)
    assert s["cursor"]["next"] == "update"
    for l, layer in enumerate(s["layers"], start=1):
        for j in range(len(layer["W"][0])):
            v = node_values(page, f"n-{l}-{j}")
            f = s["config"]["focus"]
            assert v == {"z": four(layer["z"][f][j]), "a": four(layer["a"][f][j]),
                         "δ": signed(layer["delta"][f][j])}
        for i, row in enumerate(layer["W"]):
            for j, w in enumerate(row):
                attrs, _ = element(page, f"w-{l}-{i}-{j}")
                g = layer["grad_W"][i][j]
                assert attrs["aria-label"] == (f"Weight w{i + 1},{j + 1} (layer {l}) = "
                                               f"{num(w)}, ∂L/∂w = {num(g)}")
    assert node_values(page, "n-0-0") == {"x": num(s["batch"]["X"][s["config"]["focus"]][0])}
    assert element(page, "loss-value")[0]["data-value"] == repr(s["loss"])
    yhat = re.findall(r'<td class="yhat">([^<]+)</td>', page)
    assert yhat == [four(r[0]) for r in s["output"]]
    ell = re.findall(r'<td class="ell">([^<]+)</td>', page)
    assert ell == [four(v) for v in s["per_sample_loss"]]


def test_update_changes_the_weights_shown(client: TestClient) -> None:
    path = new_page(client)
    for name in ("forward", "forward", "backward", "backward"):
        op(client, path, name)
    before = state(client, path)
    page = op(client, path, "update", sel="w-1-1-2")
    after = state(client, path)
    assert after["epoch"] == 1 and after["history"][0]["loss"] == before["loss"]
    w_old, g = before["layers"][0]["W"][1][2], before["layers"][0]["grad_W"][1][2]
    w_new = after["layers"][0]["W"][1][2]
    assert w_new == w_old - before["config"]["learning_rate"] * g
    insp = text(section(page, "inspector"))
    assert "Just applied" in insp
    for v in (w_old, g, w_new):
        assert num(v, 6) in insp


def test_settings_patch_keeps_the_weights(client: TestClient) -> None:
    path = new_page(client)
    client.post(f"{path}/do", data={"op": "train", "epochs": "10"})
    before = state(client, path)
    r = client.post(f"{path}/settings", headers=HX,
                    data={"learning_rate": "0.5", "batch_size": "2", "reg_kind": "l2",
                          "reg_rate": "0.01", "focus": "3"})
    assert r.status_code == 200
    after = state(client, path)
    assert after["layers"][0]["W"] == before["layers"][0]["W"] and after["epoch"] == 10
    c = after["config"]
    assert (c["learning_rate"], c["batch_size"], c["focus"]) == (0.5, 2, 3)
    assert c["regularization"] == {"kind": "l2", "rate": 0.01}
    assert 'name="learning_rate" value="0.5"' in r.text
    bad = client.post(f"{path}/settings", data={"learning_rate": "0"}, headers=HX)
    assert bad.status_code == 422 and "learning_rate" in bad.text
    assert state(client, path)["config"]["learning_rate"] == 0.5
    r = client.post(f"{path}/settings", data={"learning_rate": "1000"}, follow_redirects=False)
    assert r.status_code == 422 and "<html" in r.text


def test_focus_picker_moves_the_diagram_to_that_sample(client: TestClient) -> None:
    path = new_page(client)
    r = client.post(f"{path}/settings", data={"focus": "2"}, follow_redirects=False)
    assert r.status_code == 303
    op(client, path, "forward")
    page = op(client, path, "forward")
    s = state(client, path)
    assert node_values(page, "n-2-0")["a"] == four(s["output"][2][0])
    assert node_values(page, "n-0-0") == {"x": num(1.0)}
    assert '<tr class="focus" data-pos="2">' in page


def test_train_errors_and_run_epoch(client: TestClient) -> None:
    path = new_page(client)
    r = client.post(f"{path}/do", data={"op": "train", "epochs": "0"}, headers=HX)
    assert r.status_code == 422 and "Epochs must be from 1 to" in r.text
    op(client, path, "epoch")
    assert state(client, path)["epoch"] == 1
    op(client, path, "reset")
    assert state(client, path)["epoch"] == 0


def test_play_pause_and_the_tick_endpoint(client: TestClient) -> None:
    path = new_page(client)
    frag = op(client, path, "play", n="100")
    attrs, _ = element(frag, "player")
    # The page plays over its stream (app/web/routes/play.py), POST /tick as the fallback (issue
    # #22).
    assert attrs["data-play"] == f"{path}/play?n=100"
    assert attrs["data-tick"] == f"{path}/tick?n=100"
    assert ">Pause</button>" in frag
    r = client.post(f"{path}/tick?n=100", headers=HX)
    assert r.status_code == 200
    for region in ("diagram", "inspector", "data", "loss", "status"):
        assert re.search(rf'id="{region}"[^>]*hx-swap-oob="true"', r.text), region
    assert 'id="controls"' not in r.text  # the Pause button stays where it is
    assert state(client, path)["epoch"] == 100
    frag = op(client, path, "pause")
    player = element(frag, "player")[0]
    assert "data-play" not in player and "hx-trigger" not in player and ">Play</button>" in frag
    # without JavaScript, Play trains one tick's worth and comes back
    r = client.post(f"{path}/do", data={"op": "play", "n": "10"}, follow_redirects=False)
    assert r.status_code == 303 and state(client, path)["epoch"] == 110


def test_divergence_stops_play_with_286_and_a_hint(client: TestClient) -> None:
    r = client.post(f"{API}/sessions", json={"preset": "plane-regression", "learning_rate": 100})
    path = "/s/" + r.json()["id"]
    r = client.post(f"{path}/tick?n=1000", headers=HX)
    assert r.status_code == 286
    assert state(client, path)["status"] == "diverged"
    assert re.search(r'id="controls"[^>]*hx-swap-oob="true"', r.text)
    assert ">Play</button>" in r.text
    assert "Lower the learning rate" in r.text
    page = client.get(path).text
    assert "Training diverged." in page
