"""A multilayer perceptron on layer sums and/or high-level features.

The design-course regressor (STUDIES.md, study E): hidden layers 256–128–64 with GELU and
dropout 0.2, and a Softplus output so that the predicted energy is positive. Inputs are
standardised with the training-set mean and standard deviation (stored in the model); the
regression output is ``target_scale · softplus(z)`` GeV, so the last layer works at O(1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from calolab.core.errors import ConfigError
from calolab.models.normalization import Normalizer

FEATURE_SETS = {
    "layers": ("layers",),
    "highlevel": ("highlevel",),
    "layers+highlevel": ("layers", "highlevel"),
}
OUTPUTS = ("energy", "correction")
#: Largest layer width and number of hidden layers (a typo such as --hidden 100000000 must be
#: an error, not a 60 GB allocation).
MAX_WIDTH = 1 << 16
MAX_DEPTH = 64


def mlp_inputs(options: MLPOptions) -> tuple[str, ...]:
    """Inputs the MLP reads: its features, plus the summed energy for ``output="correction"``."""
    extra = ("total",) if options.output == "correction" else ()
    return FEATURE_SETS[options.features] + extra


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
        Regression output. ``"energy"``: E = target_scale · softplus(z), the energy itself;
        ``"correction"``: E = c · Σ cells · softplus(z) / ln 2, a learned correction factor
        to the globally calibrated sum of cells (c = mean(E_true) / mean(sum) of the training
        set), starting at 1 — the network learns small corrections to the summed energy, as
        in Kieseler et al., EPJC 82 (2022) 79, instead of the energy scale itself.
    """

    features: str = "layers"
    hidden: tuple[int, ...] = (256, 128, 64)
    dropout: float = 0.2
    output: str = "energy"

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ConfigError(f"mlp: output {self.output!r} must be one of {', '.join(OUTPUTS)}")
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
        self.norm = Normalizer({k: shapes[k] for k in self.inputs})
        n_in = sum(shapes[k][0] for k in self.inputs)
        self.body, width = mlp_body(n_in, options.hidden, options.dropout)
        self.head = nn.Linear(width, n_outputs)
        self.softplus = nn.Softplus()
        if self.correction:  # start from the calibrated sum: softplus(0) / ln 2 = 1
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = torch.cat([self.norm.vector(k, inputs[k].float()) for k in self.inputs], dim=1)
        z = self.head(self.body(x))
        if self.task == "classification":
            return z
        if self.correction:
            calibration: torch.Tensor = self.norm.calibration  # type: ignore[assignment]
            base = calibration.to(z.dtype) * inputs["total"].to(z.dtype)
            return base * self.softplus(z.squeeze(-1)) / math.log(2.0)
        return self.softplus(z.squeeze(-1)) * self.norm.target_scale.to(z.dtype)


def build_mlp(options: MLPOptions, shapes, *, task: str, n_outputs: int) -> nn.Module:
    return MLP(shapes, options, task=task, n_outputs=n_outputs)
