"""Shower samples and their features, as the CaloChallenge compares showers.

A :class:`ShowerSample` holds, per event, the incident energy, the visible energy of every
readout layer and in total, and — where the cells are known — the CaloChallenge's shape
features of every layer (centres of energy and widths in x and y, sparsity) and the cells
themselves (the *low-level* features). It is read from

* a calolab HDF5 file (``calolab simulate``): cells, layer grids and truth;
* a CaloChallenge HDF5 file (``incident_energies`` and ``showers``, MeV): cells, and the layer
  split from ``layer_sizes`` (the cylindrical geometry of the challenge's datasets is not
  known here, so there are no centres or widths);
* a Geant4 reference file (``.npz`` of the validation set shipped with calolab, see
  ``calolab/simulation/reference/geant4/README.md``), named by path or as ``geant4:V1_e-_20GeV``:
  per-event layer energies and totals; these files keep only the *mean* 3D grid, so their
  low-level features are the layer energies.

Features follow the CaloChallenge (arXiv:2410.21611; ``code/evaluate.py`` and
``HighLevelFeatures.py`` of github.com/CaloChallenge/homepage):

* ``etot``: E_tot/E_inc, visible over incident energy;
* ``e_layer``: E_layer/E_inc per layer;
* ``centre_x``, ``centre_y`` (cm): energy-weighted mean cell-centre position per layer,
  ``width_x``, ``width_y`` (cm): energy-weighted spread around it (0 for an empty layer);
* ``sparsity``: fraction of the layer's cells with no more than ``cell_threshold`` of energy;
* low-level: cell energies divided by E_inc. Detectors with more cells than ``max_cells``
  are compared on cells merged k × k transversely (the smallest k that fits), recorded as
  :attr:`ShowerSample.cell_merge`.

Units: GeV and cm; CaloChallenge files are converted from MeV at reading.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calolab.core.errors import DataError
from calolab.data.hdf5 import ShowerFile
from calolab.data.showers import Showers
from calolab.geometry.detector import Calorimeter

#: Shape features computed per layer where cells and their grid are known.
SHAPE_FEATURES = ("centre_x", "centre_y", "width_x", "width_y", "sparsity")
#: Cells above which the low-level features use merged cells.
DEFAULT_MAX_CELLS = 10_000
#: Prefix naming a Geant4 reference file of the validation set shipped with calolab.
GEANT4_PREFIX = "geant4:"
_MEV = 1000.0
_G4_NAME = re.compile(r"^V\d_.+_\d+(?:\.\d+)?GeV$")


@dataclass(frozen=True)
class LayerGrid:
    """Transverse cell grid of one readout layer (cm); cell (ix, iy) is row ``ix * ny + iy``."""

    nx: int
    ny: int
    cell_x: float
    cell_y: float

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre x and y (cm) of the flattened layer, each of shape ``(nx * ny,)``."""
        xc = (np.arange(self.nx) + 0.5 - self.nx / 2) * self.cell_x
        yc = (np.arange(self.ny) + 0.5 - self.ny / 2) * self.cell_y
        return np.repeat(xc, self.ny), np.tile(yc, self.nx)


@dataclass(frozen=True)
class ShowerSample:
    """Per-event features of one set of showers (GeV, cm).

    Attributes
    ----------
    name:
        Label used in tables and plots.
    source:
        Where it came from (file name or ``geant4:NAME``).
    kind:
        ``"calolab"``, ``"calochallenge"`` or ``"geant4-npz"``.
    energy:
        Incident energy, ``(N,)``.
    total:
        Visible energy summed over the cells, ``(N,)``.
    layers:
        Visible energy per readout layer, ``(N, L)``.
    shapes:
        Shape features per layer (:data:`SHAPE_FEATURES`), each ``(N, L)``; empty when the
        cells or their grid are unknown.
    cells:
        Low-level cell energies ``(N, K)`` (merged when :attr:`cell_merge` > 1), or ``None``.
    cell_merge:
        Transverse merging factor of the low-level cells (1: the detector's own cells).
    particle, detector:
        What was simulated, when the source says so.
    """

    name: str
    source: str
    kind: str
    energy: np.ndarray
    total: np.ndarray
    layers: np.ndarray
    shapes: dict[str, np.ndarray] = field(default_factory=dict)
    cells: np.ndarray | None = None
    cell_merge: int = 1
    particle: str | None = None
    detector: str | None = None

    def __len__(self) -> int:
        return int(len(self.energy))

    @property
    def n_layers(self) -> int:
        return int(self.layers.shape[1])

    def subset(self, idx: np.ndarray) -> ShowerSample:
        """The events ``idx``."""
        return ShowerSample(
            name=self.name,
            source=self.source,
            kind=self.kind,
            energy=self.energy[idx],
            total=self.total[idx],
            layers=self.layers[idx],
            shapes={k: v[idx] for k, v in self.shapes.items()},
            cells=None if self.cells is None else self.cells[idx],
            cell_merge=self.cell_merge,
            particle=self.particle,
            detector=self.detector,
        )

    def scaled(self, factor: float) -> ShowerSample:
        """The same showers with every energy (cells, layers, total) multiplied by ``factor``:
        a different calibration of the same response. The shape features are kept: centres
        and widths do not depend on the scale, and sparsity stays counted at the cell
        threshold on the energies as loaded (a readout threshold acts on the detector's own
        signal, before any calibration)."""
        if not (np.isfinite(factor) and factor > 0.0):
            raise DataError(f"energy scale factor {factor!r} must be a positive number")
        return ShowerSample(
            name=self.name,
            source=self.source,
            kind=self.kind,
            energy=self.energy,
            total=self.total * factor,
            layers=self.layers * factor,
            shapes=dict(self.shapes),
            cells=None if self.cells is None else self.cells * factor,
            cell_merge=self.cell_merge,
            particle=self.particle,
            detector=self.detector,
        )

    def describe(self) -> dict[str, object]:
        """JSON-ready description (no per-event arrays)."""
        e = self.energy
        return {
            "name": self.name,
            "source": self.source,
            "kind": self.kind,
            "events": len(self),
            "layers": self.n_layers,
            "particle": self.particle,
            "detector": self.detector,
            "energy_gev": {"min": float(e.min()), "max": float(e.max()), "mean": float(e.mean())},
            "visible_over_e": float(np.mean(self.total / e)),
            "has_cells": self.cells is not None,
            "cell_merge": self.cell_merge,
            "shape_features": sorted(self.shapes),
        }


# ------------------------------------------------------------------------------ features
def merge_factor(n_cells: int, grids: Iterable[LayerGrid] | None, max_cells: int) -> int:
    """Smallest transverse merging k with at most ``max_cells`` merged cells (1: none)."""
    if n_cells <= max_cells:
        return 1
    grids = list(grids or [])
    for k in range(2, 1 + max(1, max((max(g.nx, g.ny) for g in grids), default=n_cells))):
        if grids:
            n = sum(math.ceil(g.nx / k) * math.ceil(g.ny / k) for g in grids)
        else:
            n = math.ceil(n_cells / (k * k))
        if n <= max_cells:
            return k
    return max(1, max((max(g.nx, g.ny) for g in grids), default=n_cells))


def _merge_layer(cells: np.ndarray, grid: LayerGrid | None, k: int) -> np.ndarray:
    """``(N, cells of one layer)`` → merged k × k (or consecutive k² cells without a grid)."""
    n = len(cells)
    if k == 1:
        return cells
    if grid is None:
        m = math.ceil(cells.shape[1] / (k * k))
        padded = np.zeros((n, m * k * k), dtype=cells.dtype)
        padded[:, : cells.shape[1]] = cells
        return padded.reshape(n, m, k * k).sum(axis=2)
    mx, my = math.ceil(grid.nx / k), math.ceil(grid.ny / k)
    padded = np.zeros((n, mx * k, my * k), dtype=cells.dtype)
    padded[:, : grid.nx, : grid.ny] = cells.reshape(n, grid.nx, grid.ny)
    return padded.reshape(n, mx, k, my, k).sum(axis=(2, 4)).reshape(n, mx * my)


class _Accumulator:
    """Builds a :class:`ShowerSample` from batches of cells."""

    def __init__(
        self,
        layer_sizes: tuple[int, ...],
        grids: list[LayerGrid] | None,
        *,
        max_cells: int,
        cell_threshold: float,
        keep_cells: bool = True,
    ):
        self.offsets = np.concatenate([[0], np.cumsum(layer_sizes)]).astype(np.int64)
        self.grids = grids
        self.centres = [g.centres() for g in grids] if grids else None
        self.k = merge_factor(int(self.offsets[-1]), grids, max_cells)
        self.threshold = float(cell_threshold)
        self.keep_cells = keep_cells
        self.parts: dict[str, list[np.ndarray]] = {}

    def _add(self, key: str, value: np.ndarray) -> None:
        self.parts.setdefault(key, []).append(value)

    def add(self, cells: np.ndarray, energy: np.ndarray) -> None:
        cells = np.asarray(cells, dtype=np.float32)
        off = self.offsets
        n_layers = len(off) - 1
        self._add("energy", np.asarray(energy, dtype=np.float64))
        self._add("total", cells.sum(axis=1, dtype=np.float64))
        self._add("layers", np.add.reduceat(cells, off[:-1], axis=1, dtype=np.float64))
        shapes = {k: np.zeros((len(cells), n_layers)) for k in SHAPE_FEATURES}
        merged = []
        for i in range(n_layers):
            c = cells[:, off[i] : off[i + 1]]
            shapes["sparsity"][:, i] = np.mean(c <= self.threshold, axis=1)
            if self.centres is not None:
                x, y = self.centres[i]
                w = c.astype(np.float64)
                s = w.sum(axis=1)
                ok = s > 0
                safe = np.where(ok, s, 1.0)
                mx, my = (w @ x) / safe, (w @ y) / safe
                vx = np.maximum((w @ (x * x)) / safe - mx * mx, 0.0)
                vy = np.maximum((w @ (y * y)) / safe - my * my, 0.0)
                shapes["centre_x"][:, i] = np.where(ok, mx, 0.0)
                shapes["centre_y"][:, i] = np.where(ok, my, 0.0)
                shapes["width_x"][:, i] = np.where(ok, np.sqrt(vx), 0.0)
                shapes["width_y"][:, i] = np.where(ok, np.sqrt(vy), 0.0)
            if self.keep_cells:
                grid = self.grids[i] if self.grids else None
                merged.append(_merge_layer(c, grid, self.k))
        names = SHAPE_FEATURES if self.centres is not None else ("sparsity",)
        for k in names:
            self._add(k, shapes[k])
        if self.keep_cells:
            self._add("cells", np.concatenate(merged, axis=1))

    def finish(self, **meta: object) -> ShowerSample:
        if "energy" not in self.parts:
            raise DataError(f"{meta.get('source')}: no events to compare")
        arr = {k: np.concatenate(v) for k, v in self.parts.items()}
        shapes = {k: arr[k] for k in SHAPE_FEATURES if k in arr}
        return ShowerSample(
            energy=arr["energy"],
            total=arr["total"],
            layers=arr["layers"],
            shapes=shapes,
            cells=arr.get("cells"),
            cell_merge=self.k,
            **meta,  # type: ignore[arg-type]
        )


def detector_grids(detector: Calorimeter) -> list[LayerGrid]:
    """The cell grid of every readout layer of ``detector``."""
    return [
        LayerGrid(r.nx, r.ny, float(r.cell_size_cm[0]), float(r.cell_size_cm[1]))
        for r in detector.readout_layers
    ]


def sample_from_batches(
    batches: Iterable[Showers],
    *,
    name: str,
    source: str,
    kind: str = "calolab",
    max_cells: int = DEFAULT_MAX_CELLS,
    cell_threshold: float = 0.0,
    max_events: int | None = None,
) -> ShowerSample:
    """A :class:`ShowerSample` from batches of :class:`Showers` (e.g. a simulation run in
    batches), keeping at most ``max_events`` events."""
    acc: _Accumulator | None = None
    n = 0
    particle = detector = None
    for batch in batches:
        if max_events is not None and n >= max_events:
            break
        if max_events is not None and n + len(batch) > max_events:
            batch = batch.subset(np.arange(max_events - n))
        if acc is None:
            grids = detector_grids(batch.detector) if batch.detector is not None else None
            assert batch.layer_sizes is not None
            acc = _Accumulator(
                tuple(batch.layer_sizes), grids, max_cells=max_cells, cell_threshold=cell_threshold
            )
            detector = batch.detector.name if batch.detector is not None else None
            pdg = np.unique(np.asarray(batch.pdg))
            if len(pdg) == 1 and int(pdg[0]) != 0:
                from calolab.core.particles import particle_name

                particle = particle_name(int(pdg[0]))
        acc.add(batch.cells, batch.energy)
        n += len(batch)
    if acc is None:
        raise DataError(f"{source}: no events to compare")
    return acc.finish(name=name, source=source, kind=kind, particle=particle, detector=detector)


def geant4_reference_path(name: str) -> Path:
    """Path of the Geant4 reference file ``name`` (e.g. ``V1_e-_20GeV``) in the reference
    directory (``$CALOLAB_GEANT4_REFERENCE`` or the set shipped with calolab)."""
    from calolab.simulation.validation import default_reference_dir

    stem = name[:-4] if name.endswith(".npz") else name
    if not _G4_NAME.match(stem):
        raise DataError(
            f"'{GEANT4_PREFIX}{name}': Geant4 reference files are named like V1_e-_20GeV "
            "(configuration, particle, energy)"
        )
    d = default_reference_dir()
    p = d / f"{stem}.npz"
    if not p.exists():
        have = ", ".join(sorted(q.stem for q in d.glob("*.npz"))) or "none"
        raise DataError(f"no Geant4 reference file '{stem}' in '{d}' (available: {have})")
    return p


def load_geant4_npz(path: str | os.PathLike[str], *, name: str | None = None) -> ShowerSample:
    """A Geant4 reference file (``.npz``; energies in MeV there): per-event layer energies
    and visible totals; no cells (the files keep only the mean grid)."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as d:
            meta = json.loads(str(d["meta"]))
            layers = np.asarray(d["layers_visible"], dtype=np.float64) / _MEV
            total = np.asarray(d["e_visible"], dtype=np.float64) / _MEV
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"'{p}' is not a readable Geant4 reference file (needs 'meta', 'layers_visible', "
            f"'e_visible'): {exc}"
        ) from None
    if layers.ndim != 2 or len(total) != len(layers) or len(total) == 0:
        raise DataError(f"'{p}': layers_visible {layers.shape} and e_visible {total.shape} differ")
    e = float(meta.get("energy_GeV", float("nan")))
    if not e > 0:
        raise DataError(f"'{p}': meta has no positive energy_GeV ({e!r})")
    geo = meta.get("geometry", {}) if isinstance(meta.get("geometry"), dict) else {}
    return ShowerSample(
        name=name or f"Geant4 {p.stem}",
        source=str(p),
        kind="geant4-npz",
        energy=np.full(len(total), e),
        total=total,
        layers=layers,
        particle=meta.get("particle"),
        detector=str(meta.get("config") or geo.get("name") or "") or None,
    )


def load_sample(
    source: str | os.PathLike[str],
    *,
    name: str | None = None,
    layer_sizes: tuple[int, ...] | None = None,
    max_events: int | None = None,
    max_cells: int = DEFAULT_MAX_CELLS,
    cell_threshold: float = 0.0,
) -> ShowerSample:
    """Read a :class:`ShowerSample` from a file (see module docstring).

    Parameters
    ----------
    source:
        A calolab or CaloChallenge HDF5 file, a Geant4 reference ``.npz`` file, or
        ``geant4:NAME`` for a file of the reference set.
    name:
        Label (default: the file name).
    layer_sizes:
        Cells per layer, for CaloChallenge files (without one, the whole row is one layer).
    max_events:
        Read at most this many events.
    max_cells, cell_threshold:
        See module docstring (``cell_threshold`` in GeV).
    """
    s = str(source)
    if s.startswith(GEANT4_PREFIX):
        path = geant4_reference_path(s[len(GEANT4_PREFIX) :])
        sample = load_geant4_npz(path, name=name or f"Geant4 {path.stem}")
        return _limit(sample, max_events)
    p = Path(s)
    if not p.exists():
        raise DataError(
            f"shower file '{p}' does not exist (give a calolab/CaloChallenge .h5 file, a Geant4 "
            f"reference .npz, or {GEANT4_PREFIX}V1_e-_20GeV)"
        )
    if p.suffix == ".npz":
        return _limit(load_geant4_npz(p, name=name), max_events)
    with ShowerFile(p, layer_sizes=layer_sizes) as f:
        kind = "calolab" if f.is_calolab else "calochallenge"
        return sample_from_batches(
            f.iter_batches(max(16, min(1024, (64 << 20) // (4 * f.n_cells)))),
            name=name or p.name,
            source=str(p),
            kind=kind,
            max_cells=max_cells,
            cell_threshold=cell_threshold,
            max_events=max_events,
        )


def _limit(sample: ShowerSample, max_events: int | None) -> ShowerSample:
    if max_events is None or len(sample) <= max_events:
        return sample
    return sample.subset(np.arange(max_events))
