"""evaluate_run: metrics.json contract, plots, tracker, bias correction, refusals."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from calolab.core.errors import DataError
from calolab.evaluation import evaluate_run
from calolab.models import ModelConfig
from calolab.training import DataConfig, TrainConfig, train
from tests.synthetic import synthetic_showers, tiny_detector, write_synthetic

BIN_KEYS = {
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


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("ev")
    # response 0.5 with a 2 GeV offset: the sum of cells is biased, α·sum+β is not
    f = write_synthetic(d / "train.h5", 1500, 1, weights=2.0, bias=-2.0, e_range=(20, 2000))
    cfg = TrainConfig(model=ModelConfig("sum"), data=DataConfig(str(f)), device="cpu")
    train(cfg, d / "run")
    return d


def test_metrics_contract_plots_and_bias_correction(linear_run, tmp_path):
    test = write_synthetic(
        tmp_path / "test.h5", 1000, 2, weights=2.0, bias=-2.0, e_range=(20, 2000)
    )
    m = evaluate_run(linear_run / "run", test, tmp_path / "eval", tracker=True)
    on_disk = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert on_disk["task"] == "regression" and on_disk["model"] == "sum"
    for k in (
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
        assert k in on_disk
    assert BIN_KEYS <= set(on_disk["bins"][0])
    assert set(on_disk["fit"]) == {"a", "a_err", "b", "b_err", "c", "c_err", "chi2", "ndf"}
    for png in ("pred_vs_true.png", "response.png", "resolution.png"):
        assert (tmp_path / "eval" / png).stat().st_size > 10_000
    # the raw sum has response ~0.5; the bias correction restores 1
    assert m["mu_rel"] < -0.4
    assert abs(m["corrected"]["mu_rel"]) < 0.02
    assert m["bias_correction"]["slope"] == pytest.approx(0.5, rel=0.02)  # sum = E/2 + 1
    assert len(m["tracker"]["bins"]) == len(m["bins"])
    with h5py.File(tmp_path / "eval" / "predictions.h5") as f:
        assert (
            f["prediction"].shape == (1000,) and "corrected" in f and "combined_with_tracker" in f
        )


def test_mismatched_detector_between_train_and_test_is_refused(linear_run, tmp_path):
    other = write_synthetic(tmp_path / "o.h5", 50, 3, detector=tiny_detector("tiny5", n_ecal=5))
    with pytest.raises(DataError, match="detector mismatch"):
        evaluate_run(linear_run / "run", other, tmp_path / "eval")
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_nan_and_missing_test_files(linear_run, tmp_path):
    s = synthetic_showers(20, 4)
    s.cells[3, 0] = np.nan
    s.save(str(tmp_path / "nan.h5"))
    with pytest.raises(DataError, match="NaN"):
        evaluate_run(linear_run / "run", tmp_path / "nan.h5", tmp_path / "eval")
    with pytest.raises(DataError, match="does not exist"):
        evaluate_run(linear_run / "run", tmp_path / "missing.h5", tmp_path / "eval")
    with pytest.raises(DataError, match="not a training run"):
        evaluate_run(tmp_path, tmp_path / "nan.h5", tmp_path / "eval")


def test_classification_evaluation(tmp_path):
    pdg = np.where(np.arange(400) % 2 == 0, 22, 111)
    s = synthetic_showers(400, 5, pdg=pdg)
    for r in s.detector.readout_layers:
        s.cells[pdg == 111, r.offset : r.offset + r.n_cells] *= 3.0 if r.section == "hcal" else 0.3
    s.save(str(tmp_path / "c.h5"))
    cfg = TrainConfig(
        model=ModelConfig("mlp", {"hidden": [16], "dropout": 0.0}),
        data=DataConfig(str(tmp_path / "c.h5"), target="particle", classes=("gamma", "pi0")),
        task="classification",
        loss="cross-entropy",
        epochs=10,
        batch_size=64,
        lr=3e-3,
        device="cpu",
    )
    train(cfg, tmp_path / "run")
    m = evaluate_run(tmp_path / "run", tmp_path / "c.h5", tmp_path / "eval")
    assert m["task"] == "classification" and m["classes"] == ["gamma", "pi0"]
    assert m["accuracy"] > 0.9 and m["auc"]["gamma_vs_pi0"] > 0.95
    assert np.sum(m["confusion_matrix"]) == 400
    for png in ("roc.png", "confusion.png"):
        assert (tmp_path / "eval" / png).exists()
