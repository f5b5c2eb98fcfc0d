"""Combination of the calorimeter with a tracker by an inverse-variance weighted average.

For multi-TeV muons the tracker's momentum resolution degrades linearly with energy,
σ/E = 20 % × (E / 1 TeV) (the assumption of Kieseler et al., EPJC 82 (2022) 79), while the
calorimeter's relative resolution improves with energy; the two are complementary. For two
independent unbiased measurements x_i with variances σ_i², the minimum-variance combination
is x = (x_1/σ_1² + x_2/σ_2²) / (1/σ_1² + 1/σ_2²) with σ⁻² = σ_1⁻² + σ_2⁻².
"""

from __future__ import annotations

from collections.abc import Callable

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
