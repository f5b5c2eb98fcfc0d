"""Regression metrics and bias correction."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import DataError
from calolab.evaluation import (
    energy_bins,
    fit_bias_correction,
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
    assert set(m["fit"]) == {"a", "a_err", "b", "b_err", "c", "c_err", "chi2", "ndf"}
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
