"""Losses: MSE, relative, huberised fractional (switch point from the 68th percentile)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calolab.core.errors import ConfigError
from calolab.training.losses import HuberFractionalLoss, build_loss


def test_mse_and_relative_values():
    p = torch.tensor([12.0, 18.0])
    t = torch.tensor([10.0, 20.0])
    assert float(build_loss("mse")(p, t)) == pytest.approx((4 + 4) / 2)
    assert float(build_loss("rel")(p, t)) == pytest.approx((4 / 10 + 4 / 20) / 2)


def test_huber_is_quadratic_inside_and_linear_outside_the_switch_point():
    loss = HuberFractionalLoss(np.array([0.0, 1e9]))
    loss.delta.fill_(0.1)
    t = torch.tensor([100.0])
    assert float(loss(torch.tensor([105.0]), t)) == pytest.approx(0.5 * 0.05**2, rel=1e-5)
    # r = 0.5 > δ: δ(|r| − δ/2)
    assert float(loss(torch.tensor([150.0]), t)) == pytest.approx(0.1 * (0.5 - 0.05), rel=1e-5)
    # continuous at the switch point
    assert float(loss(torch.tensor([110.0]), t)) == pytest.approx(0.5 * 0.1**2, rel=1e-5)


def test_first_epoch_is_the_plain_fractional_squared_error_with_finite_gradients():
    edges = HuberFractionalLoss.edges_from_targets(np.linspace(1, 100, 50), 4)
    loss = HuberFractionalLoss(edges)
    p = torch.tensor([3.0, 80.0], requires_grad=True)
    t = torch.tensor([2.0, 100.0])
    value = loss(p, t)
    assert float(value.detach()) == pytest.approx(np.mean([0.5 * 0.5**2, 0.5 * 0.2**2]), rel=1e-5)
    value.backward()
    assert torch.isfinite(p.grad).all()


def test_switch_points_are_the_68th_percentile_per_energy_bin():
    rng = np.random.default_rng(3)
    e = rng.uniform(1, 100, 20000)
    width = np.where(e < 50, 0.2, 0.05)  # fractional error differs between the halves
    pred = e * (1 + width * rng.standard_normal(len(e)))
    loss = HuberFractionalLoss(np.array([1.0, 50.0, 100.0]))
    loss.update(e, pred)
    # 68th percentile of |N(0, w)| = 0.994 w; statistical precision ~1 % with 10k events
    np.testing.assert_allclose(loss.delta.numpy(), [0.994 * 0.2, 0.994 * 0.05], rtol=0.04)
    # events are binned by true energy
    b = loss._bin(torch.tensor([10.0, 60.0], dtype=torch.float64))
    assert b.tolist() == [0, 1]


def test_state_round_trips_and_unknown_loss():
    a = HuberFractionalLoss(np.array([1.0, 2.0, 3.0]))
    a.delta.copy_(torch.tensor([0.1, 0.2], dtype=torch.float64))
    b = HuberFractionalLoss(np.array([1.0, 2.0, 3.0]))
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.delta, b.delta)
    with pytest.raises(ConfigError, match="unknown loss"):
        build_loss("l1")
    with pytest.raises(ConfigError, match="training energies"):
        build_loss("huber-frac")
