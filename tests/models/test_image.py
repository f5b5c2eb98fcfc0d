"""Image model kinds in the registry, and particle identification on shower cell grids."""

from __future__ import annotations

import json

import pytest

from calolab.core.errors import ConfigError

torch = pytest.importorskip("torch")
from calolab.models import ModelConfig, build_model, model_kind  # noqa: E402


@pytest.mark.parametrize("name", ["cnn", "resnet18", "resnet34"])
def test_registered_for_classification(name):
    kind = model_kind(name)
    assert kind.tasks == ("classification",)
    m = build_model(ModelConfig(name), {"image": (3, 40, 40)}, task="classification", n_outputs=3)
    out = m({"image": torch.rand(2, 3, 40, 40)})
    assert out.shape == (2, 3)
    with pytest.raises(ConfigError, match="does not support task 'regression'"):
        build_model(ModelConfig(name), {"image": (3, 40, 40)}, task="regression")


def test_grid_input_with_layer_features():
    cfg = ModelConfig("cnn", {"input": "grid", "scalars": "layers"})
    assert cfg.inputs == ("grid", "layers")
    m = build_model(
        cfg,
        {"grid": (30, 20, 20), "layers": (125,)},
        task="classification",
        n_outputs=3,
        stats={"grid_e0": 0.01, "layers_mean": [0.5] * 125, "layers_std": [2.0] * 125},
    )
    assert float(m.norm.grid_e0) == pytest.approx(0.01)
    out = m({"grid": torch.rand(4, 30, 20, 20), "layers": torch.rand(4, 125)})
    assert out.shape == (4, 3)
    r = build_model(
        ModelConfig("resnet18", {"input": "grid"}),
        {"grid": (30, 20, 20)},
        task="classification",
        n_outputs=2,
    )
    assert r.net.config.stem == "small"  # 20 × 20 cells: no ImageNet stem


def test_bad_options():
    with pytest.raises(ConfigError, match="input 'pixels'"):
        ModelConfig("cnn", {"input": "pixels"})
    with pytest.raises(ConfigError, match="scalars"):
        ModelConfig("resnet18", {"scalars": "all"})
    with pytest.raises(ConfigError, match="stem"):
        ModelConfig("resnet34", {"stem": "deep"})
    with pytest.raises(ConfigError, match="unknown option"):
        ModelConfig("cnn", {"depth": 3})
    with pytest.raises(ConfigError, match="image models need"):
        build_model(
            ModelConfig("cnn", {"input": "grid"}),
            {"grid": (10, 10)},
            task="classification",
            n_outputs=2,
        )


def test_photon_pi0_identification_from_the_cli(cli, tmp_path, monkeypatch):
    """Mixed γ/π0 showers from `calolab simulate`, labelled by PDG id, classified by the cnn
    on the ECAL cell grid plus the layer energies."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # no oversubscription under pytest-xdist
    data = tmp_path / "pid.h5"
    cli(
        "simulate",
        "course_pbwo4",
        "--particle",
        "gamma,pi0",
        "--energy",
        "10:30",
        "--vertex-distance",
        "150",
        "--events",
        "48",
        "--seed",
        "3",
        "-q",
        "-o",
        str(data),
        check=True,
    )
    run = tmp_path / "run"
    cli(
        "train",
        "--data",
        str(data),
        "--model",
        "cnn",
        "--classes",
        "gamma,pi0",
        "--option",
        "input=grid",
        "--option",
        "scalars=layers",
        "--option",
        "channels=[8,8,8]",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "-q",
        "-o",
        str(run),
        check=True,
    )
    cli("evaluate", str(run), "--data", str(data), "-o", str(tmp_path / "ev"), check=True)
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    c = m["classification"]
    assert c["classes"] == ["gamma", "pi0"] and m["n_events"] == 48
    assert len(c["confusion_matrix"]) == 2 and sum(map(sum, c["confusion_matrix"])) == 48
    assert (tmp_path / "ev" / "confusion.png").exists()
