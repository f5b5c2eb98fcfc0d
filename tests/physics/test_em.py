"""The GFlash formulas are written once: numpy and torch give the same numbers, and torch
gives gradients (the basis of a differentiable simulator)."""

import math

import numpy as np
import pytest

from calolab.geometry import preset
from calolab.physics import em
from calolab.physics.sampling import section_medium


@pytest.mark.parametrize("name", ["muon_block", "course_pbscint"])
def test_numpy_and_torch_agree(name):
    torch = pytest.importorskip("torch")
    medium = section_medium(preset(name).sections[0])
    e = np.array([1.0, 10.0, 100.0, 1000.0])
    mom_np = em.longitudinal_moments(e, medium)
    mom_t = em.longitudinal_moments(torch.tensor(e), medium)
    for a, b in zip(mom_np, mom_t):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12)
    tau = np.linspace(0, 3, 7)
    rad_np = em.radial_params(tau, np.log(50.0), medium)
    rad_t = em.radial_params(torch.tensor(tau), torch.tensor(np.log(50.0)), medium)
    for a, b in zip(rad_np, rad_t):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6)


def test_gradients_flow_through_the_profile():
    torch = pytest.importorskip("torch")
    medium = section_medium(preset("course_pbwo4").sections[0])
    e = torch.tensor([20.0, 200.0], dtype=torch.float64, requires_grad=True)
    ln_t, ln_a, *_ = em.longitudinal_moments(e, medium)
    ln_t.sum().backward()
    # d<ln T>/d ln E = 1/(ln y - 0.812): positive and finite
    assert torch.all(e.grad > 0) and torch.all(torch.isfinite(e.grad))


def test_mean_shower_maximum_grows_like_ln_e():
    medium = section_medium(preset("muon_block").sections[0])
    e = np.array([10.0, 100.0])
    ln_t = em.longitudinal_moments(e, medium)[0]
    # T = ln(E/Ec) - 0.812 (GFlash): the difference between two energies is ln(10)
    assert np.exp(ln_t[1]) - np.exp(ln_t[0]) == pytest.approx(np.log(10.0), rel=1e-9)


def test_radial_containment_integral():
    r = np.array([0.0, 1.0, 1e6])
    f = em.radial_containment(r, 0.2, 1.0, 0.7)
    assert f[0] == 0 and f[2] == pytest.approx(1.0) and 0 < f[1] < 1


# ---- the first generations of the cascade (PDG eqs. 34.29, 34.31, complete screening) -----
def test_bremsstrahlung_spectrum_radiates_one_energy_per_radiation_length():
    from scipy.integrate import quad

    # ∫ y dN/dy dy over [0, 1] = 1: an electron loses a fraction 1 of its energy per X0
    assert quad(em.brems_shape, 0.0, 1.0)[0] == pytest.approx(1.0, rel=1e-12)
    for y_min in (1e-4, 0.05, 0.3, 0.9):
        soft = em.brems_soft_fraction(y_min)
        assert soft == pytest.approx(quad(em.brems_shape, 0.0, y_min)[0], rel=1e-10)
        hard = quad(lambda y: em.brems_shape(y) / y, y_min, 1.0)[0]
        assert em.brems_hard_rate(np.array(y_min)) == pytest.approx(hard, rel=1e-8)


def test_pair_spectrum_gives_seven_ninths():
    from scipy.integrate import quad

    # ∫ dσ/dx dx = 7/9 of the normalisation at x = 0: conversion length 9/7 X0
    assert quad(em.pair_shape, 0.0, 1.0)[0] == pytest.approx(7.0 / 9.0, rel=1e-12)
    assert em.PHOTON_MFP_X0 == pytest.approx(9.0 / 7.0)


def test_cascade_formulas_work_on_torch():
    torch = pytest.importorskip("torch")
    y = np.array([1e-3, 0.1, 0.5])
    np.testing.assert_allclose(em.brems_hard_rate(torch.tensor(y)).numpy(), em.brems_hard_rate(y))
    np.testing.assert_allclose(em.brems_shape(torch.tensor(y)).numpy(), em.brems_shape(y))


def test_sampling_term_of_alpha_below_its_fit_range_keeps_the_shower_finite():
    """GFlash's sampling terms (T += -0.55/F_s - 0.69 (1 - ê), α += -0.476/F_s) were fitted to
    showers of 1-100 GeV. Above 1 GeV both are used as published, and T's below too; α's term
    is applied below 1 GeV as the relative change of α - 1 at 1 GeV (continuous there), so that
    a sub-shower of 100 MeV in 15 mm Fe / 5 mm scintillator keeps α well above 1, where the
    additive term gave α ≈ 1.17: a mean depth α/β of ≈ 8 X0."""
    hom = em.MediumParams(z_eff=23.0, critical_energy_gev=0.025, x0_cm=2.3, moliere_radius_cm=2.0)
    sam = em.MediumParams(
        z_eff=23.0,
        critical_energy_gev=0.025,
        x0_cm=2.3,
        moliere_radius_cm=2.0,
        fs=1.155,
        ehat=0.875,
    )
    e = np.array([0.1, 0.3, 0.999999, 1.0, 3.0, 30.0])
    ln_t_h, ln_a_h = em.longitudinal_moments(e, hom, xp=np)[:2]
    ln_t, ln_a = em.longitudinal_moments(e, sam, xp=np)[:2]
    t_h, a_h, t, a = np.exp(ln_t_h), np.exp(ln_a_h), np.exp(ln_t), np.exp(ln_a)
    floor = math.exp(0.1)  # GFlash's lower bounds ln T, ln α >= 0.1 in sampling media
    shift_t = em.T1_SAM / sam.fs + em.T2_SAM * (1.0 - sam.ehat)
    assert np.allclose(t, np.maximum(t_h + shift_t, floor), rtol=1e-9)
    above = e >= 1.0
    assert np.allclose(a[above], a_h[above] + em.A1_SAM / sam.fs, rtol=1e-9)
    assert a[2] == pytest.approx(a[3], rel=1e-5)
    ratio_a = (a_h[3] + em.A1_SAM / sam.fs - 1.0) / (a_h[3] - 1.0)
    assert np.allclose(a[~above], 1.0 + (a_h[~above] - 1.0) * ratio_a, rtol=1e-9)
    assert np.all(a > 1.4)
