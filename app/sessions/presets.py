"""The named configs (GET /api/v1/presets) and the defaults a config falls back on: the base
every preset and every request without one starts from, and the defaults of an init and of a
generated data set."""

from __future__ import annotations

from typing_extensions import TypedDict

from app.jsontypes import JSONObject
from app.sessions.normalized import InitParams


class GeneratedDefaults(TypedDict):
    samples: int
    noise: float
    test_ratio: float
    seed: int


class Preset(TypedDict):
    description: str
    config: JSONObject  # a SessionConfig's fields, as a request would give them


# What an init leaves out (its scheme: xavier).
INIT_DEFAULTS = InitParams("xavier", low=0.0, high=1.0, std=1.0, seed=0, bias=0.0)
GENERATED_DEFAULTS: GeneratedDefaults = {"samples": 200, "noise": 0.1, "test_ratio": 0.5,
                                         "seed": 0}

BASE: JSONObject = {
    "layers": [2, 4, 1],
    "hidden_activation": "sigmoid",
    "output_activation": "sigmoid",
    "loss": "squared_error",
    "reduction": "sum",
    "learning_rate": 0.1,
    "bias": True,
    "train_bias": True,
    "init": {"scheme": "xavier", "seed": 1},
    "weights": None,
    "dataset": {"name": "xor"},
    "batch_size": None,
    "regularization": {"kind": "none", "rate": 0.0},
    "focus": None,  # resolved in normalize(): an informative sample
    "features": ["x1", "x2"],
    "optimizer": {"name": "sgd"},
}

def _deep(hidden: str, scheme: str) -> JSONObject:
    """The deep-sigmoid / deep-relu pair: one network, two hidden activations."""
    return {**BASE, "layers": [2, 6, 6, 6, 6, 6, 1], "hidden_activation": hidden,
            "loss": "binary_cross_entropy", "reduction": "mean", "learning_rate": 0.3,
            "init": {"scheme": scheme, "seed": 0}, "dataset": {"name": "circle"},
            "batch_size": 10}


PRESETS: dict[str, Preset] = {
    "seed-xor": {
        "description": "The lesson's network exactly: 2-4-1 sigmoid, ½Σ squared error, η = 0.1, "
        "no biases, uniform [0, 1) weights from seed 1, XOR, full batch.",
        # NumPy: bit for bit the lesson's own loop, so its printed losses match to the last digit.
        "config": {**BASE, "bias": False, "init": {"scheme": "uniform", "low": 0.0, "high": 1.0,
                                                   "seed": 1}, "kernel": "numpy"},
    },
    "xor-bias": {
        "description": "XOR with biases and tanh hidden units: learns in a few hundred epochs.",
        "config": {**BASE, "layers": [2, 3, 1], "hidden_activation": "tanh",
                   "learning_rate": 0.5, "init": {"scheme": "xavier", "seed": 3}},
    },
    "and-perceptron": {
        "description": "One sigmoid neuron learns AND: the smallest network with a gradient.",
        "config": {**BASE, "layers": [2, 1], "learning_rate": 1.0, "dataset": {"name": "and"}},
    },
    "worked-example": {
        "description": "Matt Mazur's 2-2-2 step-by-step example (weights, biases, targets 0.01 / "
        "0.99, η = 0.5): one update reproduces his published numbers. Biases are frozen, as "
        "in his walk-through.",
        "config": {
            **BASE,
            "layers": [2, 2, 2],
            "learning_rate": 0.5,
            "train_bias": False,
            "weights": [
                {"W": [[0.15, 0.25], [0.20, 0.30]], "b": [0.35, 0.35]},
                {"W": [[0.40, 0.50], [0.45, 0.55]], "b": [0.60, 0.60]},
            ],
            "dataset": {"name": "inline", "X": [[0.05, 0.10]], "Y": [[0.01, 0.99]]},
        },
    },
    "circle": {
        "description": "Inside or outside a circle: 2-4-1 tanh, binary cross-entropy.",
        "config": {**BASE, "layers": [2, 4, 1], "hidden_activation": "tanh",
                   "loss": "binary_cross_entropy", "reduction": "mean", "learning_rate": 0.3,
                   "dataset": {"name": "circle"}, "batch_size": 10},
    },
    "spiral": {
        "description": "Two interleaved spirals: a deeper tanh network, mini-batches of 10.",
        "config": {**BASE, "layers": [2, 8, 8, 1], "hidden_activation": "tanh",
                   "loss": "binary_cross_entropy", "reduction": "mean", "learning_rate": 0.1,
                   "dataset": {"name": "spiral", "samples": 400}, "batch_size": 10},
    },
    "gauss-softmax": {
        "description": "Two Gaussian clusters, two softmax outputs and cross-entropy.",
        "config": {**BASE, "layers": [2, 3, 2], "hidden_activation": "relu",
                   "output_activation": "softmax", "loss": "cross_entropy",
                   "reduction": "mean", "learning_rate": 0.1, "init": {"scheme": "he", "seed": 0},
                   "dataset": {"name": "gauss"}},
    },
    "deep-sigmoid": {
        "description": "Vanishing gradients: five sigmoid hidden layers on the circle. The "
        "gradient-norm chart shows ‖∂L/∂W‖ shrinking layer by layer towards the input; "
        "compare deep-relu, the same network with ReLU.",
        "config": _deep("sigmoid", "xavier"),
    },
    "deep-relu": {
        "description": "The deep-sigmoid network with ReLU hidden units and He initialisation: "
        "the gradient norms of all layers stay within the same order of magnitude.",
        "config": _deep("relu", "he"),
    },
    "plane-regression": {
        "description": "Regression of a tilted plane with a linear output.",
        "config": {**BASE, "layers": [2, 3, 1], "hidden_activation": "tanh",
                   "output_activation": "linear", "reduction": "mean", "learning_rate": 0.05,
                   "dataset": {"name": "plane"}, "batch_size": 20},
    },
}
