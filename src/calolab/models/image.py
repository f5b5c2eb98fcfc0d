"""Image classifiers as registered model kinds: ``cnn`` (3 conv + 2 fc), ``resnet18``,
``resnet34``.

They see either event images (input ``image``, ``(C, n_eta, n_phi)``, already normalised
by the event-image dataset: 0–255 scaled to 0–1) or the cell grid of a shower file (input
``grid``, ``(layers, nx, ny)``: the layers become the image channels, cell energies enter as
``ln(1 + E/E0)`` with E0 the median non-zero cell energy of the training set, as in
:mod:`calolab.models.cnn3d`) — photon / π0 / neutron identification. Standardised scalar
features (``layers``, ``highlevel``) can join the fully connected head (``scalars``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from calolab.core.errors import ConfigError
from calolab.models.cnn import SmallCNN, SmallCNNConfig
from calolab.models.normalization import Normalizer
from calolab.models.registry import ModelKind
from calolab.models.resnet import ResNet, ResNetConfig

IMAGE_INPUTS = ("image", "grid")
SCALAR_SETS = {
    "none": (),
    "layers": ("layers",),
    "highlevel": ("highlevel",),
    "layers+highlevel": ("layers", "highlevel"),
}


def _check_common(name: str, input: str, scalars: str) -> None:
    if input not in IMAGE_INPUTS:
        raise ConfigError(
            f"{name}: input {input!r} must be 'image' (event images) or 'grid' (shower cells)"
        )
    if scalars not in SCALAR_SETS:
        raise ConfigError(f"{name}: scalars {scalars!r} must be one of {', '.join(SCALAR_SETS)}")


@dataclass(frozen=True)
class CNNOptions:
    """``cnn``: three conv blocks (``channels``, GroupNorm by default: ``norm``) and two
    fully connected layers (``hidden``, ``dropout``)."""

    input: str = "image"
    channels: tuple[int, ...] = (16, 32, 64)
    hidden: int = 128
    dropout: float = 0.3
    scalars: str = "none"
    norm: str = "group"

    def __post_init__(self) -> None:
        _check_common("cnn", self.input, self.scalars)
        if self.norm not in ("group", "batch", "none"):
            raise ConfigError(f"cnn: norm {self.norm!r} must be group, batch or none")
        if len(self.channels) != 3 or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ConfigError(f"cnn: channels {self.channels!r} must be 3 positive integers")
        if not isinstance(self.hidden, int) or self.hidden < 1:
            raise ConfigError(f"cnn: hidden {self.hidden!r} must be an integer >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"cnn: dropout {self.dropout!r} must be in [0, 1)")


@dataclass(frozen=True)
class ResNetOptions:
    """``resnet18`` / ``resnet34``: ``stem`` ``"auto"`` is the ImageNet stem for images of
    at least 32 × 32 pixels and the 3×3 stride-1 stem for smaller ones."""

    input: str = "image"
    width: int = 64
    stem: str = "auto"
    scalars: str = "none"

    def __post_init__(self) -> None:
        _check_common("resnet", self.input, self.scalars)
        if self.stem not in ("auto", "imagenet", "small"):
            raise ConfigError(f"resnet: stem {self.stem!r} must be auto, imagenet or small")
        if not isinstance(self.width, int) or self.width < 1:
            raise ConfigError(f"resnet: width {self.width!r} must be an integer >= 1")


class ImageClassifier(nn.Module):
    """``forward({"image" | "grid": (N, C, H, W), [scalars]})`` → logits ``(N, n_classes)``."""

    def __init__(
        self,
        shapes: Mapping[str, tuple[int, ...]],
        input: str,
        scalars: str,
        backbone: Callable[[int, int], nn.Module],
    ):
        super().__init__()
        if len(shapes[input]) != 3:
            raise ConfigError(
                f"input '{input}' has shape {shapes[input]}; image models need (C, H, W)"
            )
        self.input = input
        self.scalars = SCALAR_SETS[scalars]
        self.norm = Normalizer({k: shapes[k] for k in (input, *self.scalars)})
        n_features = sum(shapes[k][0] for k in self.scalars)
        self.net = backbone(shapes[input][0], n_features)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        x = inputs[self.input].float()
        if self.input == "grid":
            e0 = cast(torch.Tensor, self.norm.grid_e0)
            x = torch.log1p(torch.clamp(x, min=0.0) / e0)
        feats = None
        if self.scalars:
            feats = torch.cat([self.norm.vector(k, inputs[k].float()) for k in self.scalars], 1)
        return self.net(x, feats)


def _inputs(options: Any) -> tuple[str, ...]:
    return (options.input, *SCALAR_SETS[options.scalars])


def build_cnn(options: CNNOptions, shapes: Any, *, task: str, n_outputs: int) -> nn.Module:
    def backbone(c: int, f: int) -> nn.Module:
        return SmallCNN(
            SmallCNNConfig(
                in_channels=c,
                n_classes=n_outputs,
                channels=tuple(options.channels),  # type: ignore[arg-type]
                hidden=options.hidden,
                dropout=options.dropout,
                n_features=f,
                norm=options.norm,
            )
        )

    return ImageClassifier(shapes, options.input, options.scalars, backbone)


def _build_resnet(depth: int) -> Callable[..., nn.Module]:
    def build(options: ResNetOptions, shapes: Any, *, task: str, n_outputs: int) -> nn.Module:
        stem = options.stem
        if stem == "auto":
            stem = "imagenet" if min(shapes[options.input][1:]) >= 32 else "small"

        def backbone(c: int, f: int) -> nn.Module:
            return ResNet(
                ResNetConfig(
                    depth=depth,
                    in_channels=c,
                    n_classes=n_outputs,
                    width=options.width,
                    stem=stem,
                    n_features=f,
                )
            )

        return ImageClassifier(shapes, options.input, options.scalars, backbone)

    return build


KINDS = (
    ModelKind(
        "cnn",
        CNNOptions,
        build_cnn,
        _inputs,
        tasks=("classification",),
        description="small CNN (3 conv + 2 fc) on event images or shower cell grids",
    ),
    ModelKind(
        "resnet18",
        ResNetOptions,
        _build_resnet(18),
        _inputs,
        tasks=("classification",),
        description="ResNet-18 on event images or shower cell grids",
    ),
    ModelKind(
        "resnet34",
        ResNetOptions,
        _build_resnet(34),
        _inputs,
        tasks=("classification",),
        description="ResNet-34 on event images or shower cell grids",
    ),
)
