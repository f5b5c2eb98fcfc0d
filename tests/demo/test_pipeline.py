"""``calolab demo``: outputs, the MLP beating the sum of cells, resuming."""

from __future__ import annotations

import json

import pytest

from calolab.demo import DemoConfig, run_demo
from calolab.errors import ConfigError

pytestmark = pytest.mark.xdist_group("quick_demo")


def test_quick_demo_outputs(quick_demo):
    summary = json.loads((quick_demo / "demo.json").read_text())
    cfg = summary["config"]
    for design in cfg["designs"]:
        assert (quick_demo / "data" / design / "train.h5").exists()
        for model in cfg["models"]:
            assert (quick_demo / "runs" / design / model / "history.csv").exists()
            for p in cfg["particles"]:
                m = json.loads(
                    (quick_demo / "eval" / design / model / p / "metrics.json").read_text()
                )
                assert m["task"] == "regression" and m["bins"] and "fit" in m
    assert len(summary["table"]) == len(cfg["designs"]) * len(cfg["models"]) * len(cfg["particles"])
    assert len(list((quick_demo / "plots").glob("*.png"))) >= 10
    html = (quick_demo / "report.html").read_text()
    assert "course_pbwo4" in html and "course_pbscint" in html and "MLP" in html


def test_mlp_beats_the_sum_of_cells_on_both_designs(quick_demo):
    """The ratio of resolutions (mean over energy bins, same test events) lies more than
    three standard errors below 1. The error neglects the positive correlation between the
    two models' fluctuations on the same events, so it is an overestimate: the test is
    conservative."""
    table = json.loads((quick_demo / "demo.json").read_text())["table"]
    mlp = [r for r in table if r["model"] == "mlp"]
    assert {r["design"] for r in mlp} == {"course_pbwo4", "course_pbscint"}
    for r in mlp:
        assert r["ratio_bins"] >= 4
        assert r["ratio_to_sum"] + 3 * r["ratio_err"] < 1.0, r


def test_demo_api_resumes_and_reproduces(tmp_path):
    cfg = DemoConfig(
        designs=("course_pbscint",), n_train=60, n_test=60, models=("sum", "linear"), max_bins=2
    )
    res = run_demo(tmp_path / "d", cfg)
    data = tmp_path / "d" / "data" / "course_pbscint" / "train.h5"
    stamp = data.stat().st_mtime_ns
    again = run_demo(tmp_path / "d", cfg)
    assert data.stat().st_mtime_ns == stamp  # simulated data reused, not rewritten
    assert [r["sigma_rel"] for r in again.table] == [r["sigma_rel"] for r in res.table]
    assert res.report.exists() and res.costs["course_pbscint"] == pytest.approx(2317, abs=5)


def test_demo_config_errors():
    with pytest.raises(ConfigError, match="n_train 10 must be an integer >= 50"):
        DemoConfig(n_train=10)
    with pytest.raises(ConfigError, match="models"):
        DemoConfig(models=("bdt",))
    with pytest.raises(ConfigError):
        DemoConfig(designs=("no_such_detector",))
