"""``calolab evaluate`` as a user runs it (the run is trained in-process to save time)."""

from __future__ import annotations

import json

import pytest

from calolab.models import ModelConfig
from calolab.training import DataConfig, TrainConfig, train
from tests.synthetic import tiny_detector, write_synthetic


@pytest.fixture
def run_and_data(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = write_synthetic(tmp_path / "d.h5", 500, 1, weights=1.5, bias=1.0)
    cfg = TrainConfig(model=ModelConfig("linear"), data=DataConfig(str(data)), device="cpu")
    train(cfg, tmp_path / "run")
    return tmp_path / "run", data


def test_evaluate_writes_metrics_and_plots(cli, tmp_path, run_and_data):
    run, data = run_and_data
    ev = tmp_path / "eval"
    p = cli(
        "evaluate",
        str(run),
        "--data",
        str(data),
        "--output",
        str(ev),
        "--tracker",
        "--quiet",
        check=True,
    )
    assert "RMSE" in p.stdout and "σ/E" in p.stdout
    m = json.loads((ev / "metrics.json").read_text())
    assert m["task"] == "regression" and m["model"] == "linear" and m["n_events"] == 500
    assert m["rmse"] < 1e-3 and "tracker" in m
    for png in ("pred_vs_true.png", "response.png", "resolution.png"):
        assert (ev / png).exists()


def test_evaluate_refuses_another_detector(cli, tmp_path, run_and_data):
    run, _ = run_and_data
    other = write_synthetic(tmp_path / "o.h5", 50, 2, detector=tiny_detector("tiny5", n_ecal=5))
    p = cli("evaluate", str(run), "--data", str(other), "--output", str(tmp_path / "e"))
    assert p.returncode == 2 and "detector mismatch" in p.stderr
    assert not (tmp_path / "e" / "metrics.json").exists()
