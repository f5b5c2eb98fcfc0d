"""The MLP's ``output="correction"`` mode: a learned factor on the calibrated sum of cells."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calolab.core.errors import ConfigError
from calolab.models import ModelConfig
from calolab.models.mlp import MLP, MLPOptions, mlp_inputs


def _model(output: str) -> MLP:
    m = MLP({"layers": (2,), "total": ()}, MLPOptions(hidden=(16,), dropout=0.0, output=output))
    m.norm.set_stats(
        {
            "target_scale": 10.0,
            "calibration": 1.25,
            "total_scale": 8.0,
            "layers_mean": np.array([4.0, 4.0]),
            "layers_std": np.array([2.0, 2.0]),
        }
    )
    return m


def test_correction_starts_at_the_calibrated_sum():
    assert mlp_inputs(MLPOptions(output="correction")) == ("layers", "total")
    assert mlp_inputs(MLPOptions()) == ("layers",)
    m = _model("correction")
    layers = torch.tensor([[1.0, 3.0], [6.0, 2.0]])
    out = m({"layers": layers, "total": layers.sum(1)})
    assert torch.allclose(out, 1.25 * layers.sum(1), rtol=1e-6)
    with pytest.raises(ConfigError, match="output"):
        MLPOptions(output="ratio")
    assert ModelConfig("mlp", {"output": "correction"}).options.output == "correction"


def test_correction_learns_a_layer_dependent_factor():
    """Two layers with different response (e.g. ECAL and HCAL): E = 1.25 · (l0 + 2 l1)."""
    gen = torch.Generator().manual_seed(0)
    layers = torch.rand(2000, 2, generator=gen) * 8
    target = 1.25 * (layers[:, 0] + 2 * layers[:, 1])
    m = _model("correction")
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    inputs = {"layers": layers, "total": layers.sum(1)}
    for _ in range(400):
        opt.zero_grad()
        loss = torch.mean(((m(inputs) - target) / target) ** 2)
        loss.backward()
        opt.step()
    rel = ((m(inputs) - target) / target).detach()
    before = (1.25 * layers.sum(1) - target) / target
    assert rel.pow(2).mean().sqrt() < 0.2 * before.pow(2).mean().sqrt()
