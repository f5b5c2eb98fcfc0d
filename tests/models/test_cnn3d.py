"""3D CNN: shapes, the energy-sum channel, classification head."""

from __future__ import annotations

import pytest
import torch

from calolab.core.errors import ConfigError
from calolab.models import CNN3D, CNN3DOptions
from calolab.models.cnn3d import _sum_pool


def test_sum_pooling_conserves_the_energy_even_for_odd_sizes():
    x = torch.rand(3, 1, 5, 7, 3)
    y = _sum_pool(x, (2, 2, 2))
    assert y.shape == (3, 1, 3, 4, 2)
    torch.testing.assert_close(y.sum(dim=(1, 2, 3, 4)), x.sum(dim=(1, 2, 3, 4)))


def test_forward_shapes_and_positive_regression_output():
    shapes = {"grid": (5, 6, 6), "highlevel": (4,)}
    m = CNN3D(shapes, CNN3DOptions(channels=(4, 8, 8), pool_first=(1, 2, 2), output="energy"))
    out = m({"grid": torch.rand(2, 5, 6, 6), "highlevel": torch.rand(2, 4)})
    assert out.shape == (2,) and torch.all(out > 0)
    c = CNN3D(shapes, CNN3DOptions(channels=(4,)), task="classification", n_outputs=3)
    assert c({"grid": torch.rand(2, 5, 6, 6), "highlevel": torch.rand(2, 4)}).shape == (2, 3)


def test_the_head_sees_the_summed_energy():
    """Gradients reach the output through the summed-energy channel: scaling the input
    energy changes the prediction even with every convolution weight set to zero."""
    m = CNN3D(
        {"grid": (2, 2, 2)},
        CNN3DOptions(channels=(4,), scalars="none", hidden=(8,), output="energy"),
    )
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.Conv3d):
                mod.weight.zero_()
                if mod.bias is not None:
                    mod.bias.zero_()
    g = torch.rand(1, 2, 2, 2)
    assert not torch.allclose(m({"grid": g}), m({"grid": 3 * g}))


def test_invalid_options():
    with pytest.raises(ConfigError, match="divisible"):
        CNN3DOptions(channels=(6,), groups=4)
    with pytest.raises(ConfigError, match="pool_first"):
        CNN3DOptions(pool_first=(1, 2))
    with pytest.raises(ConfigError, match="scalars"):
        CNN3DOptions(scalars="everything")
