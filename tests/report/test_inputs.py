"""Finding and reading calolab outputs for the report."""

from __future__ import annotations

import json

import pytest

from calolab.core.errors import DataError
from calolab.report.inputs import collect, read_history


def test_collect_classifies_a_directory(outputs):
    found = collect([outputs])
    assert [d.path.name for d in found.datasets] == ["tiny.h5"]
    assert sorted(r.model for r in found.runs) == ["mlp", "per-layer", "sum"]
    weights = next(r for r in found.runs if r.model == "per-layer").weights
    assert weights["w1"] == [1.0, 0.9, 0.8]
    assert sorted(e.model for e in found.regressions) == ["mlp", "sum"]
    assert [e.model for e in found.classifications] == ["pid-mlp"]
    # runs and evaluations are tied to the dataset's detector
    assert {r.detector for r in found.runs} == {"tiny"}
    assert {e.detector for e in found.evaluations} == {"tiny"}
    assert {e.particles for e in found.regressions} == {"e- + gamma"}
    assert [d.name for d in found.all_detectors()] == ["tiny"]
    assert found.notes == []


def test_files_and_presets_as_inputs(outputs, tmp_path):
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    found = collect([outputs / "eval" / "mlp" / "metrics.json", "course_pbwo4", odd])
    assert len(found.regressions) == 1 and found.detectors[0].detector.name == "course_pbwo4"
    assert "not a calolab output" in found.notes[0].message
    # the evaluation's dataset is found relative to the metrics file
    assert found.regressions[0].detector == "tiny"


def test_read_history(tmp_path):
    p = tmp_path / "history.csv"
    p.write_text("epoch,train_loss,val_loss\n1,0.5,0.6\n2,0.25,\n")
    h = read_history(p)
    assert h["epoch"] == [1.0, 2.0] and h["train_loss"] == [0.5, 0.25]
    assert h["val_loss"][0] == 0.6 and h["val_loss"][1] != h["val_loss"][1]  # NaN
    p.write_text("step,loss\n1,2\n")
    with pytest.raises(DataError, match="no 'epoch' column"):
        read_history(p)
    p.write_text("epoch,train_loss\n")
    with pytest.raises(DataError, match="no epochs"):
        read_history(p)


def test_unknown_task_is_noted_and_skipped(tmp_path):
    d = tmp_path / "eval"
    d.mkdir()
    (d / "metrics.json").write_text(json.dumps({"format_version": 2, "task": "ranking"}))
    found = collect([tmp_path])
    assert found.evaluations == []
    assert "task 'ranking' must be one of regression, classification" in found.notes[0].message


def test_runs_in_the_calolab_train_layout(tmp_path, dataset):
    """config.json of calolab train: run metadata plus the nested config."""
    run = tmp_path / "runs" / "pid"
    run.mkdir(parents=True)
    (run / "history.csv").write_text("epoch,train_loss,val_loss\n1,0.5,0.6\n2,0.3,0.4\n")
    (run / "config.json").write_text(
        json.dumps(
            {
                "detector_name": "tiny",
                "config": {
                    "task": "classification",
                    "model": {"name": "mlp"},
                    "data": {"path": str(dataset)},
                },
            }
        )
    )
    (run / "summary.json").write_text(json.dumps({"task": "classification", "model": "mlp"}))
    (found,) = collect([tmp_path]).runs
    assert found.detector == "tiny" and found.title == "MLP classifier"
    assert found.label == "tiny · MLP classifier"
    # without the name, the detector comes from the training file
    cfg = json.loads((run / "config.json").read_text())
    del cfg["detector_name"]
    (run / "config.json").write_text(json.dumps(cfg))
    assert collect([tmp_path]).runs[0].detector == "tiny"
