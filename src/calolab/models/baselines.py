"""Baselines: sum of cells, α·sum + β in closed form, per-layer calibration.

These follow the photon-regression study (STUDIES.md, study A): the sum of all cell energies;
a global calibration α·sum + β whose minimum-MSE parameters have a closed form (ordinary least
squares); and a per-layer calibration, one weight per layer plus a bias — a network without
hidden layer, Linear(L → 1) — trained by gradient descent from weights initialised at 0 or 1,
with the weight trajectories recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from calolab.core.errors import ConfigError, DataError
from calolab.models.normalization import Normalizer


@dataclass(frozen=True)
class SumOptions:
    """Options of the sum-of-cells baseline.

    calibration:
        ``"none"``: the plain sum of the visible cell energies (GeV; a sampling calorimeter
        then reports a few % of the energy, as the course baseline does); ``"mip"``: each
        readout layer divided by its section's MIP sampling fraction (the standard
        sampling-fraction calibration).
    """

    calibration: str = "none"

    def __post_init__(self) -> None:
        if self.calibration not in {"none", "mip"}:
            raise ConfigError(f"sum: calibration {self.calibration!r} must be 'none' or 'mip'")


class SumOfCells(nn.Module):
    """E_pred = Σ_l w_l · E_layer_l with fixed weights (1, or 1 / MIP sampling fraction).

    ``forward({"layers": (N, L)}) -> (N,)`` GeV. No trainable parameters.
    """

    layer_weights: torch.Tensor
    norm: Normalizer

    def __init__(self, n_layers: int, options: SumOptions):
        super().__init__()
        self.options = options
        self.norm = Normalizer({})
        self.register_buffer("layer_weights", torch.ones(n_layers, dtype=torch.float64))

    def apply_stats(self, stats: Mapping[str, object]) -> None:
        """Take the MIP weights of the training data's detector (calibration 'mip')."""
        if self.options.calibration == "mip":
            if "mip_weights" not in stats:
                raise DataError(
                    "sum with calibration 'mip' needs a detector description in the data file"
                )
            w = np.asarray(stats["mip_weights"], dtype=np.float64)
            self.layer_weights.copy_(torch.as_tensor(w))

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = inputs["layers"].to(torch.float64)
        return (x @ self.layer_weights).to(torch.float32)


def mip_layer_weights(detector: object) -> np.ndarray:
    """1 / (MIP sampling fraction of the layer's section) for every readout layer, ``(L,)``."""
    from calolab.geometry.detector import Calorimeter

    if not isinstance(detector, Calorimeter):
        raise DataError("sum with calibration 'mip' needs a detector description in the data file")
    by_section = {s.name: s for s in detector.sections}
    out = []
    for r in detector.readout_layers:
        sec = by_section[r.section]
        f = sec.mip_sampling_fractions()[r.pattern_index]
        out.append(1.0 / f if f > 0 else 1.0)
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class LinearOptions:
    """α·sum + β, fitted in closed form by least squares.

    calibration:
        The sum it calibrates: ``"none"`` (plain sum of the cells) or ``"mip"`` (each layer
        divided by its section's MIP sampling fraction, as in :class:`SumOptions`).
    """

    calibration: str = "none"

    def __post_init__(self) -> None:
        if self.calibration not in {"none", "mip"}:
            raise ConfigError(f"linear: calibration {self.calibration!r} must be 'none' or 'mip'")


class LinearCalibration(SumOfCells):
    """E_pred = α · S + β with S the (optionally MIP-calibrated) sum of the layer energies and
    (α, β) the least-squares solution.

    ``forward({"layers": (N, L)}) -> (N,)`` GeV.
    """

    alpha: torch.Tensor
    beta: torch.Tensor

    def __init__(self, n_layers: int, options: LinearOptions | None = None):
        super().__init__(n_layers, SumOptions((options or LinearOptions()).calibration))
        self.register_buffer("alpha", torch.ones((), dtype=torch.float64))
        self.register_buffer("beta", torch.zeros((), dtype=torch.float64))

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        s = inputs["layers"].to(torch.float64) @ self.layer_weights
        return (self.alpha * s + self.beta).to(torch.float32)

    def fit_closed_form(
        self, batches: Iterable[tuple[Mapping[str, np.ndarray], np.ndarray]]
    ) -> dict[str, float]:
        """Least-squares (α, β) from streamed ``(inputs, target)`` batches; returns them."""
        acc = np.zeros(5)  # n, Σx, Σy, Σxx, Σxy
        w = self.layer_weights.cpu().numpy()
        for inputs, target in batches:
            x = np.asarray(inputs["layers"], dtype=np.float64) @ w
            y = np.asarray(target, dtype=np.float64)
            acc += [len(x), x.sum(), y.sum(), x @ x, x @ y]
        alpha, beta = least_squares_line(*acc)
        self.alpha.fill_(alpha)
        self.beta.fill_(beta)
        return {"alpha": alpha, "beta": beta}

    def record(self) -> dict[str, float]:
        return {"alpha": float(self.alpha), "beta": float(self.beta)}


def least_squares_line(
    n: float, sx: float, sy: float, sxx: float, sxy: float
) -> tuple[float, float]:
    """(α, β) minimising Σ(α x + β − y)² from the sums n, Σx, Σy, Σx², Σxy.

    The normal equations in centred form (numerically stable): α = S_xy / S_xx,
    β = ȳ − α x̄ with S_xx = Σx² − n x̄², S_xy = Σxy − n x̄ ȳ.
    """
    if n < 2:
        raise DataError(f"closed-form fit needs at least 2 training events, got {int(n)}")
    mx, my = sx / n, sy / n
    sxx_c = sxx - n * mx * mx
    sxy_c = sxy - n * mx * my
    if not sxx_c > 1e-12 * max(sxx, 1e-300):
        raise DataError(
            "closed-form fit: the summed energy is the same in every training event; "
            "α·sum + β is undetermined"
        )
    alpha = sxy_c / sxx_c
    return float(alpha), float(my - alpha * mx)


@dataclass(frozen=True)
class PerLayerOptions:
    """Per-layer calibration Linear(L → 1).

    init:
        Initial value of every layer weight, 0 or 1 (the weights multiply the layer energy
        times the global calibration mean(E_true) / mean(sum) measured on the training set, so
        1 starts from the globally calibrated sum and 0 from nothing); the bias starts at 0.
    """

    init: float = 1.0

    def __post_init__(self) -> None:
        if self.init not in (0, 1, 0.0, 1.0):
            raise ConfigError(f"per-layer: init {self.init!r} must be 0 or 1")


class PerLayerCalibration(nn.Module):
    """E_pred = Σ_l w_l · c · E_layer_l + b (c = global calibration buffer).

    ``forward({"layers": (N, L)}) -> (N,)`` GeV. ``L + 1`` trainable parameters.
    """

    norm: Normalizer

    def __init__(self, n_layers: int, options: PerLayerOptions):
        super().__init__()
        self.norm = Normalizer({})
        self.linear = nn.Linear(n_layers, 1)
        with torch.no_grad():
            self.linear.weight.fill_(float(options.init))
            self.linear.bias.zero_()

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = inputs["layers"].to(torch.float32) * self.norm.calibration.to(torch.float32)
        return self.linear(x).squeeze(-1)

    def record(self) -> dict[str, float]:
        """Current weights and bias (for the weight trajectories)."""
        w = self.linear.weight.detach().cpu().numpy().ravel()
        out = {f"w{i}": float(v) for i, v in enumerate(w)}
        out["bias"] = float(self.linear.bias.detach().cpu().item())
        return out


def build_sum(options: SumOptions, shapes, *, task: str, n_outputs: int) -> nn.Module:
    return SumOfCells(shapes["layers"][0], options)


def build_linear(options: LinearOptions, shapes, *, task: str, n_outputs: int) -> nn.Module:
    return LinearCalibration(shapes["layers"][0], options)


def build_per_layer(options: PerLayerOptions, shapes, *, task: str, n_outputs: int) -> nn.Module:
    return PerLayerCalibration(shapes["layers"][0], options)
