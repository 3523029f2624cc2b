"""The charts drawn from the history's columns (as Play frames and pages draw them) are the
charts drawn from the same points as a list, one point at a time: missing and non-finite
test losses and gradient norms, losses that are not finite, thinned and unthinned, both
scales."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.nn.history import History
from app.web.drawing import charts


def histories() -> list[tuple[History, int]]:
    rng = np.random.default_rng(5)
    out = []
    for n, L in ((1, 1), (2, 3), (57, 2), (130, 3), (260, 1)):
        h = History()
        for k in range(n):
            loss = float(rng.uniform(1e-6, 3.0))
            if k % 17 == 5:
                loss = math.inf
            test = None if k % 4 == 1 else float(rng.uniform(0, 2))
            if k % 23 == 7:
                test = math.inf
            norms = None if k % 7 == 3 else [float(x) for x in rng.lognormal(-3, 2, L)]
            if norms is not None and k % 11 == 2:
                norms[0] = math.nan
            h.append(10 * k + 3, loss, test, norms)
        out.append((h, L))
    return out


@pytest.mark.parametrize("log", (False, True))
def test_columns_draw_what_the_list_of_points_draws(log: bool) -> None:
    for h, L in histories():
        e, v, t, g = h.columns(L)
        for keep in (np.arange(len(e)), np.arange(0, len(e), 3)):
            want = charts.loss_curve_of(
                [(h.epoch[i], h.loss[i], h.test_loss[i]) for i in keep.tolist()], log)
            got = charts.loss_curve_columns(e[keep], v[keep], t[keep], log)
            assert got == want
            want_g = charts.grad_norm_chart_of([(h.epoch[i], h.grad_norm[i])
                                                for i in keep.tolist()])
            got_g = charts.grad_norm_chart_columns(e[keep], g[keep])
            assert got_g == want_g
    # something is drawn: the test is not comparing two empty charts
    h, L = histories()[3]
    e, v, t, g = h.columns(L)
    c = charts.loss_curve_columns(e, v, t, False)
    n = charts.grad_norm_chart_columns(e, g)
    assert c.points == sum(math.isfinite(x) for x in h.loss) and c.train and c.test
    assert n is not None and n.points == charts.NORM_POINTS and len(n.series) == L


def test_paths_written_in_one_call_are_written_point_by_point() -> None:
    """The charts' paths: one %-formatting call with the x positions written once, as
    POINT ("{:.1f} {:.1f}") writes each point, including halves, signed zeros and overflows."""
    draw = np.random.default_rng(3)
    for n in range(40):
        xs = draw.uniform(-1e3, 1e3, n).tolist()
        xs += [0.05, -0.05, 0.25, 0.35, 1e20, -0.0, 0.0, math.inf, -math.inf, math.nan][
            :max(0, n - 30)]
        ys = draw.uniform(-1e3, 1e3, len(xs)).tolist()
        want = "M" + "L".join(charts.POINT(x, y) for x, y in zip(xs, ys, strict=True))
        assert charts._points_path(charts._tenths(xs), ys) == want
