"""Combination of the calorimeter with a tracker by an inverse-variance weighted average.

For multi-TeV muons the tracker's momentum resolution degrades linearly with energy,
σ/E = 20 % × (E / 1 TeV) (the assumption of Kieseler et al., EPJC 82 (2022) 79), while the
calorimeter's relative resolution improves with energy; the two are complementary. For two
independent unbiased measurements x_i with variances σ_i², the minimum-variance combination
is x = (x_1/σ_1² + x_2/σ_2²) / (1/σ_1² + 1/σ_2²) with σ⁻² = σ_1⁻² + σ_2⁻².
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from calolab.core.errors import ConfigError

TRACKER_REL_AT_1TEV = 0.20


def tracker_resolution(e_gev: np.ndarray | float, rel_at_1tev: float = TRACKER_REL_AT_1TEV):
    """Tracker σ/E = rel_at_1tev × (E / 1000 GeV)."""
    return rel_at_1tev * np.asarray(e_gev, dtype=np.float64) / 1000.0


def combine_inverse_variance(
    x1: np.ndarray, s1: np.ndarray, x2: np.ndarray, s2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-variance weighted average of two measurements and its σ (same units)."""
    w1 = 1.0 / np.square(np.asarray(s1, dtype=np.float64))
    w2 = 1.0 / np.square(np.asarray(s2, dtype=np.float64))
    x = (w1 * np.asarray(x1, dtype=np.float64) + w2 * np.asarray(x2, dtype=np.float64)) / (w1 + w2)
    return x, 1.0 / np.sqrt(w1 + w2)


def expected_combined_resolution(
    calo_rel: np.ndarray | float,
    e_gev: np.ndarray | float,
    rel_at_1tev: float = TRACKER_REL_AT_1TEV,
) -> np.ndarray:
    """σ/E of the combination when the calorimeter has σ/E = ``calo_rel`` at ``e_gev``."""
    t = tracker_resolution(e_gev, rel_at_1tev)
    return 1.0 / np.sqrt(1.0 / np.square(calo_rel) + 1.0 / np.square(t))


def simulate_tracker(
    e_true: np.ndarray, rng: np.random.Generator, rel_at_1tev: float = TRACKER_REL_AT_1TEV
) -> np.ndarray:
    """Toy tracker measurements E_true·(1 + σ/E(E_true)·N(0, 1)), GeV.

    Gaussian in energy, so that the tracker has exactly the stated σ/E (at several TeV this
    allows unphysical negative values; a curvature-Gaussian tracker would have long tails
    instead).
    """
    if not rel_at_1tev > 0:
        raise ConfigError(f"tracker resolution at 1 TeV {rel_at_1tev!r} must be > 0")
    e = np.asarray(e_true, dtype=np.float64)
    return e * (1.0 + tracker_resolution(e, rel_at_1tev) * rng.standard_normal(len(e)))


def combine_with_tracker(
    e_calo: np.ndarray,
    e_track: np.ndarray,
    calo_rel_resolution: Callable[[np.ndarray], np.ndarray],
    rel_at_1tev: float = TRACKER_REL_AT_1TEV,
    iterations: int = 5,
) -> np.ndarray:
    """Per-event combination of calorimeter and tracker energies (GeV).

    No truth information is used. Both resolutions are evaluated at a common reference
    energy: first the calorimeter measurement, then the combined estimate of the previous
    pass (``iterations`` passes). A common reference avoids giving a measurement that
    fluctuated low a small σ and hence a large weight (σ_track ∝ E², so evaluating each
    detector at its own measurement pulls the average towards low tracker values).
    """
    ec = np.asarray(e_calo, dtype=np.float64)
    et = np.asarray(e_track, dtype=np.float64)
    ref = np.clip(ec, 1e-3, None)
    x = ec
    for _ in range(max(1, iterations)):
        sc = ref * np.asarray(calo_rel_resolution(ref), dtype=np.float64)
        st = ref * tracker_resolution(ref, rel_at_1tev)
        x, _ = combine_inverse_variance(ec, sc, et, st)
        ref = np.clip(x, 1e-3, None)
    return x


@dataclass(frozen=True)
class TrackerBin:
    """The calorimeter, the toy tracker and their combination in one bin of true energy.

    σ/E values are Gaussian-core widths of E/E_true divided by the core response (``None``
    when that response is not positive); ``tracker_nominal`` is the tracker's stated σ/E at
    ``e_mean``; ``expected`` the ideal combination 1/√(1/σ_calo² + 1/σ_trk²).
    """

    e_lo: float
    e_hi: float
    e_mean: float
    n: int
    calo: float | None
    tracker: float | None
    tracker_nominal: float
    combined: float | None
    combined_err: float | None
    combined_response: float
    combined_rmse_rel: float
    expected: float | None


@dataclass(frozen=True)
class TrackerResult:
    """Per-bin comparison of the calorimeter with its combination with a toy tracker of
    σ/E = ``rel_at_1tev`` × E/1 TeV (seeded by ``seed``). ``source``: which calorimeter
    energies were combined (``"corrected"``: after the bias correction, or ``"raw"``);
    ``calo_resolution``: where the calorimeter σ/E used for the weights came from (``"fit"``
    or ``"bins"``, interpolated in log E)."""

    rel_at_1tev: float
    seed: int
    source: str
    calo_resolution: str
    bins: tuple[TrackerBin, ...]


def _core_rel(x: np.ndarray) -> tuple[float | None, float | None, float]:
    from calolab.evaluation.fits import gaussian_core_fit

    f = gaussian_core_fit(x)
    if not (math.isfinite(f.mu) and f.mu > 0 and math.isfinite(f.sigma)):
        return None, None, float(f.mu)
    err = f.sigma_err / f.mu if math.isfinite(f.sigma_err) else None
    return float(f.sigma / f.mu), err, float(f.mu)


def tracker_table(
    e_true: np.ndarray,
    e_calo: np.ndarray,
    e_track: np.ndarray,
    e_comb: np.ndarray,
    edges: Sequence[tuple[float, float]],
    rel_at_1tev: float = TRACKER_REL_AT_1TEV,
) -> list[TrackerBin]:
    """:class:`TrackerBin` rows for the bins ``(e_lo, e_hi)`` of true energy (GeV)."""
    rows = []
    for lo, hi in edges:
        sel = (e_true >= lo) & (e_true < hi)
        n = int(sel.sum())
        if n == 0:
            continue
        t = e_true[sel]
        e_mean = float(t.mean())
        calo, _, _ = _core_rel(e_calo[sel] / t)
        trk, _, _ = _core_rel(e_track[sel] / t)
        comb, comb_err, comb_mu = _core_rel(e_comb[sel] / t)
        rows.append(
            TrackerBin(
                e_lo=float(lo),
                e_hi=float(hi),
                e_mean=e_mean,
                n=n,
                calo=calo,
                tracker=trk,
                tracker_nominal=float(tracker_resolution(e_mean, rel_at_1tev)),
                combined=comb,
                combined_err=comb_err,
                combined_response=comb_mu,
                combined_rmse_rel=float(np.sqrt(np.mean((e_comb[sel] / t - 1) ** 2))),
                expected=(
                    float(expected_combined_resolution(calo, e_mean, rel_at_1tev))
                    if calo is not None and calo > 0
                    else None
                ),
            )
        )
    return rows
