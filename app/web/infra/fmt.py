"""Number formatting (text and LaTeX) and the colour-blind-safe diverging colour scale."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

MINUS = "\u2212"
# Blue for positive, orange for negative (the ends of ColorBrewer's PuOr/RdBu family, safe for
# the common colour-vision deficiencies); near-white in the middle.
POS = (33, 102, 172)
NEG = (217, 95, 2)
MID = (247, 247, 247)
DIAGRAM_DIGITS = 4
INSPECTOR_DIGITS = 6


def num(v: float | None, digits: int = DIAGRAM_DIGITS) -> str:
    """``v`` with ``digits`` significant digits and a real minus sign; '—' when missing."""
    if v is None:
        return "—"
    if not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("∞" if v > 0 else MINUS + "∞")
    if v == 0:
        return "0"
    return f"{v:.{digits}g}".replace("-", MINUS)


def signed(v: float | None, digits: int = DIAGRAM_DIGITS) -> str:
    """Like :func:`fixed` (computed values keep their digits: "+0.5000") but always with a
    sign glyph (+ or −), so sign never rests on colour."""
    return fixed(v, digits, signed=True)


def fixed(v: float | None, digits: int = DIAGRAM_DIGITS, signed: bool = False,
          width: int | None = None) -> str:
    """``v`` with exactly ``digits`` significant digits, trailing zeros kept (0.500029 is
    "0.5000", never "0.5"), a real minus sign and, when ``signed``, a + for positive values.
    ``width``: at most that many characters (fewer digits for −0.000123 or 1.2e−12)."""
    text = _fixed(v, digits, signed)
    while width is not None and len(text) > width and digits > 1:
        digits -= 1
        text = _fixed(v, digits, signed)
    return text


def _fixed(v: float | None, digits: int, signed: bool) -> str:
    if v is None:
        return "—"
    if not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("∞" if v > 0 else MINUS + "∞")
    if v == 0:
        text = "0." + "0" * (digits - 1)
    else:
        text = f"{v:#.{digits}g}".rstrip(".")
        if "e" in text:  # 1.234e-05: the mantissa keeps its digits, the exponent no zero
            mant, exp = text.split("e")
            text = f"{mant.rstrip('.')}e{int(exp)}"
    text = text.replace("-", MINUS)
    return "+" + text if signed and not text.startswith(MINUS) and v != 0 else text


def tex(v: float | None, digits: int = INSPECTOR_DIGITS, paren: bool = False) -> str:
    """``v`` as LaTeX: 1.2 \\times 10^{-5} for small or large numbers; negative numbers in
    parentheses when ``paren`` (inside products)."""
    if v is None:
        return r"\text{?}"
    if not math.isfinite(v):
        return r"\text{NaN}" if math.isnan(v) else (r"\infty" if v > 0 else r"-\infty")
    s = "0" if v == 0 else f"{v:.{digits}g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = rf"{mant} \times 10^{{{int(exp)}}}"
    if paren and v < 0:
        return rf"\left({s}\right)"
    return s


def _lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> str:
    mixed = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*mixed)


def diverging(v: float | None, vmax: float, floor: float = 0.0, ceil: float = 1.0) -> str:
    """Colour of ``v`` on a blue (+) / orange (−) scale saturating at ``vmax``."""
    if v is None or not math.isfinite(v) or vmax <= 0:
        return _lerp(MID, MID, 0)
    t = min(abs(v) / vmax, 1.0)
    t = floor + (ceil - floor) * t
    return _lerp(MID, POS if v >= 0 else NEG, t)


def diverging_many(values: NDArray[np.float64], vmax: float, floor: float = 0.0,
                   ceil: float = 1.0) -> list[str]:
    """:func:`diverging` of every value at once (the same arithmetic, element by element, and
    the same half-to-even rounding): a layer's edges in one pass."""
    return [f"#{c:06x}" for c in diverging_packed(values, vmax, floor, ceil).tolist()]


def diverging_packed(values: NDArray[np.float64], vmax: float, floor: float = 0.0,
                     ceil: float = 1.0) -> NDArray[np.int64]:
    """The colours of :func:`diverging_many` as integers 0xRRGGBB (written "#%06x")."""
    v = np.asarray(values, dtype=np.float64).ravel()
    mid = np.array(MID, np.float64)
    if vmax <= 0 or not v.size:
        return np.full(v.size, MID[0] << 16 | MID[1] << 8 | MID[2], np.int64)
    finite = np.isfinite(v)
    with np.errstate(all="ignore"):
        t = floor + (ceil - floor) * np.minimum(np.abs(v) / vmax, 1.0)
    end = np.where((v >= 0)[:, None], np.array(POS, np.float64), np.array(NEG, np.float64))
    rgb = np.rint(mid + (end - mid) * t[:, None])
    rgb[~finite] = mid
    c = rgb.astype(np.int64)
    packed: NDArray[np.int64] = c[:, 0] << 16 | c[:, 1] << 8 | c[:, 2]
    return packed


def fixed_many(values: list[float], digits: int = DIAGRAM_DIGITS, signed: bool = False
               ) -> list[str]:
    """:func:`fixed` of each value (no width), the usual case (finite, non-zero, no exponent)
    written in one formatting call."""
    if not values:
        return []
    fmt = ("%+#." if signed else "%#.") + str(digits) + "g"
    texts = ("|".join([fmt] * len(values)) % tuple(values)).split("|")
    out = []
    for v, text in zip(values, texts, strict=True):
        if v == 0 or "e" in text or "n" in text:  # zero, exponents, inf, nan: as fixed()
            out.append(_fixed(v, digits, signed))
        else:
            out.append(text.rstrip(".").replace("-", MINUS))
    return out


def diverging_rgb(values: NDArray[np.float64], lo: float, mid: float, hi: float
                  ) -> NDArray[np.uint8]:
    """Vectorised scale for a heatmap: lo → orange, mid → white, hi → blue."""
    v = np.nan_to_num(values, nan=mid)
    t_pos = np.clip((v - mid) / max(hi - mid, 1e-12), 0.0, 1.0)[..., None]
    t_neg = np.clip((mid - v) / max(mid - lo, 1e-12), 0.0, 1.0)[..., None]
    m, p, n = (np.array(c, dtype=np.float64) for c in (MID, POS, NEG))
    rgb = m + (p - m) * t_pos + (n - m) * t_neg
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def sub(k: int) -> str:
    """k as subscript digits: x₁₂."""
    return str(k).translate(SUBSCRIPTS)


def sup(k: int) -> str:
    """k as superscript digits: h⁽¹²⁾."""
    return str(k).translate(SUPERSCRIPTS)
