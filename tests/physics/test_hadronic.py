"""Hadronic-shower parametrisation: interaction lengths, EM fraction, profiles, response."""

import numpy as np
import pytest

from calolab.geometry import Layer, Section, get_material, mixture
from calolab.physics import hadronic as hp
from calolab.physics.sampling import section_medium


@pytest.mark.parametrize("name", ["Al", "Fe", "Cu", "W", "Pb"])
def test_pion_length_fallback_matches_the_pdg_table(name):
    # the A-dependent fallback is a fit to the PDG pion interaction lengths: within 2 %
    m = get_material(name)
    fake = mixture(f"x_{name}", [(m, 1.0)], density_g_cm3=m.density_g_cm3)
    assert hp.pion_interaction_length_cm(fake) == pytest.approx(
        hp.pion_interaction_length_cm(m), rel=0.02
    )


def test_pions_travel_further_than_nucleons():
    for name in ("Fe", "Pb", "PbWO4", "polystyrene"):
        m = get_material(name)
        lam_pi = hp.interaction_length_cm(m, 211)
        assert lam_pi > hp.interaction_length_cm(m, 2212) == m.lambda_i_cm
        assert 1.1 < lam_pi / m.lambda_i_cm < 1.45  # PDG: λ_π/λ_I from 1.13 (Pb) to 1.38 (CH)


def test_em_fraction_follows_groom():
    e = np.array([1.0, 10.0, 100.0, 1000.0])
    f = hp.em_fraction_mean(e)
    # 1 - E^-0.17: 0, 0.324, 0.543, 0.691
    np.testing.assert_allclose(f, [0.0, 0.324, 0.543, 0.691], atol=2e-3)
    # baryons have a smaller EM fraction (leading baryon), E0 = 2.6 GeV
    assert np.all(hp.em_fraction_mean(e[1:], baryon=True) < f[1:])


def test_profile_parameters_are_the_cms_ones():
    # CMSSW HDShowerParametrization: E = 50 GeV, case 2 -> ℓ = ln(0.702 × 50)
    a, b = hp.hadronic_profile(np.asarray(50.0))
    ell = np.log((0.35 + 0.09 * np.log(50.0)) * 50.0)
    assert float(a) == pytest.approx(0.38 + 0.23 * ell)
    assert float(b) == pytest.approx(0.83 - 0.049 * ell)
    a5, _ = hp.hadronic_profile(np.asarray(5.0))
    assert float(a5) == pytest.approx(1.17 + 0.21 * np.log((0.35 + 0.09 * np.log(5.0)) * 5.0))
    # the lateral scale grows with depth and is narrower at high energy
    r = hp.radial_scale(np.asarray(10.0), np.array([0.5, 1.0, 2.0]))
    assert np.all(np.diff(r) > 0)
    assert float(hp.radial_scale(np.asarray(100.0), np.asarray(1.0))) < float(r[1])


def test_response_makes_fe_scintillator_non_compensating():
    sec = Section("h", [Layer("Fe", 1.5), Layer("polystyrene", 0.5, sensitive=True)], 10, 10.0)
    ehat = section_medium(sec).ehat
    eh = hp.e_over_h(ehat)
    # e/h of Fe/scintillator calorimeters: 1.3-1.4 (ATLAS TileCal 1.33 ± 0.06)
    assert 1.25 < eh < 1.45
    # π/e at 10 GeV for full containment: e/π between 1.1 and 1.5
    assert 1.1 < 1.0 / hp.expected_pion_response(10.0, ehat) < 1.5
    resp = hp.hadronic_response()
    shares = resp.shares(sec)
    assert shares[0] == 0.0 and shares[1] == pytest.approx(sec.mip_sampling_fraction)
    q = resp.quanta(sec)[1]
    # Wigmans: σ/E = 11.5 % √(ΔE_mip/MeV) for the whole shower -> q of the same order
    de = sum(layer.mip_loss_mev for layer in sec.layers)
    assert 0.5 < q / (0.115**2 * de) < 2.0
    # homogeneous sections do not sample
    block = Section("b", [Layer("PbWO4", 1.0, sensitive=True)], 5, 1.0)
    assert resp.quanta(block) == (0.0,)
    assert resp.shares(block) == (1.0,)


def test_invisible_fluctuations_shrink_with_energy():
    s = hp.invisible_sigma(np.array([1.0, 100.0]))
    assert s[0] == pytest.approx(10 * s[1])
