"""The pages' PNG encoder (app/web/drawing/png.py) against Pillow's, on the images the pages draw:
bytes and time per image. Pillow is not a dependency: install it to run this
(``python3 -m pip install pillow``).

    python3 -m benchmarks.png_encoder
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from app.web.drawing.png import PALETTE, SHADES, png_data_uri, png_palette_uri, shade_index
from app.web.infra.fmt import diverging_rgb


def smooth(n: int, seed: int) -> NDArray[np.float64]:
    """A heatmap-like field: a tanh of a random plane plus a bump, over n × n."""
    rng = np.random.default_rng(seed)
    g = np.linspace(-6, 6, n)
    gx, gy = np.meshgrid(g, g[::-1])
    a, b, c = rng.normal(size=3)
    return np.tanh(a * gx / 3 + b * gy / 3 + c) * np.exp(-(gx**2 + gy**2) / 60)


def pillow_rgb(rgb: NDArray[np.uint8]) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG")
    return buf.getvalue()


def pillow_palette(index: NDArray[np.uint8]) -> bytes:
    from PIL import Image
    im = Image.fromarray(index, "L").convert("P")
    im.putpalette(PALETTE[8:-4])  # the PLTE chunk's data: SHADES RGB triples
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def ours(uri: str) -> bytes:
    return base64.b64decode(uri.split(",", 1)[1])


def per_image(fn: Callable[[], object], repeat: int = 2000) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t) / repeat)
    return best * 1e6


def main() -> None:
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise SystemExit("Pillow is not installed: python3 -m pip install pillow") from None
    print(f"{'image':34} {'ours B':>7} {'Pillow B':>8} {'ours µs':>8} {'Pillow µs':>9}")
    for n in (16, 24, 32, 40):  # heatmaps.PLAY_GRID, charts.PLAY_GRID, heatmaps.GRID, charts.GRID
        v = smooth(n, n)
        rgb = diverging_rgb(v, -1.0, 0.0, 1.0)
        idx = shade_index(v, -1.0, 0.0, 1.0)
        assert int(idx.max()) < SHADES
        for name, mine, pil in (
                (f"RGB {n}×{n}", lambda a=rgb: png_data_uri(a), lambda a=rgb: pillow_rgb(a)),
                (f"palette {n}×{n}", lambda a=idx: png_palette_uri(a),
                 lambda a=idx: pillow_palette(a))):
            b_ours, b_pil = len(ours(mine())), len(pil())
            print(f"{name:34} {b_ours:7d} {b_pil:8d} {per_image(mine):8.1f} "
                  f"{per_image(pil):9.1f}")
    # A Play frame's sprite: 8 neurons of 16 × 16, padded, stacked (heatmaps.compute, live).
    sprite = np.concatenate([shade_index(smooth(16, k), -1.0, 0.0, 1.0) for k in range(8)])
    print(f"{'palette sprite 8 × (16×16)':34} {len(ours(png_palette_uri(sprite))):7d} "
          f"{len(pillow_palette(sprite)):8d} {per_image(lambda: png_palette_uri(sprite)):8.1f} "
          f"{per_image(lambda: pillow_palette(sprite)):9.1f}")


if __name__ == "__main__":
    main()
