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


def _stats(x, t, loss):
    from calolab.models import StatsAccumulator

    acc = StatsAccumulator()
    for a in range(0, len(t), 333):  # streamed
        acc.update({"layers": x[a : a + 333]}, t[a : a + 333])
    return {**acc.finish(), "loss": loss}


@pytest.mark.parametrize(("loss", "power"), [("mse", 0), ("rel", 1), ("huber-frac", 2)])
def test_closed_form_calibration_is_weighted_least_squares(loss, power):
    """The normal equations accumulated in the training statistics give numpy's weighted
    least-squares solution, with event weights 1, 1/E or 1/E² for the three losses."""
    from calolab.models import closed_form_calibration

    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 5.0, size=(2000, 6))
    t = x @ np.array([1.0, 1.2, 0.8, 2.0, 3.0, 0.5]) + 2.0 + rng.normal(0, 1.0, 2000)
    t = np.abs(t) + 1.0
    w, b = closed_form_calibration(_stats(x, t, loss), loss, prior_events=0)
    sw = np.sqrt(t**-power)
    a = np.concatenate([x, np.ones((2000, 1))], axis=1)
    ref, *_ = np.linalg.lstsq(a * sw[:, None], t * sw, rcond=None)
    np.testing.assert_allclose(np.r_[w, b], ref, rtol=1e-6, atol=1e-8)
    # the prior: one pseudo-event per layer pulling its weight towards Σt / Σsum
    w1, b1 = closed_form_calibration(_stats(x, t, loss), loss)
    c = t.sum() / x.sum()
    lam = np.sum((x**2) * (t**-power)[:, None]) / (6 * 2000)
    aug = np.concatenate([a * sw[:, None], np.sqrt(lam) * np.eye(7)[:6]])
    rhs = np.concatenate([t * sw, np.sqrt(lam) * np.full(6, c)])
    ref1, *_ = np.linalg.lstsq(aug, rhs, rcond=None)
    np.testing.assert_allclose(np.r_[w1, b1], ref1, rtol=1e-6, atol=1e-8)
    assert np.max(np.abs(np.r_[w1, b1] - ref)) < 0.02  # small with 2000 events
    # α·sum + β from the same statistics
    wl, bl = closed_form_calibration(_stats(x, t, loss), loss, kind="linear")
    s = x.sum(axis=1)
    ref, *_ = np.linalg.lstsq(np.stack([s, np.ones_like(s)], 1) * sw[:, None], t * sw, rcond=None)
    assert np.allclose(wl, ref[0]) and bl == pytest.approx(ref[1])


def test_linear_honours_the_relative_loss_and_refuses_huber():
    """Issue 12, item 6: --model linear --loss rel was ordinary least squares."""
    rng = np.random.default_rng(5)
    x = rng.uniform(1, 100, 3000)
    y = np.abs(1.3 * x + 4.0 + rng.normal(0, 0.3 * np.sqrt(x) + 2.0, 3000)) + 0.5
    batches = [({"layers": x[a : a + 500, None]}, y[a : a + 500]) for a in range(0, 3000, 500)]
    ols = LinearCalibration(1).fit_closed_form(batches, loss="mse")
    rel = LinearCalibration(1).fit_closed_form(batches, loss="rel")
    w = 1 / np.sqrt(y)
    (alpha, beta), *_ = np.linalg.lstsq(
        np.stack([x, np.ones_like(x)], 1) * w[:, None], y * w, rcond=None
    )
    assert rel["alpha"] == pytest.approx(alpha, rel=1e-9) and rel["beta"] == pytest.approx(beta)
    assert abs(rel["beta"] - ols["beta"]) > 0.05  # a different answer, not OLS relabelled
    with pytest.raises(ConfigError, match="no closed form"):
        LinearCalibration(1).fit_closed_form(batches, loss="huber-frac")
    from calolab.training import DataConfig, TrainConfig

    with pytest.raises(ConfigError, match="honours the loss"):
        TrainConfig(model=ModelConfig("linear"), data=DataConfig("x.h5"), loss="huber-frac")


@pytest.mark.parametrize("name", ["per-layer", "mlp", "cnn3d"])
def test_learned_regressors_start_at_the_closed_form_calibration(name):
    """Before training, the per-layer calibration, the MLP and the 3D CNN predict exactly
    the closed-form per-layer calibration (the MLP and the CNN correct it)."""
    from calolab.models import closed_form_calibration

    rng = np.random.default_rng(7)
    n, n_layers = 400, 6
    x = rng.gamma(2.0, 5.0, size=(n, n_layers))
    t = x @ rng.uniform(0.5, 2.0, n_layers) + 1.0
    stats = _stats(x, t, "rel")
    stats["calibration"] = float(t.mean() / x.sum(axis=1).mean())
    grid = np.repeat(x[:, :, None, None] / 4, 4, axis=2).repeat(1, axis=3)[:, :, :2, :2]
    shapes = {"layers": (n_layers,), "grid": (n_layers, 2, 2), "highlevel": (3,)}
    opts = {"mlp": {"hidden": [8]}, "cnn3d": {"channels": [4], "hidden": [8], "scalars": "none"}}
    stats["grid_scale"], stats["grid_e0"] = 10.0, 1.0
    model = build_model(ModelConfig(name, opts.get(name, {})), shapes, stats=stats).eval()
    inputs = {
        "layers": torch.tensor(x, dtype=torch.float32),
        "grid": torch.tensor(grid, dtype=torch.float32),
    }
    w, b = closed_form_calibration(stats, "rel")
    with torch.no_grad():
        pred = model(inputs).numpy()
    np.testing.assert_allclose(pred, x @ w + b, rtol=2e-4, atol=1e-3)


def test_a_rarely_hit_layer_keeps_a_sensible_weight():
    """The tails of a few showers reach the last layer with 10⁻⁴ GeV: plain least squares
    gives it a weight that fits those events (±10⁵ and more), the prior keeps it near the
    global calibration."""
    from calolab.models import closed_form_calibration

    rng = np.random.default_rng(11)
    x = rng.gamma(2.0, 5.0, size=(2000, 4))
    x[:, 3] = 0.0
    x[:3, 3] = 1e-4 * rng.uniform(1, 2, 3)
    t = x[:, :3].sum(axis=1) * 1.1 + rng.normal(0, 0.5, 2000)
    t = np.abs(t) + 0.5
    plain, _ = closed_form_calibration(_stats(x, t, "mse"), "mse", prior_events=0)
    w, _ = closed_form_calibration(_stats(x, t, "mse"), "mse")
    assert abs(plain[3]) > 100
    assert 0.5 < w[3] < 2.0 and np.allclose(w[:3], 1.1, atol=0.02)
