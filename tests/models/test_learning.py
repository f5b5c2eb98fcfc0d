"""Every model learns a known linear relation on synthetic data.

The synthetic true energy is an exact linear function of the layer energies (see
``tests/synthetic.py``); the tolerances are far below the spread of the relation (the layer
weights differ by up to a factor 5, so a model that ignores them misses by ~30 %).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calolab.models import ModelConfig
from calolab.training import DataConfig, TrainConfig, load_run, train
from tests.synthetic import write_synthetic

WEIGHTS = np.array([1.0, 1.2, 0.9, 1.1, 3.0, 4.0, 5.0])
BIAS = 2.0


@pytest.fixture(scope="module")
def relation_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("relation")
    return write_synthetic(d / "train.h5", 3000, 11, weights=WEIGHTS, bias=BIAS)


@pytest.fixture(scope="module")
def relation_test(tmp_path_factory):
    d = tmp_path_factory.mktemp("relation_test")
    return write_synthetic(d / "test.h5", 500, 12, weights=WEIGHTS, bias=BIAS)


def _predict(run_dir, path):
    run = load_run(run_dir)
    src = run.open_data(path)
    try:
        p = run.predict(src)
    finally:
        src.close()
    return p.value, p.target, p.spread


def _config(path, name, options=None, **kw):
    return TrainConfig(
        model=ModelConfig(name, options or {}),
        data=DataConfig(str(path)),
        device="cpu",
        **kw,
    )


def test_sum_of_cells_is_exact_for_a_plain_sum(tmp_path):
    f = write_synthetic(tmp_path / "sum.h5", 300, 3, weights=1.0, bias=0.0)
    train(_config(f, "sum"), tmp_path / "run")
    pred, true, _ = _predict(tmp_path / "run", f)
    np.testing.assert_allclose(pred, true, rtol=1e-5)


def test_linear_recovers_alpha_and_beta(tmp_path):
    f = write_synthetic(tmp_path / "lin.h5", 500, 4, weights=1.3, bias=2.0)
    res = train(_config(f, "linear"), tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["best_model"]
    assert float(state["alpha"]) == pytest.approx(1.3, rel=1e-5)
    assert float(state["beta"]) == pytest.approx(2.0, abs=1e-3)
    assert res.members[0].best_val_loss < 1e-6


@pytest.mark.parametrize("init", [0, 1])
def test_per_layer_recovers_the_layer_weights(tmp_path, relation_file, init):
    cfg = _config(
        relation_file,
        "per-layer",
        {"init": init},
        lr=0.05,
        epochs=40,
        schedule="none",
        patience=None,
        batch_size=128,
    )
    train(cfg, tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["best_model"]
    calib = float(state["norm.calibration"])
    w = state["linear.weight"].numpy().ravel() * calib
    np.testing.assert_allclose(w, WEIGHTS, rtol=0.03)
    assert float(state["linear.bias"]) == pytest.approx(BIAS, abs=0.5)
    # the weight trajectory starts at the chosen initialisation
    import csv

    rows = list(csv.DictReader(open(tmp_path / "run" / "weights.csv")))
    assert float(rows[0]["w0"]) == init and rows[0]["epoch"] == "0"
    assert len(rows) == 41


def test_mlp_learns_the_relation(tmp_path, relation_file, relation_test):
    cfg = _config(
        relation_file,
        "mlp",
        {"hidden": [64, 64], "dropout": 0.0},
        lr=3e-3,
        epochs=40,
        loss="rel",
        patience=None,
    )
    train(cfg, tmp_path / "run")
    pred, true, _ = _predict(tmp_path / "run", relation_test)
    rel = np.sqrt(np.mean((pred / true - 1) ** 2))
    assert rel < 0.03, rel


def test_cnn3d_learns_the_relation(tmp_path, relation_file, relation_test):
    cfg = _config(
        relation_file,
        "cnn3d",
        {"channels": [4, 8], "scalars": "layers", "hidden": [32]},
        lr=3e-3,
        epochs=12,
        loss="mse",
        patience=None,
        batch_size=64,
    )
    train(cfg, tmp_path / "run")
    pred, true, _ = _predict(tmp_path / "run", relation_test)
    rel = np.sqrt(np.mean((pred / true - 1) ** 2))
    assert rel < 0.05, rel


def test_ensemble_learns_and_reports_a_spread(tmp_path, relation_file, relation_test):
    # networks learning the energy from scratch (a calibrated output starts every member at
    # the exact closed-form relation of this file, with no spread to report)
    cfg = _config(
        relation_file,
        "mlp",
        {"hidden": [64, 64], "dropout": 0.0, "output": "energy"},
        lr=5e-3,
        epochs=30,
        loss="huber-frac",
        ensemble=2,
        patience=None,
        batch_size=128,
    )
    res = train(cfg, tmp_path / "run")
    # k-fold: every event validates exactly once; folds are binomial(3000, 1/2) ± 5σ
    assert sum(m.n_val for m in res.members) == 3000
    assert all(abs(m.n_val - 1500) < 5 * np.sqrt(750) for m in res.members)
    assert all(m.n_train + m.n_val == 3000 for m in res.members)
    pred, true, spread = _predict(tmp_path / "run", relation_test)
    assert np.sqrt(np.mean((pred / true - 1) ** 2)) < 0.04
    assert np.all(spread >= 0) and 0 < np.mean(spread / pred) < 0.05
