"""Timing resolution of showers against energy: σ_t(E) = A/√E ⊕ B.

The time of a shower is the energy-weighted mean of the measured times of its digitised
cells (``calolab/digitized/times``) that carry at least ``min_fraction`` (default 5 %) of the
energy of the event's hottest cell and were measured within ``time_cut_ns`` (default 1 ns) of
the hottest cell's time: the shower's core in space and time, without noise hits (whose times
are random) and without the faint, late halo — the estimator a detector with per-cell timing
uses first. In bins of true energy its spread is measured with the
Gaussian-core fit (:func:`~calolab.evaluation.fits.gaussian_core_fit`), and
σ_t(E) = A/√E ⊕ B (E in GeV, A in ns·√GeV, B in ns) fitted to the bins by least squares
(iminuit, HESSE errors). The spread includes the shower's own fluctuations (its depth, the
late hadronic component) as well as the readout's σ_t: it is what the detector measures for a
particle arriving at a fixed time.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from iminuit import Minuit
from iminuit.cost import LeastSquares

from calolab.core.errors import DataError
from calolab.data.showers import Showers
from calolab.evaluation.fits import gaussian_core_fit


@dataclass(frozen=True)
class TimingBin:
    """One bin of true energy (GeV): events, mean shower time and its core σ_t (ns)."""

    e_lo: float
    e_hi: float
    e_mean: float
    n: int
    mean_ns: float
    sigma_ns: float
    sigma_err_ns: float


@dataclass(frozen=True)
class TimingResolution:
    """σ_t against energy and the fit σ_t = A/√E ⊕ B (``a_ns`` in ns·√GeV, ``b_ns`` in ns;
    ``None`` with fewer than 3 bins). ``source``: ``"digitized"`` or ``"true"`` times."""

    bins: tuple[TimingBin, ...]
    a_ns: float | None = None
    a_err_ns: float | None = None
    b_ns: float | None = None
    b_err_ns: float | None = None
    chi2: float | None = None
    ndf: int | None = None
    source: str = "digitized"

    def sigma_at(self, e_gev: float) -> float | None:
        """The fitted σ_t (ns) at ``e_gev``."""
        if self.a_ns is None or self.b_ns is None:
            return None
        return float(math.hypot(self.a_ns / math.sqrt(e_gev), self.b_ns))


def shower_times(
    showers: Showers,
    digitized: bool = True,
    min_fraction: float = 0.05,
    time_cut_ns: float = 1.0,
) -> np.ndarray:
    """Energy-weighted mean time of the cells with at least ``min_fraction`` of the hottest
    cell's energy and within ``time_cut_ns`` of its time, per event (ns, ``(N,)``; NaN
    without a hit)."""
    if digitized:
        if showers.digitized_times is None or showers.digitized is None:
            raise DataError("these showers have no digitised cell times (simulate with --timing)")
        w, t = showers.digitized.astype(np.float64), showers.digitized_times
    else:
        if showers.times is None:
            raise DataError("these showers have no cell times (simulate with --timing)")
        w, t = showers.cells.astype(np.float64), showers.times
    w = np.where(w > 0, w, 0.0)
    hottest = np.argmax(w, axis=1)
    t_ref = np.take_along_axis(t, hottest[:, None], axis=1).astype(np.float64)
    keep = (w >= min_fraction * w.max(axis=1, keepdims=True)) & (np.abs(t - t_ref) <= time_cut_ns)
    w = np.where(keep, w, 0.0)
    tot = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, (w * t).sum(axis=1) / tot, np.nan)


def fit_timing(
    e: np.ndarray, s: np.ndarray, err: np.ndarray
) -> tuple[float, float, float, float, float, int]:
    """Least-squares σ_t = A/√E ⊕ B: ``(A, A_err, B, B_err, χ², ndf)``."""
    ok = np.isfinite(s) & np.isfinite(err) & (err > 0) & (e > 0)
    e, s, err = e[ok], s[ok], err[ok]
    if len(e) < 3:
        raise DataError(f"timing fit: {len(e)} valid points, need at least 3")
    cost = LeastSquares(e, s, err, lambda x, a, b: np.sqrt(a * a / x + b * b))
    mi = Minuit(cost, a=float(s[0] * math.sqrt(e[0])), b=float(s[-1]) * 0.5)
    mi.limits["a"] = (0.0, None)
    mi.limits["b"] = (0.0, None)
    mi.migrad()
    mi.hesse()
    return (
        float(mi.values["a"]),
        float(mi.errors["a"]),
        float(mi.values["b"]),
        float(mi.errors["b"]),
        float(mi.fval),
        len(e) - 2,
    )


def timing_resolution(
    data: Showers | str | os.PathLike[str],
    *,
    n_bins: int = 6,
    digitized: bool = True,
    edges: np.ndarray | None = None,
    min_fraction: float = 0.05,
    time_cut_ns: float = 1.0,
) -> TimingResolution:
    """σ_t of the shower time in bins of true energy and the fit A/√E ⊕ B.

    Parameters
    ----------
    data:
        Showers with cell times, or an HDF5 file of them (read batch by batch).
    n_bins:
        Equal-population bins of true energy (unless ``edges`` are given, GeV).
    digitized:
        Measured (digitised) times, or the true ones.
    min_fraction, time_cut_ns:
        Cells below this fraction of the hottest cell's energy, or measured further than this
        from the hottest cell's time (ns), are left out of the shower time.
    """
    if isinstance(data, Showers):
        energy, t = np.asarray(data.energy, dtype=np.float64), shower_times(
            data, digitized, min_fraction, time_cut_ns
        )
    else:
        from calolab.data.hdf5 import ShowerFile

        es, ts = [], []
        with ShowerFile(data) as f:
            if not f.has_times:
                raise DataError(f"'{data}' has no cell times (simulate with --timing)")
            for batch in f.iter_batches(2048):
                es.append(np.asarray(batch.energy, dtype=np.float64))
                ts.append(shower_times(batch, digitized, min_fraction, time_cut_ns))
        energy, t = np.concatenate(es), np.concatenate(ts)
    ok = np.isfinite(t)
    energy, t = energy[ok], t[ok]
    if len(t) < 30:
        raise DataError(f"{len(t)} events with a shower time: too few for a timing resolution")
    if edges is None:
        edges = np.unique(np.quantile(energy, np.linspace(0, 1, n_bins + 1)))
    bins = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        sel = (energy >= lo) & ((energy <= hi) if i == len(edges) - 2 else (energy < hi))
        if sel.sum() < 30:
            continue
        fit = gaussian_core_fit(t[sel])
        bins.append(
            TimingBin(
                float(lo),
                float(hi),
                float(energy[sel].mean()),
                int(sel.sum()),
                float(fit.mu),
                float(fit.sigma),
                float(fit.sigma_err),
            )
        )
    if not bins:
        raise DataError("no energy bin with 30 events: too few for a timing resolution")
    if len(bins) < 3:
        return TimingResolution(tuple(bins), source="digitized" if digitized else "true")
    a, ae, b, be, chi2, ndf = fit_timing(
        np.array([x.e_mean for x in bins]),
        np.array([x.sigma_ns for x in bins]),
        np.array([x.sigma_err_ns for x in bins]),
    )
    return TimingResolution(
        tuple(bins), a, ae, b, be, chi2, ndf, source="digitized" if digitized else "true"
    )


__all__ = ["TimingBin", "TimingResolution", "fit_timing", "shower_times", "timing_resolution"]
