"""Ionisation loss of heavy charged particles against PDG values."""

import numpy as np
import pytest
from scipy.stats import landau

from calolab.geometry import get_material, mixture
from calolab.physics.ionisation import (
    LANDAU_MODE_X,
    MUON_MASS_GEV,
    STERNHEIMER,
    bethe_loss,
    density_effect,
    highland_theta0,
    landau_tables,
    sternheimer_params,
    sternheimer_peierls,
)

T = np.logspace(-2, 4, 2000)


@pytest.mark.parametrize("name", ["Fe", "Pb", "PbWO4", "W", "Cu", "Si", "Al"])
def test_minimum_ionisation_matches_the_pdg_tables(name):
    # PDG "Atomic and Nuclear Properties": <-dE/dx>_min of each material (MeV cm²/g)
    m = get_material(name)
    dmin = bethe_loss(T, MUON_MASS_GEV, m, spin_half=True).min()
    assert dmin == pytest.approx(m.dedx_min_mev_cm2_g, rel=0.005)


def test_minimum_is_near_beta_gamma_3_to_4():
    m = get_material("Fe")
    loss = bethe_loss(T, MUON_MASS_GEV, m, spin_half=True)
    bg = np.sqrt((1 + T / MUON_MASS_GEV) ** 2 - 1)
    assert 3.0 < bg[np.argmin(loss)] < 4.0  # PDG: minimum at βγ ≈ 3-3.5


def test_restricted_loss_is_below_the_mean_and_saturates():
    m = get_material("PbWO4")
    full = bethe_loss(T, MUON_MASS_GEV, m, spin_half=True)
    restr = bethe_loss(T, MUON_MASS_GEV, m, spin_half=True, cut_gev=1e-3)
    assert np.all(restr <= full * (1 + 1e-12))
    # the restricted loss reaches the Fermi plateau: it changes by < 1 % from 100 GeV to 10 TeV
    hi = (T > 100) & (T < 1e4)
    assert restr[hi].max() / restr[hi].min() < 1.01
    assert full[hi].max() / full[hi].min() > 1.1


def test_sternheimer_peierls_fallback_is_close_to_the_fitted_coefficients():
    # the general prescription (Sternheimer & Peierls 1971) gives δ within 0.4 of the fitted
    # coefficients at βγ >= 100, i.e. the stopping power within 2 %
    bg = np.array([1e2, 1e3, 1e4])
    for name in ("Fe", "Pb", "Cu", "Si"):
        m = get_material(name)
        d_tab = density_effect(bg, STERNHEIMER[name])
        d_sp = density_effect(bg, sternheimer_peierls(m))
        np.testing.assert_allclose(d_sp, d_tab, atol=0.4)
        fake = mixture(f"copy_{name}", [(m, 1.0)], density_g_cm3=m.density_g_cm3)
        t = np.array([10.0, 100.0, 1000.0])
        np.testing.assert_allclose(
            bethe_loss(t, MUON_MASS_GEV, fake, spin_half=True),
            bethe_loss(t, MUON_MASS_GEV, m, spin_half=True),
            rtol=0.02,
        )


def test_unknown_materials_use_the_fallback():
    brass = get_material("brass")
    p = sternheimer_params(brass)
    assert p.k == 3.0 and p.i_ev == pytest.approx(brass.mean_excitation_ev)
    fake = mixture("fake_fe", [(get_material("Fe"), 1.0)], density_g_cm3=7.0)
    assert sternheimer_params(fake) is not STERNHEIMER["Fe"]


def test_highland_formula_value():
    # PDG eq. 34.16: 10 GeV/c muon through 1 X0: 13.6 MeV/10 GeV × (1 + 0.038 ln 1/β²)
    th = float(highland_theta0(np.asarray(10.0), np.asarray(1.0), np.asarray(1.0)))
    assert th == pytest.approx(1.36e-3, rel=1e-3)


def test_landau_tables_reproduce_the_distribution():
    lt = landau_tables()
    # mode of scipy's standard Landau
    xs = np.linspace(-0.6, -0.3, 3001)
    assert xs[np.argmax(landau.pdf(xs))] == pytest.approx(LANDAU_MODE_X, abs=1e-3)
    # quantiles
    for u in (0.1, 0.5, 0.9, 0.999):
        s = -np.log(1 - u) / lt.s_step
        k = int(s)
        q = lt.quantile[k] + (s - k) * (lt.quantile[k + 1] - lt.quantile[k])
        assert q == pytest.approx(landau.ppf(u), abs=2e-3 * max(1.0, abs(landau.ppf(u))))
    # truncated mean at x_max = 10, by direct integration
    x = np.linspace(-5, 10, 200001)
    direct = np.trapezoid(x * landau.pdf(x), x) / landau.cdf(10.0)
    assert np.interp(10.0, lt.x_max, lt.trunc_mean) == pytest.approx(direct, rel=1e-3)
