"""The landing page's custom-network form: parsing urlencoded fields into a SessionConfig,
the +/− layer buttons, and the settings (PATCH) form of the session page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl

from app.config import Settings
from app.jsontypes import JSONObject
from app.nn import choices, datasets
from app.sessions.budget import FormTooLarge
from app.sessions.config import GENERATED_DEFAULTS, ConfigError

# The form's options: the registries' names (app/nn/choices.py), in the API schema's order.
HIDDEN = choices.HIDDEN_ACTIVATIONS
OUTPUT = choices.OUTPUT_ACTIVATIONS
LOSSES = choices.LOSSES
SCHEMES = choices.INIT_SCHEMES
REG_KINDS = choices.REG_KINDS
REDUCTIONS = choices.REDUCTIONS
OPTIMIZERS = choices.OPTIMIZERS
# The settings form's field of each optimizer parameter (eps has one per optimizer).
OPTIMIZER_FIELDS: dict[str, dict[str, str]] = {
    "sgd": {},
    "momentum": {"momentum": "opt_momentum"},
    "rmsprop": {"alpha": "opt_alpha", "eps": "opt_rms_eps"},
    "adam": {"beta1": "opt_beta1", "beta2": "opt_beta2", "eps": "opt_adam_eps"},
}

Num = TypeVar("Num", int, float)


def N_(message: str) -> str:
    return message


# What a page shows for each API value (the value itself is what the form sends).
OPTION_LABELS: dict[str, str] = {
    "sigmoid": N_("sigmoid"), "tanh": N_("tanh"), "relu": N_("ReLU"),
    "leaky_relu": N_("leaky ReLU"), "linear": N_("linear (identity)"), "softmax": N_("softmax"),
    "squared_error": N_("squared error"), "binary_cross_entropy": N_("binary cross-entropy"),
    "cross_entropy": N_("cross-entropy"), "sum": N_("sum"), "mean": N_("mean"),
    "none": N_("none"), "l1": N_("L1"), "l2": N_("L2"),
    "uniform": N_("uniform"), "normal": N_("normal (Gaussian)"), "xavier": N_("Xavier (Glorot)"),
    "he": N_("He"),
    "xor": N_("XOR"), "and": N_("AND"), "or": N_("OR"), "circle": N_("circle (two rings)"),
    "xor_scatter": N_("XOR scatter"), "gauss": N_("two Gaussian blobs"), "spiral": N_("spiral"),
    "plane": N_("plane (regression)"), "multi_gauss": N_("Gaussian bumps (regression)"),
    "inline": N_("inline data"),
    "sgd": N_("plain gradient descent (SGD)"), "momentum": N_("momentum"),
    "rmsprop": N_("RMSprop"), "adam": N_("Adam"),
}


def option_label(value: str) -> str:
    """The (untranslated) label of an API value; unknown values show as themselves."""
    return OPTION_LABELS.get(value, value)


class Form(dict[str, list[str]]):
    """Urlencoded fields (every value a list, in order)."""

    @classmethod
    def parse(cls, body: bytes, max_fields: int = 200) -> Form:
        """Refuses (FormTooLarge, HTTP 413) more than ``max_fields`` fields before parsing."""
        if body.count(b"&") >= max_fields:
            raise FormTooLarge(max_fields)
        f = cls()
        for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                              max_num_fields=max_fields):
            f.setdefault(k, []).append(v)
        return f

    def one(self, key: str, default: str = "") -> str:
        v = self.get(key)
        return v[0].strip() if v else default


def small_int(raw: str, below: int) -> int | None:
    """``raw`` as a whole number 0..below−1 written in ASCII digits, else None. (Not
    ``str.isdigit()`` alone: it accepts '²' and '٣', which ``int()`` refuses or reads, and
    thousands of digits, which ``int()`` refuses: both were 500s.)"""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(below)):
        return None
    n = int(raw)
    return n if n < below else None


def _number(form: Form, key: str, loc: tuple[str, ...], default: Num | None,
            parse: Callable[[str], Num], what: str) -> Num | None:
    """The field parsed by ``parse``; ``default`` when empty; else ConfigError at ``loc``."""
    raw = form.one(key)
    if raw == "":
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ConfigError(loc, f"{loc[-1]} must be {what}") from None


def as_float(form: Form, key: str, loc: tuple[str, ...], default: float | None = None
             ) -> float | None:
    return _number(form, key, loc, default, float, "a number")


def as_int(form: Form, key: str, loc: tuple[str, ...], default: int | None = None
           ) -> int | None:
    return _number(form, key, loc, default, int, "a whole number")


@dataclass
class NetworkForm:
    hidden: list[int] = field(default_factory=lambda: [4])
    hidden_activation: str = "tanh"
    output_activation: str = "sigmoid"
    loss: str = "squared_error"
    reduction: str = "mean"
    learning_rate: str = "0.3"
    bias: bool = True
    train_bias: bool = True
    init_scheme: str = "xavier"
    init_seed: str = "1"
    init_low: str = "0"
    init_high: str = "1"
    init_std: str = "1"
    dataset: str = "circle"
    samples: str = str(GENERATED_DEFAULTS["samples"])
    noise: str = str(GENERATED_DEFAULTS["noise"])
    test_ratio: str = str(GENERATED_DEFAULTS["test_ratio"])
    data_seed: str = str(GENERATED_DEFAULTS["seed"])
    batch_size: str = "10"
    reg_kind: str = "none"
    reg_rate: str = "0"

    @classmethod
    def from_form(cls, form: Form, settings: Settings) -> NetworkForm:
        f = cls()
        hidden = []
        for raw in form.get("hidden", []):
            try:
                hidden.append(int(raw))
            except ValueError:
                hidden.append(1)
        f.hidden = [max(1, min(settings.max_neurons, n)) for n in hidden]
        for key in ("hidden_activation", "output_activation", "loss", "reduction",
                    "learning_rate", "init_scheme", "init_seed", "init_low", "init_high",
                    "init_std", "dataset", "samples", "noise", "test_ratio", "data_seed",
                    "batch_size", "reg_kind", "reg_rate"):
            if key in form:
                setattr(f, key, form.one(key))
        f.bias = form.one("bias") == "on"
        f.train_bias = form.one("train_bias") == "on"
        return f

    def apply(self, action: str, settings: Settings) -> None:
        """The +/− buttons: 'inc:K', 'dec:K', 'add', 'remove'."""
        verb, _, arg = action.partition(":")
        k = small_int(arg, len(self.hidden))
        if verb in ("inc", "dec") and k is not None:
            step = 1 if verb == "inc" else -1
            self.hidden[k] = max(1, min(settings.max_neurons, self.hidden[k] + step))
        elif verb == "add" and len(self.hidden) + 2 < settings.max_layers:
            self.hidden.append(self.hidden[-1] if self.hidden else 4)
        elif verb == "remove" and self.hidden:
            self.hidden.pop()

    def to_config(self, form: Form) -> JSONObject:
        n_out = 2 if self.output_activation == "softmax" else 1
        cfg: JSONObject = {
            "layers": [2, *self.hidden, n_out],
            "hidden_activation": self.hidden_activation,
            "output_activation": self.output_activation,
            "loss": self.loss,
            "reduction": self.reduction,
            "learning_rate": as_float(form, "learning_rate", ("learning_rate",)),
            "bias": self.bias,
            "train_bias": self.train_bias,
            "batch_size": as_int(form, "batch_size", ("batch_size",)),
            "regularization": {"kind": self.reg_kind,
                               "rate": as_float(form, "reg_rate", ("regularization", "rate"),
                                                0.0)},
        }
        init: JSONObject = {"scheme": self.init_scheme,
                                "seed": as_int(form, "init_seed", ("init", "seed"), 0)}
        if self.init_scheme == "uniform":
            init["low"] = as_float(form, "init_low", ("init", "low"), 0.0)
            init["high"] = as_float(form, "init_high", ("init", "high"), 1.0)
        elif self.init_scheme == "normal":
            init["std"] = as_float(form, "init_std", ("init", "std"), 1.0)
        cfg["init"] = init
        ds: JSONObject = {"name": self.dataset}
        if self.dataset in datasets.GENERATED:
            ds["samples"] = as_int(form, "samples", ("dataset", "samples"))
            ds["noise"] = as_float(form, "noise", ("dataset", "noise"))
            ds["test_ratio"] = as_float(form, "test_ratio", ("dataset", "test_ratio"))
            ds["seed"] = as_int(form, "data_seed", ("dataset", "seed"))
        cfg["dataset"] = {k: v for k, v in ds.items() if v is not None}
        return {k: v for k, v in cfg.items() if v is not None}


def settings_changes(form: Form) -> JSONObject:
    """The PATCH-able fields present in the session page's settings form (a regularization
    change names only what the form has; the PATCH merges it into the session's)."""
    changes: JSONObject = {}
    if "learning_rate" in form:
        changes["learning_rate"] = as_float(form, "learning_rate", ("learning_rate",))
    if "batch_size" in form:
        changes["batch_size"] = as_int(form, "batch_size", ("batch_size",))
    if "reg_kind" in form or "reg_rate" in form:
        reg: JSONObject = {}
        if "reg_kind" in form:
            reg["kind"] = form.one("reg_kind")
        if "reg_rate" in form:
            reg["rate"] = as_float(form, "reg_rate", ("regularization", "rate"), 0.0)
        changes["regularization"] = reg
    if "focus" in form:  # the batch table's buttons: a position from 0
        changes["focus"] = as_int(form, "focus", ("focus",), 0)
    if "focus_number" in form:  # the Settings field: samples are numbered from 1 on the page
        changes["focus"] = (as_int(form, "focus_number", ("focus",), 1) or 1) - 1
    if "has_train_bias" in form:
        changes["train_bias"] = form.one("train_bias") == "on"
    if "opt_name" in form:
        changes["optimizer"] = optimizer_change(form)
    return changes


def optimizer_change(form: Form) -> JSONObject:
    """The chosen optimizer with the fields of its own parameters (the form shows every
    optimizer's; the others' are ignored). An empty field takes the default."""
    name = form.one("opt_name")
    out: JSONObject = {"name": name}
    for param, key in OPTIMIZER_FIELDS.get(name, {}).items():
        value = as_float(form, key, ("optimizer", param))
        if value is not None:
            out[param] = value
    if name == "momentum":
        out["nesterov"] = form.one("opt_nesterov") == "on"
    return out


