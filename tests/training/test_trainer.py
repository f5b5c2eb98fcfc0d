"""The trainer: run-directory contract, exact resume, refusals, early stopping, classification."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch

from calolab.core.errors import ConfigError, DataError, OutputError
from calolab.data import write_showers
from calolab.models import ModelConfig
from calolab.training import DataConfig, TrainConfig, TrainHooks, load_checkpoint, load_run, train
from calolab.training.checkpoint import OOF_PREDICTIONS, load_predictions
from tests.synthetic import synthetic_showers, tiny_detector, write_synthetic

W = np.array([1.0, 1.2, 0.9, 1.1, 3.0, 4.0, 5.0])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("tr") / "train.h5", 600, 31, weights=W)


def _cfg(path, name="mlp", options=None, **kw):
    kw.setdefault("device", "cpu")
    return TrainConfig(model=ModelConfig(name, options or {}), data=DataConfig(str(path)), **kw)


class Interrupt(TrainHooks):
    """Simulates Ctrl-C after a given epoch of a given member."""

    def __init__(self, member, epoch):
        self.at = (member, epoch)

    def on_epoch_end(self, member, row):
        if (member, row["epoch"]) == self.at:
            raise KeyboardInterrupt


def _states(run_dir, n_members):
    out = []
    for m in range(n_members):
        d = run_dir if n_members == 1 else run_dir / f"member_{m}"
        out.append(load_checkpoint(d / "checkpoint.pt"))
    return out


@pytest.mark.parametrize(
    "options,kw,stop",
    [
        # dropout (random), huber-frac (stateful loss), one-cycle schedule, single model
        ({"hidden": [32, 16], "dropout": 0.2}, {"loss": "huber-frac", "epochs": 5}, (0, 2)),
        # ensemble interrupted inside the second member, cosine schedule, CNN
        (
            {"channels": [4], "hidden": [16], "scalars": "layers"},
            {"epochs": 3, "ensemble": 2, "schedule": "cosine", "batch_size": 64},
            (1, 1),
        ),
    ],
    ids=["mlp", "cnn3d-ensemble"],
)
def test_resume_after_interruption_reproduces_the_uninterrupted_run(
    tmp_path, data, options, kw, stop
):
    name = "cnn3d" if "channels" in options else "mlp"
    cfg = _cfg(data, name, options, **kw)
    train(cfg, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", hooks=Interrupt(*stop))
    interrupted = _states(tmp_path / "cut", stop[0] + 1)[-1]
    assert interrupted["epoch"] == stop[1] and not interrupted["finished"]
    train(cfg, tmp_path / "cut", resume=True)
    for a, b in zip(
        _states(tmp_path / "full", cfg.ensemble), _states(tmp_path / "cut", cfg.ensemble)
    ):
        assert a["epoch"] == b["epoch"] == cfg.epochs
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k]), k
        for k in a["best_model"]:
            assert torch.equal(a["best_model"][k], b["best_model"][k]), k
        ha, hb = json.loads(a["history_json"]), json.loads(b["history_json"])
        assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb]
        assert [r["val_loss"] for r in ha] == [r["val_loss"] for r in hb]


def test_run_directory_contract(tmp_path, data):
    cfg = _cfg(data, "per-layer", {"init": 0}, epochs=3, lr=0.05, seed=7)
    res = train(cfg, tmp_path / "run")
    run = tmp_path / "run"
    conf = json.loads((run / "config.json").read_text())
    for key in ("calolab_version", "data_hash", "detector_hash", "seed", "config", "config_hash"):
        assert key in conf
    assert conf["seed"] == 7 and conf["detector_hash"] == tiny_detector().hash
    # the stored config says which cells the run was trained on (a file without digitised
    # cells: the true visible energies)
    assert TrainConfig.from_dict(conf["config"]) == cfg.replace(
        data=dataclasses.replace(cfg.data, options={"digitized": False})
    )
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert {"epoch", "train_loss", "val_loss", "lr", "seconds"} <= set(rows[0])
    ck = load_checkpoint(run / "checkpoint.pt")
    for key in (
        "model",
        "optimizer",
        "config_json",
        "epoch",
        "data_hash",
        "detector_hash",
        "architecture_hash",
        "calolab_version",
    ):
        assert key in ck
    summary = json.loads((run / "summary.json").read_text())
    assert summary["members"][0]["epochs_run"] == 3 and summary["samples_per_second"] > 0
    assert summary["peak_memory_mb"] > 0
    # held-out predictions, from which calolab.evaluation fits the bias correction
    e_true, e_pred = load_predictions(run / OOF_PREDICTIONS)
    assert len(e_true) == len(e_pred) > 0 and np.corrcoef(e_true, e_pred)[0, 1] > 0.5
    assert res.members[0].n_parameters == 8
    weights = list(csv.DictReader(open(run / "weights.csv")))
    assert len(weights) == 4 and float(weights[0]["w3"]) == 0.0


def test_resume_refuses_another_architecture_detector_or_option(tmp_path, data):
    cfg = _cfg(data, "mlp", {"hidden": [8]}, epochs=1)
    train(cfg, tmp_path / "run")
    with pytest.raises(OutputError, match="--resume"):
        train(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match="architecture mismatch"):
        train(_cfg(data, "mlp", {"hidden": [16]}, epochs=1), tmp_path / "run", resume=True)
    other = write_synthetic(
        tmp_path / "other.h5", 600, 31, detector=tiny_detector("tiny5", n_ecal=5)
    )
    with pytest.raises(DataError, match="detector mismatch"):
        train(_cfg(other, "mlp", {"hidden": [8]}, epochs=1), tmp_path / "run", resume=True)
    with pytest.raises(ConfigError, match="lr"):
        train(cfg.replace(lr=0.5), tmp_path / "run", resume=True)
    # a finished run resumes to the same result without training again
    res = train(cfg, tmp_path / "run", resume=True)
    assert res.members[0].epochs_run == 1


def test_resume_with_more_epochs_extends_a_finished_run(tmp_path, data):
    """``--resume --epochs N`` continues a finished run with a new learning-rate cycle; an
    interrupted ensemble extended directly ends with the same weights as a finished one that
    is extended (the first schedule is completed as stored, then the new one starts)."""
    cfg = _cfg(data, "mlp", {"hidden": [16], "dropout": 0.1}, epochs=3, ensemble=2)
    longer = cfg.replace(epochs=5)
    train(cfg, tmp_path / "full")
    res = train(longer, tmp_path / "full", resume=True)
    assert [m.epochs_run for m in res.members] == [5, 5]
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", hooks=Interrupt(1, 1))
    train(longer, tmp_path / "cut", resume=True)
    for a, b in zip(_states(tmp_path / "full", 2), _states(tmp_path / "cut", 2)):
        assert a["epoch"] == b["epoch"] == 5 and a["schedule"] == b["schedule"] == [3, 5]
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k]), k
        ha, hb = json.loads(a["history_json"]), json.loads(b["history_json"])
        assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb]
        lr = [r["lr"] for r in ha]
        # the first cycle only falls after its peak; the extension's cycle raises it again
        assert lr[1] > lr[2] < lr[3]
    # the first three epochs are those of the 3-epoch run
    short = train(cfg, tmp_path / "short")
    hs = [r["train_loss"] for r in json.loads(_states(tmp_path / "short", 2)[0]["history_json"])]
    hf = json.loads(_states(tmp_path / "full", 2)[0]["history_json"])
    assert [r["train_loss"] for r in hf][:3] == hs and short.members[0].epochs_run == 3
    run_conf = json.loads((tmp_path / "full" / "config.json").read_text())
    assert run_conf["config"]["epochs"] == 5
    with pytest.raises(ConfigError, match="not shortened"):
        train(cfg, tmp_path / "full", resume=True)


def test_early_stopping_keeps_the_best_model(tmp_path, data):
    cfg = _cfg(
        data,
        "mlp",
        {"hidden": [8], "output": "energy"},
        epochs=30,
        lr=0.5,
        schedule="none",
        patience=2,
    )
    res = train(cfg, tmp_path / "run")
    m = res.members[0]
    assert m.stopped_early and m.epochs_run == m.best_epoch + 2 and m.epochs_run < 30
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    hist = json.loads(ck["history_json"])
    # the untrained model (epoch 0) is a candidate too
    candidates = [m.initial_val_loss] + [r["val_loss"] for r in hist]
    assert min(candidates) == pytest.approx(m.best_val_loss)


def test_keep_last_keeps_the_model_of_the_last_epoch(tmp_path, data, cli):
    """``keep = "last"`` (a convex fit annealed to convergence) keeps the last epoch's model,
    where the default keeps the best-validation epoch; the default config's hash does not
    depend on the field (runs hashed before it existed keep their hash), and a bad value is
    a ConfigError naming the field. The CLI passes ``--keep`` through."""
    kw = dict(epochs=6, lr=0.05, schedule="cosine", patience=None)
    cfg = _cfg(data, "per-layer", {"init": 0}, keep="last", **kw)
    res = train(cfg, tmp_path / "run")
    m = res.members[0]
    assert m.best_epoch == m.epochs_run == 6
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    for k, v in ck["model"].items():
        assert torch.equal(v, ck["best_model"][k]), k
    assert m.best_val_loss == pytest.approx(json.loads(ck["history_json"])[-1]["val_loss"])
    default = _cfg(data, "per-layer", {"init": 0}, **kw)
    assert "keep" not in default.to_dict() and cfg.to_dict()["keep"] == "last"
    assert default.hash != cfg.hash
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="keep 'first' must be one of best, last"):
        _cfg(data, "per-layer", keep="first")
    out = tmp_path / "cli"
    cli(
        "train",
        "--data",
        str(data),
        "--model",
        "linear",
        "--epochs",
        "2",
        "--keep",
        "last",
        "--device",
        "cpu",
        "-o",
        str(out),
        check=True,
    )
    assert json.loads((out / "config.json").read_text())["config"]["keep"] == "last"


def test_a_diverging_epoch_is_refused_and_the_last_good_checkpoint_kept(
    tmp_path, data, monkeypatch
):
    from calolab.training import losses

    class PoisonAfterFirstEpoch(TrainHooks):
        def on_epoch_end(self, member, row):
            good = losses.MSELoss.forward
            monkeypatch.setattr(
                losses.MSELoss, "forward", lambda self, p, t: good(self, p, t) * float("nan")
            )

    cfg = _cfg(data, "mlp", {"hidden": [8]}, epochs=4)
    with pytest.raises(DataError, match=r"diverged: the mean training loss of epoch 2 .* nan"):
        train(cfg, tmp_path / "run", hooks=PoisonAfterFirstEpoch())
    ck = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ck["epoch"] == 1 and not ck["finished"]


def test_bad_input_and_bad_config(tmp_path, data):
    with pytest.raises(DataError, match="does not exist"):
        train(_cfg(tmp_path / "nope.h5", epochs=1), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="loss"):
        _cfg(data, loss="cross-entropy")
    with pytest.raises(ConfigError, match="unknown"):
        TrainConfig.from_dict({**_cfg(data).to_dict(), "epoch": 3})
    with pytest.raises(ConfigError, match="does not support"):
        TrainConfig(
            model=ModelConfig("linear"),
            data=DataConfig(str(data), target="particle", classes=("gamma", "pi0")),
            task="classification",
            loss="cross-entropy",
        )


def test_classification_with_the_same_trainer(tmp_path):
    pdg = np.where(np.arange(800) % 2 == 0, 22, 111)
    # the two classes differ in their longitudinal profile: photons deposit in the ECAL,
    # "pi0" here has its energy scaled into the HCAL layers
    from tests.synthetic import synthetic_showers

    s = synthetic_showers(800, 5, pdg=pdg)
    for r in s.detector.readout_layers:
        sl = slice(r.offset, r.offset + r.n_cells)
        s.cells[pdg == 111, sl] *= 3.0 if r.section == "hcal" else 0.3
    s.save(str(tmp_path / "cls.h5"))
    cfg = TrainConfig(
        model=ModelConfig("mlp", {"hidden": [32], "dropout": 0.0}),
        data=DataConfig(str(tmp_path / "cls.h5"), target="particle", classes=("gamma", "pi0")),
        task="classification",
        loss="cross-entropy",
        epochs=20,
        batch_size=64,
        lr=3e-3,
        device="cpu",
    )
    res = train(cfg, tmp_path / "run")
    assert res.summary["task"] == "classification"
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    # the ECAL/HCAL ratio of the two classes overlaps little: ≥ 95 % is reachable
    assert float(rows[-1]["val_accuracy"]) > 0.95
    run = load_run(tmp_path / "run")
    assert run.classes == ("gamma", "pi0")


def test_one_feature_pass_shared_by_several_models(tmp_path, data):
    """The demo's pattern: open the file once with every scalar input, train the cheap
    models on it and evaluate them on one opened test source."""
    from calolab.evaluation import evaluate_run
    from calolab.training import open_source

    src = open_source(DataConfig(str(data)), ("total", "layers", "highlevel"), "regression")
    try:
        for name, opts in (
            ("sum", {}),
            ("linear", {}),
            ("per-layer", {}),
            ("mlp", {"features": "layers+highlevel", "hidden": [8]}),
        ):
            train(_cfg(data, name, opts, epochs=2), tmp_path / name, source=src)
            m = evaluate_run(
                load_run(tmp_path / name), data, tmp_path / f"eval-{name}", source=src, plots=False
            )
            assert m.n_events == 600
        conf = json.loads((tmp_path / "linear" / "config.json").read_text())
        assert conf["shapes"] == {"layers": [7]}  # only what the model uses
    finally:
        src.close()


@pytest.mark.gpu
def test_cuda_with_mixed_precision(tmp_path, data):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cfg = _cfg(
        data,
        "cnn3d",
        {"channels": [4], "hidden": [16], "scalars": "layers"},
        epochs=2,
        device="cuda",
        amp=True,
        batch_size=64,
    )
    res = train(cfg, tmp_path / "run")
    assert np.isfinite(res.members[0].best_val_loss)
    assert "peak_gpu_memory_mb" in res.summary
    run = load_run(tmp_path / "run", device="cpu")  # a CUDA checkpoint loads on the CPU
    with run.open_data(data) as src:
        assert np.isfinite(run.predict(src).value).all()


def test_json_files_are_strict(tmp_path):
    from calolab.training.checkpoint import write_json

    write_json(tmp_path / "m.json", {"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": 2}})
    assert json.loads((tmp_path / "m.json").read_text()) == {
        "a": None,
        "b": [None, 1.5],
        "c": {"d": 2},
    }


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """1–100 GeV with a resolution of 20 %/√E and a response that falls with energy (a
    non-linearity no layer weighting can remove): 2000 events."""
    from tests.synthetic import synthetic_showers

    s = synthetic_showers(2000, 41, weights=W, e_range=(1, 100), noise=0.2)
    e = s.truth["energy"]
    s.truth["energy"] = e * (1 + 0.15 * np.log(e / 10.0))  # the layers see less at high E
    path = tmp_path_factory.mktemp("noisy") / "noisy.h5"
    s.save(str(path))
    return path


def test_per_layer_default_reaches_the_closed_form_solution(tmp_path, noisy):
    """Issue 12, item 5: with default settings (no --lr, no --schedule) the per-layer
    calibration ends within 1 % of the validation MSE of its closed-form solution, and not
    above that of α·sum + β."""
    res = train(_cfg(noisy, "per-layer", epochs=20), tmp_path / "pl")
    m = res.members[0]
    assert np.isfinite(m.initial_val_loss)  # the closed-form solution, on the validation set
    assert abs(m.best_val_loss - m.initial_val_loss) <= 0.01 * m.initial_val_loss
    lin = train(_cfg(noisy, "linear"), tmp_path / "lin").members[0]
    assert m.best_val_loss <= lin.best_val_loss


def test_mlp_default_is_never_worse_than_its_baseline(tmp_path, noisy):
    """Issue 12, item 5: the MLP starts as the closed-form per-layer calibration; early
    stopping on the validation set keeps that unless training does better, and here, where
    the response is non-linear, training does better."""
    res = train(_cfg(noisy, "mlp", {"hidden": [32, 32], "dropout": 0.0}, epochs=30), tmp_path / "m")
    m = res.members[0]
    pl = train(_cfg(noisy, "per-layer", epochs=1, lr=1e-9), tmp_path / "pl").members[0]
    assert m.initial_val_loss == pytest.approx(pl.initial_val_loss, rel=1e-4)
    assert m.best_val_loss < 0.9 * m.initial_val_loss
    assert summary_best(tmp_path / "m") == pytest.approx(m.best_val_loss)


def summary_best(run):
    return json.loads((run / "summary.json").read_text())["members"][0]["best_val_loss"]


def test_cells_default_to_what_the_readout_measures(tmp_path):
    """Without the option, a run trains on the digitised cells when the file has them (what
    the detector measures), records that choice, and keeps it when resumed; --true-energies
    (``digitized = False``) and files without digitised cells use the true energies."""
    s = synthetic_showers(300, 5, weights=W)
    s.digitized = (s.cells * 1.25).astype(np.float32)  # a readout that reads 25 % high
    path = tmp_path / "dig.h5"
    write_showers(path, s)

    def stored(run):
        return json.loads((run / "config.json").read_text())["config"]["data"]["options"]

    base = _cfg(path, "linear", epochs=1)
    res = train(base, tmp_path / "auto")
    assert stored(tmp_path / "auto") == {"digitized": True}
    assert res.config.data.options == {"digitized": True}
    truth = train(
        base.replace(data=dataclasses.replace(base.data, options={"digitized": False})),
        tmp_path / "true",
    )
    assert stored(tmp_path / "true") == {"digitized": False}
    # the linear calibration is fitted on the cells it sees: 1/1.25 of the true-energy one
    ca = load_run(tmp_path / "auto").model.state_dict()
    ct = load_run(tmp_path / "true").model.state_dict()
    ratio = [float((ca[k] / ct[k]).mean()) for k in ca if ca[k].dtype.is_floating_point]
    assert min(abs(r - 0.8) for r in ratio) < 0.01, ratio  # a calibration scaled by 1/1.25
    # resumed with more epochs: still the digitised cells
    train(base.replace(epochs=2), tmp_path / "auto", resume=True)
    assert stored(tmp_path / "auto") == {"digitized": True}
    assert truth.config.data.options == {"digitized": False}
