"""Comparing evaluations: resolution at an energy and the ratio of two models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calolab.report.compare import (
    binned_resolution,
    fitted_resolution,
    resolution_at,
    resolution_ratio,
)

from .conftest import regression_metrics, resolution


def test_resolution_at_uses_the_fit_then_the_bins():
    m = regression_metrics("mlp", 0.1, 0.2, 0.01, "x.h5")
    assert fitted_resolution(m, 10.0) == pytest.approx(resolution(10.0, 0.1, 0.2, 0.01))
    del m["fit"]
    assert fitted_resolution(m, 10.0) is None
    # 10 GeV lies in the bin 7-12 GeV, whose centre is 9.5 GeV
    assert resolution_at(m, 10.0) == pytest.approx(resolution(9.5, 0.1, 0.2, 0.01))
    assert binned_resolution(m, 500.0) is None


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
    b["bins"] = b["bins"][:1]
    assert resolution_ratio(a, b) is None  # one common bin is not a comparison
    rng = np.random.default_rng(1)
    for bin_ in a["bins"]:
        bin_.pop("resolution_err")
        bin_["resolution"] *= 1 + 0.01 * rng.standard_normal()
    r = resolution_ratio(a, regression_metrics("sum", 0.2, 0.0, 0.0, "x.h5"))
    assert r.n_bins == 4 and abs(r.ratio - 0.5) < 0.03 and r.error > 0
