"""Training configuration: frozen dataclasses, unknown keys are errors, JSON round trip."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from calolab.core.errors import ConfigError
from calolab.models.registry import TASKS, ModelConfig, _options_from_dict, _to_jsonable

LOSSES = {
    "regression": ("mse", "rel", "huber-frac"),
    "classification": ("cross-entropy",),
}
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("none", "onecycle", "cosine")
DEVICES = ("auto", "cpu", "cuda")
#: Which epoch's model a gradient-trained run keeps (see :class:`TrainConfig`).
KEEPS = ("best", "last")
#: Fields added after runs were first hashed, left out of :meth:`TrainConfig.to_dict` (and so
#: of the config hash) at these default values, so that existing runs keep their hash.
_HASH_NEUTRAL_DEFAULTS = {"keep": "best"}


#: Largest k-fold ensemble (each member is a full training run).
MAX_ENSEMBLE = 100
#: Largest number of epochs and events per optimisation step.
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 1 << 20


@dataclass(frozen=True)
class DataConfig:
    """Where the training data come from.

    Parameters
    ----------
    path:
        The training file.
    kind:
        Dataset kind (``"showers"``: calolab/CaloChallenge HDF5; others are registered with
        :func:`calolab.training.datasets.register_dataset_kind`).
    target:
        ``"energy"`` (regression, GeV) or ``"particle"`` (classification by primary particle).
    classes:
        Class names for classification (particle names such as ``"gamma"``, ``"pi0"`` for
        shower files); empty for regression.
    val_fraction:
        Fraction of the events held out for validation / early stopping (single models).
        Ensembles of k members use k-fold splits instead.
    max_events:
        Use only the first ``max_events`` events of the file.
    options:
        Options of the dataset kind (for ``"showers"``:
        :class:`~calolab.training.datasets.ShowerDataOptions`).
    """

    path: str
    kind: str = "showers"
    target: str = "energy"
    classes: tuple[str, ...] = ()
    val_fraction: float = 0.1
    max_events: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path or "\x00" in self.path:
            raise ConfigError(f"data: path {self.path!r} must be a file name (without NUL)")
        if self.target not in {"energy", "particle"}:
            raise ConfigError(f"data: target {self.target!r} must be 'energy' or 'particle'")
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        if self.target == "particle" and len(self.classes) < 2:
            raise ConfigError(
                "data: classification needs at least 2 classes, e.g. classes=('gamma', 'pi0')"
            )
        if not (
            isinstance(self.val_fraction, int | float)
            and math.isfinite(self.val_fraction)
            and 0 <= self.val_fraction < 1
        ):
            raise ConfigError(f"data: val_fraction {self.val_fraction!r} must be in [0, 1)")
        if self.max_events is not None and (
            isinstance(self.max_events, bool)
            or not isinstance(self.max_events, int)
            or self.max_events < 2
        ):
            raise ConfigError(f"data: max_events {self.max_events!r} must be an integer >= 2")
        object.__setattr__(self, "options", dict(self.options))

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> DataConfig:
        return _options_from_dict(DataConfig, "data config", dict(data))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run.

    Parameters
    ----------
    model:
        The model (:class:`~calolab.models.ModelConfig`).
    data:
        The training data (:class:`DataConfig`).
    task:
        ``"regression"`` or ``"classification"``.
    loss:
        Regression: ``"mse"`` (GeV²), ``"rel"`` ⟨(E_pred − E_true)²/E_true⟩ (GeV) or
        ``"huber-frac"`` (huberised fractional squared error, switch point = 68th percentile
        of |E_pred/E_true − 1| in bins of true energy, updated every epoch);
        classification: ``"cross-entropy"``.
    optimizer, lr, weight_decay:
        ``"adam"`` or ``"adamw"``, learning rate, weight decay.
    schedule:
        ``"none"``, ``"onecycle"`` (one-cycle cosine, peak ``lr``) or ``"cosine"`` (cosine
        annealing from ``lr`` to 0).
    epochs, batch_size:
        Maximum number of epochs; events per optimisation step.
    grad_clip:
        Maximum gradient norm (``None``: no clipping).
    patience:
        Early stopping: stop after this many epochs without a better validation loss
        (``None``: never); with the one-cycle schedule the count starts after its warm-up
        (the first 30 % of the epochs). Which model is kept, stopped early or not, says
        ``keep``.
    keep:
        ``"best"`` (default): the model of the epoch with the lowest validation loss;
        ``"last"``: the model of the last epoch. Keep the last for a convex fit trained to
        convergence with an annealed schedule (``"cosine"``). There the best-validation
        epoch is often an early, unconverged one, picked by the validation set's noise. A
        model that starts at a closed-form calibration still keeps its start unless training
        beats it significantly.
    ensemble:
        Number of members k; k > 1 trains k models on k-fold splits.
    seed:
        Seed of the split, the initialisation, the data order and dropout.
    device:
        ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
    amp:
        Mixed precision (float16 autocast + gradient scaling) when running on CUDA.
    huber_bins:
        Bins of true energy (equal population) of the huberised fractional loss.
    num_workers:
        DataLoader worker processes (0: read in the main process).
    """

    model: ModelConfig
    data: DataConfig
    task: str = "regression"
    loss: str = "mse"
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-5
    schedule: str = "onecycle"
    epochs: int = 50
    batch_size: int = 256
    grad_clip: float | None = 1.0
    patience: int | None = 10
    keep: str = "best"
    ensemble: int = 1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    huber_bins: int = 10
    num_workers: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise ConfigError("train config: model must be a ModelConfig")
        if not isinstance(self.data, DataConfig):
            raise ConfigError("train config: data must be a DataConfig")
        if self.task not in TASKS:
            raise ConfigError(f"task {self.task!r} must be one of {', '.join(TASKS)}")
        if (self.task == "classification") != (self.data.target == "particle"):
            raise ConfigError(
                f"task '{self.task}' needs data target "
                f"'{'particle' if self.task == 'classification' else 'energy'}', "
                f"got '{self.data.target}'"
            )
        if self.loss not in LOSSES[self.task]:
            raise ConfigError(
                f"loss {self.loss!r} is not available for {self.task}; "
                f"choose one of {', '.join(LOSSES[self.task])}"
            )
        honoured = self.model.kind.losses
        if honoured and self.task == "regression" and self.loss not in honoured:
            raise ConfigError(
                f"model '{self.model.name}' is fitted in closed form and honours the loss(es) "
                f"{', '.join(honoured)}, not {self.loss!r}; choose one of those, or a model "
                "trained by gradient descent (per-layer, mlp)"
            )
        if self.task not in self.model.kind.tasks:
            raise ConfigError(
                f"model '{self.model.name}' does not support {self.task} "
                f"(it supports {', '.join(self.model.kind.tasks)})"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer {self.optimizer!r} must be one of {', '.join(OPTIMIZERS)}"
            )
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule {self.schedule!r} must be one of {', '.join(SCHEDULES)}")
        if self.device not in DEVICES:
            raise ConfigError(f"device {self.device!r} must be one of {', '.join(DEVICES)}")
        for name in ("lr",):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} {v!r} must be a number > 0")
        if not (
            isinstance(self.weight_decay, int | float)
            and math.isfinite(self.weight_decay)
            and self.weight_decay >= 0
        ):
            raise ConfigError(f"weight_decay {self.weight_decay!r} must be a number >= 0")
        for name, minimum in (
            ("epochs", 1),
            ("batch_size", 1),
            ("ensemble", 1),
            ("seed", 0),
            ("huber_bins", 1),
            ("num_workers", 0),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                raise ConfigError(f"{name} {v!r} must be an integer >= {minimum}")
        for name, maximum in (
            ("ensemble", MAX_ENSEMBLE),
            ("epochs", MAX_EPOCHS),
            ("batch_size", MAX_BATCH_SIZE),
        ):
            if getattr(self, name) > maximum:
                raise ConfigError(
                    f"{name} {getattr(self, name):,} is more than the {maximum:,} calolab allows"
                )
        if self.grad_clip is not None and not (
            isinstance(self.grad_clip, int | float) and self.grad_clip > 0
        ):
            raise ConfigError(f"grad_clip {self.grad_clip!r} must be > 0 (or None for no clipping)")
        if self.patience is not None and (
            isinstance(self.patience, bool)
            or not isinstance(self.patience, int)
            or self.patience < 1
        ):
            raise ConfigError(f"patience {self.patience!r} must be an integer >= 1 (or None)")
        if self.keep not in KEEPS:
            raise ConfigError(
                f"keep {self.keep!r} must be one of {', '.join(KEEPS)} (which epoch's model "
                "the run keeps)"
            )

    @property
    def n_outputs(self) -> int:
        return len(self.data.classes) if self.task == "classification" else 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in _HASH_NEUTRAL_DEFAULTS and v == _HASH_NEUTRAL_DEFAULTS[f.name]:
                continue
            out[f.name] = v.to_dict() if hasattr(v, "to_dict") else _to_jsonable(v)
        return out

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> TrainConfig:
        data = dict(data)
        for key in ("model", "data"):
            if key not in data:
                raise ConfigError(f"train config: '{key}' is missing")
        data["model"] = ModelConfig.from_dict(data["model"])
        data["data"] = DataConfig.from_dict(data["data"])
        return _options_from_dict(TrainConfig, "train config", data)

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the config."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
