"""Korean line breaking inside formulas and names. Korean pages use ``word-break: keep-all``, so a
line breaks only between words (어절) — and after a "/" or a "-" inside one, which splits
"∂L/" | "∂w", "deep-" | "relu와" or "2-" | "4-1". A WORD JOINER (U+2060, invisible, ignored by
screen readers and search) after such a slash or hyphen forbids that break; the characters
themselves stay the ASCII ones (a preset name copied from the page still works)."""

from __future__ import annotations

import re

WJ = "\u2060"
# A slash or hyphen between two non-space characters, not already followed by a joiner.
_INNER = re.compile(r"(?<=\S)([/\-–])(?=[^\s\u2060])")


def glue(text: str) -> str:
    """``text`` with a word joiner after every in-word "/", "-" or "–"."""
    return _INNER.sub("\\1" + WJ, text)
