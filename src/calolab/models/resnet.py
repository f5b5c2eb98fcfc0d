"""ResNet-18 / ResNet-34 for multi-channel images, written in PyTorch.

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
(arXiv:1512.03385), Table 1: basic blocks of two 3×3 convolutions with an identity (or
1×1-projection) shortcut; stages of 64, 128, 256, 512 channels with [2, 2, 2, 2] (18) or
[3, 4, 6, 3] (34) blocks, the first block of stages 2–4 halving the resolution. Study B
trained these on 3-channel 100 × 100 event images (86 % / 87 % accuracy).

``stem="imagenet"`` is the paper's 7×7 stride-2 convolution + 3×3 max pooling (100 × 100 →
25 × 25 before the stages); ``stem="small"`` a 3×3 stride-1 convolution for small inputs
(e.g. calorimeter cell grids). Input ``(N, C, H, W)``, output logits ``(N, n_classes)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from calolab.core.errors import ConfigError, require

require("torch", "ml", "image models")
import torch  # noqa: E402
from torch import nn  # noqa: E402

#: Blocks per stage (He et al. 2016, Table 1).
DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
STEMS = ("imagenet", "small")


@dataclass(frozen=True)
class ResNetConfig:
    """Architecture of :class:`ResNet`."""

    depth: int = 18
    in_channels: int = 3
    n_classes: int = 2
    width: int = 64
    stem: str = "imagenet"
    n_features: int = 0
    zero_init_residual: bool = True

    def __post_init__(self) -> None:
        if self.depth not in DEPTHS:
            raise ConfigError(f"ResNet depth {self.depth} must be one of {sorted(DEPTHS)}")
        if self.stem not in STEMS:
            raise ConfigError(f"ResNet stem {self.stem!r} must be one of {STEMS}")
        if self.in_channels < 1 or self.n_classes < 2 or self.width < 1 or self.n_features < 0:
            raise ConfigError(
                "ResNet needs in_channels >= 1, n_classes >= 2, width >= 1, n_features >= 0"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown ResNet option(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and a shortcut (He et al. 2016, Fig. 2)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Any) -> Any:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return torch.relu(h + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-18/34 classifier (see module docstring)."""

    def __init__(self, config: ResNetConfig | None = None):
        super().__init__()
        self.config = config or ResNetConfig()
        c = self.config
        w = c.width
        if c.stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(c.in_channels, w, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(c.in_channels, w, 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
            )
        stages = []
        cin = w
        for i, n_blocks in enumerate(DEPTHS[c.depth]):
            cout = w * 2**i
            blocks = [BasicBlock(cin, cout, 1 if i == 0 else 2)]
            blocks += [BasicBlock(cout, cout, 1) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin + c.n_features, c.n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if c.zero_init_residual:
            # start each residual branch at zero (Goyal et al. 2017, arXiv:1706.02677)
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x: Any, features: Any = None) -> Any:
        h = self.pool(self.stages(self.stem(x))).flatten(1)
        if self.config.n_features:
            if features is None:
                raise ConfigError(f"this ResNet expects {self.config.n_features} scalar features")
            h = torch.cat([h, features.to(h.dtype)], dim=1)
        return self.fc(h)


def resnet18(**kwargs: Any) -> ResNet:
    return ResNet(ResNetConfig(depth=18, **kwargs))


def resnet34(**kwargs: Any) -> ResNet:
    return ResNet(ResNetConfig(depth=34, **kwargs))
