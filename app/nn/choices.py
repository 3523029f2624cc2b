"""The names a config may choose, each list taken from its registry, in the order the API's
schema (app/sessions/config.py) and the page's forms (app/web/infra/forms.py) show them."""

from __future__ import annotations

from app.nn import features, init, losses, optimizers
from app.nn.activations import ACTIVATIONS

# Softmax is not elementwise, so it serves the output layer only.
HIDDEN_ACTIVATIONS = tuple(name for name, act in ACTIVATIONS.items() if act.elementwise)
OUTPUT_ACTIVATIONS = tuple(ACTIVATIONS)
LOSSES = tuple(losses.LOSSES)
REDUCTIONS = losses.REDUCTIONS
INIT_SCHEMES = tuple(init.SCHEMES)
REG_KINDS = losses.REG_KINDS
FEATURES = features.NAMES
OPTIMIZERS = optimizers.NAMES
