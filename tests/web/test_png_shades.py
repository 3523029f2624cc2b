"""The pictures' palette indices from the compiled pass (app/nn/compiled_shades.py) are the
NumPy formula's, value for value: NaN, ±inf, values on and between the steps' edges, flat and
degenerate scales, 1-D, 2-D and non-contiguous arrays."""

from __future__ import annotations

import numpy as np
import pytest

from app.nn import numba_kernel
from app.web.drawing import png

pytestmark = pytest.mark.skipif(not numba_kernel.available(), reason="numba not installed")

SCALES = ((-1.0, 0.0, 1.0), (0.0, 0.5, 1.0), (0.0, 0.0, 0.0), (-3.0, 0.25, 1e-9),
          (-1e300, 0.0, 1e300))


def cases() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    edges = (np.arange(-40, 41) / 30.0)  # around every step's edge on (-1, 0, 1)
    odd = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324,
                    1 / 60, 3 / 60, 29 / 30, 1e308, -1e308])
    return [rng.normal(size=(16 * 16, 8)), np.tanh(rng.normal(size=(24, 24)) * 3),
            np.concatenate([edges, np.nextafter(edges, 2), np.nextafter(edges, -2), odd]),
            rng.normal(size=(8, 40)).T]  # a non-contiguous view


@pytest.mark.parametrize("lo, mid, hi", SCALES)
def test_compiled_shades_are_numpys(lo: float, mid: float, hi: float,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert numba_kernel.warm() and numba_kernel.shades is not None
    for values in cases():
        fast = png.shade_index(values, lo, mid, hi)
        with monkeypatch.context() as m:
            m.setattr(numba_kernel, "shades", None)
            want = png.shade_index(values, lo, mid, hi)
        assert fast.dtype == want.dtype == np.uint8 and fast.shape == want.shape
        assert np.array_equal(fast, want)
    assert len(np.unique(png.shade_index(cases()[2], -1.0, 0.0, 1.0))) == png.SHADES
