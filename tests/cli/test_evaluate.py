"""``calolab evaluate`` as a user runs it (the run is trained in-process to save time)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calolab.models import ModelConfig
from calolab.training import DataConfig, TrainConfig, train
from tests.synthetic import synthetic_showers, tiny_detector, write_synthetic


@pytest.fixture
def run_and_data(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = write_synthetic(tmp_path / "d.h5", 600, 1, weights=1.5, bias=1.0, noise=0.1)
    cfg = TrainConfig(model=ModelConfig("linear"), data=DataConfig(str(data)), device="cpu")
    train(cfg, tmp_path / "run")
    cfg = TrainConfig(model=ModelConfig("sum"), data=DataConfig(str(data)), device="cpu")
    train(cfg, tmp_path / "sum")
    return tmp_path / "run", data


def test_evaluate_prints_bins_fit_tracker_and_writes_metrics(cli, tmp_path, run_and_data):
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
        "--bins",
        "6",
        "--quiet",
        check=True,
    )
    assert "RMSE" in p.stdout and "σ/E" in p.stdout and "χ²/ndf" in p.stdout
    # issue 12, item 8: the tracker combination is printed
    assert "tracker combination" in p.stdout and "combined σ/E" in p.stdout
    m = json.loads((ev / "metrics.json").read_text())
    assert m["format_version"] == 2 and m["task"] == "regression" and m["model"] == "linear"
    assert m["n_events"] == 600 and len(m["raw"]["bins"]) == 6 and m["tracker"]["bins"]
    for png in ("pred_vs_true.png", "response.png", "resolution.png", "tracker.png"):
        assert (ev / png).exists()
    j = cli("evaluate", str(run), "--data", str(data), "-o", str(ev), "--json", "-q", "--no-plots")
    assert json.loads(j.stdout)["raw"]["n_events"] == 600


def test_strict_makes_a_flagged_evaluation_exit_with_code_3(cli, tmp_path, run_and_data):
    """The raw sum of cells of this file has a response of 2/3: flagged."""
    run, data = run_and_data
    args = ["evaluate", str(tmp_path / "sum"), "--data", str(data), "--no-plots", "-q"]
    p = cli(*args, "-o", str(tmp_path / "e1"))
    assert p.returncode == 0 and "warning [raw] response" in p.stderr
    p = cli(*args, "-o", str(tmp_path / "e2"), "--strict")
    assert p.returncode == 3 and "sanity check(s) failed" in p.stderr
    assert (tmp_path / "e2" / "metrics.json").exists()  # written all the same
    ok = cli(
        "evaluate",
        str(run),
        "--data",
        str(data),
        "-o",
        str(tmp_path / "e3"),
        "--strict",
        "--no-plots",
        "-q",
        "--bins",
        "4",
    )
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bins", "-3"], "--bins -3 must be >= 1"),
        (["--bins", "10,5"], "increase strictly"),
        (["--bins", "1,5,10", "--binning", "log"], "applies to a number of bins"),
        (["--fit-terms", "a,q"], "--fit-terms"),
        (["--batch-size", "0"], "--batch-size 0 must be >= 1"),
        (["--by", "colour"], "no truth field 'colour'"),
        (["--tracker", "--tracker-resolution", "-1"], "--tracker-resolution"),
    ],
)
def test_bad_options_are_one_line_errors(cli, tmp_path, run_and_data, args, message):
    run, data = run_and_data
    p = cli("evaluate", str(run), "--data", str(data), "-o", str(tmp_path / "e"), "-q", *args)
    assert p.returncode == 2 and message in p.stderr, p.stderr
    assert p.stderr.strip().count("\n") == 0


def test_by_particle_prints_a_table_per_group(cli, tmp_path, run_and_data):
    run, _ = run_and_data
    pdg = np.where(np.arange(400) % 2 == 0, 11, 22)
    s = synthetic_showers(400, 7, weights=1.5, bias=1.0, pdg=pdg, noise=0.1)
    s.save(str(tmp_path / "mixed.h5"))
    p = cli(
        "evaluate",
        str(run),
        "--data",
        str(tmp_path / "mixed.h5"),
        "-o",
        str(tmp_path / "e"),
        "--by",
        "particle",
        "--bins",
        "4",
        "-q",
        "--no-plots",
    )
    assert p.returncode == 0, p.stderr
    assert "by particle" in p.stdout and "e-" in p.stdout and "gamma" in p.stdout


def test_evaluate_refuses_another_detector(cli, tmp_path, run_and_data):
    run, _ = run_and_data
    other = write_synthetic(tmp_path / "o.h5", 50, 2, detector=tiny_detector("tiny5", n_ecal=5))
    p = cli("evaluate", str(run), "--data", str(other), "--output", str(tmp_path / "e"))
    assert p.returncode == 2 and "detector mismatch" in p.stderr
    assert not (tmp_path / "e" / "metrics.json").exists()
