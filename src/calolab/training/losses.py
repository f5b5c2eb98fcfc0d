"""Losses for energy regression (and cross-entropy for classification).

* ``mse``: ⟨(E_pred − E_true)²⟩, GeV².
* ``rel``: ⟨(E_pred − E_true)² / E_true⟩, GeV — the design-course loss (STUDIES.md, study E);
  it weights events like the stochastic term of the resolution, σ² ∝ E.
* ``huber-frac``: huberised mean fractional squared error (Kieseler et al., EPJC 82 (2022) 79):
  with r = E_pred / E_true − 1 and switch point δ,
  ℓ = r²/2 for |r| ≤ δ and δ(|r| − δ/2) beyond, so that outliers (e.g. muons that radiate
  little) do not dominate. δ depends on the true energy: it is the 68th percentile of |r| in
  equal-population bins of true energy, measured on the training predictions of the previous
  epoch (first epoch: δ = 10⁶, i.e. the plain fractional squared error).
* ``cross-entropy`` for classification.

Every loss is an ``nn.Module`` ``loss(pred, target) -> scalar`` (the mean of
``loss.per_event(pred, target)``); stateful ones keep their state in buffers (saved in
checkpoints, so a resumed run continues exactly).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from calolab.core.errors import ConfigError


class MSELoss(nn.Module):
    """Mean squared error, GeV²."""

    def per_event(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred.float() - target.float()) ** 2

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.mean(self.per_event(pred, target))


class RelativeLoss(nn.Module):
    """⟨(E_pred − E_true)² / E_true⟩, GeV."""

    def per_event(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = target.float()
        return (pred.float() - t) ** 2 / t

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.mean(self.per_event(pred, target))


class HuberFractionalLoss(nn.Module):
    """Huberised fractional squared error with a switch point per bin of true energy.

    Parameters
    ----------
    edges:
        Bin edges of true energy (GeV), ``(n_bins + 1,)``; events outside use the nearest bin.
    quantile:
        Quantile of |r| that sets δ in each bin (0.68).
    """

    edges: torch.Tensor
    delta: torch.Tensor

    def __init__(self, edges: np.ndarray, quantile: float = 0.68):
        super().__init__()
        edges = np.asarray(edges, dtype=np.float64)
        if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) < 0):
            raise ConfigError(f"huber-frac: bin edges {edges} must be increasing")
        self.quantile = quantile
        self.register_buffer("edges", torch.as_tensor(edges, dtype=torch.float64))
        # δ = 1e6 until the first update: the plain fractional squared error (a finite value
        # keeps the gradient of the unused linear branch finite)
        self.register_buffer("delta", torch.full((len(edges) - 1,), 1e6, dtype=torch.float64))

    @staticmethod
    def edges_from_targets(e_true: np.ndarray, n_bins: int) -> np.ndarray:
        """Equal-population bin edges of the true energies (GeV)."""
        q = np.quantile(np.asarray(e_true, dtype=np.float64), np.linspace(0, 1, n_bins + 1))
        return np.unique(q)

    def _bin(self, target: torch.Tensor) -> torch.Tensor:
        inner = self.edges[1:-1].to(target.device)
        return torch.bucketize(target.double().contiguous(), inner.contiguous(), right=True)

    def per_event(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = target.float()
        r = pred.float() / t - 1.0
        delta = self.delta.to(r.device)[self._bin(target)].float()
        a = r.abs()
        m = torch.minimum(a, delta)
        return 0.5 * m * m + delta * (a - m)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.mean(self.per_event(pred, target))

    @torch.no_grad()
    def update(self, e_true: np.ndarray, e_pred: np.ndarray) -> None:
        """Set δ of every bin to the ``quantile`` of |E_pred/E_true − 1| of its events."""
        e_true = np.asarray(e_true, dtype=np.float64)
        r = np.abs(np.asarray(e_pred, dtype=np.float64) / e_true - 1.0)
        b = np.searchsorted(self.edges.cpu().numpy()[1:-1], e_true, side="right")
        new = self.delta.clone()
        for i in range(len(new)):
            sel = r[b == i]
            sel = sel[np.isfinite(sel)]
            if len(sel):
                new[i] = max(float(np.quantile(sel, self.quantile)), 1e-6)
        self.delta.copy_(new)


class CrossEntropyLoss(nn.Module):
    """Cross-entropy of logits ``(N, C)`` and class indices ``(N,)``."""

    def per_event(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(pred.float(), target.long(), reduction="none")

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(pred.float(), target.long())


def build_loss(name: str, train_targets: np.ndarray | None = None, n_bins: int = 10) -> nn.Module:
    """The loss ``name`` (``mse``, ``rel``, ``huber-frac``, ``cross-entropy``).

    ``huber-frac`` needs the training targets (GeV) to place its ``n_bins`` energy bins.
    """
    if name == "mse":
        return MSELoss()
    if name == "rel":
        return RelativeLoss()
    if name == "huber-frac":
        if train_targets is None or len(train_targets) == 0:
            raise ConfigError("huber-frac loss needs the training energies to place its bins")
        return HuberFractionalLoss(HuberFractionalLoss.edges_from_targets(train_targets, n_bins))
    if name == "cross-entropy":
        return CrossEntropyLoss()
    raise ConfigError(f"unknown loss {name!r}; choose mse, rel, huber-frac or cross-entropy")
