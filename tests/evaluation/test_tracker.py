"""Calorimeter + tracker combination (inverse-variance average)."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.evaluation import (
    combine_inverse_variance,
    combine_with_tracker,
    expected_combined_resolution,
    gaussian_core_fit,
    simulate_tracker,
    tracker_resolution,
)


def test_tracker_resolution_is_20_percent_at_1_tev():
    assert tracker_resolution(1000.0) == pytest.approx(0.2)
    assert tracker_resolution(100.0) == pytest.approx(0.02)


def test_inverse_variance_average():
    x, s = combine_inverse_variance(
        np.array([10.0]), np.array([1.0]), np.array([13.0]), np.array([2.0])
    )
    assert x[0] == pytest.approx((10 / 1 + 13 / 4) / (1 + 1 / 4))
    assert s[0] == pytest.approx(1 / np.sqrt(1 + 1 / 4))


@pytest.mark.parametrize("energy", [300.0, 2000.0])
def test_per_event_combination_reaches_the_expected_resolution(energy):
    """Toy calorimeter with σ/E = 10 % and the 20 %/TeV tracker, 20k events at one energy:
    the combined core resolution matches 1/√(1/σ_c² + 1/σ_t²) within 3 % (the statistical
    precision of a width from 20k events is ~0.5 %), and beats both detectors."""
    rng = np.random.default_rng(11)
    e = np.full(20000, energy)
    calo = e * (1 + 0.10 * rng.standard_normal(len(e)))
    trk = simulate_tracker(e, rng)
    comb = combine_with_tracker(calo, trk, lambda x: np.full_like(x, 0.10))
    fit = gaussian_core_fit(comb / e)
    expected = expected_combined_resolution(0.10, energy)
    assert fit.sigma / fit.mu == pytest.approx(expected, rel=0.03)
    assert fit.sigma < min(0.10, tracker_resolution(energy))
    assert fit.mu == pytest.approx(1.0, abs=0.01)
