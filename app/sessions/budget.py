"""Budgets computed before the work: the bytes a session may need at its peak, and the bytes
of a reply. Estimates from shapes only (no allocation), deliberately on the high side. And the
errors of a request over a budget that the HTTP layer answers with 413 (PageTooLarge,
FormTooLarge), here so that app/api and app/web both import them from below."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from app.sessions.normalized import GeneratedData, InlineData, NormalizedConfig

F64 = 8  # bytes of a NumPy float64
PYFLOAT = 32  # a Python float in a list: the object (24) and its pointer (8)
HISTORY_POINT = 3 * PYFLOAT + 24  # epoch, loss, test loss in three lists, plus slack
# A history point held in memory, measured with tracemalloc (tests/sessions/test_budget_real.py):
# its epoch, loss and test loss in three lists, its tuple of L gradient norms (one a weight
# layer), and the columns' arrays kept for saving: ~218 B at L = 1, ~377 B at L = 5 (the
# columns' buffers grow by doubling: up to 8·(3 + L) B more, within the slack here).
HISTORY_POINT_BASE = 200
HISTORY_POINT_PER_LAYER = 44
OVERHEAD = 32 * 1024  # the Session, Trainer and config objects, and an operation's temporaries
RESIDENT_OVERHEAD = 4 * 1024  # measured: 3.7 KB per default session held (docs/performance.md)
JSON_NUMBER = 24  # a float as JSON text ("-0.12345678901234567, ") at its longest


def _sizes(config: NormalizedConfig) -> tuple[int, int, int]:
    """(training samples, test samples, Python floats held by the config itself)."""
    d = config.dataset
    listed = 0
    if isinstance(d, InlineData):
        n_train = len(d.X)
        n_test = len(d.X_test or ())
        for m in (d.X, d.Y, d.X_test, d.Y_test):
            listed += sum(len(row) for row in m or ())
    elif isinstance(d, GeneratedData):
        total = int(d.samples)
        n_test = min(round(total * float(d.test_ratio or 0.0)), total - 1)
        n_train = total - max(n_test, 0)
        n_test = max(n_test, 0)
    else:  # a truth table
        n_train, n_test = 4, 0
    for w in config.weights or ():
        listed += sum(len(row) for row in w.W) + len(w.b or ())
    return n_train, n_test, listed


def session_bytes(config: NormalizedConfig, history_points: int = 0, peak: bool = True) -> int:
    """Bytes of a session with this (normalized) config. ``peak``: while an operation runs —
    the weights with their copies (gradients, the kernel's two parameter buffers, a gradient
    check's probe), the data, the trace of one full pass over its batch (z, a, delta per layer)
    together with the kernel's activation buffers, a forward pass over the test set, and the
    loss history. Otherwise what it holds between requests: weights, gradients, data, trace,
    history (what the server-wide memory budget adds up)."""
    layers = [int(n) for n in config.layers]
    widths = sum(layers[1:])
    n_params = sum(a * b for a, b in pairwise(layers)) + widths
    n_train, n_test, listed = _sizes(config)
    bs = config.batch_size
    batch = n_train if bs is None or bs >= n_train else int(bs)
    last = n_train % batch if batch else 0  # the last, smaller mini-batch has its own buffers
    n_in, n_out = layers[0], layers[-1]
    data = (n_train + n_test) * (n_in + n_out)
    trace = batch * (3 * widths + n_in + 2 * n_out + 2)
    floats = 2 * n_params + data + trace
    if config.optimizer.name != "sgd":  # m and/or v, one float per parameter each
        floats += (int(config.optimizer.uses_m) + int(config.optimizer.uses_v)) * n_params
    overhead = RESIDENT_OVERHEAD
    if peak:
        kernel = 4 * (batch + last) * widths + 2 * batch * n_out + 4 * n_params
        if config.optimizer.name != "sgd":  # the kernel's moments and new-value scratch
            kernel += 5 * n_params
        floats += kernel + 2 * n_test * widths
        overhead = OVERHEAD
    return (overhead + F64 * floats + PYFLOAT * listed
            + HISTORY_POINT * max(0, history_points))


def history_point_bytes(weight_layers: int) -> int:
    """Bytes one history point holds (with its gradient norms), as measured."""
    return HISTORY_POINT_BASE + HISTORY_POINT_PER_LAYER * max(1, weight_layers)


# A memoised subtree: (the object, its depth, its bytes, the ids it counts, the ids outside
# it that it met already counted).
HeldMemo = dict[int, tuple[Any, int, int, frozenset[int], frozenset[int]]]
MEMO_SIZE = 64  # memoised subtrees a session keeps (a config edit leaves old ones behind)


def held_bytes(root: Any, skip: tuple[Any, ...] = (), depth: int = 6,
               memo: HeldMemo | None = None) -> int:
    """Bytes of the NumPy arrays reachable from ``root`` (through attributes, lists, tuples
    and dicts, ``depth`` levels down), each array counted once, views of a counted array not
    at all; long lists of numbers as Python floats. What a session really holds, after it was
    made, rather than the worst case of its shapes (issue #23: the worst case locked everyone
    out while the real memory was small).

    ``memo`` (kept by the caller between calls): the bytes of deeply immutable subtrees (a
    frozen dataclass holding only scalars, tuples and frozen dataclasses: the config, the
    network's spec), so that the next count (every Play tick) adds them without walking them
    again. Exact: a subtree is reused only when it is the very same object at the same depth,
    none of its objects is counted yet, and those it met already counted are counted again
    (then its walk would count and skip the very same objects)."""
    walk = _Held(skip, memo)
    walk.visit(root, depth)
    return walk.total


class _Held:
    """held_bytes' walk. A class, not closures: a recursive closure holds itself (a cycle
    that only the garbage collector frees), and every Play tick recounts: at 60 students each
    young collection walked ~10,000 such objects."""

    def __init__(self, skip: tuple[Any, ...], memo: HeldMemo | None) -> None:
        self.seen: set[int] = {id(x) for x in skip}
        self.added: list[int] = []  # ids counted, in order (kept only with a memo)
        self.skipped: list[int] = []  # ids met again, already counted
        self.total = 0
        self.memo = memo

    def count(self, i: int) -> None:
        self.seen.add(i)
        if self.memo is not None:
            self.added.append(i)

    def visit(self, x: Any, d: int) -> bool:
        """Counts ``x``; whether its subtree is deeply immutable (memoisable)."""
        if _scalar(x):
            return True
        seen, added, skipped, memo = self.seen, self.added, self.skipped, self.memo
        if id(x) in seen:
            if memo is not None:
                skipped.append(id(x))
            return isinstance(x, tuple) or _frozen(x)
        if memo is not None:
            hit = memo.get(id(x))
            if (hit is not None and hit[0] is x and hit[1] == d and seen.isdisjoint(hit[3])
                    and hit[4] <= seen):
                seen.update(hit[3])
                added.extend(hit[3])
                skipped.extend(hit[4])
                self.total += hit[2]
                return True
        a0, s0, before = len(added), len(skipped), self.total
        self.count(id(x))
        if isinstance(x, np.ndarray):
            base = x.base if isinstance(x.base, np.ndarray) else None
            if base is not None and id(base) in seen:
                return False
            if base is not None:
                self.count(id(base))
                self.total += base.nbytes + 112
            else:
                self.total += x.nbytes + 112
            return False
        if d <= 0:
            return False
        visit = self.visit
        if isinstance(x, (list, tuple)):
            self.total += 56 + 8 * len(x)
            if len(x) > 64 and not isinstance(x[0], (np.ndarray, list, tuple)):
                self.total += PYFLOAT * len(x)  # a long list of numbers
                return False
            return all([visit(v, d - 1) for v in x]) and isinstance(x, tuple)
        if isinstance(x, dict):
            for v in x.values():
                visit(v, d - 1)
            return False
        if hasattr(x, "__dict__") or hasattr(x, "__slots__"):
            names = list(getattr(x, "__dict__", {})) + list(getattr(x, "__slots__", ()))
            values = [getattr(x, name, None) for name in names]
            fixed = all([visit(v, d - 1) for v in values]) and _frozen(x)
            # Only a subtree with more than scalars is worth it: a frozen object of scalars
            # (the optimizer's state, replaced by every update) would only fill the memo.
            if fixed and memo is not None and not all(map(_scalar, values)):
                if len(memo) >= MEMO_SIZE:
                    memo.clear()
                mine = frozenset(added[a0:])
                memo[id(x)] = (x, d, self.total - before, mine, frozenset(skipped[s0:]) - mine)
            return fixed
        return False


def _scalar(x: Any) -> bool:
    return x is None or isinstance(x, (int, float, str, bytes, bool))


def _frozen(x: Any) -> bool:
    params = getattr(type(x), "__dataclass_params__", None)
    return params is not None and bool(params.frozen)


def undo_bytes(ring: Any) -> int:
    """Bytes of an undo ring's restore points: each as an object (its estimated size) and/or as
    the bytes a store saved it as (kept beside the object once encoded)."""
    n = 0
    for e in (*ring.back, *ring.forward):
        n += 120 + (e.size if e.point is not None else 0)
        n += len(e.blob) + 33 if e.blob is not None else 0
    return n


def state_reply_bytes(layers: list[int], rows: int, history_points: int,
                      config_floats: int = 0, norms: bool = True) -> int:
    """Upper bound of a SessionState's JSON: the weights, gradients and optimizer moments
    (m and v), ``rows`` trace rows
    (z, a, delta per layer, the batch's X and Y, ŷ and the per-sample loss), the history
    points and the config (with inline data)."""
    widths = sum(layers[1:])
    n_params = sum(a * b for a, b in pairwise(layers)) + widths
    per_row = 3 * widths + layers[0] + 2 * layers[-1] + 3
    # Inline data came in a body of at most max_body_bytes: ~12 characters a number.
    return (4096 + JSON_NUMBER * (4 * n_params + rows * per_row) + 12 * config_floats
            + history_json_bytes(len(layers) - 1, norms) * history_points)


def history_json_bytes(weight_layers: int, norms: bool = True) -> int:
    """One history point as JSON at its longest: epoch, loss, test loss and mse (136 B with
    their keys) and its list of gradient norms, one number a weight layer (issue #23:
    estimated at 80 bytes, a reply of 100,000 points with norms was 27 MB, over
    max_reply_bytes)."""
    return 136 + (JSON_NUMBER * max(1, weight_layers) if norms else 0)


def config_floats(config: NormalizedConfig) -> int:
    return _sizes(config)[2]


PAGE_BASE = 120_000  # the page around the diagram: controls, formulas, tables, loss curve
PAGE_EDGE = 1050  # one connection of the diagram (measured up to ~1,010 bytes after a backward
# pass: line, title, w and Σ∂ labels; issue #23: 640 let an 11 MB page past max_reply_bytes)
PAGE_POINT = 150  # one data point on the heatmap


def page_bytes(config: NormalizedConfig) -> int:
    """Upper bound of the session page's HTML (the diagram draws every connection)."""
    layers = [int(n) for n in config.layers]
    edges = sum(a * b for a, b in pairwise(layers)) + sum(layers[1:])
    n_train, n_test, _ = _sizes(config)
    return PAGE_BASE + PAGE_EDGE * edges + PAGE_POINT * (n_train + n_test)


class PageTooLarge(Exception):
    """The session page would exceed the reply budget (HTTP 413, before it is built)."""

    def __init__(self, need: int, limit: int) -> None:
        super().__init__(
            f"This network's page could be {need / (1 << 20):.1f} MiB, over the reply budget of "
            f"{limit / (1 << 20):.1f} MiB (setting max_reply_bytes): the diagram draws every "
            "connection. Use the JSON API for this session, or create a network with fewer or "
            "narrower layers (or fewer samples).")
        self.need, self.limit = need, limit


def check_page(config: NormalizedConfig, limit: int) -> None:
    need = page_bytes(config)
    if need > limit:
        raise PageTooLarge(need, limit)


class FormTooLarge(Exception):
    """A page's form with more than max_form_fields fields (HTTP 413, before parsing it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"this form has more than {limit} fields (setting max_form_fields): "
                         "send each field once, at most one per hidden layer")
        self.limit = limit
