"""Baselines: sum of cells, α·sum + β in closed form, per-layer calibration.

These follow the photon-regression study (STUDIES.md, study A): the sum of all cell energies;
a global calibration α·sum + β whose minimum-MSE parameters have a closed form (ordinary least
squares); and a per-layer calibration, one weight per layer plus a bias — a network without
hidden layer, Linear(L → 1) — trained by gradient descent from weights initialised at 0 or 1,
with the weight trajectories recorded. :func:`per_layer_least_squares` solves the same
per-layer calibration in closed form (weighted ridge least squares with a leave-one-out choice
of the ridge strength), for fits that must be fast and deterministic, such as the objectives
of design optimisation.
"""

from __future__ import annotations

import math
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


#: Ridge strengths tried by :func:`per_layer_least_squares` (relative to each layer's scale).
RIDGE_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclass(frozen=True)
class PerLayerFit:
    """A closed-form per-layer calibration E = Σ_l w_l · E_layer_l + b (GeV).

    ``weights`` (L,), ``bias`` GeV, ``ridge`` the strength used, ``loo_rms`` the
    leave-one-out weighted RMS residual of the training events at that strength.
    """

    weights: np.ndarray
    bias: float
    ridge: float
    loo_rms: float

    def predict(self, layers: np.ndarray) -> np.ndarray:
        """Calibrated energies (GeV), ``(N,)``, of layer energies ``(N, L)``."""
        return np.asarray(layers, dtype=np.float64) @ self.weights + self.bias


def per_layer_least_squares(
    layers: np.ndarray,
    e_true: np.ndarray,
    *,
    prior: np.ndarray | None = None,
    ridge: float | None = None,
    sample_weight: np.ndarray | None = None,
) -> PerLayerFit:
    """Per-layer calibration in closed form: weighted ridge least squares.

    Minimises ``Σ_i s_i (Σ_l w_l x_il + b − y_i)² + λ N Σ_l D_l (w_l − w0_l)²`` with
    ``D_l = Σ_i s_i x_il² / N`` (so that λ is dimensionless and a layer that never sees
    energy keeps its prior weight) and no penalty on the bias ``b``. This is the
    per-layer calibration of :class:`PerLayerCalibration` solved exactly instead of by
    gradient descent; the ridge term pulls the weights towards ``prior`` (e.g. the MIP
    calibration times a global scale), which keeps a fit with many layers and few events
    from chasing noise.

    Parameters
    ----------
    layers:
        Visible energy per readout layer, GeV, ``(N, L)``.
    e_true:
        True energies, GeV, ``(N,)``.
    prior:
        Prior weights ``w0`` ``(L,)``; default: one global scale ``Σ y / Σ_il x_il``.
    ridge:
        λ; default (``None``): chosen from :data:`RIDGE_GRID` by exact leave-one-out
        (the PRESS statistic of ridge regression, from one SVD) on these events only.
    sample_weight:
        ``s_i`` ``(N,)``; ``1 / E_true²`` fits the relative error (the course's loss).

    Raises
    ------
    DataError
        Fewer than 2 events, shapes that disagree, non-finite inputs, or no energy at all.
    """
    x = np.asarray(layers, dtype=np.float64)
    y = np.asarray(e_true, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise DataError(f"layers {x.shape} and e_true {y.shape} do not match: need (N, L), (N,)")
    n, n_layers = x.shape
    if n < 2:
        raise DataError(f"closed-form fit needs at least 2 training events, got {n}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataError("per-layer fit: layer energies and true energies must be finite")
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if s.shape != (n,) or not (np.isfinite(s).all() and (s > 0).all()):
        raise DataError("per-layer fit: sample_weight must be (N,) finite and > 0")
    total = x.sum()
    if not total > 0:
        raise DataError("per-layer fit: no visible energy in any training event")
    if prior is None:
        w0 = np.full(n_layers, float(y.sum() / x.sum(axis=1).sum()))
    else:
        w0 = np.asarray(prior, dtype=np.float64).reshape(-1)
        if w0.shape != (n_layers,):
            raise DataError(f"prior has {w0.size} weights for {n_layers} layers")
    # weighted rows; the unpenalised bias is profiled out by weighted centring
    root = np.sqrt(s)
    xw = x * root[:, None]
    r0 = (y - x @ w0) * root  # residuals of the prior (bias 0)
    b = root / math.sqrt(float(s.sum()))  # unit bias direction
    xc = xw - np.outer(b, b @ xw)
    rc = r0 - b * (b @ r0)
    d = (xw**2).mean(axis=0)
    d = np.maximum(d, 1e-12 * max(float(d.max()), 1e-300))
    scale = 1.0 / np.sqrt(d)
    # one SVD serves every ridge strength: hat diagonal and fit in O(N L) each
    u, sv, vt = np.linalg.svd(xc * scale[None, :], full_matrices=False)
    ur = u.T @ rc
    h_bias = b**2

    def loo(lam: float) -> tuple[float, np.ndarray]:
        shrink = sv**2 / (sv**2 + lam * n) if lam > 0 else (sv > sv.max() * 1e-12).astype(float)
        resid = rc - u @ (shrink * ur)
        h = h_bias + (u**2) @ shrink
        press = resid / np.maximum(1.0 - h, 1e-9)
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = np.where(sv > sv.max() * 1e-12, shrink / sv, 0.0)
        delta_w = scale * (vt.T @ (coef * ur))
        return float(np.sqrt(np.mean(press**2))), delta_w

    if ridge is None:
        best = min(((loo(lam), lam) for lam in RIDGE_GRID), key=lambda t: t[0][0])
        (rms, delta_w), lam = best
    else:
        lam = float(ridge)
        if not (math.isfinite(lam) and lam >= 0):
            raise DataError(f"per-layer fit: ridge {ridge!r} must be a finite number >= 0")
        rms, delta_w = loo(lam)
    w = w0 + delta_w
    # the bias: weighted mean residual of the fitted weights
    bias = float(np.sum(s * (y - x @ w)) / s.sum())
    return PerLayerFit(weights=w, bias=bias, ridge=float(lam), loo_rms=rms)
