"""σ/E against dead channels: the optimiser's function, the scan of a run, region ranking,
training with random masks."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.data.conditions import event_dead_masks
from calolab.evaluation.conditions import (
    DeadScanResult,
    core_resolution,
    dead_channel_resolution,
    dead_scan,
    detector_regions,
)
from calolab.models import ModelConfig
from calolab.training import DataConfig, TrainConfig, load_run, train
from tests.synthetic import synthetic_showers, tiny_detector, write_synthetic


def test_core_resolution_of_a_known_gaussian():
    rng = np.random.default_rng(0)
    t = np.full(4000, 50.0)
    p = t * (1 + 0.05 * rng.standard_normal(len(t)))
    r, err, m, merr = core_resolution(t, p)
    # core fit of 4000 events: σ error ~ 0.05/sqrt(2·4000·0.95) ≈ 1.1 % relative; 5σ
    assert r == pytest.approx(0.05, rel=5 * 0.012) and 0 < err < 0.003
    assert m == pytest.approx(1.0, abs=5 * merr)


def test_dead_channels_degrade_the_layer_baseline():
    s = synthetic_showers(1500, 3, noise=0.05)
    healthy = dead_channel_resolution(s, 0.0, reconstruction="layers")
    assert healthy.per_mask and len(healthy.per_mask) == 1 and healthy.mask_spread == 0
    # the synthetic energies follow the layers exactly up to 5 %/√E
    assert healthy.value < 0.03
    worse = dead_channel_resolution(s, 0.2, reconstruction="layers", n_masks=3, seed=1)
    assert len(worse.per_mask) == 3 and worse.dead_fraction == pytest.approx(0.2, abs=0.01)
    # on 76 cells the masks differ a lot (mask_spread); every one of them is much worse
    assert min(worse.per_mask) > 3 * healthy.value and worse.mask_spread > 0
    assert worse.response < healthy.response  # the calibration of healthy cells undershoots
    same = dead_channel_resolution(s, 0.2, reconstruction="layers", n_masks=3, seed=1)
    assert same == worse
    custom = dead_channel_resolution(s, 0.0, reconstruction=lambda sh: sh.energy * 1.0)
    assert custom.value < 1e-6
    clustered = dead_channel_resolution(
        s, 0.2, reconstruction="sum", pattern="clustered", block=(2, 2), n_masks=2
    )
    assert clustered.pattern == "clustered" and clustered.dead_fraction >= 0.2
    with pytest.raises(ConfigError, match="reconstruction"):
        dead_channel_resolution(s, 0.1, reconstruction="bogus")
    with pytest.raises(ConfigError, match="pattern"):
        dead_channel_resolution(s, 0.1, pattern="stripes")


def test_regions_cover_every_cell_once():
    det = tiny_detector()
    regions = detector_regions(det, depth_groups=2)
    cells = np.concatenate([c for _, c in regions])
    assert sorted(cells.tolist()) == list(range(det.n_channels))
    assert any("core" in n for n, _ in regions) and any("periphery" in n for n, _ in regions)


def test_event_masks_are_per_event_and_reproducible():
    m = event_dead_masks(np.arange(10, 510), 200, 0.2, seed=1)
    again = event_dead_masks(np.arange(300, 510), 200, 0.2, seed=1)
    assert np.array_equal(m[290:], again)
    frac = m.mean(axis=1)
    assert frac.max() < 0.3 and frac.mean() == pytest.approx(0.1, abs=0.01)
    assert not event_dead_masks(np.arange(5), 10, 0.0).any()


@pytest.mark.slow
def test_scan_of_a_run_and_mask_aware_training(tmp_path):
    f = write_synthetic(tmp_path / "train.h5", 1200, 1, noise=0.05)
    test = write_synthetic(tmp_path / "test.h5", 600, 2, noise=0.05)
    cfg = TrainConfig(model=ModelConfig("per-layer"), data=DataConfig(str(f)), device="cpu")
    train(cfg, tmp_path / "plain")
    aug = TrainConfig(
        model=ModelConfig("per-layer"),
        data=DataConfig(str(f), options={"dead_augment": 0.3}),
        device="cpu",
    )
    train(aug, tmp_path / "aug")
    res = dead_scan(
        load_run(tmp_path / "plain"),
        test,
        tmp_path / "scan",
        fractions=(0.2,),
        n_masks=2,
        block=(2, 2),
        depth_groups=2,
    )
    assert DeadScanResult.from_json(tmp_path / "scan" / "dead_scan.json") == res
    assert (tmp_path / "scan" / "dead_scan.png").stat().st_size > 10_000
    assert not (tmp_path / "scan" / ".masked").exists()
    rnd = res.curve("random")[-1]
    assert rnd.dead_fraction == pytest.approx(0.2, abs=0.01)
    assert rnd.value > res.nominal.value + 3 * rnd.total_err
    # hcal is 2x2 cells: no periphery
    assert len(res.regions) == len(detector_regions(tiny_detector(), 2)) == 6
    assert res.regions[0].loss >= res.regions[-1].loss
    # a per-layer model trained with random masks (up to 30 % dead, 15 % on average) cannot
    # know which cells died; it learns larger weights: its response at 20 % dead is nearer 1,
    # at the price of overshooting on healthy data (measured: 0.80 → 0.92 and 1.03 → 1.17)
    res_aug = dead_scan(
        load_run(tmp_path / "aug"),
        test,
        tmp_path / "scan_aug",
        fractions=(0.2,),
        patterns=("random",),
        n_masks=2,
        rank_regions=False,
    )
    aug20 = res_aug.curve("random")[-1]
    assert abs(aug20.response - 1) + 3 * aug20.response_err < abs(rnd.response - 1)
    assert res_aug.nominal.response > res.nominal.response + 3 * res_aug.nominal.response_err
    # the augmentation never touches the test data: the healthy point is measured as is
    assert load_run(tmp_path / "aug").open_data(test).options.dead_augment == 0.0
