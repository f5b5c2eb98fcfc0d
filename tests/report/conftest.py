"""Fixtures of the report tests: a small dataset and hand-made training/evaluation outputs
that follow the file contract of ``calolab train`` and ``calolab evaluate``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from calolab.geometry import Calorimeter, Layer, Section
from calolab.simulation import ParticleGun, simulate_to_file
from tests.results import (  # noqa: F401  (re-exported for the report tests)
    classification_result,
    regression_metrics,
    regression_part,
    resolution,
)


def small_detector() -> Calorimeter:
    """8 × 8 cm PbWO4 ECAL (10 layers, 2 cm cells) + Fe/scintillator HCAL (4 cm cells)."""
    return Calorimeter(
        "tiny",
        (8.0, 8.0),
        [
            Section("ecal", [Layer("PbWO4", 2.0, sensitive=True)], 10, 2.0),
            Section("hcal", [Layer("Fe", 2.0), Layer("polystyrene", 1.0, sensitive=True)], 5, 4.0),
        ],
    )


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """60 events, electrons and photons alternating, 2–20 GeV, in :func:`small_detector`."""
    path = tmp_path_factory.mktemp("data") / "tiny.h5"
    simulate_to_file(
        path,
        small_detector(),
        [ParticleGun("e-", "2:20"), ParticleGun("gamma", "2:20")],
        60,
        seed=5,
    )
    return path


def write_predictions(d: Path, index, prediction, target) -> None:
    """``predictions.h5`` as calolab evaluate writes it."""
    with h5py.File(d / "predictions.h5", "w") as f:
        f["index"] = index
        f["prediction"] = prediction
        f["target"] = target


def write_run(run: Path, model: str, epochs: int, dataset: str) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    with open(run / "history.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "train_loss", "val_loss", "lr", "seconds"])
        for ep in range(1, epochs + 1):
            w.writerow([ep, 1.0 / ep, 1.2 / ep + 0.01 * ep, 1e-3, 0.1])
    (run / "config.json").write_text(json.dumps({"model": model, "data": dataset}))
    (run / "summary.json").write_text(json.dumps({"model": model, "n_parameters": 1234}))
    return run


@pytest.fixture
def outputs(tmp_path, dataset) -> Path:
    """A directory like a user's: a dataset, two runs, two regression evaluations, a
    classification evaluation and a shower comparison (hand-made numbers)."""
    root = tmp_path / "study"
    root.mkdir()
    data = root / "tiny.h5"
    data.write_bytes(dataset.read_bytes())
    write_run(root / "runs" / "mlp", "mlp", 12, str(data))
    layer_run = write_run(root / "runs" / "per-layer", "per-layer", 3, str(data))
    (layer_run / "weights.csv").write_text(
        "epoch,w0,w1,bias\n0,1,1,0\n1,1.1,0.9,0.1\n2,1.2,0.8,0.15\n"
    )
    write_run(root / "runs" / "sum", "sum", 1, str(data))
    z = np.random.default_rng(3).standard_normal(400)
    target = np.linspace(2.0, 20.0, 400)
    for model, scale in (("sum", 2.0), ("mlp", 1.0)):  # the MLP resolves twice as well
        d = root / "eval" / model
        d.mkdir(parents=True)
        m = regression_metrics(model, 0.1 * scale, 0.05 * scale, 0.01 * scale, "tiny.h5")
        m.to_json(d / "metrics.json")
        write_predictions(d, np.arange(400), target * (1 + 0.05 * scale * z), target)
    c = root / "eval" / "pid"
    c.mkdir(parents=True)
    classification_result(str(data)).to_json(c / "metrics.json")
    cmp = root / "compare"
    cmp.mkdir()
    (cmp / "compare.json").write_text(
        json.dumps(
            {
                "task": "shower-comparison",
                "a": {"name": "Geant4", "events": 1000},
                "b": {"name": "tiny.h5", "events": 60},
                "low_level": "layers",
                "classifiers": [
                    {"classifier": "gbdt", "features": "total", "auc": 0.61, "auc_err": 0.03}
                ],
                "separation_power": {"etot": 0.05},
                "separation_power_if_identical": {"etot": 0.01},
                "plots": [],
            }
        )
    )
    return root
