"""Gradients of the torch simulator: gradcheck (float64) on the deterministic parts, and
autodiff against central finite differences of the expected response and of σ/E."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calolab.differentiable import DesignParameters, TorchSimulator, section_tables
from calolab.differentiable.special import gamma_cdf, landau_capped_mean, lorentz2_rect
from calolab.geometry.detector import Calorimeter, Layer, Section

D = torch.float64


def small() -> Calorimeter:
    sec = Section("ecal", [Layer("Pb", 0.4), Layer("polystyrene", 0.4, sensitive=True)], 12, 6.0)
    return Calorimeter("small", (30.0, 30.0), [sec])


def test_gradcheck_special_functions() -> None:
    a = torch.tensor([1.2, 3.0, 9.5, 30.0], dtype=D, requires_grad=True)
    x = torch.tensor([0.3, 2.5, 11.0, 25.0], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(gamma_cdf, (a, x))
    edges = [torch.tensor(v, dtype=D, requires_grad=True) for v in (-1.0, 2.0, -0.5, 3.0, 1.7)]
    assert torch.autograd.gradcheck(lorentz2_rect, tuple(edges))


def test_landau_capped_mean_matches_the_reference_sampler() -> None:
    """E[min(X, x_c)] of the truncated Landau (the torch backend's expected value of the
    reference's capped straggling draw) against 400,000 draws of the reference's compiled
    sampler (the muon transport's draws the same from the same uniforms): within 4
    standard errors of the draws' mean; differentiable in the mean and the cap."""
    from calolab.physics.ionisation import landau_tables
    from calolab.simulation._transport import _landau_sample, landau_from_uniform

    lt = landau_tables()
    args = (lt.x_max, lt.trunc_mean, lt.cdf_max, lt.quantile, lt.s_step)
    tab = tuple(
        torch.as_tensor(a, dtype=torch.float64) for a in (lt.x_max, lt.trunc_mean, lt.cdf_max)
    )
    rng = np.random.default_rng(3)
    n = 400_000
    # (target, cap, whether the cap lies below the truncation point: then it matters)
    for target, cap, binding in (
        (0.5, 5.0, False),
        (3.0, 20.0, True),
        (6.0, 200.0, True),
        (2.0, 1.0, True),
    ):
        x = np.array([landau_from_uniform(u, target, *args) for u in rng.random(n)])
        capped = np.minimum(x, cap)
        t = torch.tensor([target], dtype=torch.float64, requires_grad=True)
        c = torch.tensor([cap], dtype=torch.float64, requires_grad=True)
        got = landau_capped_mean(tab, t, c)
        assert float(got.detach()) == pytest.approx(
            capped.mean(), abs=4 * capped.std() / np.sqrt(n)
        )
        got.backward()
        assert float(t.grad) > 0 and (float(c.grad) > 0 if binding else float(c.grad) == 0)
    # the muon transport's sampler draws what the straggling's does from the same uniforms
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    a = np.array([_landau_sample(r1, 4.0, *args) for _ in range(20_000)])
    b = np.array([landau_from_uniform(u, 4.0, *args) for u in r2.random(20_000)])
    np.testing.assert_array_equal(a, b)


def test_gradcheck_section_tables() -> None:
    det = small()

    def tables(th: torch.Tensor) -> tuple[torch.Tensor, ...]:
        d = DesignParameters(det, dtype=D)
        d.thickness["ecal"] = th
        t = section_tables(d)[0]
        m = t.medium
        return (t.em_share, t.em_quantum, m.x0_cm, m.moliere_radius_cm, m.fs, m.ehat, t.period_x0)

    th = torch.tensor([0.4, 0.4], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(tables, (th,))


def _expected(det: Calorimeter, n: int, seed: int, **params: torch.Tensor) -> torch.Tensor:
    d = DesignParameters(det, materials={("ecal", 0): ("Pb", "W")}, dtype=D)
    if "thickness" in params:
        d.thickness["ecal"] = params["thickness"]
    if "periods" in params:
        d.periods["ecal"] = params["periods"]
    if "logits" in params:
        d.logits["ecal"][0] = params["logits"]
    out = TorchSimulator(d).simulate("e-", 3.0, n, seed=seed, fluctuations=False, cells=True)
    assert out.cells is not None
    return torch.cat([out.layers.mean(0), out.cells.mean(0)[:50], out.leaked.mean()[None]])


def test_gradcheck_whole_simulation_without_fluctuations() -> None:
    """Given the random history (fixed seed), the expected per-layer and per-cell energies
    are smooth functions of the thicknesses, of the continuous number of periods and of the
    material logits."""
    det = small()
    th = torch.tensor([0.4, 0.4], dtype=D, requires_grad=True)
    per = torch.tensor(11.6, dtype=D, requires_grad=True)
    lg = torch.tensor([1.0, -0.5], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t, p, g: _expected(det, 3, 1, thickness=t, periods=p, logits=g),
        (th, per, lg),
        fast_mode=True,
    )


def _sim(det: Calorimeter, th: torch.Tensor, n: int, seed: int, fluct: bool):  # type: ignore[no-untyped-def]
    d = DesignParameters(det, dtype=D)
    d.thickness["ecal"] = th
    return TorchSimulator(d).simulate("e-", 10.0, n, seed=seed, fluctuations=fluct)


def test_response_gradient_matches_finite_difference() -> None:
    """d⟨E_vis⟩/d(absorber thickness): autodiff vs a central difference with common random
    numbers (h = 1e-6 cm); both estimate the same sample's derivative, so they agree to the
    finite difference's truncation error. (With h = 1e-4 cm the difference grows to ~4 %:
    larger steps move discrete thresholds — particles crossing the follow energy, the
    ionisation cap — whose contribution the pathwise estimator neglects; see
    docs/differentiable.md.)"""
    det = small()
    th = torch.tensor([0.4, 0.4], dtype=D, requires_grad=True)
    resp = _sim(det, th, 300, 2, False).visible.mean()
    (g,) = torch.autograd.grad(resp, th)
    h = 1e-6
    with torch.no_grad():
        up = _sim(det, th + torch.tensor([h, 0.0], dtype=D), 300, 2, False).visible.mean()
        dn = _sim(det, th - torch.tensor([h, 0.0], dtype=D), 300, 2, False).visible.mean()
    fd = float((up - dn) / (2 * h))
    # 12 periods (8.6 X0): more lead contains more of the shower, so the visible energy rises
    assert g[0].item() > 0
    assert abs(g[0].item() - fd) < 1e-3 * abs(fd)


def test_resolution_gradient_matches_finite_difference() -> None:
    """d(σ/E)/d(absorber thickness) with sampling fluctuations (reparametrised Beta
    draws): autodiff vs a central difference (h = 0.04 cm) with common random numbers, over
    three seeds; they must agree within 3 standard errors of the seed-to-seed spread of their
    difference plus 10 % (the difference's curvature term). In this short stack (8.6 X0) the
    leakage dominates σ/E, so more lead improves it."""
    det = small()
    h = 0.04
    ad, fd = [], []
    for seed in range(3):
        th = torch.tensor([0.4, 0.4], dtype=D, requires_grad=True)
        v = _sim(det, th, 1500, seed, True).visible
        res = v.std() / v.mean()
        (g,) = torch.autograd.grad(res, th)
        ad.append(g[0].item())
        with torch.no_grad():
            vu = _sim(det, th + torch.tensor([h, 0.0], dtype=D), 1500, seed, True).visible
            vd = _sim(det, th - torch.tensor([h, 0.0], dtype=D), 1500, seed, True).visible
        fd.append(float((vu.std() / vu.mean() - vd.std() / vd.mean()) / (2 * h)))
    ad_a, fd_a = np.array(ad), np.array(fd)
    diff = ad_a - fd_a
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    assert ad_a.mean() < 0 and fd_a.mean() < 0
    assert abs(diff.mean()) < 3 * se + 0.1 * abs(fd_a.mean()), (ad, fd)
