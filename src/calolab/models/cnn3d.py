"""3D CNN on the full granularity with an energy-sum channel and high-level features.

After Kieseler et al., EPJC 82 (2022) 79 (STUDIES.md, study D): a convolutional head of
pre-activation residual blocks (He et al., ECCV 2016) sees the cells of one section as a 3D
image ``(D, H, W)`` = (layers, x, y). Two input channels: the cell energy divided by the mean
summed energy (linear, so that sums are meaningful) and ``log(1 + E / E0)`` (E0 = median
non-zero cell energy; compresses the dynamic range). One channel keeps the summed energy: the
linear energy channel is carried through the network, sum-pooled at every down-sampling (so its
total is exactly conserved) and concatenated to the feature maps entering every block, and its
global sum joins the fully-connected body together with the high-level features
(``highlevel`` and/or ``layers``, standardised). The body is an MLP (GELU, dropout). For
regression its output is by default (``output = "calibrated"``) a correction on top of the
closed-form calibration of the layer energies, with the last layer initialised to zero, so
the untrained network equals that calibration (the paper's CNN learns small corrections to
the summed energy); ``output = "energy"`` predicts ``target_scale · softplus(z)`` GeV.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from calolab.core.errors import ConfigError
from calolab.models.baselines import BASELINES, BaselineCalibration, baseline_layers
from calolab.models.mlp import MAX_WIDTH, mlp_body
from calolab.models.normalization import Normalizer

SCALAR_SETS = {
    "none": (),
    "highlevel": ("highlevel",),
    "layers": ("layers",),
    "layers+highlevel": ("layers", "highlevel"),
}


@dataclass(frozen=True)
class CNN3DOptions:
    """3D CNN hyperparameters.

    channels:
        Feature channels of each stage; between stages the grid is down-sampled by 2 in
        every axis that is still longer than 1.
    blocks:
        Residual blocks per stage.
    pool_first:
        Sum-pooling ``(d, h, w)`` applied to the input before the first convolution (cheap
        down-sampling of very fine grids); ``(1, 1, 1)`` keeps the full granularity.
    scalars:
        Scalar inputs joined before the fully-connected body: ``"highlevel"`` (default),
        ``"layers"``, ``"layers+highlevel"`` or ``"none"``.
    hidden, dropout:
        The fully-connected body.
    groups:
        Groups of the GroupNorm layers (batch-size independent, DDP friendly).
    output:
        Regression output: ``"calibrated"`` (a correction to the closed-form ``baseline``
        calibration, see :class:`~calolab.models.baselines.BaselineCalibration`) or
        ``"energy"`` (target_scale · softplus(z)).
    baseline:
        ``"per-layer"`` or ``"linear"`` (α·sum + β).
    """

    channels: tuple[int, ...] = (8, 16, 32)
    blocks: int = 1
    pool_first: tuple[int, int, int] = (1, 1, 1)
    scalars: str = "highlevel"
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.0
    groups: int = 4
    output: str = "calibrated"
    baseline: str = "per-layer"

    def __post_init__(self) -> None:
        if self.output not in ("calibrated", "energy"):
            raise ConfigError(f"cnn3d: output {self.output!r} must be 'calibrated' or 'energy'")
        if self.baseline not in BASELINES:
            raise ConfigError(
                f"cnn3d: baseline {self.baseline!r} must be one of {', '.join(BASELINES)}"
            )
        if not self.channels or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ConfigError(f"cnn3d: channels {self.channels!r} must be positive integers")
        widths = (*self.channels, *self.hidden)
        if all(isinstance(w, int) for w in widths) and max(widths) > MAX_WIDTH:
            raise ConfigError(
                f"cnn3d: channels {self.channels!r} and hidden {self.hidden!r} must be at most "
                f"{MAX_WIDTH:,} each"
            )
        if any(c % self.groups for c in self.channels):
            raise ConfigError(
                f"cnn3d: every channel count {self.channels} must be divisible by groups "
                f"{self.groups}"
            )
        if not isinstance(self.blocks, int) or self.blocks < 1:
            raise ConfigError(f"cnn3d: blocks {self.blocks!r} must be an integer >= 1")
        if len(self.pool_first) != 3 or any(
            not isinstance(p, int) or p < 1 for p in self.pool_first
        ):
            raise ConfigError(f"cnn3d: pool_first {self.pool_first!r} must be 3 integers >= 1")
        if self.scalars not in SCALAR_SETS:
            raise ConfigError(
                f"cnn3d: scalars {self.scalars!r} must be one of {', '.join(SCALAR_SETS)}"
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"cnn3d: dropout {self.dropout!r} must be in [0, 1)")


class PreActBlock(nn.Module):
    """Pre-activation residual block: x + conv(act(norm(conv(act(norm([x, e])))))).

    ``e`` is the energy-sum channel, concatenated to the block input.
    """

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv3d(channels + 1, channels, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.norm1(x))
        h = self.conv1(torch.cat([h, e], dim=1))
        h = self.conv2(F.gelu(self.norm2(h)))
        return x + h


def _sum_pool(x: torch.Tensor, k: tuple[int, int, int]) -> torch.Tensor:
    if k == (1, 1, 1):
        return x
    return F.avg_pool3d(x, k, stride=k, ceil_mode=True, divisor_override=1)


def _avg_pool(x: torch.Tensor, k: tuple[int, int, int]) -> torch.Tensor:
    if k == (1, 1, 1):
        return x
    return F.avg_pool3d(x, k, stride=k, ceil_mode=True, count_include_pad=False)


class CNN3D(nn.Module):
    """``forward({"grid": (N, D, H, W), "highlevel": (N, F), ...})`` → ``(N,)`` GeV or logits."""

    norm: Normalizer

    def __init__(
        self,
        shapes: Mapping[str, tuple[int, ...]],
        options: CNN3DOptions,
        *,
        task: str = "regression",
        n_outputs: int = 1,
    ):
        super().__init__()
        self.options = options
        self.task = task
        self.scalars = SCALAR_SETS[options.scalars]
        self.norm = Normalizer({k: shapes[k] for k in ("grid", *self.scalars)})
        shape = [math.ceil(s / p) for s, p in zip(shapes["grid"], options.pool_first)]
        self.stem = nn.Conv3d(2, options.channels[0], 3, padding=1)
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        self.pools: list[tuple[int, int, int]] = []
        for i, c in enumerate(options.channels):
            self.stages.append(
                nn.ModuleList(PreActBlock(c, options.groups) for _ in range(options.blocks))
            )
            if i + 1 < len(options.channels):
                k = tuple(2 if s > 1 else 1 for s in shape)
                self.pools.append(k)  # type: ignore[arg-type]
                shape = [math.ceil(s / kk) for s, kk in zip(shape, k)]
                self.transitions.append(nn.Conv3d(c, options.channels[i + 1], 1))
        self.final_norm = nn.GroupNorm(options.groups, options.channels[-1])
        n_scalar = sum(shapes[k][0] for k in self.scalars)
        self.body, width = mlp_body(
            options.channels[-1] + 1 + n_scalar, options.hidden, options.dropout
        )
        self.head = nn.Linear(width, n_outputs)
        self.base = (
            BaselineCalibration(baseline_layers(shapes, "cnn3d"), options.baseline)
            if task == "regression" and options.output == "calibrated"
            else None
        )
        if self.base is not None:  # start from the calibration: z = 0
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def apply_stats(self, stats: Mapping[str, object]) -> None:
        """Fit the baseline calibration in closed form (``output = "calibrated"``)."""
        if self.base is not None:
            self.base.apply_stats(stats)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        g = _sum_pool(inputs["grid"].float().unsqueeze(1), self.options.pool_first)  # GeV
        cells = math.prod(self.options.pool_first)
        e = g / self.norm.grid_scale
        lg = torch.log1p(torch.clamp(g, min=0.0) / (cells * self.norm.grid_e0))
        x = self.stem(torch.cat([e, lg], dim=1))
        for i, blocks in enumerate(self.stages):
            for block in cast(nn.ModuleList, blocks):
                x = block(x, e)
            if i < len(self.transitions):
                pool = self.pools[i]
                x = self.transitions[i](_avg_pool(x, pool))
                e = _sum_pool(e, pool)
        x = F.gelu(self.final_norm(x)).mean(dim=(2, 3, 4))
        parts = [x, e.sum(dim=(1, 2, 3, 4)).unsqueeze(1)]
        parts += [self.norm.vector(name, inputs[name].float()) for name in self.scalars]
        z = self.head(self.body(torch.cat(parts, dim=1)))
        if self.task == "classification":
            return z
        if self.base is not None:
            return self.base.correct(self.base(inputs["layers"]), z.squeeze(-1))
        return F.softplus(z.squeeze(-1)) * self.norm.target_scale.to(z.dtype)


def cnn3d_inputs(options: CNN3DOptions) -> tuple[str, ...]:
    """The grid, the scalar inputs, and the layer energies of a ``"calibrated"`` baseline."""
    scalars = SCALAR_SETS[options.scalars]
    extra = ("layers",) if options.output == "calibrated" and "layers" not in scalars else ()
    return ("grid", *scalars, *extra)


def build_cnn3d(options: CNN3DOptions, shapes, *, task: str, n_outputs: int) -> nn.Module:
    return CNN3D(shapes, options, task=task, n_outputs=n_outputs)
