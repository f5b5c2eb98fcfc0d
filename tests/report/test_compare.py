"""Comparing evaluations: resolution at an energy and the ratio of two models."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from calolab.evaluation.result import EvaluationWarning
from calolab.report.compare import (
    choose_best,
    paired_comparison,
    reference_energies,
    resolution_at,
    resolution_ratio,
)
from tests.results import regression_metrics, regression_part, resolution


def test_resolution_at_is_the_measured_bin_never_the_fit():
    """Issue 12, item 4: σ/E at an energy is the value of the bin that contains it, and
    nothing outside the sample."""
    m = regression_metrics("mlp", 0.1, 0.2, 0.01, "x.h5")
    # 10 GeV lies in the bin 7-12 GeV, whose centre is 9.5 GeV
    value, b = resolution_at(m, 10.0)
    assert value == pytest.approx(resolution(9.5, 0.1, 0.2, 0.01))
    assert (b.e_lo, b.e_hi) == (7.0, 12.0)
    assert resolution_at(m, 500.0) is None and resolution_at(m, 1.0) is None


def test_reference_energies_lie_inside_the_sample():
    assert reference_energies(1.0, 100.0) == (10.0, 50.0)
    assert reference_energies(50.0, 500.0) == (100.0, 200.0)
    assert reference_energies(50.0, 8000.0) == (100.0, 1000.0)
    assert all(50 <= e < 500 for e in reference_energies(50.0, 500.0))
    assert reference_energies(0.0, 10.0) == ()


def test_best_is_the_lowest_corrected_core_resolution_among_unflagged_models():
    good = regression_metrics("mlp", 0.10, 0.0, 0.0, "x.h5")
    worse = regression_metrics("per-layer", 0.15, 0.0, 0.0, "x.h5")
    # a broken model with a narrow core: flagged by the response check, never best
    broken = regression_metrics(
        "cnn3d",
        0.01,
        0.0,
        0.0,
        "x.h5",
        warnings=(EvaluationWarning("response", "response 4.5", "raw", value=4.5),),
    )
    assert choose_best([worse, broken, good]) is good
    # the bias-corrected numbers decide
    improved = regression_metrics(
        "sum", 0.3, 0.0, 0.0, "x.h5", corrected=regression_part(0.05, 0.0, 0.0)
    )
    assert choose_best([good, improved]) is improved
    assert choose_best([broken]) is None


def test_resolution_ratio_of_known_curves():
    better = regression_metrics("mlp", 0.10, 0.0, 0.0, "x.h5")
    worse = regression_metrics("sum", 0.20, 0.0, 0.0, "x.h5")
    r = resolution_ratio(better, worse)
    assert r.n_bins == 4 and r.ratio == pytest.approx(0.5)
    # 5 % errors on both, 4 bins: relative error of each ratio √2·5 %, of the mean /√4
    assert r.error == pytest.approx(0.5 * math.sqrt(2) * 0.05 / 2)
    assert r.significance == pytest.approx(0.5 / r.error)
    assert resolution_ratio(worse, worse).ratio == pytest.approx(1.0)


def test_resolution_ratio_matches_bins_by_energy_range():
    a = regression_metrics("mlp", 0.1, 0.0, 0.0, "x.h5")
    b = regression_metrics("sum", 0.2, 0.0, 0.0, "x.h5")
    b = dataclasses.replace(b, raw=dataclasses.replace(b.raw, bins=b.raw.bins[:1]))
    assert resolution_ratio(a, b) is None  # one common bin is not a comparison
    rng = np.random.default_rng(1)
    bins = tuple(
        dataclasses.replace(
            x, resolution_err=None, resolution=x.resolution * (1 + 0.01 * rng.standard_normal())
        )
        for x in a.raw.bins
    )
    a = dataclasses.replace(a, raw=dataclasses.replace(a.raw, bins=bins))
    r = resolution_ratio(a, regression_metrics("sum", 0.2, 0.0, 0.0, "x.h5"))
    assert r.n_bins == 4 and abs(r.ratio - 0.5) < 0.03 and r.error > 0


def test_resolution_uses_the_bias_corrected_metrics_when_both_have_them():
    a = regression_metrics("mlp", 0.2, 0.0, 0.0, "x.h5", corrected=regression_part(0.1, 0, 0))
    b = regression_metrics("sum", 0.2, 0.0, 0.0, "x.h5")
    assert resolution_ratio(a, b).ratio == pytest.approx(1.0)  # b has no correction: raw
    b = regression_metrics("sum", 0.2, 0.0, 0.0, "x.h5", corrected=regression_part(0.2, 0, 0))
    assert resolution_ratio(a, b).ratio == pytest.approx(0.5)
    assert resolution_at(a, 10.0)[0] == pytest.approx(0.1 / math.sqrt(9.5))


def test_paired_comparison_of_per_event_errors():
    rng = np.random.default_rng(8)
    n = 4000
    t = rng.uniform(1, 100, n)
    z = rng.standard_normal(n)
    ref = {"index": np.arange(n), "prediction": t * (1 + 0.10 * z), "target": t}
    # the model's errors are 0.8 of the reference's, events given in another order
    order = rng.permutation(n)
    model = {
        "index": order,
        "prediction": (t * (1 + 0.08 * z))[order],
        "target": t[order],
    }
    c = paired_comparison(model, ref)
    assert c.n_events == n and c.ratio == pytest.approx(0.8)
    # ⟨r²_model − r²_ref⟩ = (0.08² − 0.10²)·⟨z²⟩, standard error 0.0036·std(z²)/√n
    assert c.diff == pytest.approx((0.08**2 - 0.10**2) * np.mean(z**2))
    assert c.error == pytest.approx(0.0036 * np.std(z**2, ddof=1) / math.sqrt(n))
    assert c.significance > 3
    assert paired_comparison(model, {k: v[:5] for k, v in ref.items()}) is None
    bad = dict(ref, target=t * 2)
    assert paired_comparison(model, bad) is None


def test_paired_comparison_of_the_same_predictions_rounded_differently():
    # a model that kept its starting calibration: float32 predictions one rounding apart
    rng = np.random.default_rng(9)
    n = 1000
    t = rng.uniform(1, 100, n).astype(np.float32)
    p = (t * (1 + 0.1 * rng.standard_normal(n))).astype(np.float32)
    ulp = np.where(rng.random(n) < 0.5, np.spacing(p), -np.spacing(p)).astype(np.float32)
    ref = {"index": np.arange(n), "prediction": p, "target": t}
    model = {"index": np.arange(n), "prediction": p + ulp, "target": t}
    c = paired_comparison(model, ref)
    assert c.diff == 0 and c.significance == 0
    # one real difference is still seen
    model["prediction"][0] = t[0] * 3
    assert paired_comparison(model, ref).significance < 0
