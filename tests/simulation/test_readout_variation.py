"""Digitising a file again with a varied readout (noise, light yield)."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.data.conditions import random_dead
from calolab.data.showers import Showers
from calolab.simulation import ParticleGun, simulate_to_file
from calolab.simulation.readout_variation import redigitize_file
from tests.synthetic import tiny_detector


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    d = tmp_path_factory.mktemp("rv")
    return simulate_to_file(d / "h.h5", tiny_detector(), ParticleGun("e-", "2:20"), 200, seed=5)


def test_unchanged_readout_reproduces_the_digitisation(healthy, tmp_path):
    out = redigitize_file(healthy, tmp_path / "same.h5")
    a, b = Showers.load(str(healthy)), Showers.load(str(out))
    assert np.allclose(a.digitized, b.digitized, rtol=1e-5, atol=1e-7)
    assert np.array_equal(a.cells, b.cells) and a.detector.hash == b.detector.hash
    assert b.provenance["readout_variation"]["noise_scale"] == 1.0


def test_noise_and_light_yield_variations(healthy, tmp_path):
    a = Showers.load(str(healthy))
    digi = {
        name: Showers.load(str(redigitize_file(healthy, tmp_path / f"{name}.h5", **kw))).digitized
        for name, kw in (
            ("base", {}),
            ("noise", {"noise_scale": 3.0}),
            ("ly", {"light_yield_scale": 0.1}),
        )
    }
    n_ecal = sum(r.n_cells for r in a.detector.readout_layers if r.section == "ecal")
    both = (a.cells > 0) & np.all([d > 0 for d in digi.values()], axis=0)

    def spread(name: str, cells: slice) -> float:  # one section: one calibration scale
        sel = both[:, cells]
        return float(np.std(digi[name][:, cells][sel] / a.cells[:, cells][sel]))

    ecal, hcal = slice(0, n_ecal), slice(n_ecal, a.n_cells)
    assert spread("noise", ecal) > spread("base", ecal)  # APD crystals: noise-dominated
    assert spread("ly", hcal) > spread("base", hcal)  # SiPM tiles: 15 → 1.5 pe/MIP


def test_dead_channels_stay_dead(tmp_path):
    det = tiny_detector()
    cond = random_dead(det.n_channels, 0.3, seed=2)
    p = simulate_to_file(tmp_path / "d.h5", det, ParticleGun("e-", 10), 30, seed=1, conditions=cond)
    s = Showers.load(str(redigitize_file(p, tmp_path / "v.h5", noise_scale=3.0)))
    assert np.all(s.digitized[:, cond.dead] == 0) and np.array_equal(s.conditions.dead, cond.dead)


def test_showers_in_memory_are_digitised_again_the_same_way():
    """:func:`redigitize` (the optimiser's readout variations) reproduces the digitisation of
    showers simulated in memory from their seed and first event, and varies it like the file
    version does."""
    from calolab.simulation import simulate
    from calolab.simulation.readout_variation import redigitize

    det = tiny_detector()
    sh = simulate(det, ParticleGun("e-", 10.0), 30, seed=11, first_event=7)
    same = redigitize(sh, seed=11, first_event=7)
    assert np.allclose(same, sh.digitized, rtol=1e-5, atol=1e-7)
    assert not np.allclose(redigitize(sh, seed=11, first_event=8), sh.digitized)
    noisy = redigitize(sh, seed=11, first_event=7, noise_scale=2.0)
    assert not np.allclose(noisy, sh.digitized) and noisy.shape == sh.digitized.shape
