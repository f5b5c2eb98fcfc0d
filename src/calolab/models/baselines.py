"""Baselines: sum of cells, α·sum + β in closed form, per-layer calibration.

These follow the photon-regression study (STUDIES.md, study A): the sum of all cell energies;
a global calibration α·sum + β whose minimum-loss parameters have a closed form (weighted
least squares); and a per-layer calibration, one weight per layer plus a bias — a network
without hidden layer, Linear(L → 1) — trained by gradient descent, with the weight
trajectories recorded. By default it starts at its own closed-form solution (so training can
only refine it); the study's initialisations at 0 or 1 remain available.

Every regression loss of calolab is a least-squares problem with event weights t⁻ᵖ (t the
true energy): ``mse`` p = 0, ``rel`` p = 1, and the fractional squared error that
``huber-frac`` reduces to inside its switch point p = 2 (:data:`LOSS_WEIGHT_POWER`). The
closed-form calibrations solve the normal equations accumulated by
:class:`~calolab.models.normalization.StatsAccumulator` for that weight
(:func:`closed_form_calibration`). :class:`BaselineCalibration` is the calibration that the
learned regressors (MLP, 3D CNN) correct: they start equal to it (Kieseler et al., EPJC 82
(2022) 79: the network learns small corrections to the summed energy).

:func:`per_layer_least_squares` solves the per-layer calibration in closed form from the
events themselves (weighted ridge least squares towards a prior vector of weights, the ridge
strength chosen by exact leave-one-out), for fits that must be fast, deterministic and
self-tuned on a few hundred events, such as the objectives of design optimisation.
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

#: Power p of the event weight t⁻ᵖ under which each regression loss is a least-squares problem.
LOSS_WEIGHT_POWER = {"mse": 0, "rel": 1, "huber-frac": 2}
#: Losses that a closed-form fit minimises exactly (huber-frac is not a least-squares loss).
CLOSED_FORM_LOSSES = ("mse", "rel")
#: Calibrations a learned regressor can start from.
BASELINES = ("per-layer", "linear")


def _weight_power(loss: str) -> int:
    if loss not in LOSS_WEIGHT_POWER:
        raise ConfigError(
            f"closed-form calibration: unknown loss {loss!r}; one of {', '.join(LOSS_WEIGHT_POWER)}"
        )
    return LOSS_WEIGHT_POWER[loss]


def _normal_equations(stats: Mapping[str, object], loss: str) -> tuple[np.ndarray, np.ndarray]:
    if "layers_gram" not in stats or "layers_xty" not in stats:
        raise DataError(
            "the closed-form calibration needs the layer energies and true energies of the "
            "training events (statistics without 'layers_gram'); train on a shower file with "
            "the 'layers' input"
        )
    p = _weight_power(loss)
    gram = np.asarray(stats["layers_gram"], dtype=np.float64)[p]
    xty = np.asarray(stats["layers_xty"], dtype=np.float64)[p]
    return gram, xty


def closed_form_calibration(
    stats: Mapping[str, object],
    loss: str = "mse",
    *,
    kind: str = "per-layer",
    layer_weights: np.ndarray | None = None,
    prior_events: float = 1.0,
) -> tuple[np.ndarray, float]:
    """Layer weights ``w`` (L,) and bias β of the calibration E = w·layers + β that minimises
    the loss ``loss`` on the training events (weighted least squares in closed form).

    The per-layer system is solved after scaling every column to unit norm, by least squares
    with a relative cut-off of 1e-10 on the singular values.

    Parameters
    ----------
    stats:
        Training statistics with ``layers_gram`` and ``layers_xty``
        (:class:`~calolab.models.normalization.StatsAccumulator`).
    loss:
        ``mse``, ``rel`` or ``huber-frac`` (fractional squared error; see
        :data:`LOSS_WEIGHT_POWER`).
    kind:
        ``"per-layer"``: one free weight per layer; ``"linear"``: w = α · ``layer_weights``
        (default all 1: α·sum + β).
    prior_events:
        Per-layer only: every weight is pulled towards the global calibration
        c = Σ E_true / Σ sum as by ``prior_events`` extra events of typical layer energy
        (a ridge term λ·Σ(w_l − c)², λ = prior_events × Σ_l Σ_i w_i E_il² / (L·N), the
        loss-weighted squared layer energy of an average event). It is negligible for the layers that see energy in many events, and keeps a
        layer that only the tails of a few showers reach — deep in a hadron calorimeter —
        from taking a weight of ±10¹⁷ that fits those few events and ruins a test event with
        more leakage; a layer that never sees energy gets c. 0: plain least squares.
    """
    gram, xty = _normal_equations(stats, loss)
    n_layers = gram.shape[0] - 1
    if kind == "linear":
        u = np.zeros(n_layers + 1)
        u[:n_layers] = 1.0 if layer_weights is None else np.asarray(layer_weights, np.float64)
        e = np.zeros(n_layers + 1)
        e[-1] = 1.0
        count = float(np.asarray(stats["layers_gram"], dtype=np.float64)[0][-1, -1])
        if count < 2:
            raise DataError(f"closed-form fit needs at least 2 training events, got {count:.0f}")
        alpha, beta = least_squares_line(
            e @ gram @ e, u @ gram @ e, e @ xty, u @ gram @ u, u @ xty, weighted=True
        )
        return alpha * u[:n_layers], beta
    if kind != "per-layer":
        raise ConfigError(f"closed-form calibration: kind {kind!r} must be one of {BASELINES}")
    n_w = float(gram[-1, -1])  # Σ of the event weights
    if not n_w > 0:
        raise DataError("closed-form fit needs at least 2 training events, got 0")
    g0 = np.asarray(stats["layers_gram"], dtype=np.float64)[0]
    x0 = np.asarray(stats["layers_xty"], dtype=np.float64)[0]
    total = float(np.sum(g0[:n_layers, -1]))  # Σ over events of the summed energy
    c = float(x0[-1]) / total if total > 0 else 1.0
    n_events = float(g0[-1, -1])
    # one pseudo-event: the mean (weighted) squared layer energy of an event
    lam = float(prior_events) * float(np.trace(gram) - gram[-1, -1]) / (n_layers * n_events)
    a = gram.copy()
    rhs = xty.copy()
    a[np.arange(n_layers), np.arange(n_layers)] += lam
    rhs[:n_layers] += lam * c
    diag = np.diag(a).copy()
    active = diag > 0
    scale = np.sqrt(diag[active])
    g = a[np.ix_(active, active)] / np.outer(scale, scale)
    z, *_ = np.linalg.lstsq(g, rhs[active] / scale, rcond=1e-10)
    coef = np.zeros(n_layers + 1)
    coef[active] = z / scale
    if not np.all(np.isfinite(coef)):
        raise DataError("closed-form calibration: the normal equations have no finite solution")
    return coef[:n_layers], float(coef[-1])


def baseline_layers(shapes: Mapping[str, tuple[int, ...]], model: str) -> int:
    """Readout layers of the baseline calibration of ``model`` (its ``layers`` input)."""
    if "layers" not in shapes:
        raise ConfigError(
            f"{model}: output 'calibrated' corrects the per-layer calibration and needs the "
            "'layers' input; give it, or choose output 'energy'"
        )
    return int(shapes["layers"][0])


class BaselineCalibration(nn.Module):
    """The calibration E_base = w·layers + β that a learned regressor corrects.

    Its parameters are buffers (not trained), set in closed form from the training
    statistics by :meth:`apply_stats` for the run's loss. A regressor with output ``z`` (its
    last layer initialised to 0) predicts :meth:`correct` ``= E_base + s·z`` with
    s = max(|E_base|, 1 % of the mean true energy): a relative correction that is exactly 0
    before training, so the untrained model *is* the closed-form calibration.

    Parameters
    ----------
    n_layers:
        Readout layers of the detector.
    kind:
        ``"per-layer"`` (one weight per layer) or ``"linear"`` (α·sum + β).
    """

    weight: torch.Tensor
    bias: torch.Tensor
    floor: torch.Tensor

    def __init__(self, n_layers: int, kind: str = "per-layer"):
        super().__init__()
        if kind not in BASELINES:
            raise ConfigError(f"baseline {kind!r} must be one of {', '.join(BASELINES)}")
        self.kind = kind
        self.register_buffer("weight", torch.zeros(n_layers, dtype=torch.float64))
        self.register_buffer("bias", torch.zeros((), dtype=torch.float64))
        self.register_buffer("floor", torch.ones((), dtype=torch.float64))

    def apply_stats(self, stats: Mapping[str, object]) -> None:
        loss = str(stats.get("loss", "mse"))
        w, b = closed_form_calibration(stats, loss, kind=self.kind)
        self.weight.copy_(torch.as_tensor(w))
        self.bias.fill_(b)
        scale = stats.get("target_scale", 1.0)
        self.floor.fill_(0.01 * float(scale) if isinstance(scale, int | float) else 0.01)

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        """E_base (GeV), ``(N,)`` float32."""
        w = self.weight.to(layers.device, torch.float32)
        return layers.float() @ w + self.bias.float()

    def correct(self, base: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """E_base + max(|E_base|, floor)·z (GeV)."""
        base = base.to(z.dtype)
        return base + torch.clamp(base.abs(), min=float(self.floor)) * z


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
        self,
        batches: Iterable[tuple[Mapping[str, np.ndarray], np.ndarray]],
        loss: str = "mse",
    ) -> dict[str, float]:
        """(α, β) minimising ``loss`` from streamed ``(inputs, target)`` batches; returns them.

        ``mse``: ordinary least squares; ``rel``: Σ(α·S + β − t)²/t, least squares with event
        weights 1/t. Other losses have no closed form and are refused.
        """
        if loss not in CLOSED_FORM_LOSSES:
            raise ConfigError(
                f"linear: loss {loss!r} has no closed form; α·sum + β is fitted for "
                f"{' or '.join(CLOSED_FORM_LOSSES)} (use per-layer or mlp for {loss})"
            )
        p = LOSS_WEIGHT_POWER[loss]
        acc = np.zeros(5)  # Σw, Σwx, Σwy, Σwxx, Σwxy
        count = 0
        w = self.layer_weights.cpu().numpy()
        for inputs, target in batches:
            x = np.asarray(inputs["layers"], dtype=np.float64) @ w
            y = np.asarray(target, dtype=np.float64)
            ev = y**-p
            acc += [ev.sum(), ev @ x, ev @ y, ev @ (x * x), ev @ (x * y)]
            count += len(y)
        if count < 2:
            raise DataError(f"closed-form fit needs at least 2 training events, got {count}")
        alpha, beta = least_squares_line(*acc, weighted=True)
        self.alpha.fill_(alpha)
        self.beta.fill_(beta)
        return {"alpha": alpha, "beta": beta}

    def record(self) -> dict[str, float]:
        return {"alpha": float(self.alpha), "beta": float(self.beta)}


def least_squares_line(
    n: float, sx: float, sy: float, sxx: float, sxy: float, *, weighted: bool = False
) -> tuple[float, float]:
    """(α, β) minimising Σ(α x + β − y)² from the sums n, Σx, Σy, Σx², Σxy.

    The normal equations in centred form (numerically stable): α = S_xy / S_xx,
    β = ȳ − α x̄ with S_xx = Σx² − n x̄², S_xy = Σxy − n x̄ ȳ. Weighted sums (n = Σw, Σwx,
    ...) give the weighted least-squares line (``weighted=True``: the caller has checked the
    number of events, as Σw says nothing about it).
    """
    too_few = not n > 0 if weighted else n < 2
    if too_few:
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


PER_LAYER_INITS = ("closed-form", 0.0, 1.0)


@dataclass(frozen=True)
class PerLayerOptions:
    """Per-layer calibration Linear(L → 1).

    init:
        ``"closed-form"`` (default): the weights and bias start at the weighted
        least-squares solution for the run's loss (:func:`closed_form_calibration`), so
        gradient descent refines the optimum instead of searching for it; or 0 or 1, the
        initial value of every layer weight as in the photon-regression study (the weights
        multiply the layer energy times the global calibration mean(E_true) / mean(sum)
        measured on the training set, so 1 starts from the globally calibrated sum and 0 from
        nothing) with the bias at 0.
    """

    init: float | str = "closed-form"

    def __post_init__(self) -> None:
        if isinstance(self.init, bool) or self.init not in PER_LAYER_INITS:
            raise ConfigError(
                f"per-layer: init {self.init!r} must be 'closed-form', 0 or 1 (0 or 1: the "
                "study's initialisations of every weight)"
            )


class PerLayerCalibration(nn.Module):
    """E_pred = Σ_l w_l · c · E_layer_l + b (c = global calibration buffer).

    ``forward({"layers": (N, L)}) -> (N,)`` GeV. ``L + 1`` trainable parameters.
    """

    norm: Normalizer

    def __init__(self, n_layers: int, options: PerLayerOptions):
        super().__init__()
        self.options = options
        #: Whether the untrained model is a calibration worth keeping (the trainer keeps the
        #: start unless training beats it significantly); a study's start at weights 0 or 1
        #: is a starting point of the descent, not a candidate.
        self.starts_at_calibration = options.init == "closed-form"
        self.norm = Normalizer({})
        self.linear = nn.Linear(n_layers, 1)
        with torch.no_grad():
            self.linear.weight.fill_(1.0 if options.init == "closed-form" else float(options.init))
            self.linear.bias.zero_()

    def apply_stats(self, stats: Mapping[str, object]) -> None:
        """Start at the closed-form solution for the run's loss (``init = "closed-form"``)."""
        if self.options.init != "closed-form":
            return
        w, b = closed_form_calibration(stats, str(stats.get("loss", "mse")))
        c = float(self.norm.calibration)
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(w / c, dtype=torch.float32).reshape(1, -1))
            self.linear.bias.fill_(b)

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
