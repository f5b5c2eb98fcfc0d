"""Datasets: deterministic splits, shuffling, grid streaming, sharding, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calolab.core.errors import ConfigError, DataError
from calolab.data.hdf5 import ShowerFile
from calolab.training import DataConfig, open_source, split_indices
from calolab.training.datasets import event_uniforms
from tests.synthetic import synthetic_showers, write_synthetic


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("ds") / "s.h5", 700, 21)


def test_split_is_deterministic_disjoint_and_of_the_right_size():
    tr, va = split_indices(10000, seed=3, val_fraction=0.2)
    tr2, va2 = split_indices(10000, seed=3, val_fraction=0.2)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 10000
    assert abs(len(va) - 2000) < 5 * np.sqrt(10000 * 0.2 * 0.8)
    # mixed samples alternate particles event by event: the split must not follow parity
    assert abs(np.mean(va % 2) - 0.5) < 0.05
    other, _ = split_indices(10000, seed=4, val_fraction=0.2)
    assert not np.array_equal(tr, other)
    u = event_uniforms(np.arange(100000), 0)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005


def test_k_folds_partition_the_events():
    vals = [split_indices(3000, seed=1, val_fraction=0.0, folds=3, member=m)[1] for m in range(3)]
    allv = np.concatenate(vals)
    assert len(allv) == 3000 and len(np.unique(allv)) == 3000


@pytest.mark.parametrize("inputs", [("layers", "highlevel"), ("grid", "total")])
def test_shuffled_epoch_covers_every_event_once_with_the_right_values(small_file, inputs):
    src = open_source(
        DataConfig(str(small_file), options={"read_batch": 50, "shuffle_blocks": 3}),
        inputs,
        "regression",
    )
    try:
        idx = np.arange(0, 700, 2)
        ds = src.dataset(idx, batch_size=64, shuffle=True, seed=5, epoch=1)
        batches = list(ds)
        seen = np.concatenate([b["index"].numpy() for b in batches])
        assert sorted(seen.tolist()) == idx.tolist()
        assert not np.array_equal(seen, idx)  # shuffled
        again = np.concatenate(
            [
                b["index"].numpy()
                for b in src.dataset(idx, batch_size=64, shuffle=True, seed=5, epoch=1)
            ]
        )
        assert np.array_equal(seen, again)
        other = np.concatenate(
            [
                b["index"].numpy()
                for b in src.dataset(idx, batch_size=64, shuffle=True, seed=5, epoch=2)
            ]
        )
        assert not np.array_equal(seen, other)
        with ShowerFile(small_file) as f:
            ref = f.read(0, 700)
        b = batches[1]
        i = b["index"].numpy()
        np.testing.assert_allclose(b["target"].numpy(), ref.energy[i], rtol=1e-6)
        if "grid" in inputs:
            np.testing.assert_array_equal(b["inputs"]["grid"].numpy(), ref.grid("ecal")[i])
            np.testing.assert_allclose(b["inputs"]["total"].numpy(), ref.total()[i], rtol=1e-5)
        else:
            np.testing.assert_allclose(
                b["inputs"]["layers"].numpy(), ref.layer_energies()[i], rtol=1e-5
            )
    finally:
        src.close()


def test_ranks_get_disjoint_shares_of_every_batch(small_file):
    """DDP (issue 5): each of the 14 global batches is split between the 3 ranks, so every
    rank takes part in all 14 steps and together they see each event once."""
    src = open_source(DataConfig(str(small_file)), ("grid",), "regression")
    try:
        idx = np.arange(700)
        per_rank = [
            list(
                src.dataset(idx, batch_size=50, shuffle=True, seed=1, epoch=0, rank=r, world_size=3)
            )
            for r in range(3)
        ]
        assert [len(batches) for batches in per_rank] == [14, 14, 14]
        assert all(len(b["index"]) in (16, 17) for batches in per_rank for b in batches)
        shards = [np.concatenate([b["index"].numpy() for b in batches]) for batches in per_rank]
        assert np.array_equal(np.sort(np.concatenate(shards)), idx)
        assert len(src.dataset(idx, batch_size=50, shuffle=True, rank=0, world_size=3)) == 14
    finally:
        src.close()


def test_classification_labels_and_unknown_particles(tmp_path):
    pdg = np.where(np.arange(40) % 2 == 0, 22, 111)
    f = write_synthetic(tmp_path / "c.h5", 40, 1, pdg=pdg)
    src = open_source(
        DataConfig(str(f), target="particle", classes=("gamma", "pi0")),
        ("layers",),
        "classification",
    )
    assert src.targets(np.arange(4)).tolist() == [0, 1, 0, 1]
    assert src.classes == ("gamma", "pi0")
    src.close()
    with pytest.raises(DataError, match="not among the classes"):
        open_source(
            DataConfig(str(f), target="particle", classes=("gamma", "e-")),
            ("layers",),
            "classification",
        )


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        open_source(DataConfig(str(tmp_path / "missing.h5")), ("layers",), "regression")
    s = synthetic_showers(30, 2)
    s.cells[7, 3] = np.nan
    s.save(str(tmp_path / "nan.h5"))
    with pytest.raises(DataError, match="NaN"):
        open_source(DataConfig(str(tmp_path / "nan.h5")), ("layers",), "regression")
    ok = write_synthetic(tmp_path / "ok.h5", 30, 3)
    with pytest.raises(ConfigError, match="unknown option"):
        open_source(DataConfig(str(ok), options={"thresholds": [1]}), ("layers",), "regression")
    with pytest.raises(ConfigError, match="not 'image'|image"):
        open_source(DataConfig(str(ok)), ("image",), "regression")
    with pytest.raises(ConfigError, match="dataset kind"):
        open_source(DataConfig(str(ok), kind="graphs"), ("image",), "classification")
    with pytest.raises(DataError, match="shower dataset"):  # the 'images' kind of issue 4
        open_source(DataConfig(str(ok), kind="images"), ("image",), "classification")
    assert torch.is_tensor(
        next(
            iter(
                open_source(DataConfig(str(ok)), ("total",), "regression").dataset(
                    np.arange(3), batch_size=2, shuffle=False
                )
            )
        )["target"]
    )


def test_dataloader_workers_stream_the_same_events(small_file):
    from torch.utils.data import DataLoader

    src = open_source(DataConfig(str(small_file)), ("grid",), "regression")
    try:
        idx = np.arange(0, 700, 3)
        ds = src.dataset(idx, batch_size=32, shuffle=True, seed=2, epoch=0)
        single = {
            int(i): b["inputs"]["grid"][k].sum().item()
            for b in DataLoader(ds, batch_size=None)
            for k, i in enumerate(b["index"])
        }
        multi = {
            int(i): b["inputs"]["grid"][k].sum().item()
            for b in DataLoader(ds, batch_size=None, num_workers=2)
            for k, i in enumerate(b["index"])
        }
        assert single == multi and sorted(single) == idx.tolist()
    finally:
        src.close()
