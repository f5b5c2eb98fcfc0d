"""Model configuration and the registry of model kinds.

A model is built from one :class:`ModelConfig` (name + options) plus the input shapes of the
data, so that a checkpoint can rebuild exactly the same architecture. Other packages add model
kinds with :func:`register_model`::

    register_model(ModelKind(
        name="resnet18", options=ResNetOptions, build=build_resnet,
        inputs=lambda opts: ("image",), tasks=("classification",), fit="gradient"))

Every model is an ``nn.Module`` whose ``forward(inputs)`` takes a dict of tensors (see
:mod:`calolab.models.normalization` for the input names) and returns ``(N,)`` energies in GeV
(regression) or ``(N, n_classes)`` logits (classification).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from calolab.core.errors import ConfigError

TASKS = ("regression", "classification")


@dataclass(frozen=True)
class ModelKind:
    """A registered model kind.

    Parameters
    ----------
    name:
        Name used in configs and on the command line (``--model NAME``).
    options:
        Frozen dataclass of the kind's hyperparameters (unknown keys are errors).
    build:
        ``build(options, shapes, task, n_outputs) -> nn.Module``; ``shapes`` maps input name to
        shape without the batch axis.
    inputs:
        ``inputs(options) -> tuple of input names`` the model needs.
    tasks:
        Tasks the model supports.
    fit:
        ``"none"`` (no parameters), ``"closed_form"`` (the model has ``fit_closed_form``) or
        ``"gradient"``.
    description:
        One line for ``--help``.
    losses:
        Losses the kind can honour (empty: every loss of its task). A closed-form fit lists
        those it minimises exactly; a run with another loss is refused.
    """

    name: str
    options: type
    build: Callable[..., nn.Module]
    inputs: Callable[[Any], tuple[str, ...]]
    tasks: tuple[str, ...] = ("regression",)
    fit: str = "gradient"
    description: str = ""
    losses: tuple[str, ...] = ()


MODEL_KINDS: dict[str, ModelKind] = {}


def register_model(kind: ModelKind) -> None:
    """Add (or replace) a model kind in the registry."""
    if kind.fit not in {"none", "closed_form", "gradient"}:
        raise ConfigError(
            f"model kind '{kind.name}': fit {kind.fit!r} is not none|closed_form|gradient"
        )
    MODEL_KINDS[kind.name] = kind


def model_kind(name: str) -> ModelKind:
    from calolab.models import _register_builtin

    _register_builtin()
    try:
        return MODEL_KINDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model '{name}'; available: {', '.join(sorted(MODEL_KINDS))}"
        ) from None


def _options_from_dict(cls: type, where: str, data: Mapping[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for k, v in data.items():
        default = fields[k].default
        if isinstance(v, list):
            v = tuple(tuple(x) if isinstance(x, list) else x for x in v)
        if isinstance(default, tuple) and v is not None and not isinstance(v, tuple):
            v = (v,)
        kwargs[k] = v
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.init
        }
    if isinstance(value, tuple | list):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ModelConfig:
    """Which model and its hyperparameters.

    Parameters
    ----------
    name:
        A registered model kind (``sum``, ``linear``, ``per-layer``, ``mlp``, ``cnn3d``, ...).
    options:
        The kind's options dataclass, or a dict of its fields (unknown keys are errors).
    """

    name: str
    options: Any = field(default=None)

    def __post_init__(self) -> None:
        kind = model_kind(self.name)
        opts = self.options
        if opts is None:
            opts = kind.options()
        elif isinstance(opts, Mapping):
            opts = _options_from_dict(kind.options, f"model '{self.name}'", opts)
        elif not isinstance(opts, kind.options):
            raise ConfigError(
                f"model '{self.name}': options must be a {kind.options.__name__} or a dict, "
                f"got {type(opts).__name__}"
            )
        object.__setattr__(self, "options", opts)

    @property
    def kind(self) -> ModelKind:
        return model_kind(self.name)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Input names the model needs."""
        return tuple(self.kind.inputs(self.options))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": _to_jsonable(self.options)}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> ModelConfig:
        unknown = sorted(set(data) - {"name", "options"})
        if unknown:
            raise ConfigError(f"model config: unknown key(s) {', '.join(unknown)}")
        if "name" not in data:
            raise ConfigError("model config: 'name' is missing")
        return ModelConfig(str(data["name"]), dict(data.get("options") or {}))


def architecture_hash(
    config: ModelConfig, shapes: Mapping[str, tuple[int, ...]], task: str, n_outputs: int
) -> str:
    """SHA-256 of everything that fixes the parameter shapes: model config, inputs, outputs."""
    blob = json.dumps(
        {
            "model": config.to_dict(),
            "shapes": {k: list(v) for k, v in sorted(shapes.items())},
            "task": task,
            "n_outputs": n_outputs,
        },
        sort_keys=True,
    ).encode()
    return hashlib.sha256(blob).hexdigest()


def build_model(
    config: ModelConfig,
    shapes: Mapping[str, tuple[int, ...]],
    *,
    task: str = "regression",
    n_outputs: int = 1,
    stats: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Build a model from its config and the input shapes.

    Parameters
    ----------
    config:
        The model config.
    shapes:
        Input name → shape without the batch axis (from the dataset).
    task:
        ``"regression"`` (one output, energy in GeV) or ``"classification"`` (logits).
    n_outputs:
        1 for regression, the number of classes for classification.
    stats:
        Normalisation statistics (:class:`~calolab.models.normalization.StatsAccumulator`);
        ``None`` when the weights will be loaded from a checkpoint.
    """
    kind = config.kind
    if task not in TASKS:
        raise ConfigError(f"task {task!r} must be one of {', '.join(TASKS)}")
    if task not in kind.tasks:
        raise ConfigError(
            f"model '{config.name}' does not support task '{task}' (it supports "
            f"{', '.join(kind.tasks)}); for {task} use one of "
            f"{', '.join(sorted(n for n, k in MODEL_KINDS.items() if task in k.tasks))}"
        )
    missing = [k for k in config.inputs if k not in shapes]
    if missing:
        raise ConfigError(
            f"model '{config.name}' needs input(s) {', '.join(missing)} that the dataset does "
            f"not provide (it provides {', '.join(sorted(shapes)) or 'nothing'})"
        )
    try:
        model = kind.build(
            config.options,
            {k: tuple(v) for k, v in shapes.items()},
            task=task,
            n_outputs=n_outputs,
        )
    except MemoryError:
        raise ConfigError(
            f"model '{config.name}' with options {config.options} does not fit in memory; "
            "use smaller layers (--hidden, --channels)"
        ) from None
    except RuntimeError as exc:
        if "alloc" not in str(exc).lower():
            raise
        raise ConfigError(
            f"model '{config.name}' with options {config.options} does not fit in memory "
            f"({str(exc).splitlines()[0][:120]}); use smaller layers (--hidden, --channels)"
        ) from None
    if stats is not None:
        norm = getattr(model, "norm", None)
        if norm is not None:
            norm.set_stats(stats)
        apply = getattr(model, "apply_stats", None)
        if apply is not None:
            apply(stats)
    return model
