"""The heatmap of a network over its input plane, cached per weights version.

Building one costs a forward pass over the 40×40 grid, a PNG and the sample marks (about 1 ms
on `spiral`); stepping forward and backward, changing the view or a second tab on the same
session redraw the page with the same weights, so the image is kept, keyed by a digest of the
weights, the data and the colour scale.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from app.nn import features as feats
from app.nn.network import Network
from app.web import charts
from app.web.heatmaps import LRU

CACHE: LRU[charts.Heatmap] = LRU(256)  # heatmaps kept (tens of KB each)


Raw = tuple[Any, Any, Any, Any]  # X, Y, X_test, Y_test in the input plane's coordinates


def key(net: Network, raw: Raw, features: list[str], output_activation: str, task: str
        ) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for a in [*net.W, *(net.b or []), *raw]:
        if a is None:
            h.update(b"-")
        else:
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    h.update(f"{net.spec.layers}{net.spec.hidden_activation}{output_activation}{task}"
             f"{features}".encode())
    return h.digest()


def heatmap(net: Network, raw: Raw, features: list[str], output_activation: str, task: str
            ) -> charts.Heatmap:
    """The network's output over the input plane of the raw (pre-feature) data."""
    k = key(net, raw, features, output_activation, task)
    hit = CACHE.get(k)
    if hit is not None:
        return hit

    def predict(G: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return net.predict(feats.apply(features, G))

    heat = charts.heatmap(predict, raw[0], raw[1], raw[2], raw[3], output_activation, task)
    CACHE.put(k, heat)
    return heat
