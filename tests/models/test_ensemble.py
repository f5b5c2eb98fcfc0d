"""Ensembles: mean prediction and spread."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from calolab.core.errors import ConfigError
from calolab.models import Ensemble


class Const(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, inputs):
        return torch.full((len(inputs["x"]),), float(self.value))


def test_mean_and_sample_standard_deviation():
    e = Ensemble([Const(1.0), Const(2.0), Const(6.0)])
    mean, std = e.predict({"x": torch.zeros(4)})
    assert torch.allclose(mean, torch.full((4,), 3.0))
    assert torch.allclose(std, torch.full((4,), torch.tensor([1.0, 2.0, 6.0]).std().item()))
    assert torch.allclose(e({"x": torch.zeros(2)}), torch.full((2,), 3.0))


def test_single_member_has_zero_spread_and_empty_is_refused():
    _, std = Ensemble([Const(5.0)]).predict({"x": torch.zeros(3)})
    assert torch.all(std == 0)
    with pytest.raises(ConfigError):
        Ensemble([])


def test_classification_averages_probabilities():
    class Logits(nn.Module):
        def __init__(self, z):
            super().__init__()
            self.z = torch.tensor(z)

        def forward(self, inputs):
            return self.z.expand(len(inputs["x"]), -1)

    e = Ensemble([Logits([0.0, 0.0]), Logits([10.0, -10.0])], task="classification")
    p, _ = e.predict({"x": torch.zeros(1)})
    assert torch.allclose(p, torch.tensor([[0.75, 0.25]]), atol=1e-4)
