"""The session page and the optimizers: the settings form chooses one (the weights stay, the
state starts afresh, the page says so, Undo brings the old one back), and the inspector's
Update step writes the optimizer's equations with the session's numbers, before and after the
update. The expected numbers are computed here from PyTorch's rules, not from app/nn."""

from __future__ import annotations

import math
from typing import Any

from fastapi.testclient import TestClient

from app.web.infra.fmt import num
from tests.web.helpers import API, HX, new_page, op, section, state, text


def shown(x: float) -> str:
    """How the inspector writes x: six significant digits; a power of ten as MathML (then
    its mantissa is what appears as text)."""
    return num(x, 6).split("e")[0]


def settings(client: TestClient, path: str, **fields: str) -> Any:
    return client.post(f"{path}/settings", data={"learning_rate": "0.1", **fields},
                       headers=HX)


def inspect(client: TestClient, path: str, sel: str) -> str:
    r = client.get(f"{path}?sel={sel}", headers=HX)
    assert r.status_code == 200
    return text(section(r.text, "inspector"))


def to_update(client: TestClient, path: str) -> dict[str, Any]:
    while state(client, path)["cursor"]["next"] != "update":
        op(client, path, "step")
    return state(client, path)


def test_settings_form_chooses_adam_and_undo_restores_sgd(client: TestClient) -> None:
    path = new_page(client)
    page = client.get(path).text
    form = page[page.index('<details id="settings"'):]
    form = form[: form.index("</details>")]
    assert 'name="opt_name"' in form and "starts the optimizer" in text(form)
    before = state(client, path)
    r = settings(client, path, opt_name="adam", opt_beta1="0.8", opt_beta2="0.99",
                 opt_adam_eps="1e-8", opt_alpha="0.5")  # alpha: RMSprop's, ignored
    assert r.status_code == 200, r.text
    s = state(client, path)
    assert s["config"]["optimizer"] == {"name": "adam", "beta1": 0.8, "beta2": 0.99,
                                        "eps": 1e-8}
    assert [l["W"] for l in s["layers"]] == [l["W"] for l in before["layers"]]
    assert 'value="adam" selected' in r.text
    # Applying the same settings again changes nothing (the state is kept).
    op(client, path, "epoch")
    step = state(client, path)["optimizer_step"]
    settings(client, path, opt_name="adam", opt_beta1="0.8", opt_beta2="0.99",
             opt_adam_eps="1e-08")
    assert state(client, path)["optimizer_step"] == step == 1
    op(client, path, "undo")  # the settings post that changed nothing is still an operation
    op(client, path, "undo")
    op(client, path, "undo")
    assert state(client, path)["config"]["optimizer"] == {"name": "sgd"}


def test_settings_form_refuses_a_bad_beta(client: TestClient) -> None:
    path = new_page(client)
    r = settings(client, path, opt_name="adam", opt_beta1="1.5")
    assert r.status_code == 422
    assert "beta1" in text(r.text)
    assert state(client, path)["config"]["optimizer"] == {"name": "sgd"}


def test_update_inspector_shows_adam_with_numbers(client: TestClient) -> None:
    path = new_page(client)
    sid = path.rsplit("/", 1)[-1]
    r = client.patch(f"{API}/sessions/{sid}", json={"optimizer": {"name": "adam"}})
    assert r.status_code == 200
    op(client, path, "epoch")  # t = 1 done: m, v non-zero
    s = to_update(client, path)
    w = s["layers"][0]["W"][0][1]
    g = s["layers"][0]["grad_W"][0][1]
    m0 = s["layers"][0]["optimizer"]["m_W"][0][1]
    v0 = s["layers"][0]["optimizer"]["v_W"][0][1]
    t = s["optimizer_step"] + 1
    assert t == 2
    m = 0.9 * m0 + 0.1 * g
    v = 0.999 * v0 + 0.001 * g * g
    m_hat, v_hat = m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)
    new = w - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8)
    insp = inspect(client, path, "w-1-0-1")
    assert "Update (Adam)" in insp and "Bias correction" in insp
    for x in (g, m0, m, v, m_hat, v_hat, w, new):
        assert shown(x) in insp, x
    # After the update: the same equations, old → new, the new value the true one.
    r = client.post(f"{path}/do?sel=w-1-0-1", data={"op": "update", "sel": "w-1-0-1"},
                    headers=HX)
    assert r.status_code == 200
    after = text(section(r.text, "inspector"))
    s2 = state(client, path)
    assert "Just applied" in after and shown(s2["layers"][0]["W"][0][1]) in after
    assert shown(m_hat) in after
    assert math.isclose(s2["layers"][0]["W"][0][1], new, rel_tol=1e-12)


def test_update_inspector_momentum_and_rmsprop(client: TestClient) -> None:
    for opt, want in (({"name": "momentum", "nesterov": True}, "Nesterov"),
                      ({"name": "rmsprop"}, "RMSprop")):
        path = new_page(client)
        sid = path.rsplit("/", 1)[-1]
        assert client.patch(f"{API}/sessions/{sid}", json={"optimizer": opt}).status_code == 200
        s = to_update(client, path)
        w, g = s["layers"][1]["W"][2][0], s["layers"][1]["grad_W"][2][0]
        if opt["name"] == "momentum":
            new = w - 0.1 * (g + 0.9 * g)  # t = 1: m = g; Nesterov: d = g + μ·m
        else:
            v = 0.01 * g * g
            new = w - 0.1 * g / (math.sqrt(v) + 1e-8)
        insp = inspect(client, path, "w-2-2-0")
        assert want in insp and shown(new) in insp, (want, insp)
