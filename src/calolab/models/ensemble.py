"""Ensembles of k models: the prediction is the mean, the spread an uncertainty.

Kieseler et al., EPJC 82 (2022) 79 average 5 models. With k-fold training (see
:mod:`calolab.training`) member m is trained on all folds but m and validated on fold m.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from calolab.core.errors import ConfigError


class Ensemble(nn.Module):
    """Mean of the members' outputs.

    For regression ``forward`` returns the mean energy ``(N,)`` and :meth:`predict` returns
    ``(mean, std)`` where ``std`` is the standard deviation of the members' predictions (GeV,
    ``ddof=1``; zero for one member). For classification the members' softmax probabilities
    are averaged and ``forward`` returns the log of the mean probabilities ``(N, C)``.
    """

    def __init__(self, members: Sequence[nn.Module], task: str = "regression"):
        super().__init__()
        if not members:
            raise ConfigError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.task = task

    def __len__(self) -> int:
        return len(self.members)

    def predict(self, inputs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, spread)``: regression ``(N,)`` GeV each; classification ``(N, C)``
        probabilities and their standard deviation over members."""
        outs = [m(inputs) for m in self.members]
        if self.task == "classification":
            outs = [torch.softmax(o, dim=-1) for o in outs]
        stack = torch.stack(outs)
        mean = stack.mean(dim=0)
        std = stack.std(dim=0, unbiased=True) if len(outs) > 1 else torch.zeros_like(mean)
        return mean, std

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        mean, _ = self.predict(inputs)
        if self.task == "classification":
            return torch.log(mean.clamp_min(1e-12))
        return mean
