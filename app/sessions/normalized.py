"""A normalized config: every field present, typed and immutable. ``normalize``
(app/sessions/config.py) is the only way in from user input; ``to_dict``/``from_dict`` are the
wire form (state and export replies, stored sessions, restore points, links), key for key
what the config has always been on the wire."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, NotRequired, TypeAlias, final

from typing_extensions import TypedDict

from app.nn import choices
from app.nn.kernel_slot import SessionKernel
from app.nn.optimizers import SGD, Optimizer, OptimizerDocument

# The schema's enums, built from the registries' names (app/nn/choices.py). mypy reads a
# Literal's values from the source only, so to it these are plain strings.
if TYPE_CHECKING:
    Activation: TypeAlias = str
    OutputActivation: TypeAlias = str
    FeatureName: TypeAlias = str
    LossName: TypeAlias = str
    Reduction: TypeAlias = str
    InitScheme: TypeAlias = str
    RegularizationKind: TypeAlias = str
    OptimizerName: TypeAlias = str
else:
    Activation = Literal[choices.HIDDEN_ACTIVATIONS]
    OutputActivation = Literal[choices.OUTPUT_ACTIVATIONS]
    FeatureName = Literal[choices.FEATURES]
    LossName = Literal[choices.LOSSES]
    Reduction = Literal[choices.REDUCTIONS]
    InitScheme = Literal[choices.INIT_SCHEMES]
    RegularizationKind = Literal[choices.REG_KINDS]
    OptimizerName = Literal[choices.OPTIMIZERS]

Rows = tuple[tuple[float, ...], ...]  # a matrix, one tuple per row
Lists = list[list[float]]  # a matrix on the wire


# The wire form (``to_dict``), key for key. A data set's ``extra`` (points added on the page)
# is there only when it has any; a weights entry's ``b`` only when the input listed it.
class InitDocument(TypedDict):
    low: float
    high: float
    std: float
    seed: int
    bias: float
    scheme: InitScheme


class RegularizationDocument(TypedDict):
    kind: RegularizationKind
    rate: float


class WeightsDocument(TypedDict):
    W: Lists
    b: NotRequired[list[float] | None]


@final
class InlineDocument(TypedDict):
    name: Literal["inline"]
    X: Lists
    Y: Lists
    X_test: Lists | None
    Y_test: Lists | None
    extra: NotRequired[Lists]


@final
class TruthTableDocument(TypedDict):
    name: str
    extra: NotRequired[Lists]


@final
class GeneratedDocument(TypedDict):
    name: str
    samples: int
    noise: float
    test_ratio: float
    seed: int
    extra: NotRequired[Lists]


DatasetDocument = InlineDocument | GeneratedDocument | TruthTableDocument


class ConfigDocument(TypedDict):
    layers: list[int]
    hidden_activation: Activation
    output_activation: OutputActivation
    loss: LossName
    reduction: Reduction
    learning_rate: float
    bias: bool
    train_bias: bool
    init: InitDocument
    weights: list[WeightsDocument] | None
    dataset: DatasetDocument
    batch_size: int | None
    regularization: RegularizationDocument
    focus: int
    features: list[FeatureName]
    optimizer: OptimizerDocument
    preset: str | None
    kernel: SessionKernel


def rows(m: Sequence[Sequence[float]]) -> Rows:
    return tuple(tuple(r) for r in m)


def _rows_or_none(m: Sequence[Sequence[float]] | None) -> Rows | None:
    return None if m is None else rows(m)


def _lists(m: Rows) -> list[list[float]]:
    return [list(r) for r in m]


def _lists_or_none(m: Rows | None) -> list[list[float]] | None:
    return None if m is None else _lists(m)


@dataclass(frozen=True, slots=True)
class InitParams:
    """How the initial weights are drawn (all parameters kept, whichever the scheme uses)."""

    scheme: InitScheme
    low: float
    high: float
    std: float
    seed: int
    bias: float  # the constant initial bias

    def to_dict(self) -> InitDocument:
        return {"low": self.low, "high": self.high, "std": self.std, "seed": self.seed,
                "bias": self.bias, "scheme": self.scheme}

    @classmethod
    def from_dict(cls, d: InitDocument) -> InitParams:
        return cls(d["scheme"], d["low"], d["high"], d["std"], d["seed"], d["bias"])


@dataclass(frozen=True, slots=True)
class RegularizationParams:
    kind: RegularizationKind
    rate: float

    def to_dict(self) -> RegularizationDocument:
        return {"kind": self.kind, "rate": self.rate}

    @classmethod
    def from_dict(cls, d: RegularizationDocument) -> RegularizationParams:
        return cls(d["kind"], d["rate"])


@dataclass(frozen=True, slots=True)
class InitialWeights:
    """One layer's explicit initial weights: W is n_(l-1) × n_l, b has n_l entries or None."""

    W: Rows
    b: tuple[float, ...] | None
    # Whether the input listed b (as null, with bias off): the wire form keeps the key or not.
    b_listed: bool = True

    def to_dict(self) -> WeightsDocument:
        out: WeightsDocument = {"W": _lists(self.W)}
        if self.b is not None or self.b_listed:
            out["b"] = None if self.b is None else list(self.b)
        return out

    @classmethod
    def from_dict(cls, d: WeightsDocument) -> InitialWeights:
        b = d.get("b")
        return cls(rows(d["W"]), None if b is None else tuple(b), "b" in d)


@dataclass(frozen=True, slots=True)
class InlineData:
    """The user's own data; ``extra``: points added on the page, rows [x₁, x₂, y]."""

    X: Rows
    Y: Rows
    X_test: Rows | None
    Y_test: Rows | None
    extra: Rows | None = None
    name: ClassVar[str] = "inline"

    def to_dict(self) -> InlineDocument:
        out: InlineDocument = {"name": "inline", "X": _lists(self.X), "Y": _lists(self.Y),
                               "X_test": _lists_or_none(self.X_test),
                               "Y_test": _lists_or_none(self.Y_test)}
        if self.extra is not None:
            out["extra"] = _lists(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class TruthTable:
    """xor, and, or: four fixed rows, no parameters."""

    name: str
    extra: Rows | None = None

    def to_dict(self) -> TruthTableDocument:
        out: TruthTableDocument = {"name": self.name}
        if self.extra is not None:
            out["extra"] = _lists(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class GeneratedData:
    """A generated 2-D set: its size, noise, held-out share and seed."""

    name: str
    samples: int
    noise: float
    test_ratio: float
    seed: int
    extra: Rows | None = None

    def to_dict(self) -> GeneratedDocument:
        out: GeneratedDocument = {"name": self.name, "samples": self.samples,
                                  "noise": self.noise, "test_ratio": self.test_ratio,
                                  "seed": self.seed}
        if self.extra is not None:
            out["extra"] = _lists(self.extra)
        return out


Dataset = InlineData | TruthTable | GeneratedData


def dataset_from_dict(d: DatasetDocument) -> Dataset:
    extra = _rows_or_none(d.get("extra"))
    if "X" in d:  # (only the inline form has X)
        return InlineData(rows(d["X"]), rows(d["Y"]), _rows_or_none(d.get("X_test")),
                          _rows_or_none(d.get("Y_test")), extra)
    if "samples" in d:
        return GeneratedData(d["name"], d["samples"], d["noise"], d["test_ratio"], d["seed"],
                             extra)
    return TruthTable(d["name"], extra)


@dataclass(frozen=True, slots=True)
class NormalizedConfig:
    """A session's complete config (the fields in the wire form's order)."""

    layers: tuple[int, ...]  # neurons per layer, input first
    hidden_activation: Activation
    output_activation: OutputActivation
    loss: LossName
    reduction: Reduction
    learning_rate: float
    bias: bool
    train_bias: bool
    init: InitParams
    weights: tuple[InitialWeights, ...] | None  # explicit initial weights, else drawn by init
    dataset: Dataset
    batch_size: int | None  # None: full batch
    regularization: RegularizationParams
    focus: int  # the training sample the trace follows
    features: tuple[FeatureName, ...]
    preset: str | None = None
    # The training kernel, fixed at creation (app/nn/kernel_slot.py): "numpy" or "compiled".
    kernel: SessionKernel = "numpy"
    optimizer: Optimizer = SGD  # app/nn/optimizers.py; plain SGD unless chosen

    @property
    def shuffle_seed(self) -> int:
        """The mini-batch shuffle's seed (the Trainer reads it here): the init seed."""
        return self.init.seed

    @property
    def activations(self) -> tuple[OutputActivation, ...]:
        """The activation of each layer 1..L (hidden ones, then the output's)."""
        hidden: tuple[OutputActivation, ...] = (self.hidden_activation,) * (len(self.layers) - 2)
        return (*hidden, self.output_activation)

    def to_dict(self) -> ConfigDocument:
        return {
            "layers": list(self.layers),
            "hidden_activation": self.hidden_activation,
            "output_activation": self.output_activation,
            "loss": self.loss,
            "reduction": self.reduction,
            "learning_rate": self.learning_rate,
            "bias": self.bias,
            "train_bias": self.train_bias,
            "init": self.init.to_dict(),
            "weights": None if self.weights is None else [w.to_dict() for w in self.weights],
            "dataset": self.dataset.to_dict(),
            "batch_size": self.batch_size,
            "regularization": self.regularization.to_dict(),
            "focus": self.focus,
            "features": list(self.features),
            "optimizer": self.optimizer.to_dict(),
            "preset": self.preset,
            "kernel": self.kernel,
        }

    @classmethod
    def from_dict(cls, d: ConfigDocument) -> NormalizedConfig:
        """A config as ``to_dict`` wrote it (a stored session, a restore point): trusted, not
        checked again (user input goes through ``normalize``). Sessions stored before input
        features, the focus sample and optimizers existed have none: the plane's x1, x2,
        sample 0 and plain SGD; those stored before the kernel was fixed per session train on
        NumPy."""
        ws = d.get("weights")
        return cls(
            layers=tuple(d["layers"]),
            hidden_activation=d["hidden_activation"],
            output_activation=d["output_activation"],
            loss=d["loss"],
            reduction=d["reduction"],
            learning_rate=d["learning_rate"],
            bias=d["bias"],
            train_bias=d["train_bias"],
            init=InitParams.from_dict(d["init"]),
            weights=None if ws is None else tuple(InitialWeights.from_dict(w) for w in ws),
            dataset=dataset_from_dict(d["dataset"]),
            batch_size=d.get("batch_size"),
            regularization=RegularizationParams.from_dict(d["regularization"]),
            focus=d.get("focus") or 0,
            features=tuple(d.get("features") or ("x1", "x2")),
            preset=d.get("preset"),
            kernel=d.get("kernel") or "numpy",
            optimizer=Optimizer.from_dict(d.get("optimizer")),
        )
