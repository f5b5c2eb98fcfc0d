"""Baselines: sum of cells, closed-form α·sum + β, per-layer calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calolab.core.errors import ConfigError, DataError
from calolab.models import (
    LinearCalibration,
    ModelConfig,
    PerLayerCalibration,
    PerLayerOptions,
    build_model,
    least_squares_line,
    mip_layer_weights,
    per_layer_least_squares,
)
from calolab.models.baselines import SumOfCells, SumOptions
from tests.synthetic import tiny_detector


def test_closed_form_matches_numpy_least_squares_when_streamed():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 50, 1000)
    y = 1.7 * x - 3.0 + rng.normal(0, 2.0, 1000)
    model = LinearCalibration(1)
    batches = [({"layers": x[a : a + 97, None]}, y[a : a + 97]) for a in range(0, 1000, 97)]
    fit = model.fit_closed_form(batches)
    (alpha, beta), *_ = np.linalg.lstsq(np.stack([x, np.ones_like(x)], axis=1), y, rcond=None)
    assert fit["alpha"] == pytest.approx(alpha, rel=1e-10)
    assert fit["beta"] == pytest.approx(beta, rel=1e-9, abs=1e-9)
    pred = model({"layers": torch.tensor(x[:3, None])}).numpy()
    np.testing.assert_allclose(pred, alpha * x[:3] + beta, rtol=1e-6)


def test_closed_form_refuses_degenerate_input():
    with pytest.raises(DataError, match="at least 2"):
        least_squares_line(1, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(DataError, match="same in every"):
        least_squares_line(3, 3.0, 6.0, 3.0, 6.0)


def test_sum_of_cells_and_mip_calibration():
    det = tiny_detector()
    w = mip_layer_weights(det)
    # the PbWO4 section is fully sensitive, the Fe/scintillator one is not
    assert np.allclose(w[:4], 1.0)
    assert np.all(w[4:] > 1.5)
    layers = torch.rand(6, det.n_readout_layers, dtype=torch.float64)
    plain = SumOfCells(det.n_readout_layers, SumOptions())
    assert torch.allclose(plain({"layers": layers}), layers.sum(dim=1).float())
    mip = build_model(
        ModelConfig("sum", {"calibration": "mip"}),
        {"layers": (det.n_readout_layers,)},
        stats={"mip_weights": w},
    )
    expected = (layers.numpy() @ w).astype(np.float32)
    np.testing.assert_allclose(mip({"layers": layers}).numpy(), expected, rtol=1e-6)
    with pytest.raises(ConfigError, match="calibration"):
        SumOptions(calibration="em")


@pytest.mark.parametrize("init", [0, 1])
def test_per_layer_initialisation_and_record(init):
    m = PerLayerCalibration(7, PerLayerOptions(init=init))
    rec = m.record()
    assert [rec[f"w{i}"] for i in range(7)] == [float(init)] * 7
    assert rec["bias"] == 0.0
    assert sum(p.numel() for p in m.parameters()) == 8
    with pytest.raises(ConfigError, match="0 or 1"):
        PerLayerOptions(init=0.5)


def test_regression_only_models_refuse_classification():
    with pytest.raises(ConfigError, match="does not support task"):
        build_model(ModelConfig("per-layer"), {"layers": (3,)}, task="classification", n_outputs=2)
    with pytest.raises(ConfigError, match="unknown option"):
        ModelConfig("mlp", {"hiden": [3]})
    with pytest.raises(ConfigError, match="unknown model"):
        ModelConfig("transformer")


def test_per_layer_least_squares_recovers_known_weights_and_loo_matches_refits():
    rng = np.random.default_rng(11)
    n, n_layers = 400, 5
    x = rng.uniform(0.0, 2.0, (n, n_layers))
    true_w = np.array([1.5, 0.8, 2.0, 1.1, 3.0])
    y = x @ true_w + 0.7 + rng.normal(0.0, 0.05, n)
    fit = per_layer_least_squares(x, y, ridge=0.0)
    # unpenalised: the ordinary least-squares solution
    (*w_ols, b_ols), *_ = np.linalg.lstsq(np.hstack([x, np.ones((n, 1))]), y, rcond=None)
    np.testing.assert_allclose(fit.weights, w_ols, rtol=1e-8)
    assert fit.bias == pytest.approx(b_ols, rel=1e-8)
    # the leave-one-out RMS is the RMS of residuals of explicit refits without each event
    press = []
    for i in range(0, n, 40):
        keep = np.arange(n) != i
        sub = per_layer_least_squares(x[keep], y[keep], ridge=0.0)
        press.append(y[i] - sub.predict(x[i : i + 1])[0])
    full = per_layer_least_squares(x, y, ridge=0.0)
    resid = y - full.predict(x)
    a = np.hstack([x, np.ones((n, 1))])
    h = np.einsum("ij,ji->i", a, np.linalg.solve(a.T @ a, a.T))
    np.testing.assert_allclose(press, (resid / (1 - h))[::40], rtol=1e-6)


def test_per_layer_least_squares_ridge_keeps_empty_layers_at_the_prior():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 1.5, (200, 4))
    x[:, 3] = 0.0  # a layer the particle never reaches
    y = x[:, :3].sum(axis=1) * 2.0
    prior = np.array([1.0, 1.0, 1.0, 7.0])
    fit = per_layer_least_squares(x, y, prior=prior, sample_weight=1.0 / y**2)
    assert fit.weights[3] == pytest.approx(7.0)
    np.testing.assert_allclose(fit.predict(x), y, rtol=1e-3)
    assert fit.ridge in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
    with pytest.raises(DataError, match="no visible energy"):
        per_layer_least_squares(np.zeros((5, 2)), np.ones(5))
    with pytest.raises(DataError, match="do not match"):
        per_layer_least_squares(np.ones((5, 2)), np.ones(4))
