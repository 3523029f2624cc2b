"""The heatmap of a network over its input plane, cached per weights version.

Building one costs a forward pass over the 40×40 grid, a PNG and the sample marks (about 1 ms
on `spiral`); stepping forward and backward, changing the view or a second tab on the same
session redraw the page with the same weights, so the image is kept, keyed by a digest of the
weights, the data and the colour scale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.nn import features as feats
from app.nn.network import Network
from app.web.drawing import plane
from app.web.drawing.heatmaps import LRU

CACHE: LRU[plane.Heatmap] = LRU(256)  # heatmaps kept (tens of KB each)


Raw = tuple[Any, Any, Any, Any]  # X, Y, X_test, Y_test in the input plane's coordinates


def _update(h: Any, arrays: Sequence[Any]) -> None:
    """Each array's shape and bytes into the digest ("-" for a missing one)."""
    for a in arrays:
        if a is None:
            h.update(b"-")
        else:
            h.update(repr(a.shape).encode())
            h.update(np.ascontiguousarray(a).data)  # no copy


def key(net: Network, raw: Raw, features: list[str], output_activation: str, task: str
        ) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    _update(h, [*net.W, *(net.b or []), *raw])
    h.update(f"{net.spec.layers}{net.spec.hidden_activation}{output_activation}{task}"
             f"{features}".encode())
    return h.digest()


def heatmap(net: Network, raw: Raw, features: list[str], output_activation: str, task: str,
            live: bool = False) -> plane.Heatmap:
    """The network's output over the input plane of the raw (pre-feature) data; ``live``:
    the Play frame's version (palette image, no marks: see :func:`points`), not cached: its
    weights change with every tick."""
    k = None if live else key(net, raw, features, output_activation, task)
    hit = None if k is None else CACHE.get(k)
    if hit is not None:
        return hit

    def predict(G: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return net.predict(feats.apply(features, G))

    heat = plane.heatmap(predict, raw[0], raw[1], raw[2], raw[3], output_activation, task,
                          live=live)
    if k is not None:
        CACHE.put(k, heat)
    return heat


POINTS: LRU[tuple[bytes, str]] = LRU(256)  # (SVG document, its content hash) per data set


def points(raw: Raw, output_activation: str, task: str) -> tuple[bytes, str]:
    """The samples alone as an SVG document over the plot (they change only when the data
    does, so Play frames link to it instead of sending 400 marks every tick)."""
    h = hashlib.blake2b(digest_size=16)
    _update(h, raw)
    h.update(f"{output_activation}{task}".encode())
    k = h.digest()
    hit = POINTS.get(k)
    if hit is not None:
        return hit
    X, Y, X_test, Y_test = raw
    domain = plane.plot_domain(X, X_test)
    marks, _count = plane.marks(X, Y, X_test, Y_test, task, domain,
                                 plane.value_range(output_activation, task, Y))
    size = 300
    doc = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
           f'width="{size}" height="{size}"><style>.pt{{stroke-width:1}}'
           f".pt.test{{stroke-width:1.8}}</style>{marks}</svg>").encode()
    out = (doc, hashlib.blake2b(doc, digest_size=6).hexdigest())
    POINTS.put(k, out)
    return out
