"""Event images and shower grids in the generic trainer (issue 3's calolab.training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError
from calolab.events.hdf5 import ImageWriter
from calolab.events.images import ImageConfig
from calolab.events.objects import EventObjects, ragged_from_counts

torch = pytest.importorskip("torch")
from calolab.evaluation.evaluate import evaluate_run  # noqa: E402
from calolab.models import ModelConfig  # noqa: E402
from calolab.training import DataConfig, TrainConfig, load_run, open_source, train  # noqa: E402

CFG = ImageConfig(n_eta=16, n_phi=16, saturation_gev=50.0)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One torch thread here and in CLI subprocesses: two threads per xdist worker
    oversubscribe a 2-core CI machine (several times slower)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def toy_events(rng: np.random.Generator, n: int, label: int) -> EventObjects:
    """Class 0: one hard ECAL deposit; class 1: the same energy in HCAL deposits plus a
    track (a caricature of photons vs charged hadrons), at random (η, φ)."""
    k = 1 if label == 0 else 3
    eta = rng.uniform(-2.0, 2.0, n * k)
    phi = rng.uniform(-np.pi, np.pi, n * k)
    et = rng.uniform(20, 40, n * k)
    towers = ragged_from_counts(
        np.full(n, k),
        {
            "eta": eta,
            "phi": phi,
            "et_em": et if label == 0 else np.zeros(n * k),
            "et_had": np.zeros(n * k) if label == 0 else et / 3,
        },
    )
    nk = 0 if label == 0 else 1
    tracks = ragged_from_counts(
        np.full(n, nk),
        {"pt": rng.uniform(5, 10, n * nk), "eta": eta[::k][: n * nk], "phi": phi[::k][: n * nk]},
    )
    return EventObjects(towers, tracks, {"truth_label": np.full(n, label, np.int32)})


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    rng = np.random.default_rng(0)
    train_path, test_path = d / "train.h5", d / "test.h5"
    with ImageWriter(train_path, CFG, ["photon_like", "hadron_like"]) as w:
        for _ in range(3):
            w.append(toy_events(rng, 20, 0), 0)
            w.append(toy_events(rng, 20, 1), 1)
    # the test file lists the classes in the other order: matched by name
    with ImageWriter(test_path, CFG, ["hadron_like", "photon_like"]) as w:
        w.append(toy_events(rng, 20, 1), 0)
        w.append(toy_events(rng, 20, 0), 1)
    return train_path, test_path


def config(path, model="cnn", options=None, **kw):
    return TrainConfig(
        model=ModelConfig(
            model, {"channels": (4, 8, 8), "hidden": 16} if options is None else options
        ),
        data=DataConfig(
            str(path),
            kind="images",
            target="particle",
            classes=("photon_like", "hadron_like"),
            val_fraction=0.25,
        ),
        task="classification",
        loss="cross-entropy",
        optimizer="adam",
        lr=3e-3,
        schedule="none",
        epochs=kw.pop("epochs", 6),
        batch_size=16,
        patience=None,
        device="cpu",
        **kw,
    )


def test_train_and_evaluate_images(image_files, tmp_path):
    train_path, test_path = image_files
    res = train(config(train_path), tmp_path / "run")
    hist = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert hist[0].startswith("epoch,train_loss,val_loss") and len(hist) == 7
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["shapes"] == {"image": [3, 16, 16]}
    assert meta["detector_name"].startswith("event images 16x16")
    m = evaluate_run(load_run(tmp_path / "run"), test_path, tmp_path / "eval")
    c = m.classification
    assert m.task == "classification" and c.classes == ("photon_like", "hadron_like")
    assert m.n_events == 40
    assert c.accuracy > 0.9, m  # a trivially separable toy problem
    assert [p.name for p in c.pairs] == ["photon_like vs hadron_like"]
    assert not any(p.by_energy for p in c.pairs)  # event images carry no true energy
    assert (tmp_path / "eval" / "roc.png").exists() and (
        tmp_path / "eval" / "confusion.png"
    ).exists()
    assert res.summary["samples_per_second"] > 0


def test_targets_mapped_by_name_and_augmentation_only_when_shuffled(image_files):
    train_path, test_path = image_files
    src = open_source(config(test_path).data, ("image",), "classification")
    # file label 0 is 'hadron_like' = run class 1
    assert src.targets(np.arange(20)).tolist() == [1] * 20
    assert src.targets(np.arange(20, 40)).tolist() == [0] * 20
    idx = np.arange(40)
    plain = next(iter(src.dataset(idx, batch_size=40, shuffle=False)))
    again = next(iter(src.dataset(idx, batch_size=40, shuffle=False)))
    assert torch.equal(plain["inputs"]["image"], again["inputs"]["image"])
    shuf = next(iter(src.dataset(idx, batch_size=40, shuffle=True, seed=1, epoch=1)))
    same = next(iter(src.dataset(idx, batch_size=40, shuffle=True, seed=1, epoch=1)))
    other = next(iter(src.dataset(idx, batch_size=40, shuffle=True, seed=1, epoch=2)))
    assert torch.equal(shuf["inputs"]["image"], same["inputs"]["image"])
    assert not torch.equal(shuf["index"], other["index"])
    # augmented images are rotated/flipped copies: per-channel sums are unchanged
    x = shuf["inputs"]["image"]
    ref = plain["inputs"]["image"][shuf["index"]]
    torch.testing.assert_close(x.sum(dim=(2, 3)), ref.sum(dim=(2, 3)), rtol=1e-5, atol=1e-5)
    assert not torch.equal(x, ref)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0  # linear 0–255, / 255


def test_image_batches_are_split_between_ranks_with_their_augmentation(image_files):
    """Data-parallel training sees the 1-process batches: each global batch shared out, every
    image augmented as it would be in one process."""
    train_path, _ = image_files
    src = open_source(config(train_path).data, ("image",), "classification")
    idx = np.arange(3, 120)  # 117 events: the last batch of 16 holds 5
    for shuffle in (True, False):
        kw = {"batch_size": 16, "shuffle": shuffle, "seed": 4, "epoch": 1}
        single = list(src.dataset(idx, **kw))
        ranks = [list(src.dataset(idx, rank=r, world_size=2, **kw)) for r in (0, 1)]
        assert (
            len(ranks[0])
            == len(ranks[1])
            == len(single)
            == len(src.dataset(idx, world_size=2, **kw))
        )
        for b0, b1, whole in zip(*ranks, single):
            assert torch.equal(torch.cat([b0["index"], b1["index"]]), whole["index"])
            assert torch.equal(
                torch.cat([b0["inputs"]["image"], b1["inputs"]["image"]]), whole["inputs"]["image"]
            )
            assert b0["global_size"] == b1["global_size"] == len(whole["index"])
    # 6 ranks: the last training batch (5 events) would leave a rank without events: dropped
    six = src.dataset(idx, rank=5, world_size=6, batch_size=16, shuffle=True, seed=4)
    assert len(six) == len(list(six)) == 7
    # evaluation keeps every event: ranks without a share of the last batch skip it
    seen = [src.dataset(idx, rank=r, world_size=6, batch_size=16, shuffle=False) for r in range(6)]
    assert sorted(np.concatenate([b["index"].numpy() for d in seen for b in d])) == idx.tolist()


def test_evaluation_refuses_other_image_geometry(image_files, tmp_path):
    train_path, _ = image_files
    train(config(train_path, epochs=1), tmp_path / "run")
    other = tmp_path / "other.h5"
    with ImageWriter(other, ImageConfig(n_eta=8, n_phi=8), ["photon_like", "hadron_like"]) as w:
        w.append(toy_events(np.random.default_rng(1), 4, 0), 0)
    with pytest.raises(DataError, match="event images 8x8"):
        evaluate_run(load_run(tmp_path / "run"), other, tmp_path / "eval")


def test_resnet_trains_on_images(image_files, tmp_path):
    train_path, _ = image_files
    res = train(config(train_path, "resnet18", {"width": 4}, epochs=1), tmp_path / "run")
    assert res.members[0].n_parameters > 10_000


def test_bad_image_training_configs(image_files, tmp_path):
    train_path, _ = image_files
    with pytest.raises(ConfigError, match="provide the input 'image'"):
        train(config(train_path, "mlp", {}), tmp_path / "a")
    cfg = config(train_path)
    zoom = DataConfig(
        str(train_path),
        kind="images",
        target="particle",
        classes=cfg.data.classes,
        options={"augment": "zoom"},
    )
    with pytest.raises(ConfigError, match="unknown augmentation"):
        train(cfg.replace(data=zoom), tmp_path / "b")
    with pytest.raises(DataError, match="not among the run's classes"):
        bad = DataConfig(
            str(train_path), kind="images", target="particle", classes=("photon_like", "jets")
        )
        train(config(train_path).replace(data=bad), tmp_path / "c")
    with pytest.raises(ConfigError, match="input 'grid'|input"):
        ModelConfig("cnn", {"input": "pixels"})


def test_cli_train_classify_and_evaluate(cli, image_files, tmp_path):
    train_path, test_path = image_files
    run = tmp_path / "run"
    cli(
        "train",
        "--data",
        str(train_path),
        "--model",
        "cnn",
        "--task",
        "classify",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--option",
        "channels=[4,8,8]",
        "--option",
        "hidden=16",
        "--device",
        "cpu",
        "-q",
        "-o",
        str(run),
        check=True,
    )
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["config"]["data"]["kind"] == "images"
    assert cfg["classes"] == ["photon_like", "hadron_like"]
    r = cli("evaluate", str(run), "--data", str(test_path), "-o", str(tmp_path / "ev"), check=True)
    assert "accuracy" in r.stdout
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    c = m["classification"]
    assert {"accuracy", "confusion_matrix", "pairs", "classes"} <= set(c)
    assert "rejection 1/ε_b" in r.stdout and "{" not in r.stdout  # tables, not dicts
