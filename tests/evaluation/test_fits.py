"""Fits: Gaussian core, resolution curve (recovers known a, b, c), straight line."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import DataError
from calolab.evaluation import (
    binned_metrics,
    fit_line,
    fit_resolution,
    gaussian_core_fit,
    resolution_curve,
)


def test_core_fit_ignores_tails_and_does_not_underestimate_errors():
    """60 pseudo-experiments of 1000 Gaussian events + a 10 % low-side tail (leakage).

    Pull means must be 0 within 4/√60 (plus a small allowance for the truncation bias); the
    pull widths must not exceed 1 + 4/√120 (errors not underestimated). They may be below 1:
    the HESSE errors of a fit in a data-driven window are somewhat conservative.
    """
    rng = np.random.default_rng(0)
    pulls_mu, pulls_s = [], []
    for _ in range(60):
        core = rng.normal(1.0, 0.05, 1000)
        tail = rng.uniform(0.3, 0.8, 100)
        fit = gaussian_core_fit(np.concatenate([core, tail]))
        assert fit.method == "core-fit"
        pulls_mu.append((fit.mu - 1.0) / fit.mu_err)
        pulls_s.append((fit.sigma - 0.05) / fit.sigma_err)
    assert abs(np.mean(pulls_mu)) < 4 / np.sqrt(60) + 0.1
    assert abs(np.mean(pulls_s)) < 4 / np.sqrt(60) + 0.2
    assert 0.5 < np.std(pulls_mu) < 1 + 4 / np.sqrt(120)
    assert 0.5 < np.std(pulls_s) < 1 + 4 / np.sqrt(120)
    # the plain standard deviation would be ~3x larger
    assert np.std(np.concatenate([core, tail])) > 2.5 * 0.05


def test_core_fit_falls_back_to_moments_for_few_events():
    fit = gaussian_core_fit(np.array([1.0, 2.0, 3.0]))
    assert fit.method == "moments" and fit.mu == 2.0 and fit.sigma == pytest.approx(1.0)


def test_resolution_fit_recovers_known_terms_from_toy_data():
    """Toy calorimeter: E_pred = E (1 + σ/E(E)·N(0,1)) with a = 10 %√GeV, b = 0.3 GeV,
    c = 1 %; 14 log-spaced energies from 1 to 500 GeV, 4000 events each. The binned
    core-fit resolutions are fitted and a, b, c must agree with the truth within 3σ."""
    a, b, c = 0.10, 0.30, 0.01
    rng = np.random.default_rng(7)
    energies = np.geomspace(1, 500, 14)
    e_true = np.repeat(energies, 4000)
    e_pred = e_true * (1 + resolution_curve(e_true, a, b, c) * rng.standard_normal(len(e_true)))
    edges = np.concatenate([[0.5], np.sqrt(energies[1:] * energies[:-1]), [1000]])
    bins = binned_metrics(e_true, e_pred, edges)
    assert len(bins) == 14
    fit = fit_resolution(
        np.array([x.e_mean for x in bins]),
        np.array([x.resolution for x in bins]),
        np.array([x.resolution_err for x in bins]),
    )
    assert abs(fit.a - a) < 3 * fit.a_err
    assert abs(fit.b - b) < 3 * fit.b_err
    assert abs(fit.c - c) < 3 * fit.c_err
    assert fit.a_err < 0.01 and fit.c_err < 0.002  # the test has power
    assert fit.ndf == 11 and fit.chi2 < 11 + 5 * np.sqrt(22)


def test_resolution_fit_with_fixed_terms_and_too_few_points():
    e = np.array([10.0, 50.0, 200.0])
    r = resolution_curve(e, 0.2, 0.0, 0.02)
    fit = fit_resolution(e, r, r * 0.01, terms=("a", "c"))
    assert (
        fit.b == 0
        and fit.a == pytest.approx(0.2, rel=1e-3)
        and fit.c == pytest.approx(0.02, rel=1e-2)
    )
    with pytest.raises(DataError, match="valid points"):
        fit_resolution(e[:2], r[:2], r[:2] * 0.01)


def test_line_fit():
    x = np.arange(10.0)
    fit = fit_line(x, 2 * x + 1, np.full(10, 0.1))
    assert fit.slope == pytest.approx(2) and fit.intercept == pytest.approx(1)
    assert fit.slope_err == pytest.approx(0.1 / np.sqrt(np.sum((x - x.mean()) ** 2)), rel=1e-3)


def test_resolution_fit_reports_terms_at_their_limits_and_drops_zeros():
    """A term the data do not constrain ends at 0: listed in ``at_limit``; with
    ``drop_at_zero`` it is fixed to 0 and the fit repeated. A description that needs a
    stochastic term beyond 500 %/√E ends at the upper limit."""
    e = np.geomspace(1, 100, 10)
    r = resolution_curve(e, 0.1, 0.0, 0.01)
    z = np.random.default_rng(0).standard_normal(10)
    r = r * (1 + 0.03 * z)
    free = fit_resolution(e, r, 0.03 * r)
    assert "b" in free.at_limit and free.b < 0.01
    dropped = fit_resolution(e, r, 0.03 * r, drop_at_zero=True)
    assert dropped.terms == ("a", "c") and dropped.dropped == ("b",) and not dropped.at_limit
    assert dropped.ndf == free.ndf + 1 and dropped.e_min == 1.0 and dropped.e_max == 100.0
    huge = fit_resolution(e, 8.0 / np.sqrt(e), 0.01 * 8.0 / np.sqrt(e), terms=("a",))
    assert huge.at_limit == ("a",) and huge.a == pytest.approx(5.0, rel=1e-3)
    with pytest.raises(Exception, match="distinct terms"):
        fit_resolution(e, r, r, terms=("a", "d"))
