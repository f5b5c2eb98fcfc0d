"""The demo's regressions and their evaluation, on synthetic data with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from calolab.demo import regression
from calolab.errors import ConfigError, DataError


def test_closed_form_fits_recover_known_relations(tmp_path):
    rng = np.random.default_rng(3)
    layers = rng.uniform(0.0, 5.0, size=(500, 6))
    w = np.array([1.1, 0.9, 1.3, 2.0, 0.5, 1.0])
    energy = layers @ w + 0.7
    m = regression.fit_linear("per-layer", layers, energy)
    # exact up to the tiny ridge term (1e-6 of the mean diagonal of XᵀX)
    assert np.allclose(m.weights, w, atol=1e-4) and m.bias == pytest.approx(0.7, abs=1e-3)
    # α·sum + β matches numpy's least squares on the sum
    lin = regression.fit_linear("linear", layers, energy)
    s = layers.sum(axis=1)
    ref = np.linalg.lstsq(np.stack([s, np.ones_like(s)], axis=1), energy, rcond=None)[0]
    assert lin.weights[0] == pytest.approx(ref[0]) and lin.bias == pytest.approx(ref[1])
    assert np.array_equal(regression.fit_linear("sum", layers, energy).predict(layers), s)
    with pytest.raises(DataError, match="expects 6 features"):
        m.predict(layers[:, :4])
    with pytest.raises(ConfigError, match="unknown model"):
        regression.train("bdt", layers, energy, tmp_path, detector="d", data="x", data_hash="")


def test_gaussian_core_ignores_tails():
    rng = np.random.default_rng(7)
    n = 20000
    core = rng.normal(1.0, 0.05, n)
    tails = rng.uniform(0.3, 0.7, n // 10)  # 10 % of far outliers (e.g. leakage)
    mu, sig = regression.gaussian_core(np.concatenate([core, tails]))
    # statistical tolerance: 4 standard errors of the mean and of the width
    assert abs(mu - 1.0) < 4 * 0.05 / math.sqrt(n)
    assert abs(sig - 0.05) < 4 * 0.05 / math.sqrt(2 * n) + 0.0005


def test_energy_bins_hold_enough_events():
    e = np.random.default_rng(1).uniform(1, 100, 700)
    edges = regression.energy_bins(e, max_bins=12, min_events=30)
    counts = np.histogram(e, edges)[0]
    assert counts.sum() == len(e) and counts.min() >= 30 and len(edges) - 1 <= 12


def test_resolution_fit_recovers_known_terms():
    a, b, c = 0.10, 0.30, 0.01
    e = np.geomspace(1, 100, 10)
    res = np.sqrt(a**2 / e + (b / e) ** 2 + c**2)
    err = 0.02 * res
    rng = np.random.default_rng(2)
    fit = regression.fit_resolution(e, res * (1 + 0.02 * rng.standard_normal(len(e))), err)
    for name, true in (("a", a), ("b", b), ("c", c)):
        assert abs(fit[name] - true) < 3 * fit[f"{name}_err"] + 1e-4, (name, fit)
    assert fit["ndf"] == 7 and fit["chi2"] < 25  # χ² with 7 dof: p < 0.1 % above 24.3


def test_evaluate_follows_the_metrics_contract():
    rng = np.random.default_rng(4)
    e = rng.uniform(1, 100, 4000)
    sigma = 0.1 / np.sqrt(e)
    pred = e * (0.95 + sigma * rng.standard_normal(len(e)))
    m = regression.evaluate(pred, e, model="m", dataset="t.h5", detector="d", particles="e-")
    for key in (
        "task",
        "model",
        "dataset",
        "n_events",
        "rmse",
        "mae",
        "mu",
        "sigma",
        "mu_rel",
        "sigma_rel",
        "bins",
        "fit",
    ):
        assert key in m
    for b in m["bins"]:
        assert set(b) >= {
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
        assert abs(b["response"] - 0.95) < 4 * b["response_err"] + 2e-3
    assert abs(m["fit"]["a"] - 0.1 / 0.95) < 4 * m["fit"]["a_err"] + 0.005
    json.dumps(m)  # plain JSON


def test_mlp_learns_a_correction_the_sum_cannot(tmp_path):
    """Two layers with different sampling fractions and a fluctuating share: the sum of
    cells is smeared by the share, the MLP learns to weight the layers."""
    rng = np.random.default_rng(5)
    n = 3000
    e = rng.uniform(5, 50, n)
    share = rng.uniform(0.2, 0.8, n)
    layers = np.stack([e * share * 1.0, e * (1 - share) * 0.5], axis=1)
    layers *= 1 + 0.01 * rng.standard_normal(layers.shape)
    cfg = regression.MLPConfig(hidden=(32, 16), max_epochs=60, patience=15, seed=1)
    summary = regression.train(
        "mlp", layers, e, tmp_path / "mlp", detector="toy", data="toy", data_hash="", mlp=cfg
    )
    assert summary["epochs"] >= 10 and (tmp_path / "mlp" / "history.csv").exists()
    pred = regression.predict(tmp_path / "mlp", layers)
    sum_spread = np.std(layers.sum(axis=1) / e) / np.mean(layers.sum(axis=1) / e)
    mlp_spread = np.std(pred / e) / np.mean(pred / e)
    assert sum_spread > 0.1 and mlp_spread < 0.5 * sum_spread
    with pytest.raises(DataError, match="same detector"):
        regression.predict(tmp_path / "mlp", layers[:, :1])
