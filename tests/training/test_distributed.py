"""Data-parallel training with torchrun (2 CPU processes, gloo) and resuming across process
counts: a checkpoint written by 2 processes resumes in 1, and vice versa.

``batch_size`` is the global batch, split between the ranks, so with dropout off a 2-process
run takes the steps of a 1-process run up to the order of floating-point sums: the tests
compare weights and losses with a relative tolerance of 1e-4 (observed differences ~1e-7).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from calolab.geometry import Calorimeter, Layer, Section
from calolab.models import ModelConfig
from calolab.simulation import ParticleGun, simulate
from calolab.training import DataConfig, TrainConfig, TrainHooks, distributed, train
from calolab.training.checkpoint import CHECKPOINT, load_checkpoint, read_csv
from calolab.training.datasets import open_source
from calolab.training.distributed import torchrun_env

EPOCHS = 3


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    det = Calorimeter(
        "small", 10.0, [Section("ecal", [Layer("PbWO4", 1.0, True)], repeat=12, cell_size_cm=2.0)]
    )
    path = tmp_path_factory.mktemp("ddp") / "photons.h5"
    simulate(det, ParticleGun("gamma", "5:100"), 600, seed=2).save(path)
    return path


def make_config(data_file) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig("mlp", {"hidden": [16], "dropout": 0.0}),  # dropout masks are per rank
        data=DataConfig(str(data_file)),
        epochs=EPOCHS,
        batch_size=64,  # 544 training events: 9 steps per epoch, the last one of 32 events
        device="cpu",
        seed=1,
    )


@pytest.fixture(scope="module")
def reference(data_file, tmp_path_factory):
    """One process, uninterrupted."""
    out = tmp_path_factory.mktemp("ddp") / "one"
    train(make_config(data_file), out)
    return out


def torchrun(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def assert_same_training(run, reference):
    ours = load_checkpoint(run / CHECKPOINT)
    ref = load_checkpoint(reference / CHECKPOINT)
    assert ours["epoch"] == ref["epoch"] == EPOCHS and ours["finished"]
    for k, v in ref["model"].items():
        torch.testing.assert_close(ours["model"][k], v, rtol=1e-4, atol=1e-6)
    h, h_ref = read_csv(run / "history.csv"), read_csv(reference / "history.csv")
    assert [r["epoch"] for r in h] == [str(e) for e in range(1, EPOCHS + 1)]
    for key in ("train_loss", "val_loss", "lr"):
        np.testing.assert_allclose(
            [float(r[key]) for r in h], [float(r[key]) for r in h_ref], rtol=1e-4
        )


CRASH_AFTER_EPOCH = """
import json, os, sys
from calolab.training import TrainConfig, TrainHooks, distributed, train

class CrashAfter(TrainHooks):  # rank 0, right after the checkpoint of epoch N is written
    def on_epoch_end(self, member, row):
        if row["epoch"] == int(sys.argv[3]):
            os._exit(3)

config = TrainConfig.from_dict(json.load(open(sys.argv[1])))
with distributed(config.device) as dist:
    train(config, sys.argv[2], hooks=CrashAfter(), dist=dist)
"""


def test_two_process_checkpoint_resumes_in_one_process(tmp_path, data_file, reference):
    config = make_config(data_file)
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    script = tmp_path / "crash_after.py"
    script.write_text(CRASH_AFTER_EPOCH)
    run = tmp_path / "ddp"
    r = torchrun(str(script), "config.json", str(run), "1", cwd=tmp_path)
    assert r.returncode != 0  # rank 0 died after epoch 1; torchrun stopped rank 1
    ckpt = load_checkpoint(run / CHECKPOINT)
    assert ckpt["epoch"] == 1 and not ckpt["finished"] and ckpt["world_size"] == 2
    result = train(config, run, resume=True)  # one process, no torch.distributed
    assert result.summary["world_size"] == 1
    assert_same_training(run, reference)


class StopAfterFirstEpoch(TrainHooks):
    def on_epoch_end(self, member, row):
        raise KeyboardInterrupt


def test_one_process_checkpoint_resumes_with_two_processes(tmp_path, data_file, reference):
    config = make_config(data_file)
    run = tmp_path / "one-then-two"
    with pytest.raises(KeyboardInterrupt):
        train(config, run, hooks=StopAfterFirstEpoch())
    assert load_checkpoint(run / CHECKPOINT)["epoch"] == 1
    r = torchrun("-m", "calolab.cli.main", "train", "--resume", "-o", str(run), "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "trained mlp" in r.stdout and r.stdout.count("trained mlp") == 1  # rank 0 prints
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert_same_training(run, reference)


def test_batches_are_split_between_ranks(data_file):
    """Each global batch is shared out; together the ranks see exactly the 1-process batches."""
    config = make_config(data_file)
    source = open_source(config.data, config.model.inputs, config.task)
    try:
        idx = np.arange(0, 203)
        for shuffle in (True, False):
            kw = {"batch_size": 64, "shuffle": shuffle, "seed": 5, "epoch": 2}
            single = [b["index"].numpy() for b in source.dataset(idx, **kw)]
            ranks = [list(source.dataset(idx, rank=r, world_size=2, **kw)) for r in (0, 1)]
            assert len(ranks[0]) == len(ranks[1]) == len(source.dataset(idx, world_size=2, **kw))
            for b0, b1, whole in zip(*ranks, single):
                np.testing.assert_array_equal(
                    np.concatenate([b0["index"].numpy(), b1["index"].numpy()]), whole
                )
                assert b0["global_size"] == b1["global_size"] == len(whole)
        # training with 3 ranks: the last batch (11 events) is split 3/4/4; with 12 ranks it
        # would leave a rank without events, so it is dropped for all ranks alike
        kw = {"batch_size": 64, "shuffle": True, "seed": 5}
        three = [list(source.dataset(idx, rank=r, world_size=3, **kw)) for r in range(3)]
        assert [len(t) for t in three] == [4, 4, 4]
        twelve = source.dataset(idx, rank=11, world_size=12, **kw)
        assert len(twelve) == len(list(twelve)) == 3
    finally:
        source.close()


def test_single_process_without_torchrun(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert torchrun_env() is None
    with distributed("cpu") as dist:
        assert dist.world_size == 1 and dist.is_main and not dist.active
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    from calolab.core.errors import ConfigError

    with pytest.raises(ConfigError, match="RANK 5 is outside"):
        torchrun_env()
