"""LaTeX to MathML on the server (latex2mathml), one line per step of a long derivation
(MathML does not wrap), with negative numbers kept as one token."""

from __future__ import annotations

import re
from functools import lru_cache

from latex2mathml.converter import convert
from markupsafe import Markup

# Visible characters per line: longer equations continue at each top-level "=" (and "+").
ONE_LINE = 40
NEG_AFTER = re.compile(r'((?:<mo[^>]*form="prefix"[^>]*>[^<]*</mo>|<mo stretchy="false">&#x00028;'
                       r'</mo>|<mo>&#x0003D;</mo>|<mo>&#x02190;</mo>|^<mrow>))<mo>&#x02212;</mo><mn>')


FENCE_OPEN = re.compile(r"\\left(?![a-zA-Z])")
FENCE_CLOSE = re.compile(r"\\right(?![a-zA-Z])")
COMMAND = re.compile(r"\\[a-zA-Z]+|[{}^_]")


def visible(latex: str) -> int:
    """Roughly how many characters a formula shows (commands and braces dropped)."""
    return len(COMMAND.sub("", latex).replace(" ", ""))


def split_top(latex: str, sep: str) -> list[str]:
    """Split at ``sep`` outside braces and \\left…\\right pairs."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(latex):
        if FENCE_OPEN.match(latex, i):
            depth += 1
        elif FENCE_CLOSE.match(latex, i):
            depth -= 1
        c = latex[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0 and latex.startswith(sep, i):
            parts.append(latex[start:i])
            start = i + len(sep)
            i += len(sep) - 1
        i += 1
    parts.append(latex[start:])
    return parts


def _lines(latex: str) -> list[str]:
    parts = split_top(latex, " = ")
    if visible(latex) <= ONE_LINE or len(parts) <= 2:
        return [latex]
    if visible(parts[0]) + visible(parts[1]) <= ONE_LINE:
        lines, rest = [f"{parts[0]} = {parts[1]}"], parts[2:]
    else:
        lines, rest = [parts[0]], parts[1:]
    for p in rest:
        terms = split_top(p, " + ")
        line = "= " + terms[0]
        for t in terms[1:]:
            if visible(line) + visible(t) > ONE_LINE:
                lines.append(line)
                line = "+ " + t
            else:
                line += " + " + t
        lines.append(line)
    return lines


@lru_cache(maxsize=4096)
def _convert(line: str) -> str:
    """One line of LaTeX as MathML. Cached: latex2mathml is the costliest part of a page, and
    the symbolic lines (and, for a deterministic preset, whole derivations) repeat."""
    out = convert(line, display="inline")
    inner = out[out.index(">") + 1:]
    # A negative number right after "(", "=" or at the start is one number, not minus-a-number.
    inner = NEG_AFTER.sub(lambda m: m.group(1) + "<mn>&#x02212;", inner)
    return out[:out.index(">") + 1] + inner


def mathml(latex: str) -> Markup:
    """MathML from latex2mathml (which escapes its input), one line per step of a long chain
    of equalities, since MathML does not wrap."""
    return Markup("".join(f'<div class="eq">{_convert(line)}</div>'
                          for line in _lines(latex)))
