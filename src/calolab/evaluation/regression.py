"""Regression metrics the way calorimeter papers quote them.

With ΔE = E_pred − E_true (GeV):

* global: RMSE, MAE, μ = ⟨ΔE⟩, σ = std(ΔE), μ_rel = ⟨ΔE/E_true⟩, σ_rel = std(ΔE/E_true)
  (the μ, σ, μ_rel, σ_rel table of the design course, STUDIES.md study E);
* in bins of true energy: the same four numbers, the response ⟨E_pred/E_true⟩ and the
  resolution σ/E from a Gaussian-core fit of E_pred/E_true (σ_core/μ_core, i.e. the width
  after the response is corrected), with uncertainties, plus the relative RMSE (bias and
  variance in quadrature, the metric of Kieseler et al., EPJC 82 (2022) 79);
* the fit of σ/E = a/√E ⊕ b/E ⊕ c to the binned resolution;
* bias correction: a straight-line fit of the median prediction vs the mean true energy of
  each bin, median(E_pred)(E) = s·E + q (i.e. a median response R(E) = s + q/E), inverted as
  E_corr = (E_pred − q)/s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from calolab.core.errors import DataError
from calolab.evaluation.fits import (
    MAD_TO_SIGMA,
    ResolutionFit,
    fit_line,
    fit_resolution,
    gaussian_core_fit,
)


def _check(e_true: np.ndarray, e_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(e_true, dtype=np.float64).reshape(-1)
    p = np.asarray(e_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise DataError(f"e_true has {len(t)} entries but e_pred has {len(p)}")
    if len(t) == 0:
        raise DataError("no events to evaluate")
    if not np.isfinite(p).all():
        raise DataError(f"{int((~np.isfinite(p)).sum())} predictions are NaN or infinite")
    if np.any(t <= 0) or not np.isfinite(t).all():
        raise DataError("true energies must be finite and > 0 GeV")
    return t, p


def summary_stats(e_true: np.ndarray, e_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE (GeV), μ, σ (GeV), μ_rel, σ_rel, rmse_rel of a set of events."""
    t, p = _check(e_true, e_pred)
    d = p - t
    r = d / t
    ddof = 1 if len(d) > 1 else 0
    return {
        "n_events": int(len(t)),
        "rmse": float(np.sqrt(np.mean(d * d))),
        "mae": float(np.mean(np.abs(d))),
        "mu": float(np.mean(d)),
        "sigma": float(np.std(d, ddof=ddof)),
        "mu_rel": float(np.mean(r)),
        "sigma_rel": float(np.std(r, ddof=ddof)),
        "rmse_rel": float(np.sqrt(np.mean(r * r))),
    }


def energy_bins(e_true: np.ndarray, n_bins: int = 10, log: bool | None = None) -> np.ndarray:
    """Bin edges covering the true energies (GeV): logarithmic when the range spans more
    than a factor 20 (unless ``log`` says otherwise), else linear."""
    t = np.asarray(e_true, dtype=np.float64)
    lo, hi = float(t.min()), float(t.max())
    if not hi > lo:
        return np.array([lo * 0.999, hi * 1.001])
    use_log = (hi / lo > 20) if log is None else log
    if use_log:
        edges = np.geomspace(lo, hi, n_bins + 1)
    else:
        edges = np.linspace(lo, hi, n_bins + 1)
    edges[-1] = np.nextafter(hi, np.inf)
    return edges


@dataclass(frozen=True)
class BinMetrics:
    """Metrics of one bin of true energy (GeV unless relative)."""

    e_lo: float
    e_hi: float
    e_mean: float
    n: int
    response: float
    response_err: float
    resolution: float
    resolution_err: float
    mu: float
    sigma: float
    mu_rel: float
    sigma_rel: float
    rmse_rel: float
    fit_method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def binned_metrics(
    e_true: np.ndarray,
    e_pred: np.ndarray,
    edges: Sequence[float] | np.ndarray,
    *,
    min_events: int = 10,
) -> list[BinMetrics]:
    """Response, resolution and the μ/σ table in bins of true energy.

    Bins with fewer than ``min_events`` events are skipped.
    """
    t, p = _check(e_true, e_pred)
    edge_arr = np.asarray(edges, dtype=np.float64)
    out = []
    for lo, hi in zip(edge_arr[:-1], edge_arr[1:]):
        sel = (t >= lo) & (t < hi)
        n = int(sel.sum())
        if n < min_events:
            continue
        ts, ps = t[sel], p[sel]
        st = summary_stats(ts, ps)
        fit = gaussian_core_fit(ps / ts)
        mu, s = fit.mu, fit.sigma
        res = s / mu if mu > 0 else math.nan
        res_err = (
            math.sqrt((fit.sigma_err / mu) ** 2 + (s * fit.mu_err / mu**2) ** 2)
            if mu > 0
            else math.nan
        )
        out.append(
            BinMetrics(
                e_lo=float(lo),
                e_hi=float(hi),
                e_mean=float(ts.mean()),
                n=n,
                response=float(mu),
                response_err=float(fit.mu_err),
                resolution=float(res),
                resolution_err=float(res_err),
                mu=st["mu"],
                sigma=st["sigma"],
                mu_rel=st["mu_rel"],
                sigma_rel=st["sigma_rel"],
                rmse_rel=st["rmse_rel"],
                fit_method=fit.method,
            )
        )
    return out


def fit_binned_resolution(bins: Sequence[BinMetrics]) -> ResolutionFit | None:
    """σ/E = a/√E ⊕ b/E ⊕ c fitted to binned resolutions; ``None`` with fewer than 4 bins."""
    if len(bins) < 4:
        return None
    return fit_resolution(
        np.array([b.e_mean for b in bins]),
        np.array([b.resolution for b in bins]),
        np.array([b.resolution_err for b in bins]),
    )


@dataclass(frozen=True)
class BiasCorrection:
    """E_corr = (E_pred − intercept) / slope, from median(E_pred) = slope·E_true + intercept."""

    slope: float
    slope_err: float
    intercept: float
    intercept_err: float
    chi2: float
    ndf: int
    n_bins: int

    def apply(self, e_pred: np.ndarray) -> np.ndarray:
        """Corrected energies (GeV)."""
        return (np.asarray(e_pred, dtype=np.float64) - self.intercept) / self.slope

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "linear-median", **asdict(self)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> BiasCorrection:
        return BiasCorrection(**{k: v for k, v in d.items() if k != "kind"})


def fit_bias_correction(
    e_true: np.ndarray, e_pred: np.ndarray, n_bins: int = 10, min_events: int = 10
) -> BiasCorrection:
    """Fit median(E_pred) vs true energy with a line in bins of true energy and invert it.

    The bins have equal populations (at most ``n_bins``, at least ``2 * min_events`` events
    each). The uncertainty of a bin median is 1.2533·σ/√n (σ from the MAD), the asymptotic
    standard error of the median of a Gaussian sample.
    """
    t, p = _check(e_true, e_pred)
    k = int(min(n_bins, len(t) // (2 * min_events)))
    edges = np.unique(np.quantile(t, np.linspace(0, 1, max(k, 1) + 1)))
    edges[-1] = np.nextafter(edges[-1], np.inf)
    xs, ys, es = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (t >= lo) & (t < hi)
        n = int(sel.sum())
        if n < min_events:
            continue
        med = float(np.median(p[sel]))
        sig = MAD_TO_SIGMA * float(np.median(np.abs(p[sel] - med)))
        sig = sig if sig > 0 else max(float(np.std(p[sel])), 1e-9 * max(abs(med), 1.0))
        xs.append(float(t[sel].mean()))
        ys.append(med)
        es.append(1.2533 * sig / math.sqrt(n))
    if len(xs) < 2:
        raise DataError(
            f"bias correction needs 2 energy bins with >= {min_events} events; got {len(xs)} "
            "(use more events or a wider energy range)"
        )
    fit = fit_line(np.array(xs), np.array(ys), np.array(es))
    if not fit.slope > 0:
        raise DataError(
            f"bias correction: the median prediction does not rise with energy (slope "
            f"{fit.slope:.3g}); the model has not learned the energy scale"
        )
    return BiasCorrection(
        slope=fit.slope,
        slope_err=fit.slope_err,
        intercept=fit.intercept,
        intercept_err=fit.intercept_err,
        chi2=fit.chi2,
        ndf=fit.ndf,
        n_bins=len(xs),
    )


def regression_metrics(
    e_true: np.ndarray,
    e_pred: np.ndarray,
    *,
    edges: Sequence[float] | np.ndarray | None = None,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Global numbers, the binned table and the resolution fit, as a JSON-ready dict.

    Keys: ``n_events, rmse, mae, mu, sigma, mu_rel, sigma_rel, rmse_rel, bins`` (list of
    :class:`BinMetrics` dicts) and ``fit`` (``a, a_err, b, b_err, c, c_err, chi2, ndf`` or
    ``None`` with fewer than 4 bins).
    """
    t, p = _check(e_true, e_pred)
    bins = binned_metrics(t, p, energy_bins(t, n_bins) if edges is None else edges)
    try:
        fit = fit_binned_resolution(bins)
    except DataError:
        fit = None
    return {
        **summary_stats(t, p),
        "bins": [b.to_dict() for b in bins],
        "fit": fit.to_dict() if fit is not None else None,
    }
