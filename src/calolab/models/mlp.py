"""A multilayer perceptron on layer sums and/or high-level features.

The design-course regressor (STUDIES.md, study E): hidden layers 256–128–64 with GELU and
dropout 0.2. Inputs are standardised with the training-set mean and standard deviation
(stored in the model). By default (``output = "calibrated"``) the regression output is a
correction on top of the closed-form calibration of the layer energies
(:class:`~calolab.models.baselines.BaselineCalibration`), with the last layer initialised to
zero: before training the MLP *is* that calibration, and early stopping on the validation set
(which starts from it) keeps it unless training does better. ``output = "energy"`` is the
course's network from scratch (``target_scale · softplus(z)`` GeV).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from calolab.core.errors import ConfigError
from calolab.models.baselines import BASELINES, BaselineCalibration, baseline_layers
from calolab.models.normalization import Normalizer

FEATURE_SETS = {
    "layers": ("layers",),
    "highlevel": ("highlevel",),
    "layers+highlevel": ("layers", "highlevel"),
}
OUTPUTS = ("calibrated", "energy", "correction")
#: Largest layer width and number of hidden layers (a typo such as --hidden 100000000 must be
#: an error, not a 60 GB allocation).
MAX_WIDTH = 1 << 16
MAX_DEPTH = 64


def mlp_inputs(options: MLPOptions) -> tuple[str, ...]:
    """Inputs the MLP reads: its features, plus the summed energy for ``output="correction"``
    and the layer energies of the baseline for ``output="calibrated"``."""
    feats = FEATURE_SETS[options.features]
    if options.output == "correction":
        return feats + ("total",)
    if options.output == "calibrated" and "layers" not in feats:
        return feats + ("layers",)
    return feats


@dataclass(frozen=True)
class MLPOptions:
    """MLP hyperparameters.

    features:
        ``"layers"`` (per-layer sums), ``"highlevel"`` or ``"layers+highlevel"``.
    hidden:
        Widths of the hidden layers.
    dropout:
        Dropout probability after every hidden layer.
    output:
        Regression output. ``"calibrated"`` (default): E = B + max(|B|, floor)·z with B the
        closed-form calibration ``baseline`` fitted for the run's loss and z the network's
        output, initialised to 0 — the network learns corrections to a calibrated energy, as
        in Kieseler et al., EPJC 82 (2022) 79, and starts equal to it. ``"energy"``:
        E = target_scale · softplus(z), the energy from scratch; ``"correction"``:
        E = c · Σ cells · softplus(z) / ln 2, a correction factor to the globally calibrated
        sum of cells (c = mean(E_true) / mean(sum)), starting at 1.
    baseline:
        The calibration a ``"calibrated"`` output corrects: ``"per-layer"`` (one weight per
        layer plus a bias) or ``"linear"`` (α·sum + β).
    """

    features: str = "layers"
    hidden: tuple[int, ...] = (256, 128, 64)
    dropout: float = 0.2
    output: str = "calibrated"
    baseline: str = "per-layer"

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ConfigError(f"mlp: output {self.output!r} must be one of {', '.join(OUTPUTS)}")
        if self.baseline not in BASELINES:
            raise ConfigError(
                f"mlp: baseline {self.baseline!r} must be one of {', '.join(BASELINES)}"
            )
        if self.features not in FEATURE_SETS:
            raise ConfigError(
                f"mlp: features {self.features!r} must be one of {', '.join(FEATURE_SETS)}"
            )
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ConfigError(f"mlp: hidden {self.hidden!r} must be positive integers")
        if len(self.hidden) > MAX_DEPTH or max(self.hidden) > MAX_WIDTH:
            raise ConfigError(
                f"mlp: hidden {self.hidden!r}: at most {MAX_DEPTH} layers of at most "
                f"{MAX_WIDTH:,} units each"
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"mlp: dropout {self.dropout!r} must be in [0, 1)")


def mlp_body(n_in: int, hidden: tuple[int, ...], dropout: float) -> tuple[nn.Sequential, int]:
    """Linear → GELU → Dropout blocks; returns the module and its output width."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.GELU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    return nn.Sequential(*layers), width


class MLP(nn.Module):
    """``forward(inputs) -> (N,)`` GeV (regression) or ``(N, n_outputs)`` logits."""

    def __init__(
        self,
        shapes: Mapping[str, tuple[int, ...]],
        options: MLPOptions,
        *,
        task: str = "regression",
        n_outputs: int = 1,
    ):
        super().__init__()
        self.inputs = FEATURE_SETS[options.features]
        self.task = task
        self.correction = task == "regression" and options.output == "correction"
        self.calibrated = task == "regression" and options.output == "calibrated"
        self.norm = Normalizer({k: shapes[k] for k in self.inputs})
        self.base = (
            BaselineCalibration(baseline_layers(shapes, "mlp"), options.baseline)
            if self.calibrated
            else None
        )
        n_in = sum(shapes[k][0] for k in self.inputs)
        self.body, width = mlp_body(n_in, options.hidden, options.dropout)
        self.head = nn.Linear(width, n_outputs)
        self.softplus = nn.Softplus()
        if self.correction or self.calibrated:  # start from the calibration: z = 0
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def apply_stats(self, stats: Mapping[str, object]) -> None:
        """Fit the baseline calibration in closed form (``output = "calibrated"``)."""
        if self.base is not None:
            self.base.apply_stats(stats)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = torch.cat([self.norm.vector(k, inputs[k].float()) for k in self.inputs], dim=1)
        z = self.head(self.body(x))
        if self.task == "classification":
            return z
        if self.base is not None:
            return self.base.correct(self.base(inputs["layers"]), z.squeeze(-1))
        if self.correction:
            calibration: torch.Tensor = self.norm.calibration
            base = calibration.to(z.dtype) * inputs["total"].to(z.dtype)
            return base * self.softplus(z.squeeze(-1)) / math.log(2.0)
        return self.softplus(z.squeeze(-1)) * self.norm.target_scale.to(z.dtype)


def build_mlp(options: MLPOptions, shapes, *, task: str, n_outputs: int) -> nn.Module:
    return MLP(shapes, options, task=task, n_outputs=n_outputs)
