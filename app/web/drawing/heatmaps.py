"""Per-neuron heatmaps for 2-D inputs, as in TensorFlow Playground: every input feature, hidden
neuron and output drawn over the input plane.

One grid forward pass computes every neuron at once; the images are tiny PNGs (data: URIs,
upscaled by CSS) cached per weights version, so Play ticks and page views whose weights did not
change reuse them.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from cachetools import LRUCache
from numpy.typing import NDArray

from app.nn import features as feats
from app.nn.activations import ACTIVATIONS
from app.nn.network import Network
from app.web.drawing.plane import plot_domain
from app.web.drawing.png import png_data_uri, png_palette_uri, shade_index
from app.web.infra.fmt import diverging_rgb

GRID = 32  # pixels per side: 1,024 grid points, one forward pass
PLAY_GRID = 16  # while Play runs: every tick redraws every image, so a quarter of the bytes


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float

    @property
    def mid(self) -> float:
        return (self.lo + self.hi) / 2


@dataclass(frozen=True)
class NeuronMaps:
    """images[l][j]: neuron j of layer l (l = 0: the input features) as a data: URI."""

    images: list[list[str]]
    domain: tuple[float, float]
    hidden: Scale
    output: Scale
    input_max: list[float]  # max |φ_j| over the plane: input images span −max … +max
    # Play frames (live): one image per layer, its neurons stacked top to bottom, each tile
    # with its first and last rows repeated (SPRITE_PAD) so scaling never blends two tiles.
    sprites: list[str] = field(default_factory=list)
    tiles: list[NDArray[np.uint8]] = field(default_factory=list)  # live: shade indices

    def image(self, l: int, j: int) -> str:
        """Neuron j of layer l as an image of its own (drawn from its tile in a live map)."""
        if self.images[l][j] == SPRITE:
            return png_palette_uri(self.tiles[l][j])
        return self.images[l][j]


SPRITE_PAD = 1
SPRITE = "sprite"  # images[l][j] of a live NeuronMaps: drawn from sprites[l]


def scale_of(activation: str) -> Scale:
    """A bounded activation's own range (app/nn/activations.py); −1 … 1 for the others."""
    bounds = ACTIVATIONS[activation].bounds
    return Scale(*bounds) if bounds is not None else Scale(-1.0, 1.0)


def domain_of(X: NDArray[np.float64], X_test: NDArray[np.float64] | None
              ) -> tuple[float, float]:
    """The plotted square: the same as the data panel's plot."""
    return plot_domain(X, X_test)


V = TypeVar("V")


class LRU(Generic[V]):
    """cachetools' LRUCache behind a lock (the page renders run in a thread pool), counting
    hits and misses. ``size`` may change (the heatmap_cache setting): the cache starts over."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._d: Any = LRUCache(maxsize=max(size, 1))
        self.hits = self.misses = 0

    @property
    def size(self) -> int:
        return self._size

    @size.setter
    def size(self, size: int) -> None:
        with self._lock:
            if size != self._size:
                self._size, self._d = size, LRUCache(maxsize=max(size, 1))

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            v: V | None = self._d.get(key)
            if v is None:
                self.misses += 1
            else:
                self.hits += 1
            return v

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            if self._size > 0:  # size 0 keeps nothing
                self._d[key] = value

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self.hits = self.misses = 0


CACHE: LRU[NeuronMaps] = LRU(256)


def weights_key(net: Network, features: Sequence[str], domain: tuple[float, float],
                grid: int = GRID) -> bytes:
    """A digest of everything the images depend on: the weights' bytes, the architecture and
    activations, the features and the plotted square."""
    h = hashlib.blake2b(digest_size=16)
    spec = net.spec
    h.update(repr((spec.layers, spec.hidden_activation, spec.output_activation,
                   tuple(features), domain, grid)).encode())
    for W in net.W:
        h.update(np.ascontiguousarray(W).tobytes())
    for b in net.b or []:
        h.update(np.ascontiguousarray(b).tobytes())
    return h.digest()


def grid_points(domain: tuple[float, float], grid: int = GRID) -> NDArray[np.float64]:
    """grid² raw points, row by row from the top (x₂ high) to the bottom, as in an image."""
    g = np.linspace(domain[0], domain[1], grid)
    gx, gy = np.meshgrid(g, g[::-1])
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


@functools.lru_cache(maxsize=64)
def grid_features(features: tuple[str, ...], domain: tuple[float, float], grid: int
                  ) -> NDArray[np.float64]:
    """φ of the grid points: the same for every tick of a session (read-only: shared)."""
    phi = feats.apply(features, grid_points(domain, grid))
    phi.setflags(write=False)
    return phi


@functools.lru_cache(maxsize=64)
def _input_max(features: tuple[str, ...], domain: tuple[float, float], grid: int
               ) -> tuple[float, ...]:
    """max |φ_j| over the plane, per input feature (1 where φ_j is 0 everywhere)."""
    phi = grid_features(features, domain, grid)
    return tuple(float(np.max(np.abs(phi[:, j]))) or 1.0 for j in range(phi.shape[1]))


@functools.lru_cache(maxsize=64)
def _input_sprite(features: tuple[str, ...], domain: tuple[float, float], grid: int
                  ) -> tuple[str, NDArray[np.uint8]]:
    """A live map's input layer (its sprite and tiles): a function of the plane alone."""
    phi = grid_features(features, domain, grid)
    m = np.array(_input_max(features, domain, grid))
    sprite, tiles = _sprite(shade_index(phi, -m, np.zeros_like(m), m), grid)
    tiles.setflags(write=False)
    return sprite, tiles


def _sprite(index: NDArray[np.uint8], grid: int) -> tuple[str, NDArray[np.uint8]]:
    """A layer's shade indices (one column per neuron) as tiles stacked in one palette image,
    each padded with its first and last rows (SPRITE_PAD)."""
    n = index.shape[1]
    tiles = index.T.reshape(n, grid, grid)
    pad = SPRITE_PAD
    padded = np.concatenate([tiles[:, :1].repeat(pad, 1), tiles,
                             tiles[:, -1:].repeat(pad, 1)], axis=1)
    return png_palette_uri(padded.reshape(n * (grid + 2 * pad), grid)), tiles


def compute(net: Network, features: Sequence[str], domain: tuple[float, float],
            grid: int = GRID, live: bool = False) -> NeuronMaps:
    """``live`` (Play frames): SHADES-colour palette images, one vectorised pass per layer."""
    phi = grid_features(tuple(features), domain, grid)
    with np.errstate(all="ignore"):
        _zs, acts = net.forward(phi)
    spec = net.spec
    hidden, output = scale_of(spec.hidden_activation), scale_of(spec.output_activation)
    images: list[list[str]] = []
    sprites: list[str] = []
    tiles_of: list[NDArray[np.uint8]] = []
    input_max = list(_input_max(tuple(features), domain, grid))
    for l, a in enumerate(acts):
        lo: Any
        mid: Any
        hi: Any
        if l == 0 and live:  # the input features' pictures: the same for every tick
            sprite, tiles = _input_sprite(tuple(features), domain, grid)
            sprites.append(sprite)
            tiles_of.append(tiles)
            images.append([SPRITE] * a.shape[1])
            continue
        if l == 0:  # each input feature on its own symmetric scale
            m = np.array(input_max)
            lo, mid, hi = -m, np.zeros_like(m), m
        else:
            s = output if l == spec.L else hidden
            lo, mid, hi = s.lo, s.mid, s.hi
        if live:
            sprite, tiles = _sprite(shade_index(a, lo, mid, hi), grid)
            sprites.append(sprite)
            tiles_of.append(tiles)
            images.append([SPRITE] * a.shape[1])
            continue
        row = []
        for j in range(a.shape[1]):
            v = a[:, j].reshape(grid, grid)
            if l == 0:
                rgb = diverging_rgb(v, -input_max[j], 0.0, input_max[j])
            else:
                rgb = diverging_rgb(v, float(lo), float(mid), float(hi))
            row.append(png_data_uri(rgb))
        images.append(row)
    return NeuronMaps(images, domain, hidden, output, input_max, sprites, tiles_of)


def neuron_maps(net: Network, features: Sequence[str], domain: tuple[float, float],
                cache: LRU[NeuronMaps] | None = None, grid: int = GRID, live: bool = False
                ) -> NeuronMaps:
    """The images for these weights, from the cache when this weights version was drawn
    (Play frames are not cached: their weights change with every tick)."""
    if live:
        return compute(net, features, domain, grid, live)
    cache = CACHE if cache is None else cache
    key = weights_key(net, features, domain, grid)
    maps = cache.get(key)
    if maps is None:
        maps = compute(net, features, domain, grid)
        cache.put(key, maps)
    return maps
