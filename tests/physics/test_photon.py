"""Photon attenuation: Klein–Nishina and pair production against their limits and NIST XCOM,
and the far-tail hand-over radius of the radial profile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calolab.geometry import get_material
from calolab.physics import em as gf
from calolab.physics.photon import (
    bickley,
    klein_nishina_cm2,
    line_source_hazard,
    mass_attenuation_cm2_g,
    minimum_mass_attenuation,
)


def test_klein_nishina_thomson_limit_and_falls():
    thomson = 8 * math.pi / 3 * 2.8179403262e-13**2
    assert klein_nishina_cm2(np.array([1e-4]))[0] == pytest.approx(thomson, rel=1e-3)
    s = klein_nishina_cm2(np.array([0.1, 1.0, 10.0]))
    assert np.all(np.diff(s) < 0)


@pytest.mark.parametrize("name", ["Pb", "W", "Fe", "PbWO4"])
def test_high_energy_attenuation_is_seven_ninths_per_x0(name):
    """PDG eq. 34.31: σ_pair → (7/9)/(n X0) at high energy (here 100 GeV; 2 %: the fit's and
    the PDG's X0 differ at that level)."""
    m = get_material(name)
    mu = mass_attenuation_cm2_g(m, np.array([1e5]))[0]
    assert mu == pytest.approx(7 / 9 / m.x0_g_cm2, rel=0.02)


@pytest.mark.parametrize(
    "name, xcom, rel",
    # NIST XCOM minima of μ/ρ (cm²/g, with photoabsorption): Fe 0.0299 near 10 MeV, Pb 0.0420
    # at 3–4 MeV; without the photoelectric effect the lead value is ≈ 6 % lower
    [("Fe", 0.0299, 0.02), ("Pb", 0.0420, 0.09)],
)
def test_minimum_attenuation_against_xcom(name, xcom, rel):
    mu, e = minimum_mass_attenuation([get_material(name)])
    assert mu == pytest.approx(xcom, rel=rel)
    assert mu <= xcom
    assert 2.0 < e < 12.0


def test_bickley_functions_and_hazard():
    assert bickley(1, np.array([0.0]))[0] == pytest.approx(math.pi / 2, rel=1e-6)
    assert bickley(2, np.array([0.0]))[0] == pytest.approx(1.0, rel=1e-6)
    # Ki2' = -Ki1
    x, h = 2.0, 1e-4
    d = (bickley(2, np.array([x + h])) - bickley(2, np.array([x - h]))) / (2 * h)
    assert -d[0] == pytest.approx(bickley(1, np.array([x]))[0], rel=1e-5)
    assert line_source_hazard(np.array([100.0]))[0] == pytest.approx(1.005, abs=1e-3)


def test_far_tail_starts_beyond_the_core_and_never_widens():
    r_s = gf.radial_far_tail(np.array([0.05, 0.5, 1.0, 3.0]), 0.62)
    assert np.all(r_s >= np.array([0.05, 0.5, 1.0, 3.0]))
    assert r_s[0] > 2.0  # the narrow core hands over only in the far tail
    assert np.all(np.isinf(gf.radial_far_tail(np.array([1.0]), 0.0)))


def test_interaction_length_is_nine_sevenths_at_high_energy_and_longer_near_the_minimum():
    """The mean free path of a photon (Compton + pair production) in X0: 9/7 X0 at high
    energy (PDG eq. 34.31; 3 %, as above), and at 10 MeV in lead 1/(μ/ρ X0) with NIST XCOM's
    μ/ρ = 0.0497 cm²/g (Berger et al., NIST SRD 8, without coherent scattering; 5 %: the
    photoelectric effect, ≈ 2 % of it there, is left out); it grows as the energy falls."""
    from calolab.physics.photon import interaction_length_x0

    pb = get_material("Pb")
    e = np.array([10.0, 100.0, 1000.0, 1e5])
    lam = interaction_length_x0([pb], [1.0], pb.x0_g_cm2, e)
    assert lam[-1] == pytest.approx(9 / 7, rel=0.03)
    assert lam[0] == pytest.approx(1.0 / (0.0497 * pb.x0_g_cm2), rel=0.05)
    assert np.all(np.diff(lam) < 0)
    # a mixture by mass: the attenuation coefficients add with the mass fractions
    fe, poly = get_material("Fe"), get_material("polystyrene")
    mix = interaction_length_x0([fe, poly], [0.9, 0.1], 10.0, np.array([20.0]))[0]
    mu = 0.9 * mass_attenuation_cm2_g(fe, np.array([20.0]))[0]
    mu += 0.1 * mass_attenuation_cm2_g(poly, np.array([20.0]))[0]
    assert mix == pytest.approx(1.0 / (mu * 10.0), rel=1e-12)
