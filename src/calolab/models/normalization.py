"""Input normalisation measured on the training set and stored inside the model.

The statistics are buffers of a :class:`Normalizer` module, so they travel with the model's
``state_dict`` (checkpoints are self-contained; no separate scaler file).

Inputs a model can ask for (names are the keys of a batch's ``inputs`` dict):

``total``      (N,)           summed visible energy, GeV
``layers``     (N, L)         visible energy per readout layer, GeV
``highlevel``  (N, F)         :class:`~calolab.models.features.HighLevelFeatures`
``grid``       (N, D, H, W)   cells of one section, GeV
``image``      (N, C, H, W)   event images (other dataset kinds)

and the target is the true energy (GeV) for regression or a class index for classification.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

#: Inputs whose normalisation is a per-feature mean and standard deviation.
VECTOR_INPUTS = ("layers", "highlevel")


@dataclass
class StatsAccumulator:
    """Accumulates the normalisation statistics over training batches (streaming, float64).

    ``update(inputs, target)`` with numpy arrays; ``finish()`` returns the dict accepted by
    :meth:`Normalizer.set_stats`.
    """

    n: int = 0
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    sums2: dict[str, np.ndarray] = field(default_factory=dict)
    target_sum: float = 0.0
    total_sum: float = 0.0
    grid_sum: float = 0.0
    grid_cells: int = 0
    grid_nonzero: list[np.ndarray] = field(default_factory=list)
    grid_nonzero_kept: int = 0
    #: Σ w X Xᵀ and Σ w X t of X = [layers, 1] for the event weights w = t⁻ᵖ, p = 0, 1, 2
    #: (the normal equations of the closed-form calibrations, one per regression loss)
    layers_gram: np.ndarray | None = None
    layers_xty: np.ndarray | None = None

    def update(self, inputs: Mapping[str, np.ndarray], target: np.ndarray) -> None:
        m = len(target)
        if m == 0:
            return
        self.n += m
        self.target_sum += float(np.sum(np.asarray(target, dtype=np.float64)))
        for k in VECTOR_INPUTS:
            if k in inputs:
                x = np.asarray(inputs[k], dtype=np.float64)
                self.sums[k] = self.sums.get(k, 0.0) + x.sum(axis=0)
                self.sums2[k] = self.sums2.get(k, 0.0) + (x * x).sum(axis=0)
        if "layers" in inputs:
            self._update_gram(np.asarray(inputs["layers"], dtype=np.float64), target)
        if "total" in inputs:
            self.total_sum += float(np.sum(inputs["total"], dtype=np.float64))
        if "grid" in inputs:
            g = np.asarray(inputs["grid"])
            self.grid_sum += float(g.sum(dtype=np.float64))
            self.grid_cells = int(np.prod(g.shape[1:]))
            if self.grid_nonzero_kept < 200_000:
                nz = g[g > 0].astype(np.float64)
                self.grid_nonzero.append(nz[:50_000])
                self.grid_nonzero_kept += min(len(nz), 50_000)

    def _update_gram(self, layers: np.ndarray, target: np.ndarray) -> None:
        raw = np.asarray(target)
        if raw.dtype.kind != "f" or not np.all(raw > 0):
            return  # class labels: no energy calibration
        t = raw.astype(np.float64)
        x = np.concatenate([layers, np.ones((len(layers), 1))], axis=1)
        if self.layers_gram is None:
            k = x.shape[1]
            self.layers_gram = np.zeros((3, k, k))
            self.layers_xty = np.zeros((3, k))
        assert self.layers_xty is not None
        for p in range(3):
            w = t**-p
            self.layers_gram[p] += (x * w[:, None]).T @ x
            self.layers_xty[p] += x.T @ (w * t)

    def finish(self) -> dict[str, Any]:
        n = max(self.n, 1)
        out: dict[str, Any] = {"target_scale": self.target_sum / n if self.n else 1.0}
        for k in self.sums:
            mean = self.sums[k] / n
            var = np.clip(self.sums2[k] / n - mean * mean, 0.0, None)
            std = np.sqrt(var)
            floor = 1e-6 * max(float(np.max(np.abs(mean))), 1e-12)
            std = np.where(std > floor, std, 1.0)
            out[f"{k}_mean"] = mean
            out[f"{k}_std"] = std
        if self.total_sum > 0:
            out["total_scale"] = self.total_sum / n
            out["calibration"] = (self.target_sum / n) / (self.total_sum / n)
        if self.grid_cells:
            out["grid_scale"] = max(self.grid_sum / n, 1e-12)
            nz = np.concatenate(self.grid_nonzero) if self.grid_nonzero else np.zeros(0)
            out["grid_e0"] = float(np.median(nz)) if len(nz) else 1e-3
        if self.layers_gram is not None:
            out["layers_gram"] = self.layers_gram
            out["layers_xty"] = self.layers_xty
        return out


class Normalizer(nn.Module):
    """Normalisation buffers for the inputs named in ``shapes``.

    Parameters
    ----------
    shapes:
        Input name → shape without the batch axis, e.g. ``{"layers": (50,)}``.
    """

    target_scale: torch.Tensor
    calibration: torch.Tensor
    total_scale: torch.Tensor
    grid_scale: torch.Tensor
    grid_e0: torch.Tensor

    def __init__(self, shapes: Mapping[str, tuple[int, ...]]):
        super().__init__()
        self.register_buffer("target_scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("calibration", torch.ones((), dtype=torch.float64))
        self.register_buffer("total_scale", torch.ones((), dtype=torch.float64))
        for k in VECTOR_INPUTS:
            if k in shapes:
                (f,) = shapes[k]
                self.register_buffer(f"{k}_mean", torch.zeros(f, dtype=torch.float32))
                self.register_buffer(f"{k}_std", torch.ones(f, dtype=torch.float32))
        if "grid" in shapes:
            self.register_buffer("grid_scale", torch.ones((), dtype=torch.float32))
            self.register_buffer("grid_e0", torch.ones((), dtype=torch.float32))

    def set_stats(self, stats: Mapping[str, Any]) -> None:
        """Copy statistics from :meth:`StatsAccumulator.finish` into the buffers."""
        for name, value in stats.items():
            if hasattr(self, name) and isinstance(getattr(self, name), torch.Tensor):
                buf = getattr(self, name)
                buf.copy_(torch.as_tensor(np.asarray(value), dtype=buf.dtype).reshape(buf.shape))

    def vector(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Standardised ``layers`` / ``highlevel`` input, ``(N, F)``."""
        return (x - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std")

    def scale_target(self) -> float:
        return float(self.target_scale)
