"""The GFlash formulas are written once: numpy and torch give the same numbers, and torch
gives gradients (the basis of a differentiable simulator)."""

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
