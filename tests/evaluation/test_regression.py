"""Regression metrics and bias correction."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError
from calolab.evaluation import (
    EnergyBinning,
    energy_bins,
    fit_bias_correction,
    measure_regression,
    regression_metrics,
    summary_stats,
)


def test_summary_stats_by_hand():
    t = np.array([10.0, 20.0, 40.0])
    p = np.array([11.0, 18.0, 40.0])
    s = summary_stats(t, p)
    assert s["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert s["mae"] == pytest.approx(1.0)
    assert s["mu"] == pytest.approx(-1 / 3)
    assert s["sigma"] == pytest.approx(np.std([1.0, -2.0, 0.0], ddof=1))
    assert s["mu_rel"] == pytest.approx(np.mean([0.1, -0.1, 0.0]))
    assert s["sigma_rel"] == pytest.approx(np.std([0.1, -0.1, 0.0], ddof=1))


def test_bias_correction_inverts_a_linear_response():
    rng = np.random.default_rng(2)
    e = rng.uniform(1, 100, 20000)
    pred = 0.8 * e + 3.0 + 0.05 * e * rng.standard_normal(len(e))
    bc = fit_bias_correction(e, pred)
    assert bc.slope == pytest.approx(0.8, abs=4 * bc.slope_err)
    assert bc.intercept == pytest.approx(3.0, abs=4 * bc.intercept_err)
    m = regression_metrics(e, bc.apply(pred))
    for b in m["bins"]:
        # the correction's own uncertainty matters at low energy: δq/(s·E) ⊕ δs/s
        corr_err = np.hypot(bc.intercept_err / (bc.slope * b["e_mean"]), bc.slope_err / bc.slope)
        assert b["response"] == pytest.approx(1.0, abs=4 * np.hypot(b["response_err"], corr_err))


def test_metrics_layout_and_bins():
    rng = np.random.default_rng(3)
    e = rng.uniform(50, 500, 5000)
    p = e * (1 + 0.03 * rng.standard_normal(len(e)))
    m = regression_metrics(e, p)
    assert set(m) >= {
        "n_events",
        "rmse",
        "mae",
        "mu",
        "sigma",
        "mu_rel",
        "sigma_rel",
        "bins",
        "fit",
    }
    keys = {
        "e_lo",
        "e_hi",
        "e_mean",
        "n",
        "response",
        "response_err",
        "resolution",
        "resolution_err",
        "mu",
        "sigma",
        "mu_rel",
        "sigma_rel",
    }
    assert len(m["bins"]) == 10 and keys <= set(m["bins"][0])
    # 500 events per bin: σ/E = 3 % ± 3 %/√(2·500·0.95) ≈ ±0.1 %
    for b in m["bins"]:
        assert b["resolution"] == pytest.approx(0.03, abs=0.005)
    assert {"a", "a_err", "b", "b_err", "c", "c_err", "chi2", "ndf", "terms"} <= set(m["fit"])
    assert m["fit"]["c"] == pytest.approx(0.03, abs=0.005)
    # linear bins for a factor 10, log bins beyond a factor 20
    assert np.allclose(np.diff(energy_bins(np.array([50.0, 500.0]), 5))[:-1], 90)
    lb = energy_bins(np.array([50.0, 8000.0]), 4)
    assert lb[1] / lb[0] == pytest.approx(lb[2] / lb[1])


def test_bad_predictions_are_reported():
    with pytest.raises(DataError, match="NaN"):
        summary_stats(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="entries"):
        summary_stats(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(DataError, match="> 0"):
        summary_stats(np.array([0.0]), np.array([1.0]))


def test_equal_population_bins_on_a_uniform_sample():
    """Issue 12, item 7: log bins on a uniform 1–100 GeV sample hold 13 events in the first
    bin and 586 in the last; the default equal-population bins hold N/10 each."""
    rng = np.random.default_rng(4)
    e = rng.uniform(1, 100, 2000)
    log_counts = np.histogram(e, energy_bins(e, 10, method="log"))[0]
    assert log_counts[0] < 30 and log_counts[-1] > 450
    counts = np.histogram(e, EnergyBinning().edges_for(e))[0]
    assert counts.sum() == 2000 and counts.min() >= 199 and counts.max() <= 201
    # discrete energies: one bin around each
    d = np.repeat([10.0, 20.0, 50.0], 100)
    edges = EnergyBinning().edges_for(d)
    assert list(np.histogram(d, edges)[0]) == [100, 100, 100]


def test_binning_from_the_command_line_text():
    b = EnergyBinning.parse("1,5,10,50,100")
    assert b.method == "edges" and b.edges == (1.0, 5.0, 10.0, 50.0, 100.0) and b.n_bins == 4
    assert EnergyBinning.parse("8", "log") == EnergyBinning("log", 8)
    assert EnergyBinning.parse("12").method == "quantile"
    for text, method, msg in (
        ("-3", None, "must be >= 1"),
        ("0", None, "must be >= 1"),
        ("ten", None, "number of bins"),
        ("1,1,5", None, "increase strictly"),
        ("1,x", None, "must be numbers"),
        ("5", "cubic", "must be one of"),
        ("1,5,10", "log", "applies to a number of bins"),
        ("1,nan,10", None, "finite"),
    ):
        with pytest.raises(ConfigError, match=msg):
            EnergyBinning.parse(text, method)


def test_measured_regression_is_traceable_to_its_bins():
    rng = np.random.default_rng(3)
    e = rng.uniform(1, 100, 5000)
    p = e * (1 + 0.1 / np.sqrt(e) * rng.standard_normal(len(e)))
    r = measure_regression(e, p, EnergyBinning().edges_for(e))
    assert len(r.bins) == 10 and r.fit is not None and r.fit.chi2_ndf < 5
    assert r.core_resolution == pytest.approx(np.mean([b.resolution for b in r.bins]))
    b = r.bin_at(50.0)
    assert b.e_lo <= 50.0 < b.e_hi and r.resolution_at(50.0) == b.resolution
    assert r.resolution_at(500.0) is None and r.resolution_at(0.5) is None
    assert r.scale_slope == pytest.approx(1.0, abs=0.02)
    assert r.scale_exponent == pytest.approx(1.0, abs=0.02)
    # a sampling calorimeter's plain sum grows like the energy; a constant does not
    s = measure_regression(e, 0.03 * p, EnergyBinning().edges_for(e))
    assert s.scale_slope == pytest.approx(0.03, rel=0.05)
    assert s.scale_exponent == pytest.approx(1.0, abs=0.05)
