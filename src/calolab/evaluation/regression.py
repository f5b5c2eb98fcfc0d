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

from calolab.core.config import check_float, check_int
from calolab.core.errors import ConfigError, DataError
from calolab.evaluation.fits import (
    MAD_TO_SIGMA,
    RESOLUTION_TERMS,
    LineFit,
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


def energy_bins(
    e_true: np.ndarray, n_bins: int = 10, log: bool | None = None, *, method: str | None = None
) -> np.ndarray:
    """Bin edges covering the true energies (GeV).

    ``method``: ``"quantile"`` (equal populations; one bin per distinct energy when the
    sample has at most ``n_bins`` distinct energies), ``"lin"`` or ``"log"``; ``None`` keeps
    the historical rule: logarithmic when the range spans more than a factor 20 (unless
    ``log`` says otherwise), else linear. The last edge lies just above the largest energy,
    so that every event falls in a bin ``[lo, hi)``.
    """
    t = np.asarray(e_true, dtype=np.float64)
    t = t[np.isfinite(t)]
    if len(t) == 0:
        raise DataError("no true energies to bin")
    lo, hi = float(t.min()), float(t.max())
    if not hi > lo:
        return np.array([lo * 0.999, hi * 1.001])
    if method is None:
        method = "log" if ((hi / lo > 20) if log is None else log) else "lin"
    if method not in BINNING_METHODS:
        raise ConfigError(f"binning {method!r} must be one of {', '.join(BINNING_METHODS)}")
    if method == "quantile":
        values = np.unique(t)
        if len(values) <= n_bins:  # discrete energies: one bin around each
            mids = 0.5 * (values[1:] + values[:-1])
            edges = np.concatenate([[lo], mids, [hi]])
        else:
            edges = np.unique(np.quantile(t, np.linspace(0.0, 1.0, n_bins + 1)))
    elif method == "log":
        if not lo > 0:
            raise ConfigError("log binning needs true energies > 0 GeV; use --binning lin")
        edges = np.geomspace(lo, hi, n_bins + 1)
    else:
        edges = np.linspace(lo, hi, n_bins + 1)
    edges = np.asarray(edges, dtype=np.float64)
    edges[-1] = np.nextafter(hi, np.inf)
    return edges


#: How true energies can be binned (``--binning``).
BINNING_METHODS = ("quantile", "lin", "log")
#: Most bins accepted (a bin needs events for a Gaussian-core fit).
MAX_BINS = 1000


@dataclass(frozen=True)
class EnergyBinning:
    """The bins of true energy of an evaluation.

    Either ``n_bins`` bins chosen by ``method`` (``"quantile"``: equal populations, the
    default; ``"lin"``; ``"log"``) or explicit ``edges`` in GeV (then ``method = "edges"``).
    """

    method: str = "quantile"
    n_bins: int = 10
    edges: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check_int("number of energy bins", self.n_bins, minimum=1, maximum=MAX_BINS)
        if self.edges:
            object.__setattr__(self, "method", "edges")
            vals = [
                check_float(f"bin edge {i + 1}", v, minimum=0.0, unit="GeV")
                for i, v in enumerate(self.edges)
            ]
            if len(vals) < 2:
                raise ConfigError(
                    f"bin edges {list(self.edges)} must hold at least 2 values (GeV), e.g. 1,10,100"
                )
            if len(vals) - 1 > MAX_BINS:
                raise ConfigError(f"{len(vals) - 1} bins given; at most {MAX_BINS} allowed")
            if any(b <= a for a, b in zip(vals[:-1], vals[1:])):
                raise ConfigError(f"bin edges {vals} must increase strictly (GeV), e.g. 1,10,100")
            object.__setattr__(self, "edges", tuple(vals))
            object.__setattr__(self, "n_bins", len(vals) - 1)
        elif self.method not in BINNING_METHODS:
            raise ConfigError(
                f"binning {self.method!r} must be one of {', '.join(BINNING_METHODS)} (or "
                "explicit edges)"
            )

    @staticmethod
    def parse(bins: str | int | Sequence[float], method: str | None = None) -> EnergyBinning:
        """From ``--bins`` (a number of bins, or comma-separated edges in GeV) and
        ``--binning`` (lin | log | quantile; only with a number of bins)."""
        if isinstance(bins, str):
            parts = [p.strip() for p in bins.split(",") if p.strip()]
            if len(parts) == 1:
                try:
                    n = int(parts[0])
                except ValueError:
                    raise ConfigError(
                        f"--bins {bins!r} must be a number of bins (e.g. 10) or bin edges in "
                        "GeV (e.g. 1,5,10,50,100)"
                    ) from None
                check_int("--bins", n, minimum=1, maximum=MAX_BINS)
                return EnergyBinning(method or "quantile", n)
            try:
                edges = tuple(float(p) for p in parts)
            except ValueError:
                raise ConfigError(
                    f"--bins {bins!r}: bin edges must be numbers in GeV, e.g. 1,5,10,50,100"
                ) from None
            if method is not None:
                raise ConfigError(
                    f"--binning {method} applies to a number of bins, not to explicit edges "
                    f"({bins}); drop one of them"
                )
            return EnergyBinning(edges=edges)
        if isinstance(bins, bool):
            raise ConfigError(f"--bins {bins!r} must be a number of bins or bin edges")
        if isinstance(bins, int | np.integer):
            return EnergyBinning(method or "quantile", int(bins))
        return EnergyBinning(edges=tuple(float(b) for b in bins))

    def edges_for(self, e_true: np.ndarray) -> np.ndarray:
        """Bin edges (GeV) for these true energies."""
        if self.edges:
            return np.asarray(self.edges, dtype=np.float64)
        return energy_bins(e_true, self.n_bins, method=self.method)

    def describe(self) -> str:
        if self.edges:
            return f"edges {', '.join(f'{e:g}' for e in self.edges)} GeV"
        words = {"quantile": "equal-population", "lin": "linear", "log": "logarithmic"}
        return f"{self.n_bins} {words[self.method]} bins"


def finite_or_none(x: float) -> float | None:
    """``x`` as a float, or ``None`` when it is NaN or infinite (undefined measurements are
    ``None`` in results and ``null`` in JSON, never NaN)."""
    v = float(x)
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class BinMetrics:
    """Metrics of one bin of true energy (GeV unless relative).

    ``response`` and ``resolution`` come from a Gaussian-core fit of E_pred/E_true
    (``fit_method``: ``"core-fit"``, or ``"moments"`` when the fit was not possible);
    ``resolution`` = σ_core/μ_core is ``None`` when the response is not positive (σ/E is then
    undefined). ``mu``/``sigma``: mean and spread of E_pred − E_true; ``_rel``: divided by
    E_true; ``rmse_rel``: √⟨((E_pred − E_true)/E_true)²⟩.
    """

    e_lo: float
    e_hi: float
    e_mean: float
    n: int
    response: float
    response_err: float | None
    resolution: float | None
    resolution_err: float | None
    mu: float
    sigma: float
    mu_rel: float
    sigma_rel: float
    rmse_rel: float
    fit_method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def contains(self, energy: float) -> bool:
        return self.e_lo <= energy < self.e_hi

    @property
    def label(self) -> str:
        """The bin's energy range, e.g. ``"9.1–11 GeV"``."""
        return f"{self.e_lo:.3g}–{self.e_hi:.3g} GeV"


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
                response_err=finite_or_none(fit.mu_err),
                resolution=finite_or_none(res),
                resolution_err=finite_or_none(res_err),
                mu=st["mu"],
                sigma=st["sigma"],
                mu_rel=st["mu_rel"],
                sigma_rel=st["sigma_rel"],
                rmse_rel=st["rmse_rel"],
                fit_method=fit.method,
            )
        )
    return out


def fit_binned_resolution(
    bins: Sequence[BinMetrics],
    terms: Sequence[str] = RESOLUTION_TERMS,
    *,
    drop_at_zero: bool = False,
) -> ResolutionFit | None:
    """σ/E = a/√E ⊕ b/E ⊕ c fitted to binned resolutions; ``None`` with fewer points than
    terms + 1 (a fit needs a degree of freedom to be judged)."""
    pts = [b for b in bins if b.resolution is not None and b.resolution_err is not None]
    if len(pts) < max(len(terms) + 1, 4 if len(terms) == 3 else 2):
        return None
    return fit_resolution(
        np.array([b.e_mean for b in pts]),
        np.array([b.resolution for b in pts], dtype=np.float64),
        np.array([b.resolution_err for b in pts], dtype=np.float64),
        terms=tuple(terms),
        drop_at_zero=drop_at_zero,
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


def median_line(
    e_true: np.ndarray, e_pred: np.ndarray, n_bins: int = 10, min_events: int = 10
) -> tuple[LineFit, int]:
    """Straight line through the median prediction vs the mean true energy of equal-population
    bins: median(E_pred)(E) = slope·E + intercept; returns the fit and the number of bins.

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
            f"a line through the median predictions needs 2 energy bins with >= {min_events} "
            f"events; got {len(xs)} (use more events or a wider energy range)"
        )
    return fit_line(np.array(xs), np.array(ys), np.array(es)), len(xs)


def fit_bias_correction(
    e_true: np.ndarray, e_pred: np.ndarray, n_bins: int = 10, min_events: int = 10
) -> BiasCorrection:
    """Fit median(E_pred) vs true energy with a line in bins of true energy and invert it
    (see :func:`median_line`)."""
    try:
        fit, n = median_line(e_true, e_pred, n_bins, min_events)
    except DataError as exc:
        raise DataError(f"bias correction: {exc}") from None
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
        n_bins=n,
    )


@dataclass(frozen=True)
class RegressionResult:
    """The energy measurement of one set of predictions on one set of events.

    Global numbers (GeV unless relative): ``rmse``, ``mae``, ``mu`` = ⟨E_pred − E_true⟩,
    ``sigma`` = std(E_pred − E_true), their relative forms and ``rmse_rel``; ``bins``: the
    measurement per bin of true energy; ``fit``: σ/E = a/√E ⊕ b/E ⊕ c fitted to the binned
    σ/E (``None`` with too few bins; ``fit_note`` says why); ``scale_slope``: slope s of the
    line through the median prediction vs the true energy (GeV per GeV); ``scale_exponent``:
    how the median prediction grows with the energy, d ln median(E_pred) / d ln E_true =
    s·⟨E⟩ / (s·⟨E⟩ + q) at the mean energy (1 for any prediction proportional to the energy —
    a calibrated energy or the plain sum of a sampling calorimeter —, 0 for a constant);
    ``skipped_bins``: bins left out for holding fewer than 10 events.
    """

    n_events: int
    rmse: float
    mae: float
    mu: float
    sigma: float
    mu_rel: float
    sigma_rel: float
    rmse_rel: float
    bins: tuple[BinMetrics, ...]
    fit: ResolutionFit | None = None
    fit_note: str = ""
    scale_slope: float | None = None
    scale_slope_err: float | None = None
    scale_exponent: float | None = None
    scale_exponent_err: float | None = None
    skipped_bins: int = 0

    @property
    def core_resolution(self) -> float | None:
        """Mean over the bins of the Gaussian-core σ/E: one number per model that is measured
        in every bin (models evaluated on the same events and bins are compared on it)."""
        vals = [b.resolution for b in self.bins if b.resolution is not None]
        return float(np.mean(vals)) if vals and len(vals) == len(self.bins) else None

    @property
    def e_range(self) -> tuple[float, float] | None:
        """(lowest bin edge, highest bin edge) in GeV, ``None`` without bins."""
        return (self.bins[0].e_lo, self.bins[-1].e_hi) if self.bins else None

    def bin_at(self, energy: float) -> BinMetrics | None:
        """The measured bin that contains ``energy`` (GeV); ``None`` outside the sample."""
        return next((b for b in self.bins if b.contains(energy)), None)

    def resolution_at(self, energy: float) -> float | None:
        """Measured σ/E of the bin containing ``energy`` (never the fitted curve, never an
        extrapolation); ``None`` outside the sample."""
        b = self.bin_at(energy)
        return b.resolution if b is not None else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_regression(
    e_true: np.ndarray,
    e_pred: np.ndarray,
    edges: Sequence[float] | np.ndarray,
    *,
    terms: Sequence[str] = RESOLUTION_TERMS,
    drop_at_zero: bool = True,
    min_events: int = 10,
) -> RegressionResult:
    """Global numbers, bins, resolution fit and energy-scale slope of a set of predictions.

    Parameters
    ----------
    e_true, e_pred:
        True and predicted energies (GeV), ``(N,)``.
    edges:
        Bin edges of true energy (GeV), e.g. from :meth:`EnergyBinning.edges_for`.
    terms:
        Terms of the resolution fit.
    drop_at_zero:
        Fix a term that ends at 0 to 0 and fit again (see :func:`fit_resolution`).
    min_events:
        Bins with fewer events are left out (counted in ``skipped_bins``).
    """
    t, p = _check(e_true, e_pred)
    edge_arr = np.asarray(edges, dtype=np.float64)
    bins = binned_metrics(t, p, edge_arr, min_events=min_events)
    counts = np.histogram(t, bins=edge_arr)[0] if len(edge_arr) > 1 else np.zeros(0)
    skipped = int(np.sum((counts > 0) & (counts < min_events)))
    note = ""
    fit = None
    try:
        fit = fit_binned_resolution(bins, terms, drop_at_zero=drop_at_zero)
        if fit is None:
            note = (
                f"no resolution fit: {len(bins)} measured bin(s) for {len(tuple(terms))} "
                "term(s); use more bins or events"
            )
    except DataError as exc:
        note = f"no resolution fit: {exc}"
    slope = slope_err = expo = expo_err = None
    try:
        line, _ = median_line(t, p)
        slope, slope_err = finite_or_none(line.slope), finite_or_none(line.slope_err)
        e_mean = float(np.mean(t))
        level = line.slope * e_mean + line.intercept  # median prediction at ⟨E⟩
        if level > 0:
            expo = finite_or_none(line.slope * e_mean / level)
            # the intercept's error is correlated with the slope's; the slope term dominates
            expo_err = finite_or_none(line.slope_err * e_mean / level)
    except DataError:
        pass
    st = summary_stats(t, p)
    return RegressionResult(
        n_events=int(st["n_events"]),
        rmse=st["rmse"],
        mae=st["mae"],
        mu=st["mu"],
        sigma=st["sigma"],
        mu_rel=st["mu_rel"],
        sigma_rel=st["sigma_rel"],
        rmse_rel=st["rmse_rel"],
        bins=tuple(bins),
        fit=fit,
        fit_note=note,
        scale_slope=slope,
        scale_slope_err=slope_err,
        scale_exponent=expo,
        scale_exponent_err=expo_err,
        skipped_bins=skipped,
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
