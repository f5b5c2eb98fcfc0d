"""The tower-level detector response against the formulas of Delphes' ATLAS card
(delphes/delphes, cards/delphes_card_ATLAS.tcl). Statistical tolerances are derived from the
sample size N: 5 σ of a mean (σ/√N), of a standard deviation (σ/√(2N)) or of a binomial
fraction (√(p(1−p)/N))."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.events.objects import ragged_from_counts
from calolab.events.response import (
    C_LIGHT,
    Particles,
    atlas_card,
    detector_response,
    get_card,
    propagate,
)

CARD = atlas_card()


def gun(
    pdg: int,
    n: int,
    *,
    pt: float,
    eta: float,
    phi: float = 0.3,
    charge: float = 0.0,
    m: float = 0.0,
) -> Particles:
    """One particle per event."""
    px, py = pt * math.cos(phi), pt * math.sin(phi)
    pz = pt * math.sinh(eta)
    e = math.sqrt(px**2 + py**2 + pz**2 + m**2)
    cols = {
        "pdg": np.full(n, pdg, np.int32),
        "charge": np.full(n, charge, np.float32),
        "px": np.full(n, px),
        "py": np.full(n, py),
        "pz": np.full(n, pz),
        "e": np.full(n, e),
    }
    return Particles(ragged_from_counts(np.ones(n, np.int64), cols))


def tower_energy(obj, col):
    t = obj.towers
    e = t.columns[col].astype(np.float64) * np.cosh(t.columns["eta"].astype(np.float64))
    return e, np.diff(t.offsets)


def test_photon_ecal_resolution():
    n, energy = 4000, 100.0
    obj = detector_response(gun(22, n, pt=energy, eta=0.0), CARD, np.random.default_rng(1))
    e, counts = tower_energy(obj, "et_em")
    assert (counts == 1).all()  # one ECAL tower, no HCAL tower, no track
    assert obj.towers.columns["et_had"].sum() == 0 and obj.tracks.offsets[-1] == 0
    sigma = math.sqrt((0.0017 * energy) ** 2 + 0.101**2 * energy)  # ATLAS card ECal
    assert abs(e.mean() - energy) < 5 * sigma / math.sqrt(n)
    assert abs(e.std() / sigma - 1) < 5 / math.sqrt(2 * n)


def test_neutron_hcal_resolution():
    n, energy = 4000, 100.0
    p = gun(2112, n, pt=energy, eta=0.0, m=0.9396)
    obj = detector_response(p, CARD, np.random.default_rng(2))
    e, counts = tower_energy(obj, "et_had")
    assert (counts == 1).all() and obj.towers.columns["et_em"].sum() == 0
    e_true = math.sqrt(energy**2 + 0.9396**2)
    sigma = math.sqrt((0.0302 * e_true) ** 2 + 0.5205**2 * e_true + 1.59**2)  # ATLAS card HCal
    assert abs(e.mean() - e_true) < 5 * sigma / math.sqrt(n)
    assert abs(e.std() / sigma - 1) < 5 / math.sqrt(2 * n)


def test_kshort_shares_energy_and_thresholds_apply():
    obj = detector_response(
        gun(310, 500, pt=200.0, eta=0.5, m=0.4976), CARD, np.random.default_rng(3)
    )
    em = obj.towers.columns["et_em"].sum()
    had = obj.towers.columns["et_had"].sum()
    assert em / (em + had) == pytest.approx(0.3, abs=0.01)  # EnergyFraction {310} {0.3 0.7}
    low = detector_response(gun(22, 500, pt=0.2, eta=0.0), CARD, np.random.default_rng(4))
    assert low.towers.offsets[-1] == 0  # below ECal EnergyMin = 0.5 GeV


def test_muons_and_neutrinos():
    mu = detector_response(
        gun(13, 2000, pt=50.0, eta=0.2, charge=-1.0, m=0.1057), CARD, np.random.default_rng(5)
    )
    assert mu.towers.offsets[-1] == 0  # muons deposit nothing in ECal/HCal
    eff = mu.tracks.offsets[-1] / 2000
    assert abs(eff - 0.99) < 5 * math.sqrt(0.99 * 0.01 / 2000)
    nu = detector_response(gun(14, 100, pt=50.0, eta=0.2), CARD, np.random.default_rng(6))
    assert nu.towers.offsets[-1] == 0 and nu.tracks.offsets[-1] == 0


@pytest.mark.parametrize(
    "pt, eta, expected",
    [
        (5.0, 0.7, 0.95),
        (5.0, 2.0, 0.85),
        (0.5, 0.7, 0.70),
        (0.5, 2.0, 0.60),
        (5.0, 2.7, 0.0),
        (0.05, 0.0, 0.0),
    ],
)
def test_hadron_tracking_efficiency(pt, eta, expected):
    n = 4000
    obj = detector_response(
        gun(211, n, pt=pt, eta=eta, charge=1.0, m=0.1396), CARD, np.random.default_rng(7)
    )
    eff = obj.tracks.offsets[-1] / n
    assert abs(eff - expected) <= 5 * math.sqrt(expected * (1 - expected) / n) + 1e-12


def test_track_pt_resolution():
    n, pt = 4000, 50.0
    obj = detector_response(
        gun(-211, n, pt=pt, eta=0.2, charge=-1.0, m=0.1396), CARD, np.random.default_rng(8)
    )
    ratio = obj.tracks.columns["pt"].astype(np.float64) / pt
    sigma = math.sqrt(0.06**2 + (pt * 1.3e-3) ** 2)  # ChargedHadronMomentumSmearing, |η| ≤ 0.5
    k = len(ratio)
    assert abs(ratio.mean() - 1) < 5 * sigma / math.sqrt(k)
    assert abs(ratio.std() / sigma - 1) < 5 / math.sqrt(2 * k)


def test_bending_in_the_solenoid():
    # ρ = pT / (0.3 B) = 1 / (0.2998 · 2) m; barrel R = 1.15 m: Δφ = −q asin(R / 2ρ)
    rho = 1.0 / (C_LIGHT * 2.0)
    expected = math.asin(1.15 / (2 * rho))
    assert expected == pytest.approx(0.3520, abs=1e-4)
    phi, ok = propagate(
        CARD,
        np.array([1.0, 1.0]),
        np.array([0.0, 0.0]),
        np.array([0.3, 0.3]),
        np.array([1.0, -1.0]),
    )
    assert ok.all()
    np.testing.assert_allclose(phi, [0.3 - expected, 0.3 + expected], rtol=1e-12)
    # endcap: r = L pT / |pz| = 3.51 / sinh(3) m
    pz = math.sinh(3.0)
    phi, _ = propagate(CARD, np.array([1.0]), np.array([pz]), np.array([0.0]), np.array([1.0]))
    assert phi[0] == pytest.approx(-math.asin(3.51 / pz / (2 * rho)), rel=1e-12)
    # a looper (2ρ < R) never reaches the calorimeter
    _, ok = propagate(CARD, np.array([0.2]), np.array([0.0]), np.array([0.0]), np.array([1.0]))
    assert not ok[0]
    # tracks are placed where they reach the calorimeter
    obj = detector_response(
        gun(211, 200, pt=1.0, eta=0.0, phi=0.3, charge=1.0, m=0.1396),
        CARD,
        np.random.default_rng(9),
    )
    np.testing.assert_allclose(obj.tracks.columns["phi"], 0.3 - expected, atol=1e-6)
    loop = detector_response(
        gun(211, 50, pt=0.2, eta=0.0, charge=1.0, m=0.1396), CARD, np.random.default_rng(9)
    )
    assert loop.towers.offsets[-1] == 0


def test_reproducible_and_multi_event():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 50, 30)
    m = counts.sum()
    pt = rng.exponential(20, m)
    eta = rng.uniform(-3, 3, m)
    phi = rng.uniform(-np.pi, np.pi, m)
    pdg = rng.choice([22, 211, -211, 2112, 130, 11], m)
    charge = np.select([pdg == 211, pdg == -211, pdg == 11], [1.0, -1.0, -1.0], 0.0)
    cols = {
        "pdg": pdg,
        "charge": charge,
        "px": pt * np.cos(phi),
        "py": pt * np.sin(phi),
        "pz": pt * np.sinh(eta),
        "e": pt * np.cosh(eta),
    }
    p = Particles(ragged_from_counts(counts, cols))
    a = detector_response(p, "atlas", np.random.default_rng(1))
    b = detector_response(p, CARD, np.random.default_rng(1))
    c = detector_response(p, CARD, np.random.default_rng(2))
    for k in a.towers.columns:
        np.testing.assert_array_equal(a.towers.columns[k], b.towers.columns[k])
    assert not np.array_equal(a.towers.columns["et_em"], c.towers.columns["et_em"])
    assert len(a) == 30
    # every tower sits inside the event's calorimeter acceptance
    assert np.abs(a.towers.columns["eta"]).max() < 5.0


def test_unknown_card():
    with pytest.raises(ConfigError, match="unknown detector card 'cms'"):
        get_card("cms")
    assert len(CARD.hash) == 16
