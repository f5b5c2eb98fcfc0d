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
