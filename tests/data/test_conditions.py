"""Dead and noisy channels: masks, map files, application, storage."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError, OutputError
from calolab.data.conditions import (
    ChannelConditions,
    apply_conditions,
    apply_conditions_to_file,
    blocks,
    clustered_dead,
    random_dead,
    read_dead_map,
)
from calolab.data.hdf5 import ShowerFile, write_showers
from calolab.data.showers import Showers
from tests.synthetic import synthetic_showers, tiny_detector


def test_random_mask_has_the_fraction_and_is_seeded():
    a = random_dead(1000, 0.05, seed=1)
    assert a.n_dead == 50
    assert np.array_equal(a.dead, random_dead(1000, 0.05, seed=1).dead)
    assert not np.array_equal(a.dead, random_dead(1000, 0.05, seed=2).dead)
    assert random_dead(1000, 0.0).n_dead == 0


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "x", True])
def test_bad_fraction_is_refused(bad):
    with pytest.raises(ConfigError, match="dead fraction"):
        random_dead(100, bad)


def test_clustered_mask_kills_whole_blocks():
    det = tiny_detector()
    c = clustered_dead(det, 0.2, seed=4, block=(2, 2))
    parts = blocks(det, (2, 2))
    for b in parts:  # every block is all dead or all alive
        assert c.dead[b].all() or not c.dead[b].any()
    assert c.dead_fraction >= 0.2 - 1e-9
    assert c.n_dead - round(0.2 * det.n_channels) < max(len(b) for b in parts)


def test_mask_is_respected_exactly_and_stored(tmp_path):
    s = synthetic_showers(50, 0, noise=0.0)
    s.digitized = s.cells * 1.1
    cond = random_dead(s.n_cells, 0.25, seed=7)
    out = apply_conditions(s, cond)
    assert np.all(out.cells[:, cond.dead] == 0) and np.all(out.digitized[:, cond.dead] == 0)
    alive = ~cond.dead
    assert np.array_equal(out.cells[:, alive], s.cells[:, alive])
    assert np.array_equal(out.digitized[:, alive], s.digitized[:, alive])
    assert np.any(s.cells[:, cond.dead] > 0)  # the test would notice a mask not applied
    write_showers(tmp_path / "d.h5", out)
    back = Showers.load(str(tmp_path / "d.h5"))
    assert np.array_equal(back.conditions.dead, cond.dead)
    assert back.conditions.provenance == {"kind": "random", "fraction": 0.25, "seed": 7}
    with ShowerFile(tmp_path / "d.h5") as f:
        assert int(f.f["calolab/conditions/dead"][()].sum()) == cond.n_dead


def test_noisy_cells_get_their_noise_reproducibly():
    s = synthetic_showers(400, 1)
    s.digitized = s.cells.copy()
    noise = np.zeros(s.n_cells, np.float32)
    noise[[3, 5]] = 0.5
    cond = ChannelConditions(np.zeros(s.n_cells, bool), noise)
    a = apply_conditions(s, cond, seed=3)
    b = apply_conditions(s.subset(slice(100, 400)), cond, seed=3, first_event=100)
    assert np.array_equal(a.digitized[100:], b.digitized)  # same events whatever the batch
    d = (a.digitized - s.digitized).astype(np.float64)
    assert np.all(d[:, [0, 1, 2, 4]] == 0) and np.array_equal(a.cells, s.cells)
    # σ of 400 draws: relative uncertainty 1/sqrt(2·400) = 3.5 %; 5σ
    assert d[:, 3].std() == pytest.approx(0.5, rel=5 * 0.035)


def test_map_files(tmp_path):
    det = tiny_detector()
    txt = tmp_path / "dead.txt"
    txt.write_text("# dead cells\n1, 2\n70\n")
    assert np.flatnonzero(read_dead_map(txt, det).dead).tolist() == [1, 2, 70]
    toml = tmp_path / "dead.toml"
    toml.write_text(
        "cells = [0]\n"
        '[[regions]]\nsection = "ecal"\nlayers = [1, 1]\nx = [0, 1]\ny = [2, 3]\n'
        "[[noisy]]\ncells = [5]\nsigma_mev = 20.0\n"
    )
    c = read_dead_map(toml, det)
    r = det.readout_layers[1]
    want = [0] + sorted(r.offset + ix * r.ny + iy for ix in (0, 1) for iy in (2, 3))
    assert np.flatnonzero(c.dead).tolist() == want
    assert c.noise_gev[5] == pytest.approx(0.02) and c.provenance["kind"] == "map"
    whole = tmp_path / "hcal.toml"
    whole.write_text('[[regions]]\nsection = "hcal"\n')
    hcal = [r for r in det.readout_layers if r.section == "hcal"]
    assert read_dead_map(whole, det).n_dead == sum(r.n_cells for r in hcal)


@pytest.mark.parametrize(
    "text, match",
    [
        ("1 2 x", "'x' is not a cell index"),
        ("99999", "outside 0.."),
    ],
)
def test_bad_text_maps(tmp_path, text, match):
    p = tmp_path / "m.txt"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_dead_map(p, tiny_detector())


@pytest.mark.parametrize(
    "text, match",
    [
        ('[[regions]]\nsection = "nope"\n', "section 'nope' is not in detector"),
        ('[[regions]]\nsection = "ecal"\nx = [0, 9]\n', "x \\[0, 9\\] must lie within"),
        ("bogus = 1\n", "unknown key"),
        ("[[noisy]]\ncells = [1]\nsigma_mev = -1\n", "sigma_mev"),
    ],
)
def test_bad_toml_maps(tmp_path, text, match):
    p = tmp_path / "m.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_dead_map(p, tiny_detector())


def test_apply_to_file_guards_its_output(tmp_path):
    s = synthetic_showers(30, 2)
    write_showers(tmp_path / "in.h5", s)
    cond = random_dead(s.n_cells, 0.1, seed=1)
    apply_conditions_to_file(tmp_path / "in.h5", tmp_path / "out.h5", cond, batch_size=7)
    out = Showers.load(str(tmp_path / "out.h5"))
    assert np.allclose(out.cells, apply_conditions(s, cond).cells, rtol=1e-6)
    assert np.all(out.cells[:, cond.dead] == 0)
    assert out.provenance["conditions_applied"][0]["n_dead"] == cond.n_dead
    with pytest.raises(OutputError):
        apply_conditions_to_file(tmp_path / "in.h5", tmp_path / "in.h5", cond)
    with pytest.raises(ConfigError, match="cover 5 cells"):
        apply_conditions_to_file(tmp_path / "in.h5", tmp_path / "x.h5", random_dead(5, 0.2))
    assert not (tmp_path / "x.h5").exists()


def test_writer_refuses_batches_with_other_conditions(tmp_path):
    from calolab.data.hdf5 import ShowerWriter

    s = synthetic_showers(10, 3)
    a = apply_conditions(s, random_dead(s.n_cells, 0.1, seed=1))
    b = apply_conditions(s, random_dead(s.n_cells, 0.1, seed=2))
    with pytest.raises(OutputError, match="other dead"):
        with ShowerWriter(tmp_path / "w.h5", s.detector) as w:
            w.append(a)
            w.append(b)
    assert not (tmp_path / "w.h5").exists()


def test_conditions_must_fit_the_showers():
    s = synthetic_showers(5, 0)
    with pytest.raises(DataError, match="do not fit"):
        apply_conditions(s, random_dead(3, 0.0))


def test_merging_files_keeps_one_set_of_conditions(tmp_path):
    from calolab.data.merge import merge_files

    s = synthetic_showers(20, 4)
    cond = random_dead(s.n_cells, 0.1, seed=1)
    for i, part in enumerate((s.subset(slice(0, 10)), s.subset(slice(10, 20)))):
        write_showers(tmp_path / f"p{i}.h5", apply_conditions(part, cond))
    merged = merge_files([tmp_path / "p0.h5", tmp_path / "p1.h5"], tmp_path / "m.h5")
    back = Showers.load(str(merged))
    assert len(back) == 20 and np.array_equal(back.conditions.dead, cond.dead)
    write_showers(tmp_path / "other.h5", apply_conditions(s, random_dead(s.n_cells, 0.1, 2)))
    with pytest.raises(DataError, match="other dead or noisy channels"):
        merge_files([tmp_path / "p0.h5", tmp_path / "other.h5"], tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
