"""What the inspector shows, as data: an Inspector (title, kind) of Items (a caption, typeset
math, a note), the weights captured before an update (LastUpdate), and the LaTeX symbol helpers
every derivation shares (app/web/inspector/formulas.py, app/web/inspector/update_formulas.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from markupsafe import Markup

EXPAND_MAX = 6  # write out sums with up to this many terms


ParamKey = tuple[str | int, ...]  # ("W", l, i, j) or ("b", l, j)


class LastUpdate(TypedDict):
    """The selected weight or bias just before an update, to show old → new after it."""

    old: dict[ParamKey, float]
    grad: dict[ParamKey, float]
    lr: float
    # The optimizer's moments before the update (where it keeps them) and the update's t.
    m: dict[ParamKey, float]
    v: dict[ParamKey, float]
    t: int


@dataclass
class Item:
    caption: str
    math: Markup
    note: str = ""
    spoiler: bool = False  # what the next step computes: hidden in predict mode


@dataclass
class Inspector:
    title: str
    kind: str
    items: list[Item] = field(default_factory=list)
    hint: str = ""


def up(l: int) -> str:
    return f"^{{({l})}}"


def a_sym(l: int, i: str) -> str:
    return f"x_{{{i}}}" if l == 0 else f"a_{{{i}}}{up(l)}"


def _sum(terms: list[str]) -> str:
    if len(terms) > EXPAND_MAX:
        terms = [*terms[:2], r"\cdots", terms[-1]]
    return " + ".join(terms) if terms else "0"
