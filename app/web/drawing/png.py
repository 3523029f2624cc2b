"""Tiny PNGs as data: URIs (the CSP allows img-src data:): RGB images of the heatmaps, and 8-bit
palette images of SHADES colours for Play frames.

Kept hand-written rather than Pillow's, for a measured reason (benchmarks/png_encoder.py; figures
in docs/architecture.md): on the 16–40 px images the pages draw it is 1.5–10× faster per image
(no Image object, BytesIO or plugin dispatch), its palette images are the same size, and its
bytes are what the pages have always sent (Pillow's adaptive row filters would change every RGB
image). Pillow's RGB files are 35–40 % smaller, thanks to those filters: a follow-up could add
a row filter here, as a change of the pages' bytes of its own."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.nn import numba_kernel
from app.web.infra.fmt import diverging_rgb


def _chunk(tag: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + tag + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def _png_uri(w: int, h: int, colour_type: int, rows: bytes, palette: bytes = b"") -> str:
    """An 8-bit PNG (``rows``: each row after its filter byte 0) as a data: URI (the CSP
    allows img-src data:)."""
    png = (b"\x89PNG\r\n\x1a\n"
           + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)) + palette
           + _chunk(b"IDAT", zlib.compress(rows, 6)) + _chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def png_data_uri(rgb: NDArray[np.uint8]) -> str:
    """A tiny RGB PNG as a data: URI."""
    h, w, _ = rgb.shape
    return _png_uri(w, h, 2, b"".join(b"\x00" + rgb[r].tobytes() for r in range(h)))


# While Play runs every tick redraws every picture: they are quantised to SHADES colours of the
# same scale (as TF Playground's heatmaps, numShades = 30) and written as 8-bit palette PNGs,
# a third of the bytes of RGB and one vectorised pass for a whole layer.
SHADES = 31
PALETTE = _chunk(b"PLTE", diverging_rgb(np.linspace(-1.0, 1.0, SHADES), -1.0, 0.0, 1.0)
                 .tobytes())


def shade_index(values: NDArray[np.float64], lo: Any, mid: Any, hi: Any) -> NDArray[np.uint8]:
    """The palette entry of each value: the same scale as diverging_rgb (lo → orange, mid →
    white, hi → blue), rounded to the nearest of SHADES steps; lo/mid/hi may be per column.
    A scalar scale goes through the compiled form once the kernel is warm (the same bytes)."""
    compiled = numba_kernel.shades
    if (compiled is not None and np.ndim(lo) == np.ndim(mid) == np.ndim(hi) == 0
            and values.dtype == np.float64):
        out = np.empty(values.shape, dtype=np.uint8)
        compiled.shade(np.ascontiguousarray(values).ravel(), float(lo), float(mid), float(hi),
                       SHADES, out.ravel())
        return out
    with np.errstate(all="ignore"):
        v = np.where(np.isnan(values), mid, values)  # ±inf saturate below
        t_pos = np.clip((v - mid) / np.maximum(hi - mid, 1e-12), 0.0, 1.0)
        t_neg = np.clip((mid - v) / np.maximum(mid - lo, 1e-12), 0.0, 1.0)
    index: NDArray[np.uint8] = np.rint((1.0 + t_pos - t_neg) * ((SHADES - 1) / 2)).astype(
        np.uint8)
    return index


def png_palette_uri(index: NDArray[np.uint8]) -> str:
    """A palette PNG (colour type 3, the SHADES palette) of shade indices, as a data: URI."""
    h, w = index.shape
    rows = np.zeros((h, w + 1), dtype=np.uint8)  # filter byte 0 before every row
    rows[:, 1:] = index
    return _png_uri(w, h, 3, rows.tobytes(), PALETTE)
