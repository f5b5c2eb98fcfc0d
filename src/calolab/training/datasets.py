"""Training data: PyTorch datasets that stream from calolab HDF5 files, splits, fingerprints.

A *dataset kind* turns a :class:`~calolab.training.config.DataConfig` into a
:class:`TrainingSource`, which the trainer and the evaluation use. Built in: ``"showers"``
(calolab / CaloChallenge HDF5 files). Other kinds (e.g. event images) register an opener::

    register_dataset_kind("images", open_images)   # open_images(config, inputs, task)

A source serves batches as dicts ``{"inputs": {name: tensor}, "target": tensor,
"index": tensor}``; input names are listed in :mod:`calolab.models.normalization`.

For shower files the scalar inputs (``total``, ``layers``, ``highlevel``) and the truth are
computed in one streaming pass and kept in memory (``(N, L + F)`` floats — small); the cell
grids of a 3D CNN (``grid``) are read again from the file every epoch, block by block, and
shuffled within a buffer of blocks, so a file is never loaded whole.

Splits are decided per event from a hash of (seed, event index) — independent of batching,
of the number of workers and of the order of the events in mixed samples.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

import h5py
import numpy as np
import torch
from torch.utils.data import IterableDataset

from calolab.core.errors import ConfigError, DataError
from calolab.data.hdf5 import ShowerFile
from calolab.data.showers import Showers, grid_span
from calolab.models.features import (
    DEFAULT_THRESHOLDS_GEV,
    HighLevelFeatures,
    default_grid_section,
    grid_shape,
)
from calolab.models.normalization import StatsAccumulator
from calolab.models.registry import _options_from_dict
from calolab.training.config import DataConfig

Batch = dict[str, Any]


# ----------------------------------------------------------------------------- splits
def event_uniforms(indices: np.ndarray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per event index, from a SplitMix64 hash of (seed, index).

    Deterministic and independent of how the events are batched.
    """
    with np.errstate(over="ignore"):
        z = np.asarray(indices, dtype=np.uint64) + np.uint64(
            (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def split_indices(
    n_events: int, *, seed: int, val_fraction: float, folds: int = 1, member: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation event indices.

    ``folds == 1``: events with hash < ``val_fraction`` are validation. ``folds = k > 1``:
    event fold = ⌊k · hash⌋; member m validates on fold m and trains on the others.
    """
    idx = np.arange(n_events, dtype=np.int64)
    u = event_uniforms(idx, seed)
    if folds > 1:
        val = np.floor(u * folds).astype(np.int64) == member
    else:
        val = u < val_fraction
    return idx[~val], idx[val]


# ----------------------------------------------------------------------------- protocol
class TrainingSource(Protocol):
    """What the trainer needs from a dataset kind."""

    n_events: int
    shapes: dict[str, tuple[int, ...]]
    classes: tuple[str, ...]

    def fingerprint(self) -> dict[str, Any]:
        """``{"data_hash", "detector_hash", "detector_name", "n_events", "path"}``."""
        ...

    def stats(self, indices: np.ndarray) -> dict[str, Any]:
        """Normalisation statistics of the inputs over the events ``indices``."""
        ...

    def targets(self, indices: np.ndarray) -> np.ndarray:
        """Targets (energy GeV or class index) of the events ``indices``."""
        ...

    def truth(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Per-event truth for evaluation (at least ``energy`` GeV and ``pdg``)."""
        ...

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
    ) -> torch.utils.data.Dataset:
        """A dataset that yields whole batches (use ``DataLoader(ds, batch_size=None)``)."""
        ...

    def close(self) -> None: ...


Opener = Callable[[DataConfig, Sequence[str], str], TrainingSource]
DATASET_KINDS: dict[str, Opener] = {}


def register_dataset_kind(name: str, opener: Opener) -> None:
    """Register ``opener(data_config, input_names, task) -> TrainingSource`` for ``kind``."""
    DATASET_KINDS[name] = opener


def open_source(config: DataConfig, inputs: Sequence[str], task: str) -> TrainingSource:
    """Open the training data described by ``config`` for a model needing ``inputs``."""
    if config.kind not in DATASET_KINDS:
        raise ConfigError(
            f"data: unknown dataset kind {config.kind!r}; known: {', '.join(sorted(DATASET_KINDS))}"
        )
    return DATASET_KINDS[config.kind](config, inputs, task)


# ----------------------------------------------------------------------------- showers
@dataclass(frozen=True)
class ShowerDataOptions:
    """Options of the ``"showers"`` dataset kind.

    digitized:
        ``True``: the digitised cell energies (what the readout measures: noise, thresholds,
        saturation); ``False``: the true visible energies; ``None`` (the default): the
        digitised cells when the file has them, else the true visible energies. A trained
        run records the value it used, and is evaluated on the same kind of cells.
    thresholds_gev, cluster_threshold_gev:
        Of the high-level features (:class:`~calolab.models.features.HighLevelFeatures`).
    grid_section:
        Section seen by a 3D CNN; ``"auto"``: the whole detector if every readout layer has
        the same grid, else the first section; ``"all"``: the whole detector.
    read_batch:
        Events per HDF5 read (a block); ``None``: about 16 MB of cells when grids are
        streamed, 64 MB otherwise.
    shuffle_blocks:
        Blocks of ``read_batch`` events mixed together when streaming grids (a group); the
        next group is read ahead in a background thread, so up to two groups are in memory.
    binning, binning_particle:
        For CaloChallenge files from other tools: the challenge's binning XML that splits the
        voxels into layers, and its entry to use when it describes several particles
        (:func:`calolab.data.binning.layout_for`; the 2022 datasets are recognised without
        it).
    dead_augment, dead_augment_seed:
        Train with dead channels: each event gets its own random mask with up to
        ``dead_augment`` of its cells dead (a fraction uniform in [0, dead_augment),
        :func:`calolab.data.conditions.event_dead_masks`), in the scalar inputs and the grids
        alike, so that the model learns to live with dead channels. Only training applies it:
        a trained run opens test files without it.
    """

    digitized: bool | None = None
    thresholds_gev: tuple[float, ...] = DEFAULT_THRESHOLDS_GEV
    cluster_threshold_gev: float = 1e-2
    grid_section: str = "auto"
    read_batch: int | None = None
    shuffle_blocks: int = 16
    binning: str | None = None
    binning_particle: str | None = None
    dead_augment: float = 0.0
    dead_augment_seed: int = 0

    def __post_init__(self) -> None:
        from calolab.data.conditions import check_fraction

        check_fraction(self.dead_augment, "data: dead_augment")
        if self.read_batch is not None and (
            not isinstance(self.read_batch, int) or self.read_batch < 1
        ):
            raise ConfigError(f"data: read_batch {self.read_batch!r} must be an integer >= 1")
        if not isinstance(self.shuffle_blocks, int) or self.shuffle_blocks < 1:
            raise ConfigError(
                f"data: shuffle_blocks {self.shuffle_blocks!r} must be an integer >= 1"
            )

    @property
    def highlevel(self) -> HighLevelFeatures:
        return HighLevelFeatures(tuple(self.thresholds_gev), float(self.cluster_threshold_gev))


def file_fingerprint(f: ShowerFile) -> str:
    """A cheap content hash of a shower file.

    SHA-256 of the shapes, the stored provenance (config hash, seed, ...), the detector hash
    and the bytes of the first and last 64 events; reading the whole file is avoided.
    """
    h = hashlib.sha256()
    h.update(json.dumps([f.n_events, f.n_cells], sort_keys=True).encode())
    h.update(json.dumps(f.provenance, sort_keys=True, default=str).encode())
    h.update((f.detector.hash if f.detector is not None else "none").encode())
    for a, b in ((0, 64), (max(0, f.n_events - 64), f.n_events)):
        h.update(np.ascontiguousarray(f.cell_rows(a, b)).tobytes())
        h.update(np.ascontiguousarray(f.rows("incident_energies", a, b)).tobytes())
    return h.hexdigest()


def _class_map(classes: Sequence[str]) -> dict[int, int]:
    from calolab.core.particles import particle_pdg

    out: dict[int, int] = {}
    for i, c in enumerate(classes):
        try:
            pdg = particle_pdg(c)
        except ConfigError as exc:
            raise ConfigError(f"data: class {c!r} is not a particle name ({exc})") from None
        if pdg in out:
            raise ConfigError(f"data: class {c!r} is listed twice")
        out[pdg] = i
    return out


class ShowerSource:
    """:class:`TrainingSource` for calolab / CaloChallenge HDF5 shower files.

    Parameters
    ----------
    config:
        The data config (``kind = "showers"``).
    inputs:
        Input names the model needs (``total``, ``layers``, ``highlevel``, ``grid``).
    task:
        ``"regression"`` (target: true energy, GeV) or ``"classification"`` (target: index
        of the primary particle in ``config.classes``).
    progress:
        Called with the number of events read during the feature pass.
    """

    SCALAR_INPUTS = ("total", "layers", "highlevel")

    def __init__(
        self,
        config: DataConfig,
        inputs: Sequence[str],
        task: str,
        progress: Callable[[int], None] | None = None,
    ):
        self.config = config
        self.options: ShowerDataOptions = _options_from_dict(
            ShowerDataOptions, "data options (showers)", dict(config.options)
        )
        unknown = [k for k in inputs if k not in (*self.SCALAR_INPUTS, "grid")]
        if unknown:
            raise ConfigError(
                f"shower files provide the inputs total, layers, highlevel and grid, not "
                f"{', '.join(unknown)}"
            )
        self.inputs = tuple(inputs)
        self.task = task
        self.file = ShowerFile(
            config.path,
            check_finite=True,
            binning=self.options.binning,
            binning_particle=self.options.binning_particle,
        )
        try:
            self._setup(progress)
        except Exception:
            self.file.close()
            raise

    # ------------------------------------------------------------------ set-up
    def _setup(self, progress: Callable[[int], None] | None) -> None:
        f = self.file
        self.detector = f.detector
        self.n_events = min(f.n_events, self.config.max_events or f.n_events)
        if self.n_events < 2:
            raise DataError(f"'{f.path}' has {self.n_events} events; training needs at least 2")
        if self.options.digitized is None:
            self.options = replace(self.options, digitized=f.has_digitized)
        if self.options.digitized and not f.has_digitized:
            raise DataError(
                f"'{f.path}' has no digitised cells; simulate with digitisation or drop "
                "the 'digitized' data option"
            )
        self.section: str | None = None
        self.shapes: dict[str, tuple[int, ...]] = {}
        hl = self.options.highlevel
        need_det = "highlevel" in self.inputs or "grid" in self.inputs
        if need_det and self.detector is None:
            raise DataError(
                f"'{f.path}' has no detector description; the high-level features and the "
                "3D grid need one (use a calolab file, or a model on layer sums)"
            )
        if self.detector is None and f.layer_sizes is None and "layers" in self.inputs:
            raise DataError(
                f"'{f.path}' has no calolab detector and its {f.n_cells} voxels per shower match "
                "none of the CaloChallenge layouts calolab knows (368, 533, 6480, 40500 "
                "voxels), so its layers are unknown; give its binning XML with --binning FILE "
                "(data option binning=FILE) rather than reading it as one layer"
            )
        n_layers = len(f.layer_sizes) if f.layer_sizes else 1
        if self.detector is not None:
            n_layers = self.detector.n_readout_layers
            if self.options.grid_section == "auto":
                self.section = default_grid_section(self.detector)
            elif self.options.grid_section == "all":
                self.section = None
            else:
                self.section = self.options.grid_section
            if "grid" in self.inputs:
                self.shapes["grid"] = grid_shape(self.detector, self.section)
        # blocks of ~16 MB of cells for grids (they are shuffled in groups), ~64 MB otherwise
        cells_mb = (16 << 20) if "grid" in self.inputs else (64 << 20)
        self.read_batch = self.options.read_batch or int(
            min(4096, max(8, cells_mb // (4 * f.n_cells)))
        )
        chunk = f.cell_chunk_rows
        if self.options.read_batch is None and chunk is not None and chunk < self.read_batch:
            # whole HDF5 chunks per block: no chunk is inflated twice
            self.read_batch -= self.read_batch % chunk
        if "total" in self.inputs:
            self.shapes["total"] = ()
        if "layers" in self.inputs:
            self.shapes["layers"] = (n_layers,)
        if "highlevel" in self.inputs:
            self.shapes["highlevel"] = (len(hl.names),)
        self.classes = tuple(self.config.classes) if self.task == "classification" else ()
        self._table_pass(progress)

    def _table_pass(self, progress: Callable[[int], None] | None) -> None:
        """Read the file once: scalar inputs, truth, and the grid statistics."""
        f = self.file
        hl = self.options.highlevel
        dig = bool(self.options.digitized)  # resolved in _setup
        cols: dict[str, list[np.ndarray]] = {k: [] for k in self.SCALAR_INPUTS if k in self.inputs}
        energy, pdg, grid_total = [], [], []
        nonzero: list[np.ndarray] = []
        n_nonzero = 0
        rb = self.read_batch
        for a in range(0, self.n_events, rb):
            s = f.read(a, min(a + rb, self.n_events))
            if self.options.dead_augment > 0:
                s = self._augmented(s, a)
            if "total" in cols:
                cols["total"].append(s.total(dig).astype(np.float32))
            if "layers" in cols:
                cols["layers"].append(s.layer_energies(dig).astype(np.float32))
            if "highlevel" in cols:
                cols["highlevel"].append(hl(s, dig).astype(np.float32))
            if "grid" in self.inputs:
                g = s.grid(self.section, digitized=dig)
                grid_total.append(g.reshape(len(s), -1).sum(axis=1, dtype=np.float64))
                if n_nonzero < 200_000:
                    nz = g[g > 0][:50_000]
                    nonzero.append(nz.astype(np.float64))
                    n_nonzero += len(nz)
            energy.append(np.asarray(s.energy, dtype=np.float64))
            pdg.append(np.asarray(s.pdg, dtype=np.int64))
            if progress is not None:
                progress(len(s))
        self.table = {k: np.concatenate(v) for k, v in cols.items()}
        self.energy = np.concatenate(energy)
        self.pdg = np.concatenate(pdg)
        if np.any(self.energy <= 0):
            i = int(np.flatnonzero(self.energy <= 0)[0])
            raise DataError(
                f"'{f.path}': event {i} has true energy {self.energy[i]} GeV; "
                "energies must be > 0"
            )
        self.grid_total = np.concatenate(grid_total) if grid_total else None
        nz = np.concatenate(nonzero) if nonzero else np.zeros(0)
        self.grid_e0 = float(np.median(nz)) if len(nz) else 1e-3
        if self.task == "classification":
            cmap = _class_map(self.classes)
            known = np.isin(self.pdg, list(cmap))
            if not known.all():
                found = sorted({int(p) for p in np.unique(self.pdg[~known])})
                raise DataError(
                    f"'{f.path}': {int((~known).sum())} events have particles (PDG "
                    f"{found}) that are not among the classes {list(self.classes)}; "
                    "list every particle of the file as a class"
                )
            self.labels = np.vectorize(cmap.__getitem__, otypes=[np.int64])(self.pdg)
        else:
            self.labels = None

    def dead_masks(self, rows: np.ndarray) -> np.ndarray:
        """The training dead-cell masks of events ``rows`` (``dead_augment``)."""
        from calolab.data.conditions import event_dead_masks

        return event_dead_masks(
            rows, self.file.n_cells, self.options.dead_augment, self.options.dead_augment_seed
        )

    def _augmented(self, s: Showers, first: int) -> Showers:
        m = self.dead_masks(np.arange(first, first + len(s)))
        s.cells = np.where(m, np.float32(0), s.cells)
        if s.digitized is not None:
            s.digitized = np.where(m, np.float32(0), s.digitized)
        return s

    # ------------------------------------------------------------------ protocol
    def fingerprint(self) -> dict[str, Any]:
        det = self.detector
        return {
            "path": str(self.file.path),
            "data_hash": file_fingerprint(self.file),
            "detector_hash": det.hash if det is not None else None,
            "detector_name": det.name if det is not None else None,
            "n_events": int(self.n_events),
            "grid_section": self.section,
        }

    def targets(self, indices: np.ndarray) -> np.ndarray:
        if self.labels is not None:
            return self.labels[indices]
        return self.energy[indices]

    def truth(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """``energy`` (GeV) and ``pdg``, every other per-event scalar truth field of the file
        (``deposited``, ``visible``, ...), and the polar and azimuthal angles ``theta`` and
        ``phi`` (degrees) of the ``direction`` when the file has one."""
        idx = np.asarray(indices, dtype=np.int64)
        out: dict[str, np.ndarray] = {"energy": self.energy[idx], "pdg": self.pdg[idx]}
        group = self.file.f.get("calolab/truth")
        if group is None or len(idx) == 0:
            return out
        for k in group:
            if k in out or not isinstance(group[k], h5py.Dataset):
                continue
            ds = group[k]
            if ds.ndim == 1 or (k == "direction" and ds.ndim == 2 and ds.shape[1] == 3):
                # one column (a few MB at most), read with the file's bounded reader
                vals = np.asarray(self.file.rows(f"calolab/truth/{k}", 0, self.n_events))[idx]
                if ds.ndim == 1:
                    out[k] = vals
                else:
                    d = vals.astype(np.float64)
                    norm = np.linalg.norm(d, axis=1)
                    cos = np.clip(d[:, 2] / np.where(norm > 0, norm, 1.0), -1.0, 1.0)
                    out["theta"] = np.degrees(np.arccos(cos))
                    out["phi"] = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
        return out

    def stats(self, indices: np.ndarray) -> dict[str, Any]:
        acc = StatsAccumulator()
        arrays = {k: v[indices] for k, v in self.table.items()}
        acc.update(arrays, self.energy[indices])
        out = acc.finish()
        if "grid" in self.inputs and self.grid_total is not None:
            out["grid_scale"] = max(float(np.mean(self.grid_total[indices])), 1e-12)
            out["grid_e0"] = self.grid_e0
        if "total" not in self.table:
            tot = (
                self.table["layers"][indices].sum(axis=1, dtype=np.float64)
                if "layers" in self.table
                else None
            )
            if tot is not None and tot.mean() > 0:
                out["total_scale"] = float(tot.mean())
                out["calibration"] = float(self.energy[indices].mean() / tot.mean())
        if self.detector is not None and "layers" in self.inputs:
            from calolab.models.baselines import mip_layer_weights

            out["mip_weights"] = mip_layer_weights(self.detector)
        return out

    def scalar_arrays(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """In-memory scalar inputs of the events ``indices`` (numpy)."""
        return {k: v[indices] for k, v in self.table.items()}

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
    ) -> ShowerDataset:
        return ShowerDataset(
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
        self.file.close()

    def __enter__(self) -> ShowerSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GlobalBatches(IterableDataset):
    """Batches of a set of events whose optimisation steps do not depend on the number of
    processes: every batch of ``batch_size`` events (the global batch; the last one may be
    smaller) is split between the ranks, rank r taking events ``[r·n/W, (r+1)·n/W)`` of a
    batch of n, so every rank takes part in every step; with ``shuffle`` (training), a last
    batch with fewer events than ranks is dropped. With ``shuffle``, the order depends only on
    ``(seed, epoch)``. Batches carry ``global_size`` (n). DataLoader workers split a rank's
    batches in turn. Subclasses yield the batches (:meth:`__iter__`).
    """

    def __init__(
        self,
        source: Any,
        indices: np.ndarray,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        super().__init__()
        self.source = source
        self.indices = np.sort(np.asarray(indices, dtype=np.int64))
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.rank = rank
        self.world_size = world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = math.ceil(len(self.indices) / self.batch_size)
        last = len(self.indices) - (n - 1) * self.batch_size if n else 0
        if n and not self._kept(last):
            n -= 1
        return n

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(self.epoch,)))

    def _kept(self, n: int) -> bool:
        """Whether a global batch of ``n`` events is used (see the class description)."""
        return not (self.world_size > 1 and self.shuffle and n < self.world_size)

    def _bounds(self, n: int) -> tuple[int, int]:
        """This rank's part ``[lo, hi)`` of a global batch of ``n`` events."""
        return self.rank * n // self.world_size, (self.rank + 1) * n // self.world_size

    @staticmethod
    def _worker() -> tuple[int, int]:
        """(number of DataLoader workers, this worker's id); (1, 0) in the main process."""
        info = torch.utils.data.get_worker_info()
        return (info.num_workers, info.id) if info is not None else (1, 0)


class ShowerDataset(GlobalBatches):
    """Batches (``inputs``, ``target``, ``index``, ``global_size``) of a set of events of a
    shower file, streamed from HDF5, split between ranks as in :class:`GlobalBatches`.

    Scalar inputs come from the source's in-memory table; ``grid`` is read from the file in
    blocks of ``read_batch`` events, shuffled within a buffer of ``shuffle_blocks`` blocks.
    """

    source: ShowerSource

    def _batches_of_indices(self) -> list[tuple[np.ndarray, int, int]]:
        """Index batches with the first and last block group they need (-1: no grid)."""
        idx = self.indices
        bs = self.batch_size
        out: list[tuple[np.ndarray, int, int]] = []
        if "grid" not in self.source.inputs:
            order = self._rng().permutation(len(idx)) if self.shuffle else np.arange(len(idx))
            for a in range(0, len(idx), bs):
                out.append((idx[order[a : a + bs]], -1, -1))
            return out
        rb = self.source.read_batch
        blocks = np.unique(idx // rb)
        rng = self._rng()
        if self.shuffle:
            blocks = rng.permutation(blocks)
        group = self.source.options.shuffle_blocks if self.shuffle else 1
        self._groups: list[np.ndarray] = []
        pending = np.zeros(0, dtype=np.int64)
        first = 0  # group of the oldest pending event
        for gi, g in enumerate(range(0, len(blocks), group)):
            self._groups.append(blocks[g : g + group])
            chunk = idx[np.isin(idx // rb, blocks[g : g + group])]
            if self.shuffle:
                chunk = chunk[rng.permutation(len(chunk))]
            if not len(pending):
                first = gi
            pending = np.concatenate([pending, chunk])
            while len(pending) >= bs:
                out.append((pending[:bs], first, gi))
                pending = pending[bs:]
                first = gi
        if len(pending):
            out.append((pending, first, len(self._groups) - 1))
        return out

    def _share(self, batch_idx: np.ndarray) -> np.ndarray:
        """This rank's part of a batch."""
        lo, hi = self._bounds(len(batch_idx))
        return batch_idx[lo:hi]

    def _load(
        self, batch_idx: np.ndarray, grids: dict[int, np.ndarray] | None, global_size: int
    ) -> Batch:
        src = self.source
        inputs: dict[str, torch.Tensor] = {
            k: torch.from_numpy(np.ascontiguousarray(v[batch_idx])) for k, v in src.table.items()
        }
        if grids is not None:
            inputs["grid"] = torch.from_numpy(np.stack([grids[int(i)] for i in batch_idx]))
        target = src.targets(batch_idx)
        return {
            "inputs": inputs,
            "target": torch.from_numpy(
                target.astype(np.int64 if src.task == "classification" else np.float32)
            ),
            "index": torch.from_numpy(batch_idx),
            "global_size": global_size,
        }

    def __iter__(self) -> Iterator[Batch]:
        n_workers, worker = self._worker()
        batches = [b for b in self._batches_of_indices() if self._kept(len(b[0]))]
        sizes = [len(b[0]) for b in batches]
        if self.world_size > 1:
            batches = [(self._share(b), g0, g1) for b, g0, g1 in batches]
        mine = [(b, n) for j, (b, n) in enumerate(zip(batches, sizes)) if j % n_workers == worker]
        mine = [(b, n) for b, n in mine if len(b[0])]
        if "grid" not in self.source.inputs:
            for (b, _, _), n in mine:
                yield self._load(b, None, n)
            return
        # grids of the events of my batches, loaded one block group at a time and dropped
        # once no later batch needs them
        rb = self.source.read_batch
        needed = np.concatenate([b for (b, _, _), _ in mine]) if mine else np.zeros(0, np.int64)
        cache: dict[int, np.ndarray] = {}
        loaded: dict[int, list[int]] = {}
        # DataLoader workers open their own handle (HDF5 handles must not cross a fork)
        in_worker = torch.utils.data.get_worker_info() is not None
        own = ShowerFile(self.source.file.path) if in_worker else None
        groups = sorted({gi for (_, g0, g1), _ in mine for gi in range(g0, g1 + 1)})

        def fetch(gi: int) -> tuple[list[int], dict[int, np.ndarray]]:
            rows = needed[np.isin(needed // rb, self._groups[gi])]
            return [int(i) for i in rows], read_grids(self.source, rows, own)

        # the next block group is read in a background thread while the batches of the
        # current one are used (it overlaps decompression with the training step)
        ahead = ThreadPoolExecutor(1, thread_name_prefix="calolab-prefetch")
        pending: dict[int, Future] = {}

        def request(gi: int) -> None:
            if gi not in pending and gi not in loaded:
                pending[gi] = ahead.submit(fetch, gi)

        try:
            for (b, g0, g1), n in mine:
                for gi in [g for g in loaded if g < g0]:
                    for i in loaded.pop(gi):
                        cache.pop(i, None)
                for gi in range(g0, g1 + 1):
                    if gi not in loaded:
                        request(gi)
                        ids, grids = pending.pop(gi).result()
                        cache.update(grids)
                        loaded[gi] = ids
                nxt = [g for g in groups if g > g1]
                if nxt:
                    request(nxt[0])
                yield self._load(b, cache, n)
        finally:
            for fut in pending.values():
                fut.cancel()
            ahead.shutdown(wait=True)
            if own is not None:
                own.close()


def read_grids(
    src: ShowerSource, rows: np.ndarray, file: ShowerFile | None = None
) -> dict[int, np.ndarray]:
    """Grids ``(D, H, W)`` float32 of the events ``rows``, read block by block (from ``file``,
    default the source's own handle). Only the section's cells are read."""
    f = file if file is not None else src.file
    rb = src.read_batch
    if src.detector is None:
        raise DataError(f"'{f.path}' has no detector description: its cell grid is unknown")
    a, b, shape = grid_span(src.detector, src.section)
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    sels = [rows[rows // rb == blk] for blk in np.unique(rows // rb)]
    # all blocks in one call: their chunks are inflated in parallel
    blocks = f.read_cell_spans(
        [(int(sel[0]), int(sel[-1]) + 1) for sel in sels],
        (a, b),
        digitized=bool(src.options.digitized),
    )
    out: dict[int, np.ndarray] = {}
    for sel, g in zip(sels, blocks):
        if src.options.dead_augment > 0:
            lo = int(sel[0])
            m = src.dead_masks(np.arange(lo, lo + len(g)))[:, a:b]
            g = np.where(m, np.float32(0), g)
        g = g.reshape(-1, *shape)
        lo = int(sel[0])
        for i in sel:
            out[int(i)] = g[int(i) - lo]  # a view: the block lives as long as its events
    return out


def inference_batch_size(source: TrainingSource, requested: int, max_mb: float = 64.0) -> int:
    """A batch size for forward passes without gradients: ``requested``, reduced so that the
    grids of one batch stay below ``max_mb`` (the cells of fine 3D grids are large)."""
    shape = source.shapes.get("grid")
    if not shape:
        return requested
    per_event = 4 * math.prod(shape)
    return int(max(8, min(requested, max_mb * 2**20 // per_event)))


def _open_showers(config: DataConfig, inputs: Sequence[str], task: str) -> ShowerSource:
    return ShowerSource(config, inputs, task)


register_dataset_kind("showers", _open_showers)


def concat_batches(batches: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate dicts of arrays along axis 0."""
    if not batches:
        return {}
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
