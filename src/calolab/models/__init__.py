"""Models for calorimeter regression and classification (PyTorch).

Public API
----------
Features: :func:`layer_sums`, :func:`total_energy`, :class:`HighLevelFeatures`,
:func:`section_grid`.
Configuration: :class:`ModelConfig`, :func:`build_model`, :func:`register_model`,
:class:`ModelKind`, :func:`architecture_hash`.
Models: :class:`SumOfCells`, :class:`LinearCalibration`, :class:`PerLayerCalibration`,
:class:`MLP`, :class:`CNN3D`, :class:`Ensemble`.

Built-in model kinds (``--model``): ``sum``, ``linear`` (α·sum+β), ``per-layer``, ``mlp``,
``cnn3d``; image classifiers ``cnn``, ``resnet18``, ``resnet34`` (:mod:`calolab.models.image`).
"""

from __future__ import annotations

from calolab.core.errors import require

require("torch", "ml", "calolab.models")

from calolab.models.baselines import (  # noqa: E402
    BaselineCalibration,
    LinearCalibration,
    LinearOptions,
    PerLayerCalibration,
    PerLayerFit,
    PerLayerOptions,
    SumOfCells,
    SumOptions,
    closed_form_calibration,
    least_squares_line,
    mip_layer_weights,
    per_layer_least_squares,
)
from calolab.models.cnn3d import CNN3D, CNN3DOptions  # noqa: E402
from calolab.models.ensemble import Ensemble  # noqa: E402
from calolab.models.features import (  # noqa: E402
    HighLevelFeatures,
    layer_sums,
    section_grid,
    total_energy,
)
from calolab.models.mlp import MLP, MLPOptions  # noqa: E402
from calolab.models.normalization import Normalizer, StatsAccumulator  # noqa: E402
from calolab.models.registry import (  # noqa: E402
    MODEL_KINDS,
    ModelConfig,
    ModelKind,
    architecture_hash,
    build_model,
    model_kind,
    register_model,
)

_BUILTIN_DONE = False


def _register_builtin() -> None:
    global _BUILTIN_DONE
    if _BUILTIN_DONE:
        return
    _BUILTIN_DONE = True
    from calolab.models import baselines, cnn3d, mlp

    for kind in (
        ModelKind(
            "sum",
            baselines.SumOptions,
            baselines.build_sum,
            lambda o: ("layers",),
            fit="none",
            description="sum of cell energies (optionally MIP-calibrated per section)",
        ),
        ModelKind(
            "linear",
            baselines.LinearOptions,
            baselines.build_linear,
            lambda o: ("layers",),
            fit="closed_form",
            description="alpha * sum + beta, weighted least squares in closed form (mse, rel)",
            losses=baselines.CLOSED_FORM_LOSSES,
        ),
        ModelKind(
            "per-layer",
            baselines.PerLayerOptions,
            baselines.build_per_layer,
            lambda o: ("layers",),
            description="one weight per layer plus a bias, Linear(L -> 1), from its "
            "closed-form solution",
        ),
        ModelKind(
            "mlp",
            mlp.MLPOptions,
            mlp.build_mlp,
            mlp.mlp_inputs,
            tasks=("regression", "classification"),
            description="MLP on layer sums / high-level features (GELU, dropout), a "
            "correction to the closed-form per-layer calibration",
        ),
        ModelKind(
            "cnn3d",
            cnn3d.CNN3DOptions,
            cnn3d.build_cnn3d,
            cnn3d.cnn3d_inputs,
            tasks=("regression", "classification"),
            description="3D CNN with pre-activation residual blocks, energy-sum channel and "
            "high-level features",
        ),
    ):
        MODEL_KINDS.setdefault(kind.name, kind)
    # image classifiers (issue 4): cnn, resnet18, resnet34
    from calolab.models import image

    for kind in image.KINDS:
        MODEL_KINDS.setdefault(kind.name, kind)


__all__ = [
    "BaselineCalibration",
    "CNN3D",
    "CNN3DOptions",
    "Ensemble",
    "HighLevelFeatures",
    "LinearCalibration",
    "LinearOptions",
    "MLP",
    "MLPOptions",
    "MODEL_KINDS",
    "ModelConfig",
    "ModelKind",
    "Normalizer",
    "PerLayerCalibration",
    "PerLayerFit",
    "PerLayerOptions",
    "StatsAccumulator",
    "SumOfCells",
    "SumOptions",
    "architecture_hash",
    "build_model",
    "closed_form_calibration",
    "layer_sums",
    "least_squares_line",
    "mip_layer_weights",
    "model_kind",
    "per_layer_least_squares",
    "register_model",
    "section_grid",
    "total_energy",
]
