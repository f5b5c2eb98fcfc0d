"""PyTorch dataset of event images for classification.

:class:`EventImageDataset` reads an event-image file (:mod:`calolab.events.hdf5`), applies
the normalisation of its :class:`~calolab.events.images.ImageConfig` (saturation, linear
0–255 or log; overridable) and divides by 255 for the network, as torchvision's
``ToTensor`` does for 8-bit images. Items are ``(image (3, n_eta, n_phi) float32, label
int64)``. With an :class:`~calolab.events.augment.Augmentation`, every item is randomly
rotated in φ and flipped; the random choices come from ``SeedSequence(seed,
spawn_key=(epoch, index))``, so they are reproducible, independent of data-loader workers,
and differ between epochs (call :meth:`set_epoch`).

Images are cached in memory as float16 (relative precision 5·10⁻⁴): 10,000 events of
3 × 100 × 100 take 600 MB.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError, DataError, require
from calolab.events.augment import Augmentation
from calolab.events.hdf5 import ImageFile, load_normalized
from calolab.events.images import ImageConfig

require("torch", "ml", "training on event images")
import torch  # noqa: E402


class EventImageDataset(torch.utils.data.Dataset):
    """Event images and class labels from one file.

    Parameters
    ----------
    path:
        Event-image file.
    indices:
        Subset of events (e.g. a train/test split); default all.
    normalization, saturation_gev:
        Override the file's image normalisation.
    augmentation:
        Random symmetry transformations applied to every item (training only).
    seed:
        Seed of the augmentation.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        indices: Sequence[int] | np.ndarray | None = None,
        normalization: str | None = None,
        saturation_gev: float | Sequence[float] | None = None,
        augmentation: Augmentation | None = None,
        seed: int = 0,
        batch_size: int = 512,
    ):
        with ImageFile(path) as f:
            cfg = f.config
            changes: dict[str, Any] = {}
            if normalization is not None:
                changes["normalization"] = normalization
            if saturation_gev is not None:
                changes["saturation_gev"] = saturation_gev
            self.config: ImageConfig = replace(cfg, **changes) if changes else cfg
            self.classes = list(f.classes)
            self.path = f.path
            self.provenance = f.provenance
            n = len(f)
            idx = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                raise DataError(f"indices outside [0, {n}) for '{f.path}'")
            if len(idx) == 0:
                raise DataError(f"no events selected from '{f.path}'")
            self.indices = idx
            self.labels = f.labels[idx]
            images, _ = load_normalized(f, self.config, idx, batch_size)
            digest = hashlib.sha256()
            digest.update(str(self.path.resolve()).encode())
            digest.update(str(os.path.getmtime(self.path)).encode())
            digest.update(idx.tobytes())
            self.data_hash = digest.hexdigest()[:16]
        self.images = torch.from_numpy(images)
        self.scale = 1.0 / 255.0 if self.config.normalization != "none" else 1.0
        self.augmentation = augmentation if augmentation and augmentation.enabled else None
        if self.augmentation is not None:
            self.augmentation.check(self.config)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed {seed!r} must be an integer >= 0")
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.config.shape

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation stream of an epoch."""
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        x = self.images[i].float() * self.scale
        if self.augmentation is not None:
            rng = np.random.default_rng(
                np.random.SeedSequence(self.seed, spawn_key=(self.epoch, int(i)))
            )
            x = self.augmentation.apply(x, rng)
        return x, torch.tensor(self.labels[i], dtype=torch.long)


def split_indices(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A reproducible stratified split into train and test indices."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test fraction {test_fraction} must be in (0, 1)")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
