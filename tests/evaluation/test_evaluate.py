"""evaluate_run: the typed result, plots, tracker, bias correction, groups, flags, refusals."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError
from calolab.evaluation import EnergyBinning, EvaluationResult, evaluate_run
from calolab.models import ModelConfig
from calolab.report.compare import choose_best
from calolab.training import DataConfig, TrainConfig, load_run, train
from tests.synthetic import synthetic_showers, tiny_detector, write_synthetic


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A sum-of-cells run (response 1/3, a linear scale error) and an α·sum+β run, trained
    on electrons and photons alternating, 60–6000 GeV, measured with 10 %/√E."""
    d = tmp_path_factory.mktemp("ev")
    pdg = np.where(np.arange(1500) % 2 == 0, 11, 22)
    kw = dict(weights=3.0, bias=-2.0, e_range=(20, 2000), noise=0.1)
    f = write_synthetic(d / "train.h5", 1500, 1, pdg=pdg, **kw)
    test = write_synthetic(d / "test.h5", 1200, 2, pdg=np.where(np.arange(1200) % 2, 11, 22), **kw)
    for name in ("sum", "linear"):
        train(TrainConfig(model=ModelConfig(name), data=DataConfig(str(f)), device="cpu"), d / name)
    return d, test


def test_result_contract_plots_and_bias_correction(runs, tmp_path):
    d, test = runs
    r = evaluate_run(load_run(d / "sum"), test, tmp_path / "eval", tracker=True)
    assert isinstance(r, EvaluationResult)
    assert EvaluationResult.from_json(tmp_path / "eval" / "metrics.json") == r
    assert r.task == "regression" and r.model == "sum" and r.n_events == 1200
    assert r.binning == EnergyBinning() and len(r.raw.bins) == 10
    # equal-population bins: 120 events each
    assert {b.n for b in r.raw.bins} == {120}
    for png in ("pred_vs_true.png", "response.png", "resolution.png", "tracker.png"):
        assert (tmp_path / "eval" / png).stat().st_size > 10_000
    # the raw sum has response ~1/3: flagged; the well-conditioned correction is applied
    assert r.raw.mu_rel < -0.6
    codes = {w.code for w in r.warnings}
    assert {"response", "bias-slope"} <= codes and "bias-refused" not in codes
    # proportional to the energy (a linear scale error): no energy-scale warning
    assert "energy-scale" not in codes and r.raw.scale_exponent == pytest.approx(1, abs=0.05)
    assert r.bias_correction.applied and r.bias_correction.fit.slope == pytest.approx(
        1 / 3, rel=0.03
    )
    assert abs(r.corrected.mu_rel) < 0.02 and r.best is r.corrected
    assert r.tracker is not None and len(r.tracker.bins) == 10
    assert r.tracker.source == "corrected"
    with h5py.File(tmp_path / "eval" / "predictions.h5") as f:
        assert (
            f["prediction"].shape == (1200,) and "corrected" in f and "combined_with_tracker" in f
        )
        assert "theta" not in f  # truth fields are not duplicated there


def test_by_particle_custom_bins_and_fit_terms(runs, tmp_path):
    """Issue 12, item 7: split a mixed file by particle, custom edges, choose the fit terms."""
    d, test = runs
    r = evaluate_run(
        load_run(d / "linear"),
        test,
        tmp_path / "eval",
        binning="50,1000,2000,3000,4000,6500",
        by="particle",
        fit_terms="a,c",
    )
    assert [b.e_lo for b in r.raw.bins] == [50, 1000, 2000, 3000, 4000]
    assert r.raw.fit.terms == ("a", "c") and r.raw.fit.b == 0
    assert [(g.field, g.value, g.n_events) for g in r.groups] == [
        ("particle", "e-", 600),
        ("particle", "gamma", 600),
    ]
    assert all(len(g.raw.bins) == 5 for g in r.groups)
    with pytest.raises(ConfigError, match="no truth field 'colour'; available: particle"):
        evaluate_run(load_run(d / "linear"), test, tmp_path / "e2", by="colour")
    with pytest.raises(ConfigError, match="distinct terms"):
        evaluate_run(load_run(d / "linear"), test, tmp_path / "e3", fit_terms="a,x")
    with pytest.raises(ConfigError, match="TrainedRun"):
        evaluate_run(d / "linear", test, tmp_path / "e4")


def _constant(run, value):
    """Make ``run`` predict ``value`` GeV (± 1 %) for every event, also on its held-out
    events — a broken model that has learned nothing."""
    real = run.predict
    rng = np.random.default_rng(9)

    def predict(source, **kw):
        p = real(source, **kw)
        v = value * (1 + 0.01 * rng.standard_normal(len(p.value)))
        return dataclasses.replace(p, value=v.astype(np.float32))

    held = run.held_out_predictions()
    run.predict = predict
    run.held_out_predictions = lambda: (
        held[0],
        value * (1 + 0.01 * rng.standard_normal(len(held[0]))),
    )
    return run


def test_broken_models_are_flagged_and_never_best(runs, tmp_path):
    """Issue 12, items 1 and 2: a constant predictor and an under-trained network have
    narrow Gaussian cores but no energy scale; both are flagged, the bias correction of the
    constant is refused, and neither is chosen as the best model."""
    d, test = runs
    const = evaluate_run(_constant(load_run(d / "linear"), 800.0), test, tmp_path / "const")
    codes = {w.code for w in const.warnings}
    assert {"response", "energy-scale", "bias-refused"} <= codes, const.warnings
    assert const.corrected is None and not const.bias_correction.applied
    assert not const.passes_response_check
    # under-trained: the course MLP from scratch, one epoch at a tiny learning rate
    f = d / "train.h5"
    cfg = TrainConfig(
        model=ModelConfig("mlp", {"output": "energy", "hidden": [8]}),
        data=DataConfig(str(f)),
        epochs=1,
        lr=1e-6,
        device="cpu",
    )
    train(cfg, tmp_path / "undertrained")
    under = evaluate_run(load_run(tmp_path / "undertrained"), test, tmp_path / "under")
    assert {"response", "energy-scale"} <= {w.code for w in under.warnings}
    good = evaluate_run(load_run(d / "linear"), test, tmp_path / "good")
    assert not {"response", "energy-scale"} & {w.code for w in good.warnings}
    # (a flagged model is not ranked even when its core σ/E is the narrowest: see
    # tests/report/test_compare.py)
    assert choose_best([const, under, good]) is good
    assert choose_best([const, under]) is None


def test_mismatched_detector_between_train_and_test_is_refused(runs, tmp_path):
    d, _ = runs
    other = write_synthetic(tmp_path / "o.h5", 50, 3, detector=tiny_detector("tiny5", n_ecal=5))
    with pytest.raises(DataError, match="detector mismatch"):
        evaluate_run(load_run(d / "sum"), other, tmp_path / "eval")
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_nan_and_missing_test_files(runs, tmp_path):
    d, _ = runs
    s = synthetic_showers(20, 4)
    s.cells[3, 0] = np.nan
    s.save(str(tmp_path / "nan.h5"))
    with pytest.raises(DataError, match="NaN"):
        evaluate_run(load_run(d / "sum"), tmp_path / "nan.h5", tmp_path / "eval")
    with pytest.raises(DataError, match="does not exist"):
        evaluate_run(load_run(d / "sum"), tmp_path / "missing.h5", tmp_path / "eval")
    with pytest.raises(DataError, match="not a training run"):
        load_run(tmp_path)


def test_classification_evaluation(tmp_path):
    """Issue 12, item 9: AUC and rejections as typed values, efficiency and rejection per
    energy bin, no raw dicts and no null for an infinite rejection."""
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
    r = evaluate_run(load_run(tmp_path / "run"), tmp_path / "c.h5", tmp_path / "eval", n_bins=4)
    c = r.classification
    assert r.task == "classification" and c.classes == ("gamma", "pi0")
    assert c.accuracy > 0.9 and np.sum(c.confusion_matrix) == 400
    (pair,) = c.pairs
    assert pair.name == "gamma vs pi0" and pair.auc > 0.95
    assert [w.efficiency for w in pair.working_points] == [0.5, 0.9]
    for w in pair.working_points:
        text = w.rejection_text()
        assert text.startswith("> ") if w.background_efficiency == 0 else float(text) > 1
    dep50, dep90 = pair.by_energy
    assert len(dep90.bins) == 4 and sum(b.n_signal for b in dep90.bins) == 200
    assert all(b.signal_efficiency is not None for b in dep90.bins)
    raw = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert "rejection" not in json.dumps(raw["classification"])  # derived, never stored as null
    for png in ("roc.png", "confusion.png", "efficiency.png"):
        assert (tmp_path / "eval" / png).exists()
