"""What a comparison is made of, without the web layer: the one change that forks a session
("Compare with…"), the words that name the difference between two configs (the charts'
legend), the setup link that recreates both (``/compare/new?a=…&b=…``, each half a setup link's
code, app/sessions/links.py) and the landing page's ready-made comparisons."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from app.config import Settings
from app.jsontypes import JSONObject
from app.nn import features as feats
from app.sessions import links
from app.sessions.config import ConfigError, SessionConfig, normalize, renormalize
from app.sessions.normalized import NormalizedConfig
from app.web.infra import forms
from app.web.infra.typeset import glue

# The settings "Compare with…" can change, in the form's order.
CHANGES = ("hidden_activation", "optimizer", "learning_rate", "features")


def N_(message: str) -> str:  # marked for the catalogue, translated by the template
    return message


class ForkError(ConfigError):
    """A refused "Compare with…" form: ``text`` (a catalogue message) with ``params`` says
    why in the page's language; ``msg`` is the English."""

    def __init__(self, where: str, text: str, /, **params: str) -> None:
        super().__init__((where,), text.format(**params))
        self.text, self.params = text, params


def fork_changes(form: forms.Form, cfg: NormalizedConfig) -> JSONObject:
    """The config fields the form's one change sets (ConfigError naming the field)."""
    what = form.one("change")
    if what not in CHANGES:
        raise ForkError("change", N_("Choose the setting to change: {choices}."),
                        choices=", ".join(CHANGES))
    if what == "hidden_activation":
        value = form.one("hidden_activation")
        if value not in forms.HIDDEN:
            raise ForkError(what, N_("Hidden activation must be one of {choices}."),
                            choices=", ".join(forms.HIDDEN))
        return {what: value}
    if what == "optimizer":
        value = form.one("optimizer")
        if value not in forms.OPTIMIZERS:
            raise ForkError(what, N_("Optimizer must be one of {choices}."),
                            choices=", ".join(forms.OPTIMIZERS))
        return {what: {"name": value}}
    if what == "learning_rate":
        raw = form.one("learning_rate")
        try:
            rate = float(raw)
        except ValueError:
            raise ConfigError((what,), "learning_rate must be a number") from None
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigError((what,), "learning_rate must be a number above 0")
        return {what: rate}
    chosen = form.get("features", [])
    if not chosen or len(set(chosen)) != len(chosen) or any(f not in feats.NAMES
                                                            for f in chosen):
        raise ForkError("features", N_("Input features: choose one or more different "
                                       "features of {choices}."), choices=", ".join(feats.NAMES))
    if cfg.weights is not None:
        raise ForkError("features", N_("This network starts from explicit weights for its "
                                       "inputs: its input features cannot change."))
    return {"features": list(chosen), "layers": [len(chosen), *cfg.layers[1:]]}


def fork_config(cfg: NormalizedConfig, changes: JSONObject, settings: Settings
                ) -> NormalizedConfig:
    """``cfg`` with the change (same seeds, so the same weights where the shapes agree); no
    preset name, which would no longer describe it."""
    out = replace(renormalize(cfg, changes, settings), preset=None)
    if out.to_dict() == replace(cfg, preset=None).to_dict():
        raise ForkError(next(iter(changes)), N_("This network already has that setting: choose "
                                                "another value to compare."))
    return out


def _text(key: str, value: Any, other: Any, _: Callable[[str], str]) -> str:
    if key in ("hidden_activation", "output_activation", "loss", "reduction"):
        return _(forms.option_label(str(value)))
    if key == "learning_rate":
        return f"η\u00a0=\u00a0{value:g}"
    if key == "optimizer":
        name = _(forms.option_label(value["name"]))
        if isinstance(other, dict) and other.get("name") == value["name"]:
            params = [f"{k}\u00a0=\u00a0{v}" for k, v in value.items()
                      if k != "name" and other.get(k) != v]
            return name + " " + ", ".join(params)
        return name
    if key == "features":
        return ", ".join(feats.SYMBOLS.get(f, f) for f in value)
    if key == "layers":  # never broken inside (a word joiner after each dash)
        return glue("–".join(str(n) for n in value))
    if key == "init":
        scheme = _(forms.option_label(value["scheme"]))
        if isinstance(other, dict) and other.get("scheme") == value["scheme"]:
            return f"{scheme}, seed {value['seed']}"
        return scheme
    if key == "batch_size":
        return f"batch {value if value is not None else 'all'}"
    return key


def differences(a: NormalizedConfig, b: NormalizedConfig, _: Callable[[str], str]
                ) -> tuple[str, str]:
    """Short words naming what differs (e.g. "sigmoid, Xavier (Glorot)" / "ReLU, He"); the
    same words for both when nothing does."""
    da: Mapping[str, object] = a.to_dict()
    db: Mapping[str, object] = b.to_dict()
    keys = [k for k in da if k not in ("preset", "focus", "kernel") and da[k] != db.get(k)]
    # The layer sizes follow the features: name the features only.
    if "features" in keys and "layers" in keys and a.layers[1:] == b.layers[1:]:
        keys.remove("layers")
    if not keys:
        same = _("the same setup")
        return same, same
    return (", ".join(_text(k, da[k], db.get(k), _) for k in keys[:3]),
            ", ".join(_text(k, db[k], da.get(k), _) for k in keys[:3]))


def code_of(cfg: NormalizedConfig) -> str:
    """The setup link's code of a config (ConfigError when it is too large for a link)."""
    return links.setup_url(cfg).split("c=", 1)[1]


def compare_url(a: NormalizedConfig, b: NormalizedConfig) -> str:
    return "/compare/new?" + urlencode({"a": code_of(a), "b": code_of(b)})


def ready_made(settings: Settings) -> list[dict[str, str]]:
    """The landing page's comparisons: deep sigmoid vs deep ReLU (vanishing gradients), and
    plain SGD vs Adam on the spiral (one change: the optimizer)."""
    spiral = normalize(SessionConfig(preset="spiral"), settings)
    adam = fork_config(spiral, {"optimizer": {"name": "adam"}}, settings)
    return [
        {"id": "deep-sigmoid-relu", "title": N_("deep-sigmoid vs deep-relu"),
         "href": "/compare/new?" + urlencode({"pa": "deep-sigmoid", "pb": "deep-relu"}),
         "text": N_("Vanishing gradients: the same deep network with sigmoid and with ReLU "
                    "hidden units, trained in lockstep.")},
        {"id": "spiral-sgd-adam", "title": N_("spiral: SGD vs Adam"),
         "href": "/compare/new?" + urlencode({"pa": "spiral", "b": code_of(adam)}),
         "text": N_("The spiral network with plain gradient descent and with Adam: the "
                    "same weights, the same batches, one change.")},
    ]


def config_of(settings: Settings, code: str | None, preset: str | None, field: str
              ) -> NormalizedConfig:
    """One half of /compare/new: a setup link's code, else a preset's name."""
    if code is not None:
        try:
            if len(code) > 4 * links.MAX_URL:
                raise ConfigError((field,), "too long")
            return links.config_from_link(code, settings)
        except ConfigError:
            raise ForkError(field, N_("{field} is not a Backprop Lab setup link (it may be cut "
                                      "short)."), field=field) from None
    if preset is None:
        raise ForkError(field, N_("{field} (a setup link's code) or {pfield} (a preset's "
                                  "name) is required."), field=field, pfield="p" + field)
    return normalize(SessionConfig(preset=preset), settings)
