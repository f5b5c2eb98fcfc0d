"""Training: configs, datasets streaming from HDF5, losses, the trainer, run loading.

Public API
----------
:class:`TrainConfig`, :class:`DataConfig`, :func:`train` (→ :class:`TrainResult`),
:class:`Trainer`, :class:`TrainHooks`, :class:`DistContext`, :func:`load_run`
(→ :class:`TrainedRun`), :func:`open_source`, :func:`register_dataset_kind`,
:class:`ShowerSource`, :class:`ShowerDataset`, :class:`ShowerDataOptions`,
:func:`split_indices`, :func:`build_loss`, :class:`HuberFractionalLoss`.
"""

from __future__ import annotations

from calolab.core.errors import require

require("torch", "ml", "calolab.training")

from calolab.training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from calolab.training.config import DataConfig, TrainConfig  # noqa: E402
from calolab.training.datasets import (  # noqa: E402
    DATASET_KINDS,
    ShowerDataOptions,
    ShowerDataset,
    ShowerSource,
    TrainingSource,
    open_source,
    register_dataset_kind,
    split_indices,
)
from calolab.training.distributed import distributed  # noqa: E402
from calolab.training.images import ImageDataOptions, ImageSource  # noqa: E402
from calolab.training.losses import (  # noqa: E402
    CrossEntropyLoss,
    HuberFractionalLoss,
    MSELoss,
    RelativeLoss,
    build_loss,
)
from calolab.training.run import Predictions, TrainedRun, load_run  # noqa: E402
from calolab.training.trainer import (  # noqa: E402
    DistContext,
    MemberResult,
    Trainer,
    TrainHooks,
    TrainResult,
    resolve_device,
    train,
)

__all__ = [
    "DATASET_KINDS",
    "CrossEntropyLoss",
    "DataConfig",
    "DistContext",
    "HuberFractionalLoss",
    "ImageDataOptions",
    "ImageSource",
    "MSELoss",
    "MemberResult",
    "Predictions",
    "RelativeLoss",
    "ShowerDataOptions",
    "ShowerDataset",
    "ShowerSource",
    "TrainConfig",
    "TrainHooks",
    "TrainResult",
    "TrainedRun",
    "Trainer",
    "TrainingSource",
    "build_loss",
    "distributed",
    "load_checkpoint",
    "load_run",
    "open_source",
    "register_dataset_kind",
    "resolve_device",
    "save_checkpoint",
    "split_indices",
    "train",
]
