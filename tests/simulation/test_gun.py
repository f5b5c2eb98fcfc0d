import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.simulation import EnergySpectrum, ParticleGun, particle_pdg


@pytest.mark.parametrize(
    "spec,pdg",
    [
        ("gamma", 22),
        ("photon", 22),
        ("e-", 11),
        ("e+", -11),
        ("pi0", 111),
        ("22", 22),
        (111, 111),
        ("pi+", 211),
        ("mu-", 13),
        ("neutron", 2112),
        ("K0L", 130),
        ("proton", 2212),
    ],
)
def test_particle_names_and_ids(spec, pdg):
    assert particle_pdg(spec) == pdg


def test_unknown_particle():
    with pytest.raises(ConfigError, match="unknown particle 'graviton'"):
        particle_pdg("graviton")
    with pytest.raises(ConfigError, match="PDG id 99999999 is not a known particle"):
        particle_pdg(99999999)


@pytest.mark.parametrize(
    "spec,kind,values",
    [
        ("50", "fixed", (50.0,)),
        ("10:100", "uniform", (10.0, 100.0)),
        ("log:50:8000", "log", (50.0, 8000.0)),
        ("10,20,50", "list", (10.0, 20.0, 50.0)),
    ],
)
def test_energy_specs(spec, kind, values):
    s = EnergySpectrum.parse(spec)
    assert (s.kind, s.values) == (kind, values)
    assert EnergySpectrum.parse(s.spec()) == s


@pytest.mark.parametrize(
    "spec,match", [("-5", "must be > 0"), ("10:5", "lo < hi"), ("abc", "not understood")]
)
def test_bad_energy(spec, match):
    with pytest.raises(ConfigError, match=match):
        EnergySpectrum.parse(spec)


def test_energy_distributions():
    rng = np.random.default_rng(1)
    log = EnergySpectrum.parse("log:50:8000")
    e = np.array([log.sample(rng) for _ in range(20000)])
    assert e.min() >= 50 and e.max() <= 8000
    # log-uniform: ln E is uniform; its mean is the mid-point, with σ = range/√12/√N
    lo, hi = np.log(50), np.log(8000)
    assert np.log(e).mean() == pytest.approx((lo + hi) / 2, abs=5 * (hi - lo) / np.sqrt(12 * 20000))


def test_direction_and_position_spread():
    gun = ParticleGun(
        "e-",
        10.0,
        theta_deg=20.0,
        direction_spread_deg=1.0,
        position_cm=(1.0, -2.0),
        position_spread_cm=0.5,
    )
    rng = np.random.default_rng(2)
    p = [gun.sample(rng) for _ in range(4000)]
    d = np.array([q.direction for q in p])
    x = np.array([q.entry for q in p])
    assert np.allclose(np.linalg.norm(d, axis=1), 1)
    theta = np.degrees(np.arccos(d[:, 2]))
    assert theta.mean() == pytest.approx(20.0, abs=0.1)
    assert x[:, 0].mean() == pytest.approx(1.0, abs=0.05) and x[:, 1].std() == pytest.approx(
        0.5, rel=0.05
    )
    assert np.all(x[:, 2] == 0)


def test_gun_validation():
    with pytest.raises(ConfigError, match="theta_deg 95"):
        ParticleGun("gamma", 1.0, theta_deg=95)
    with pytest.raises(ConfigError, match="position_spread_shape"):
        ParticleGun("gamma", 1.0, position_spread_shape="square")
