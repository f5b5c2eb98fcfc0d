"""A small image classifier: 3 convolutional + 2 fully connected layers (study B's CNN).

Input ``(N, C, H, W)``; output logits ``(N, n_classes)``. Each convolution block is
conv 3×3 → normalisation → ReLU → 2×2 max pooling (ceil mode, so small inputs such as a
calorimeter's 10 × 10 cell grid keep at least one pixel); an adaptive average pool makes the
head independent of the input size. The normalisation is GroupNorm by default (Wu & He,
ECCV 2018): event images are sparse with small mean activations, and batch-norm running
statistics then take many steps to forget their initial values, so that a batch-norm network
predicts badly in evaluation mode early in training; ``norm="batch"`` or ``"none"`` are
available. Optional scalar features ``(N, n_features)`` (e.g. layer
energies of a shower) join the first fully connected layer, as the high-level features of
Kieseler et al. (EPJC 82 (2022) 79) join their network body.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from calolab.core.errors import ConfigError, require

require("torch", "ml", "image models")
import torch  # noqa: E402
from torch import nn  # noqa: E402


@dataclass(frozen=True)
class SmallCNNConfig:
    """Architecture of :class:`SmallCNN`."""

    in_channels: int = 3
    n_classes: int = 2
    channels: tuple[int, int, int] = (16, 32, 64)
    hidden: int = 128
    dropout: float = 0.3
    pool_to: int = 4
    n_features: int = 0
    norm: str = "group"

    def __post_init__(self) -> None:
        if self.in_channels < 1 or self.n_classes < 2:
            raise ConfigError(
                f"SmallCNN needs in_channels >= 1 and n_classes >= 2, got "
                f"{self.in_channels} and {self.n_classes}"
            )
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if len(self.channels) != 3 or min(self.channels) < 1:
            raise ConfigError(f"SmallCNN channels {self.channels} must be 3 positive integers")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"SmallCNN dropout {self.dropout} must be in [0, 1)")
        if self.norm not in ("group", "batch", "none"):
            raise ConfigError(f"SmallCNN norm {self.norm!r} must be group, batch or none")
        if self.hidden < 1 or self.pool_to < 1 or self.n_features < 0:
            raise ConfigError("SmallCNN hidden and pool_to must be >= 1, n_features >= 0")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SmallCNNConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown SmallCNN option(s) {unknown}; known: {sorted(known)}")
        d = dict(data)
        if "channels" in d:
            d["channels"] = tuple(d["channels"])
        return cls(**d)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(next(g for g in (4, 2, 1) if channels % g == 0), channels)
    return nn.Identity()


class SmallCNN(nn.Module):
    """3 conv + 2 fc classifier (see module docstring)."""

    def __init__(self, config: SmallCNNConfig | None = None):
        super().__init__()
        self.config = config or SmallCNNConfig()
        c = self.config
        blocks = []
        cin = c.in_channels
        for cout in c.channels:
            blocks += [
                nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=c.norm == "none"),
                _norm(c.norm, cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            cin = cout
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(c.pool_to)
        self.fc1 = nn.Linear(cin * c.pool_to**2 + c.n_features, c.hidden)
        self.drop = nn.Dropout(c.dropout)
        self.fc2 = nn.Linear(c.hidden, c.n_classes)

    def forward(self, x: Any, features: Any = None) -> Any:
        h = self.pool(self.features(x)).flatten(1)
        if self.config.n_features:
            if features is None:
                raise ConfigError(f"this SmallCNN expects {self.config.n_features} scalar features")
            h = torch.cat([h, features.to(h.dtype)], dim=1)
        h = self.drop(torch.relu(self.fc1(h)))
        return self.fc2(h)
