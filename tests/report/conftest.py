"""Fixtures of the report tests: a small dataset and hand-made training/evaluation outputs
that follow the file contract of ``calolab train`` and ``calolab evaluate``."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from calolab.evaluation.classification import (
    ClassificationResult,
    EfficiencyBin,
    EnergyDependence,
    PairResult,
    WorkingPoint,
)
from calolab.evaluation.fits import ResolutionFit
from calolab.evaluation.regression import BinMetrics, RegressionResult
from calolab.evaluation.result import EvaluationResult, EvaluationWarning
from calolab.geometry import Calorimeter, Layer, Section
from calolab.simulation import ParticleGun, simulate_to_file


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


def resolution(e: float, a: float, b: float, c: float) -> float:
    return math.sqrt(a * a / e + (b / e) ** 2 + c * c)


def regression_part(a: float, b: float, c: float, response: float = 0.98) -> RegressionResult:
    """A measurement whose binned resolution follows a/√E ⊕ b/E ⊕ c exactly."""
    edges = [2.0, 4.0, 7.0, 12.0, 20.0]
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        e = 0.5 * (lo + hi)
        res = resolution(e, a, b, c)
        bins.append(
            BinMetrics(
                e_lo=lo,
                e_hi=hi,
                e_mean=e,
                n=100,
                response=response,
                response_err=0.005,
                resolution=res,
                resolution_err=0.05 * res,
                mu=-0.02 * e,
                sigma=res * e,
                mu_rel=-0.02,
                sigma_rel=res,
                rmse_rel=math.hypot(0.02, res),
                fit_method="core-fit",
            )
        )
    fit = ResolutionFit(a, 0.01, b, 0.01, c, 0.001, 1.5, 1, e_min=3.0, e_max=16.0)
    return RegressionResult(
        n_events=400,
        rmse=0.5,
        mae=0.4,
        mu=-0.1,
        sigma=0.5,
        mu_rel=-0.02,
        sigma_rel=0.05,
        rmse_rel=0.054,
        bins=tuple(bins),
        fit=fit,
        scale_slope=response,
        scale_slope_err=0.01,
    )


def regression_metrics(
    model: str,
    a: float,
    b: float,
    c: float,
    dataset: str,
    *,
    corrected: RegressionResult | None = None,
    warnings: tuple[EvaluationWarning, ...] = (),
) -> EvaluationResult:
    """The result of a regression evaluation whose bins follow a/√E ⊕ b/E ⊕ c."""
    return EvaluationResult(
        task="regression",
        model=model,
        dataset=dataset,
        run=f"runs/{model}",
        n_events=400,
        raw=regression_part(a, b, c),
        corrected=corrected,
        warnings=warnings,
    )


def classification_result(dataset: str) -> EvaluationResult:
    wp = WorkingPoint(0.9, 0.4, 0.9, 0.0, 50)
    bins = (
        EfficiencyBin(2.0, 10.0, 6.0, 25, 25, 0.88, 0.0),
        EfficiencyBin(10.0, 20.0, 15.0, 25, 25, 0.92, 0.04),
    )
    pair = PairResult(
        "e-", "gamma", 50, 50, 0.95, (wp,), (EnergyDependence(0.9, 0.4, bins),)
    )
    return EvaluationResult(
        task="classification",
        model="pid-mlp",
        dataset=dataset,
        run="runs/pid",
        n_events=100,
        classification=ClassificationResult(
            ("e-", "gamma"), 100, 0.9, ((45, 5), (5, 45)), (pair,)
        ),
    )


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
    """A directory like a user's: a dataset, two runs, two regression evaluations and a
    classification evaluation (hand-made numbers)."""
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
    return root
