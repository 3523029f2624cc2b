"""The registries are the single source of every formula and every name: each activation, loss and
penalty in app/nn/activations.py / losses.py carries its value, derivative (checked here against
central finite differences of the value), in-place forms (bit for bit the plain ones), compiled
code and LaTeX; the API schema's enums, the page's form options, the compiled kernel's numbers
and the tests' independent reference all list exactly the registries' names, in their order."""

from __future__ import annotations

import re
from string import Template
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.nn import choices, init, numba_kernel
from app.nn.activations import ACTIVATIONS, Activation
from app.nn.losses import LOSSES, PENALTIES, REDUCTIONS, REG_KINDS
from app.web.infra import forms
from app.web.infra.fmt import tex
from tests.nn import reference
from tests.web.helpers import new_page

RNG = np.random.RandomState(7)
# Points away from the kinks of ReLU and leaky ReLU (finite differences straddle none).
Z = np.concatenate([RNG.uniform(-4, -0.01, (4, 3)), RNG.uniform(0.01, 4, (4, 3))])
EPS = 1e-6


def central(f: Any, x: np.ndarray) -> np.ndarray:
    return (f(x + EPS) - f(x - EPS)) / (2 * EPS)  # type: ignore[no-any-return]


# --- activations ---------------------------------------------------------------------------
@pytest.mark.parametrize("act", ACTIVATIONS.values(), ids=list(ACTIVATIONS))
def test_every_activation_is_complete(act: Activation) -> None:
    assert act.latex and callable(act.f)
    if act.elementwise:
        assert act.prime is not None and act.prime_latex is not None
        assert act.definition is None and act.vjp is None
    else:  # softmax: written as its definition, differentiated as a vector-Jacobian product
        assert act.vjp is not None
        assert isinstance(act.definition, Template) and isinstance(act.vjp_latex, Template)
        assert "$j" in act.definition.template and "$j" in act.vjp_latex.template


@pytest.mark.parametrize("act", ACTIVATIONS.values(), ids=list(ACTIVATIONS))
def test_derivative_matches_central_differences(act: Activation) -> None:
    a = act.f(Z)
    g = RNG.normal(size=Z.shape)
    if act.elementwise:
        assert act.prime is not None
        np.testing.assert_allclose(act.prime(Z, a), central(act.f, Z), rtol=1e-6, atol=1e-8)
    # δ = Jᵀg for every activation: ∂(g · f(z))/∂z_ij by central differences
    want = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        dz = np.zeros_like(Z)
        dz[idx] = EPS
        want[idx] = (np.sum(g * act.f(Z + dz)) - np.sum(g * act.f(Z - dz))) / (2 * EPS)
    np.testing.assert_allclose(act.backward(Z, a, g), want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("act", ACTIVATIONS.values(), ids=list(ACTIVATIONS))
def test_in_place_forms_are_bit_for_bit_the_plain_ones(act: Activation) -> None:
    z = np.concatenate([Z, [[0.0, -0.0, 1e-300], [800.0, -800.0, 40.0]]])
    with np.errstate(all="ignore"):
        a = act.f(z)
        out = np.full_like(z, np.nan)
        assert act.into(z, out) is out
        assert np.array_equal(out, a) and np.array_equal(np.signbit(out), np.signbit(a))
        g = RNG.normal(size=z.shape)
        want = act.backward(z, a, g)
        act.times_prime(g, z, a, np.empty_like(z))
    assert np.array_equal(g, want)


@pytest.mark.parametrize("name", choices.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("z", [-1.5, 0.0, 2.0])
def test_the_formula_views_derivative_is_the_registrys(name: str, z: float) -> None:
    act = ACTIVATIONS[name]
    a = float(act.f(np.array([z]))[0])
    latex, value = act.prime_tex(z, a, tex)
    assert act.prime is not None
    assert value == float(act.prime(np.array(z), np.array(a)))
    assert latex.startswith(f"{act.latex}'(z) = ")


# --- losses --------------------------------------------------------------------------------
def targets(name: str) -> np.ndarray:
    if name == "cross_entropy":
        return np.eye(3)[RNG.randint(0, 3, 6)]
    return RNG.uniform(0.05, 0.95, (6, 3))


@pytest.mark.parametrize("name", choices.LOSSES)
def test_every_loss_is_complete_and_its_gradient_is_right(name: str) -> None:
    loss = LOSSES[name]
    assert loss.latex and {"yhat", "y"} <= {
        m.group("named") for m in Template.pattern.finditer(loss.grad_latex.template)}
    y = targets(name)
    y_hat = RNG.uniform(0.1, 0.9, y.shape)
    # ℓ_n depends on row n only: Σ_n ℓ_n differentiated one entry at a time
    want = np.zeros_like(y_hat)
    for idx in np.ndindex(y_hat.shape):
        d = np.zeros_like(y_hat)
        d[idx] = EPS
        want[idx] = (loss.value(y_hat + d, y).sum() - loss.value(y_hat - d, y).sum()) / (2 * EPS)
    np.testing.assert_allclose(loss.grad(y_hat, y), want, rtol=1e-5, atol=1e-7)
    if loss.output is None:
        assert loss.fused_delta is None and loss.from_logits is None
        return
    # Fused with its output activation: δ = ∂ℓ/∂ŷ through f, and ℓ from the logits
    out = ACTIVATIONS[loss.output]
    assert loss.fused_delta is not None and loss.from_logits is not None
    assert loss.delta_latex is not None
    z = RNG.normal(size=y.shape)
    a = out.f(z)
    np.testing.assert_allclose(loss.fused_delta(a, y), out.backward(z, a, loss.grad(a, y)),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(loss.from_logits(z, y), loss.value(a, y), rtol=1e-12)


@pytest.mark.parametrize("name", list(PENALTIES))
def test_every_penalty_has_its_gradient_and_latex(name: str) -> None:
    p = PENALTIES[name]
    assert p.latex and "$w" in p.grad_latex.template
    Ws = [RNG.normal(size=(3, 2)), RNG.normal(size=(2, 1))]
    for l, W in enumerate(Ws):
        want = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            d = np.zeros_like(W)
            d[idx] = EPS
            plus = [V + d if k == l else V for k, V in enumerate(Ws)]
            minus = [V - d if k == l else V for k, V in enumerate(Ws)]
            want[idx] = (p.value(0.3, plus) - p.value(0.3, minus)) / (2 * EPS)
        np.testing.assert_allclose(p.grad(0.3, W), want, rtol=1e-6, atol=1e-9)


# --- one list of names ---------------------------------------------------------------------
def test_codes_are_unique_and_the_compiled_kernel_uses_them() -> None:
    assert len({a.code for a in ACTIVATIONS.values()}) == len(ACTIVATIONS)
    assert len({loss.code for loss in LOSSES.values()}) == len(LOSSES)
    if not numba_kernel.available():
        pytest.skip("numba not installed")
    from app.nn import compiled

    # compiled.py names each code after its entry (BCE and CE short for the cross-entropies)
    assert {n: getattr(compiled, n.upper()) for n in ACTIVATIONS} == {
        n: a.code for n, a in ACTIVATIONS.items()}
    loss_codes = {n: loss.code for n, loss in LOSSES.items()}
    assert loss_codes == {"squared_error": compiled.SQUARED_ERROR,
                          "binary_cross_entropy": compiled.BCE, "cross_entropy": compiled.CE}
    reg_codes = {k: REG_KINDS.index(k) for k in REG_KINDS}
    assert reg_codes == {"none": compiled.REG_NONE, "l1": compiled.REG_L1, "l2": compiled.REG_L2}


def test_the_choices_are_the_registries_names() -> None:
    assert tuple(ACTIVATIONS) == choices.OUTPUT_ACTIVATIONS
    assert choices.HIDDEN_ACTIVATIONS == ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
    assert tuple(LOSSES) == choices.LOSSES
    assert tuple(init.SCHEMES) == choices.INIT_SCHEMES
    assert (choices.REDUCTIONS, choices.REG_KINDS) == (REDUCTIONS, REG_KINDS)
    assert ("none", *PENALTIES) == REG_KINDS
    # The tests' independent reference covers every name (it imports nothing from app).
    assert reference.HIDDEN == choices.HIDDEN_ACTIVATIONS
    assert {o for o, _, _ in reference.OUTPUTS} == set(choices.OUTPUT_ACTIVATIONS)
    assert {loss for _, loss, _ in reference.OUTPUTS} == set(choices.LOSSES)
    every = (*choices.OUTPUT_ACTIVATIONS, *choices.LOSSES, *choices.REDUCTIONS,
             *choices.INIT_SCHEMES, *choices.REG_KINDS)
    assert set(every) <= set(forms.OPTION_LABELS)


def enum(prop: dict[str, Any]) -> list[str]:
    for option in prop.get("anyOf", [prop]):
        if "enum" in option:
            return option["enum"]  # type: ignore[no-any-return]
        if "items" in option:
            return enum(option["items"])
    raise AssertionError(prop)


def test_the_api_schema_lists_the_registries_names(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    config = schemas["SessionConfig"]["properties"]
    assert enum(config["hidden_activation"]) == list(choices.HIDDEN_ACTIVATIONS)
    assert enum(config["output_activation"]) == list(choices.OUTPUT_ACTIVATIONS)
    assert enum(config["loss"]) == list(choices.LOSSES)
    assert enum(config["reduction"]) == list(choices.REDUCTIONS)
    assert enum(config["features"]) == list(choices.FEATURES)
    assert enum(schemas["InitConfig"]["properties"]["scheme"]) == list(choices.INIT_SCHEMES)
    assert enum(schemas["RegularizationConfig"]["properties"]["kind"]) == list(
        choices.REG_KINDS)


def options(page: str, name: str) -> list[str]:
    m = re.search(rf'<select[^>]* name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert m, name
    return re.findall(r'<option value="([^"]*)"', m.group(1))


def test_the_forms_list_the_registries_names(client: TestClient) -> None:
    landing = client.get("/").text
    assert options(landing, "hidden_activation") == list(choices.HIDDEN_ACTIVATIONS)
    assert options(landing, "output_activation") == list(choices.OUTPUT_ACTIVATIONS)
    assert options(landing, "loss") == list(choices.LOSSES)
    assert options(landing, "reduction") == list(choices.REDUCTIONS)
    assert options(landing, "init_scheme") == list(choices.INIT_SCHEMES)
    assert options(landing, "reg_kind") == list(choices.REG_KINDS)
    session = client.get(new_page(client)).text  # the experiment and settings forms
    assert options(session, "hidden_activation") == list(choices.HIDDEN_ACTIVATIONS)
    assert options(session, "reg_kind") == list(choices.REG_KINDS)


def test_bounds_are_the_range_of_each_bounded_activation() -> None:
    """``bounds`` (the pictures' colour scale) is what f reaches: every value inside, both
    ends approached; an unbounded f (ReLU, linear) has none."""
    z = np.linspace(-40.0, 40.0, 2001)[:, None] * np.ones((1, 2))
    z[:, 1] = 0.0  # softmax over two outputs: one varying, one fixed
    for name, act in ACTIVATIONS.items():
        a = act.f(z)
        if act.bounds is None:
            assert np.max(a) > 10, name  # grows without bound
            continue
        lo, hi = act.bounds
        assert lo <= a.min() and a.max() <= hi, name
        assert a.min() - lo < 1e-6 and hi - a.max() < 1e-6, name
