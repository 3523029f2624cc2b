"""Edits of a session's data that keep its weights: adding a point to the training set.

The point goes into ``config.dataset.extra`` (raw coordinates and target), so the config stays
the whole truth: export, import and reset rebuild exactly the same data.
"""

from __future__ import annotations

import math

from app.config import Settings
from app.sessions.config import ConfigError, renormalize
from app.sessions.model import Session, build_data, check_focus, check_targets


def add_point(s: Session, x1: float, x2: float, y: float, settings: Settings) -> None:
    """Append (x₁, x₂) with target y to the training data; the weights stay, the pass restarts."""
    for name, v in (("x1", x1), ("x2", x2), ("y", y)):
        if not math.isfinite(v) or abs(v) > settings.max_abs_value:
            raise ConfigError((name,), f"{name} must be finite with |v| ≤ "
                              f"{settings.max_abs_value:g}")
    if s.task == "classification" and y not in (0.0, 1.0):
        raise ConfigError(("y",), f"this is a classification set: y must be 0 or 1; got {y:g}")
    d = s.config.dataset.to_dict()
    extra = [*(d.get("extra") or []), [x1, x2, y]]
    if len(s.trainer.data.X) + 1 > settings.max_samples:
        raise ConfigError(("dataset", "extra"), f"at most {settings.max_samples} samples")
    normalized = renormalize(s.config, {"dataset": {**d, "extra": extra}}, settings)
    data, task = build_data(normalized)
    check_focus(normalized, len(data.X))
    try:
        check_targets(normalized, data)
    except ConfigError as e:  # the point's own field
        raise ConfigError(("y",), e.msg) from None
    t = s.trainer
    s.config, s.task = normalized, task
    t.data = data
    # The batches of the epoch change with the data: start the epoch's batches afresh.
    t.batch_pos, t.epoch_loss_sum, t.epoch_test_loss = 0, 0.0, None
    t.mse_since = t.epoch  # earlier losses are over other data (see app/sessions/state.py)
    t.discard_pass()
    t.status = "ok"
