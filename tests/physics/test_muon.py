"""Muon energy loss against the Groom-Mokhov-Striganov tables and the CMS critical energy;
the on-disk cache of the tables."""

import numpy as np
import pytest

from calolab.geometry import get_material
from calolab.physics import muon as mp
from calolab.physics._cache import load_arrays
from calolab.physics.ionisation import MUON_MASS_GEV

# Reference: muon dE/dx tables in the PDG / Groom-Mokhov-Striganov format (ADNDT 78 (2001)
# 183), as regenerated with PUMAS v1.0 (V. Niess, github.com/niess/pumas-materials,
# dedx/muon/{iron,lead,lead_tungstate}.txt): ionisation (incl. bremsstrahlung on atomic
# electrons), bremsstrahlung and pair production follow GMS; the photonuclear column uses
# Dutta et al. (PRD 63 (2001) 094020) instead of Bezrukov-Bugaev. Values in MeV cm²/g at
# kinetic energies T (GeV): (brems, pair, photonuclear, total dE/dx).
GMS = {
    "Fe": {
        10: (1.401e-2, 1.490e-2, 3.109e-3, 1.974),
        100: (2.218e-1, 3.158e-1, 3.384e-2, 2.778),
        1000: (2.863, 4.174, 0.3481, 9.813),
        10000: (31.80, 45.05, 4.141, 83.66),
    },
    "Pb": {
        10: (3.359e-2, 3.857e-2, 2.923e-3, 1.690),
        100: (5.366e-1, 7.905e-1, 3.053e-2, 3.218),
        1000: (6.861, 10.15, 0.3075, 19.37),
        10000: (75.32, 108.3, 3.637, 189.5),
    },
    "PbWO4": {
        10: (2.861e-2, 3.265e-2, 2.982e-3, 1.792),
        100: (4.569e-1, 6.711e-1, 3.160e-2, 3.122),
        1000: (5.848, 8.640, 0.3207, 16.97),
        10000: (64.28, 92.28, 3.801, 162.7),
    },
}
CASES = [(m, t) for m in GMS for t in GMS[m]]


@pytest.mark.parametrize("name,t", CASES)
def test_mean_energy_loss_within_10_percent_of_gms(name, t):
    m = get_material(name)
    total = mp.mean_energy_loss(np.array([float(t)]), m)[0]
    assert total == pytest.approx(GMS[name][t][3], rel=0.10)


@pytest.mark.parametrize("name,t", CASES)
def test_bremsstrahlung_and_pair_production_follow_gms(name, t):
    m = get_material(name)
    e = t + MUON_MASS_GEV
    b = mp.b_coefficients(np.array([e]), m)
    brems, pair, _, _ = GMS[name][t]
    assert b["brems"][0] * e * 1e3 == pytest.approx(brems, rel=0.03)
    assert b["pair"][0] * e * 1e3 == pytest.approx(pair, rel=0.03)


def test_photonuclear_is_a_few_percent_of_the_radiative_loss():
    # GMS sec. 4.3 / PDG: b_nucl is ≈ 0.4e-6 g⁻¹cm² at TeV energies, a few per cent of b
    m = get_material("Fe")
    b = mp.b_coefficients(np.array([1000.0]), m)
    assert 0.3e-6 < b["photonuclear"][0] < 0.5e-6
    assert 0.02 < b["photonuclear"][0] / b["total"][0] < 0.08


def test_critical_energy_of_pbwo4_matches_cms():
    # CMS, JINST 5 (2010) P03007: E_c(PbWO4) = 160 +5/-6 (stat) ± 8 (syst) GeV
    ec = mp.critical_energy(get_material("PbWO4"))
    assert abs(ec - 160.0) < np.hypot(6.0, 8.0)


def test_critical_energies_order_with_z():
    # PDG: E_μc ≈ 5700 GeV/(Z + 1.47)^0.838 for solids, within ~10 %
    for name, z in (("Fe", 26), ("Pb", 82)):
        ec = mp.critical_energy(get_material(name))
        assert ec == pytest.approx(5700.0 / (z + 1.47) ** 0.838, rel=0.1)


def test_tables_reproduce_the_mean_loss(tmp_path, monkeypatch):
    monkeypatch.setenv("CALOLAB_CACHE_DIR", str(tmp_path))
    m = get_material("PbWO4")
    tab = mp.muon_tables(m, 0.05)
    t = np.array([1.0, 10.0, 100.0, 1000.0, 8000.0])
    np.testing.assert_allclose(tab.mean_loss(t) * 1e3, mp.mean_energy_loss(t, m), rtol=0.01)
    # the cdfs are proper distributions
    assert np.all(np.diff(tab.cdf, axis=-1) >= 0)
    np.testing.assert_allclose(tab.cdf[..., -1], 1.0)


def test_tables_are_cached_and_corrupt_files_rebuilt(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CALOLAB_CACHE_DIR", str(tmp_path))
    m = get_material("Fe")
    mp._MEMORY.clear()
    a = mp.muon_tables(m, 0.1)
    files = list((tmp_path / "muon").glob("Fe-*.npz"))
    assert len(files) == 1
    # a second process would load the file: same arrays
    mp._MEMORY.clear()
    b = mp.muon_tables(m, 0.1)
    np.testing.assert_array_equal(a.cdf, b.cdf)
    # corrupt one byte in the middle: detected by the checksum (or the zip CRC), rebuilt
    raw = bytearray(files[0].read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    files[0].write_bytes(bytes(raw))
    mp._MEMORY.clear()
    with caplog.at_level("WARNING"):
        c = mp.muon_tables(m, 0.1)
    assert "rebuilding" in caplog.text
    np.testing.assert_array_equal(a.rate, c.rate)
    # truncated file
    files[0].write_bytes(files[0].read_bytes()[:100])
    mp._MEMORY.clear()
    d = mp.muon_tables(m, 0.1)
    np.testing.assert_array_equal(a.rate, d.rate)
    assert load_arrays(files[0], mp.FORMULA_VERSION) is not None  # rewritten correctly
    # another cut, another file
    mp._MEMORY.clear()
    mp.muon_tables(m, 0.2)
    assert len(list((tmp_path / "muon").glob("Fe-*.npz"))) == 2


def test_unwritable_cache_still_works(tmp_path, monkeypatch):
    target = tmp_path / "file"
    target.write_text("not a directory")
    monkeypatch.setenv("CALOLAB_CACHE_DIR", str(target))
    mp._MEMORY.clear()
    tab = mp.muon_tables(get_material("Cu"), 0.05)
    assert tab.rate.shape[0] == len(mp.PROCESSES)
