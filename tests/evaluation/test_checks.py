"""Sanity checks: each failure of issue 12 raises its warning, and good measurements none."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from calolab.evaluation import EnergyBinning, fit_bias_correction, measure_regression
from calolab.evaluation.checks import (
    MIN_BIN_EVENTS,
    check_bias_correction,
    check_regression,
    check_tracker,
)
from calolab.evaluation.tracker import TrackerBin, TrackerResult


def _measure(t, p, **kw):
    return measure_regression(t, p, EnergyBinning(**kw).edges_for(t))


def _codes(warnings):
    return sorted({w.code for w in warnings})


@pytest.fixture(scope="module")
def energies():
    return np.random.default_rng(0).uniform(1, 100, 4000)


def test_a_good_measurement_raises_nothing(energies):
    rng = np.random.default_rng(1)
    p = energies * (1 + 0.1 / np.sqrt(energies) * rng.standard_normal(len(energies)))
    assert check_regression(_measure(energies, p), "raw", raw=True) == []


def test_a_constant_predictor_is_flagged(energies):
    """Issue 12, item 1: a model predicting an almost constant energy has a narrow core
    (σ/E of a few % per bin) but a response far from 1 and no energy scale."""
    rng = np.random.default_rng(2)
    p = 50.0 * (1 + 0.01 * rng.standard_normal(len(energies)))
    res = _measure(energies, p)
    warnings = check_regression(res, "raw", raw=True)
    assert {"response", "energy-scale"} <= set(_codes(warnings))
    resp = next(w for w in warnings if w.code == "response")
    assert resp.value > 5 and resp.e_lo == res.bins[0].e_lo  # the worst bin: the lowest
    assert "8 of 10 bins" in resp.message  # near 50 GeV a constant 50 GeV looks right
    slope = next(w for w in warnings if w.code == "energy-scale")
    assert abs(slope.value) < 0.01 and "almost constant" in slope.message


def test_ill_conditioned_bias_corrections_are_refused():
    """Issue 12, item 2: an under-trained model whose median prediction saturates (response
    4.5 at 65 GeV, 0.1 at 6 TeV) gets a line of slope ≈ 0.05 through its medians; inverting
    it gives negative corrected responses. It is refused, never applied."""
    rng = np.random.default_rng(3)
    t = np.exp(rng.uniform(np.log(50), np.log(8000), 4000))
    p = (300 + 300 * np.tanh(t / 2000)) * (1 + 0.02 * rng.standard_normal(len(t)))
    bc = fit_bias_correction(t, p)
    assert bc.slope < 0.5
    ok, reason, warnings = check_bias_correction(bc, t, p)
    assert not ok and "not a straight line" in reason
    assert _codes(warnings) == ["bias-refused", "bias-slope"]
    # an almost constant prediction: its slope is not even known
    c = (400 + 1e-3 * t) * (1 + 0.1 * rng.standard_normal(len(t)))
    ok, reason, _ = check_bias_correction(fit_bias_correction(t, c), t, c)
    assert not ok and "known to only" in reason


def test_a_linear_scale_error_is_warned_but_corrected():
    """The sum of cells of a sampling calorimeter: slope 0.3, a perfect line; the slope is
    reported, the correction applied."""
    rng = np.random.default_rng(4)
    t = rng.uniform(1, 100, 4000)
    p = 0.3 * t * (1 + 0.1 / np.sqrt(t) * rng.standard_normal(len(t))) + 0.2
    ok, reason, warnings = check_bias_correction(fit_bias_correction(t, p), t, p)
    assert ok and reason == "" and _codes(warnings) == ["bias-slope"]


def test_bad_fits_and_thin_bins_are_flagged(energies):
    """Issue 12, item 7: χ²/ndf up to 153/3 was shown without a flag."""
    rng = np.random.default_rng(5)
    # σ/E rising with energy: no a/√E ⊕ b/E ⊕ c describes it
    p = energies * (1 + 0.002 * energies * rng.standard_normal(len(energies)))
    res = _measure(energies, p)
    warnings = check_regression(res, "raw", raw=True)
    q = next(w for w in warnings if w.code == "fit-quality")
    assert q.value > 5 and "χ²/ndf" in q.message
    few = _measure(energies[:300], p[:300], n_bins=10)
    w = next(w for w in check_regression(few, "raw", raw=True) if w.code == "few-events")
    assert w.value < MIN_BIN_EVENTS and "fewer than 50 events" in w.message


def test_terms_at_their_limits_are_flagged(energies):
    rng = np.random.default_rng(6)
    p = energies * (1 + 0.1 / np.sqrt(energies) * rng.standard_normal(len(energies)))
    res = _measure(energies, p)
    # by default a term that ends at 0 is fixed to 0 (no warning); one at a limit that the
    # user asked for, or an upper limit, is reported
    assert not any(w.code == "fit-limit" for w in check_regression(res, "raw", raw=True))
    stuck = dataclasses.replace(res, fit=dataclasses.replace(res.fit, at_limit=("a",)))
    (w,) = [x for x in check_regression(stuck, "raw", raw=True) if x.code == "fit-limit"]
    assert "a = " in w.message and "--fit-terms" not in w.message
    (w,) = [
        x
        for x in check_regression(stuck, "raw", raw=True, explicit_terms=True)
        if x.code == "fit-limit"
    ]
    assert "--fit-terms" in w.message


def test_negative_responses_are_non_physical(energies):
    rng = np.random.default_rng(7)
    p = energies * (1 + 0.05 * rng.standard_normal(len(energies)))
    p[energies < 20] *= -1
    w = check_regression(_measure(energies, p), "corrected", raw=False)
    bad = next(x for x in w if x.code == "non-physical")
    assert "≤ 0" in bad.message and bad.part == "corrected"


def test_a_tracker_combination_with_undefined_or_worse_values_is_flagged():
    """Issue 12, item 2: the combination used negative calorimeter σ/E (−1.456, −5.72)."""

    def row(calo, comb):
        return TrackerBin(50, 100, 70, 100, calo, 0.014, 0.014, comb, 0.001, 1.0, 0.1, None)

    good = TrackerResult(0.2, 0, "corrected", "fit", (row(0.05, 0.013),))
    assert check_tracker(good) == []
    for bins in ((row(None, 0.013),), (row(0.05, 0.2),)):
        (w,) = check_tracker(TrackerResult(0.2, 0, "raw", "bins", bins))
        assert w.code == "non-physical" and w.part == "tracker"


def test_a_response_at_the_edge_of_the_range_within_its_error_is_not_flagged(energies):
    """The response check allows RESPONSE_SIGMAS standard errors of the bin: 1.28 ± 0.04 in a
    bin of 100 events (the regression-to-the-mean edge of a flat spectrum) is consistent with
    1.25; 1.45 is not."""
    from calolab.evaluation.checks import RESPONSE_RANGE, RESPONSE_SIGMAS

    rng = np.random.default_rng(5)
    t = rng.uniform(1, 100, 1000)  # 10 bins of 100 events
    for excess, flagged in ((0.03, False), (0.20, True)):
        scale = np.where(t < 10.9, RESPONSE_RANGE[1] + excess, 1.0)
        p = t * scale * (1 + 0.25 * rng.standard_normal(len(t)))
        res = _measure(t, p)
        low = res.bins[0]
        assert low.response_err is not None and 0.01 < low.response_err < 0.06
        got = "response" in _codes(check_regression(res, "raw", raw=True))
        beyond = low.response - RESPONSE_RANGE[1] > RESPONSE_SIGMAS * low.response_err
        assert got == beyond == flagged, (low.response, low.response_err)
