"""The ``"images"`` dataset kind of the trainer: event-image files for classification.

``calolab train --data images.h5 --model resnet18`` (or
``DataConfig(path, kind="images", target="particle", classes=(...))``) reads an event-image
file (:mod:`calolab.events.hdf5`). The images are normalised as the file's image config says
(saturation; linear 0–255 or log; both then divided by 255, like torchvision's ``ToTensor``)
and kept in memory as float16 (3 × 100 × 100 pixels: 60 kB per event). Classes are matched
by name: the labels of the file are mapped onto ``DataConfig.classes`` (the run's classes),
so a test file may hold the classes in another order or only some of them.

Data options (``--data-option KEY=VALUE``): see :class:`ImageDataOptions`. Augmentation
(random φ rolls, η and φ flips; :mod:`calolab.events.augment`) applies to the shuffled
training stream only, never to validation or prediction; its random choices depend on
(seed, epoch, batch), so runs are reproducible and resumable.

Inputs served: ``image`` ``(3, n_eta, n_phi)``. The "detector" of a run is the image
geometry: evaluation refuses images of another resolution or η range.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from calolab.core.errors import ConfigError, DataError
from calolab.events.augment import Augmentation, transform_batch
from calolab.events.hdf5 import ImageFile, load_normalized
from calolab.events.images import NORMALIZATIONS, ImageConfig
from calolab.models.registry import _options_from_dict
from calolab.training.config import DataConfig
from calolab.training.datasets import GlobalBatches, register_dataset_kind


@dataclass(frozen=True)
class ImageDataOptions:
    """Options of the ``"images"`` dataset kind.

    normalization, saturation_gev:
        Override the file's normalisation (``linear``, ``log``, ``none``) and saturation.
    augment:
        ``"auto"`` (φ rolls, φ flips, and η flips when the η range is symmetric), ``"none"``,
        ``"all"`` or a comma-separated list of ``phi_roll``, ``eta_flip``, ``phi_flip``.
    read_batch:
        Events per HDF5 read while loading.
    """

    normalization: str | None = None
    saturation_gev: tuple[float, ...] | None = None
    augment: str = "auto"
    read_batch: int = 512

    def __post_init__(self) -> None:
        if self.normalization is not None and self.normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"data: normalization {self.normalization!r} must be one of "
                f"{', '.join(NORMALIZATIONS)}"
            )
        if not isinstance(self.read_batch, int) or self.read_batch < 1:
            raise ConfigError(f"data: read_batch {self.read_batch!r} must be an integer >= 1")
        self.augmentation(ImageConfig())  # validates the text

    def augmentation(self, config: ImageConfig) -> Augmentation:
        if self.augment == "auto":
            return Augmentation(True, config.eta_symmetric, True)
        return Augmentation.parse(self.augment)


def image_geometry_hash(config: ImageConfig, channels: Sequence[str]) -> str:
    blob = json.dumps({"geometry": config.geometry(), "channels": list(channels)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class ImageSource:
    """:class:`~calolab.training.datasets.TrainingSource` for event-image files."""

    def __init__(self, config: DataConfig, inputs: Sequence[str], task: str):
        self.config = config
        self.options: ImageDataOptions = _options_from_dict(
            ImageDataOptions, "data options (images)", dict(config.options)
        )
        bad = [k for k in inputs if k != "image"]
        if bad:
            raise ConfigError(
                f"event-image files provide the input 'image', not {', '.join(bad)}; use an "
                "image model (cnn, resnet18, resnet34)"
            )
        if task != "classification":
            raise ConfigError(
                "event-image files are for classification (task 'classification'); they have "
                "no energy target"
            )
        self.inputs = tuple(inputs)
        self.task = task
        self.file = ImageFile(config.path)
        try:
            self._setup()
        finally:
            self.file.close()

    def _setup(self) -> None:
        f = self.file
        changes: dict[str, Any] = {}
        if self.options.normalization is not None:
            changes["normalization"] = self.options.normalization
        if self.options.saturation_gev is not None:
            sat = self.options.saturation_gev
            changes["saturation_gev"] = sat[0] if len(sat) == 1 else tuple(sat)
        self.image_config: ImageConfig = replace(f.config, **changes) if changes else f.config
        self.augment = self.options.augmentation(self.image_config)
        self.augment.check(self.image_config)
        self.n_events = min(len(f), self.config.max_events or len(f))
        if self.n_events < 2:
            raise DataError(f"'{f.path}' has {self.n_events} events; training needs at least 2")
        self.classes: tuple[str, ...] = tuple(self.config.classes)
        missing = [c for c in f.classes if c not in self.classes]
        labels = f.labels[: self.n_events]
        present = {f.classes[i] for i in np.unique(labels)}
        if missing and present & set(missing):
            raise DataError(
                f"'{f.path}' holds classes {sorted(present & set(missing))} that are not among "
                f"the run's classes {list(self.classes)}"
            )
        lut = np.array([self.classes.index(c) if c in self.classes else -1 for c in f.classes])
        self.labels = lut[labels].astype(np.int64)
        self.shapes: dict[str, tuple[int, ...]] = {"image": self.image_config.shape}
        self.channels = list(f.channels)
        self.provenance = f.provenance
        self.path = f.path
        self.scale = 1.0 / 255.0 if self.image_config.normalization != "none" else 1.0
        # normalised images in memory (float16), read block by block
        images, self.sum_et = load_normalized(
            f, self.image_config, np.arange(self.n_events), self.options.read_batch
        )
        self.images = torch.from_numpy(images)
        self.info = {k: f.rows(f"calolab/info/{k}", 0, self.n_events) for k in f.info_names}
        h = hashlib.sha256()
        h.update(json.dumps([self.n_events, list(f.classes)], sort_keys=True).encode())
        h.update(json.dumps(self.provenance, sort_keys=True, default=str).encode())
        for a, b in ((0, 64), (max(0, self.n_events - 64), self.n_events)):
            h.update(np.ascontiguousarray(f.rows("images", a, b)).tobytes())
        self._data_hash = h.hexdigest()

    # ------------------------------------------------------------------ protocol
    def fingerprint(self) -> dict[str, Any]:
        c = self.image_config
        return {
            "path": str(self.path),
            "data_hash": self._data_hash,
            "detector_hash": image_geometry_hash(c, self.channels),
            "detector_name": (
                f"event images {c.n_eta}x{c.n_phi}, eta [{c.eta_min:g}, {c.eta_max:g}]"
            ),
            "n_events": int(self.n_events),
        }

    def stats(self, indices: np.ndarray) -> dict[str, Any]:
        return {}

    def targets(self, indices: np.ndarray) -> np.ndarray:
        return self.labels[indices]

    def truth(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Class label, summed pixel value (GeV: E_T + track p_T in the image) and the
        file's per-event info (e.g. p̂_T, event number)."""
        out = {"label": self.labels[indices], "sum_gev": self.sum_et[indices]}
        out.update({k: v[indices] for k, v in self.info.items()})
        return out

    def dataset(
        self,
        indices: np.ndarray,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> ImageBatches:
        return ImageBatches(
            self,
            indices,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            epoch=epoch,
            rank=rank,
            world_size=world_size,
        )

    def close(self) -> None:
        self.images = torch.zeros(0)

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageBatches(GlobalBatches):
    """Batches ``{"inputs": {"image"}, "target", "index", "global_size"}`` of a set of events,
    split between ranks as in :class:`~calolab.training.datasets.GlobalBatches`; the φ-rotation
    and η-flip augmentation (with ``shuffle``) is drawn per global batch, so every rank gets the
    images it would see in one process, and depends only on ``(seed, epoch)``.
    """

    source: ImageSource

    def __iter__(self) -> Iterator[dict[str, Any]]:
        src = self.source
        n_workers, worker = self._worker()
        idx = (
            self.indices[self._rng().permutation(len(self.indices))]
            if self.shuffle
            else self.indices
        )
        starts = [
            a
            for a in range(0, len(idx), self.batch_size)
            if self._kept(len(idx[a : a + self.batch_size]))
        ]
        aug = src.augment if (self.shuffle and src.augment.enabled) else None
        w = src.image_config.n_phi
        for j, a in enumerate(starts):
            if j % n_workers != worker:
                continue
            whole = idx[a : a + self.batch_size]
            n = len(whole)
            lo, hi = self._bounds(n)
            if hi == lo:
                continue
            b = whole[lo:hi]
            x = src.images[torch.from_numpy(b)].float() * src.scale
            if aug is not None:
                arng = np.random.default_rng(
                    np.random.SeedSequence(self.seed, spawn_key=(self.epoch, a, 0xA6))
                )
                p = {k: v[lo:hi] for k, v in aug.draw(arng, n, w).items()}
                x = transform_batch(x, p["shift"], p["eta_flip"], p["phi_flip"])
            yield {
                "inputs": {"image": x},
                "target": torch.from_numpy(src.labels[b]),
                "index": torch.from_numpy(b),
                "global_size": n,
            }


def _open_images(config: DataConfig, inputs: Sequence[str], task: str) -> ImageSource:
    return ImageSource(config, inputs, task)


register_dataset_kind("images", _open_images)
