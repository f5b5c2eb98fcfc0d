"""``calolab train`` as a user runs it (subprocesses; each costs a torch import, so few)."""

from __future__ import annotations

import csv
import json

import pytest

from tests.synthetic import write_synthetic


@pytest.fixture
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_train_an_ensemble_then_refuse_a_mismatched_resume(cli, tmp_path, one_thread):
    data = write_synthetic(tmp_path / "train.h5", 400, 1, weights=1.5, bias=1.0)
    run = tmp_path / "run"
    p = cli(
        "train",
        "--data",
        str(data),
        "--model",
        "mlp",
        "--loss",
        "rel",
        "--epochs",
        "2",
        "--hidden",
        "16,8",
        "--ensemble",
        "2",
        "--quiet",
        "--output",
        str(run),
        check=True,
    )
    assert "trained mlp" in p.stdout
    for f in (
        "config.json",
        "history.csv",
        "summary.json",
        "member_0/checkpoint.pt",
        "member_1/checkpoint.pt",
        "member_1/history.csv",
    ):
        assert (run / f).exists(), f
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [(r["member"], r["epoch"]) for r in rows] == [
        ("0", "1"),
        ("0", "2"),
        ("1", "1"),
        ("1", "2"),
    ]
    conf = json.loads((run / "config.json").read_text())
    assert conf["config"]["ensemble"] == 2 and conf["config"]["model"]["options"]["hidden"] == [
        16,
        8,
    ]
    p = cli("train", "--resume", "--output", str(run), "--hidden", "32", "--quiet")
    assert p.returncode == 2 and "architecture mismatch" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    # a finished run is extended with more epochs
    cli("train", "--resume", "--output", str(run), "--epochs", "3", "--quiet", check=True)
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [(r["member"], r["epoch"]) for r in rows][-2:] == [("1", "2"), ("1", "3")]
    assert len(rows) == 6
    p = cli("train", "--resume", "--output", str(run), "--epochs", "1", "--quiet")
    assert p.returncode == 2 and "not shortened" in p.stderr


def test_missing_file_is_one_clear_line(cli, tmp_path, one_thread):
    p = cli(
        "train",
        "--data",
        str(tmp_path / "missing.h5"),
        "--model",
        "sum",
        "--output",
        str(tmp_path / "r"),
    )
    assert p.returncode == 2 and "does not exist" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "r").exists()
