"""The result of a simulation: truth and visible cell energies of N events.

Cell layout: ``cells`` has shape ``(N, n_cells)``: the visible energy (GeV) of every readout
layer concatenated front to back, each layer flattened in C order over ``(ix, iy)`` — the
CaloChallenge convention. :meth:`Showers.layer` and :meth:`Showers.grid` reshape it.

Truth (arrays of length N unless stated): ``pdg``; ``energy`` (GeV); ``direction`` (N, 3);
``entry_point`` (N, 3, cm); ``deposited`` (GeV, all materials); ``visible`` (GeV, sensitive
layers, before digitisation); ``leaked`` (GeV, left the detector); ``invisible`` (GeV, lost
to nuclear binding etc.). Optional per-event extras and ragged records (e.g. the radiative
losses of a muon) live in ``extras`` and ``records``.

Conditions and timing (optional): ``conditions`` (dead and noisy channels,
:class:`calolab.data.conditions.ChannelConditions`), ``times`` (energy-weighted time of the
deposits of every cell, ns, same layout as ``cells``; 0 where a cell is empty) and
``digitized_times`` (the times after the readout's time resolution, 0 where the digitised
cell is 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from calolab.core.errors import DataError
from calolab.geometry.detector import Calorimeter

if TYPE_CHECKING:
    from calolab.data.conditions import ChannelConditions

TRUTH_FIELDS = (
    "pdg",
    "energy",
    "direction",
    "entry_point",
    "deposited",
    "visible",
    "leaked",
    "invisible",
)


@dataclass
class Ragged:
    """Variable-length per-event records: ``offsets`` (N+1,) and equal-length columns."""

    offsets: np.ndarray
    columns: dict[str, np.ndarray]

    def event(self, i: int) -> dict[str, np.ndarray]:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return {k: v[a:b] for k, v in self.columns.items()}

    def subset(self, idx: np.ndarray) -> Ragged:
        counts = np.diff(self.offsets)[idx]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        sel = (
            np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in idx])
            if len(idx)
            else np.zeros(0, dtype=np.int64)
        ).astype(np.int64)
        return Ragged(offsets, {k: v[sel] for k, v in self.columns.items()})

    @staticmethod
    def concatenate(parts: Sequence[Ragged]) -> Ragged:
        offs = [np.zeros(1, dtype=np.int64)]
        base = 0
        for p in parts:
            offs.append(p.offsets[1:] + base)
            base += int(p.offsets[-1])
        keys = list(parts[0].columns) if parts else []
        return Ragged(
            np.concatenate(offs),
            {k: np.concatenate([p.columns[k] for p in parts]) for k in keys},
        )


@dataclass
class Showers:
    """Simulated (or imported) events: truth plus cell energies.

    Parameters
    ----------
    cells:
        Visible energy per cell, GeV, ``(N, n_cells)`` float32.
    truth:
        Truth arrays (see module docstring).
    detector:
        The detector, or ``None`` for files from other tools (then ``layer_sizes`` says how
        ``cells`` splits into layers).
    provenance:
        What made the data: package version, seed, configuration and its hash.
    digitized:
        Digitised cell energies (GeV, same shape as ``cells``), if digitisation was applied.
    extras, records:
        Optional per-event arrays and ragged records.
    conditions:
        Dead and noisy channels applied to these events, if any.
    times, digitized_times:
        Energy-weighted cell times (ns, same shape as ``cells``), true and digitised.
    """

    cells: np.ndarray
    truth: dict[str, np.ndarray]
    detector: Calorimeter | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    digitized: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    records: dict[str, Ragged] = field(default_factory=dict)
    layer_sizes: tuple[int, ...] | None = None
    conditions: ChannelConditions | None = None
    times: np.ndarray | None = None
    digitized_times: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.cells.ndim != 2:
            raise DataError(f"cells must have shape (N, n_cells), got {self.cells.shape}")
        for name in ("digitized", "times", "digitized_times"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != self.cells.shape:
                raise DataError(f"{name} has shape {arr.shape}, cells {self.cells.shape}")
        if self.conditions is not None and self.conditions.n_cells != self.cells.shape[1]:
            raise DataError(
                f"conditions cover {self.conditions.n_cells} cells, cells have "
                f"{self.cells.shape[1]}"
            )
        n = self.cells.shape[0]
        for k, v in self.truth.items():
            if len(v) != n:
                raise DataError(f"truth '{k}' has {len(v)} entries for {n} events")
        if self.detector is not None:
            if self.detector.n_channels != self.cells.shape[1]:
                raise DataError(
                    f"cells have {self.cells.shape[1]} columns but detector "
                    f"'{self.detector.name}' has {self.detector.n_channels} channels"
                )
            self.layer_sizes = tuple(r.n_cells for r in self.detector.readout_layers)
        elif self.layer_sizes is None:
            self.layer_sizes = (self.cells.shape[1],)
        if sum(self.layer_sizes) != self.cells.shape[1]:
            raise DataError(
                f"layer sizes sum to {sum(self.layer_sizes)}, cells have {self.cells.shape[1]}"
            )

    def __len__(self) -> int:
        return int(self.cells.shape[0])

    @property
    def n_cells(self) -> int:
        return int(self.cells.shape[1])

    @property
    def energy(self) -> np.ndarray:
        """Incident energy (GeV), shape (N,)."""
        return self.truth["energy"]

    @property
    def pdg(self) -> np.ndarray:
        return self.truth["pdg"]

    def _layer_offsets(self) -> np.ndarray:
        assert self.layer_sizes is not None
        return np.concatenate([[0], np.cumsum(self.layer_sizes)]).astype(np.int64)

    def layer_energies(self, digitized: bool = False) -> np.ndarray:
        """Visible energy per readout layer (GeV), shape ``(N, n_layers)``."""
        cells = self._cells(digitized)
        off = self._layer_offsets()
        return np.add.reduceat(cells, off[:-1], axis=1, dtype=np.float64)

    def total(self, digitized: bool = False) -> np.ndarray:
        """Summed visible energy (GeV), shape (N,)."""
        return self._cells(digitized).sum(axis=1, dtype=np.float64)

    def _cells(self, digitized: bool) -> np.ndarray:
        if digitized:
            if self.digitized is None:
                raise DataError("these showers were not digitised (simulate with digitisation)")
            return self.digitized
        return self.cells

    def layer(self, i: int, digitized: bool = False) -> np.ndarray:
        """Cells of readout layer ``i`` as ``(N, nx, ny)``."""
        if self.detector is None:
            raise DataError("no detector description: the layer grid is unknown")
        r = self.detector.readout_layers[i]
        return self._cells(digitized)[:, r.offset : r.offset + r.n_cells].reshape(-1, r.nx, r.ny)

    def grid(self, section: str | None = None, digitized: bool = False) -> np.ndarray:
        """Cells as ``(N, layers, nx, ny)`` for a section (or the whole detector when every
        readout layer has the same grid)."""
        if self.detector is None:
            raise DataError("no detector description: the layer grid is unknown")
        a, b, shape = grid_span(self.detector, section)
        return self._cells(digitized)[:, a:b].reshape(-1, *shape)

    def subset(self, idx: np.ndarray | slice) -> Showers:
        """A subset of events (index array or slice)."""
        if isinstance(idx, slice):
            idx = np.arange(len(self))[idx]
        idx = np.asarray(idx)
        return Showers(
            cells=self.cells[idx],
            truth={k: v[idx] for k, v in self.truth.items()},
            detector=self.detector,
            provenance=dict(self.provenance),
            digitized=None if self.digitized is None else self.digitized[idx],
            extras={k: v[idx] for k, v in self.extras.items()},
            records={k: r.subset(idx) for k, r in self.records.items()},
            layer_sizes=self.layer_sizes,
            conditions=self.conditions,
            times=None if self.times is None else self.times[idx],
            digitized_times=None if self.digitized_times is None else self.digitized_times[idx],
        )

    @staticmethod
    def concatenate(parts: Sequence[Showers]) -> Showers:
        """Join event batches of the same detector."""
        if not parts:
            raise DataError("nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if (p.detector is None) != (first.detector is None) or (
                p.detector is not None
                and first.detector is not None
                and p.detector.hash != first.detector.hash
            ):
                raise DataError("cannot concatenate showers of different detectors")
        digi = (
            np.concatenate([p.digitized for p in parts])
            if all(p.digitized is not None for p in parts)
            else None
        )

        def joined(name: str) -> np.ndarray | None:
            arrays = [getattr(p, name) for p in parts]
            return np.concatenate(arrays) if all(a is not None for a in arrays) else None

        conds = {None if p.conditions is None else p.conditions.dead.tobytes() for p in parts}
        if len(conds) > 1:
            raise DataError("cannot concatenate showers taken with different dead channels")
        return Showers(
            cells=np.concatenate([p.cells for p in parts]),
            truth={k: np.concatenate([p.truth[k] for p in parts]) for k in first.truth},
            detector=first.detector,
            provenance=dict(first.provenance),
            digitized=digi,
            extras={k: np.concatenate([p.extras[k] for p in parts]) for k in first.extras},
            records={k: Ragged.concatenate([p.records[k] for p in parts]) for k in first.records},
            layer_sizes=first.layer_sizes,
            conditions=first.conditions,
            times=joined("times"),
            digitized_times=joined("digitized_times"),
        )

    def save(self, path: str, **kwargs: Any) -> None:
        """Write to an HDF5 file (see :mod:`calolab.data.hdf5`)."""
        from calolab.data.hdf5 import write_showers

        write_showers(path, self, **kwargs)

    @staticmethod
    def load(path: str, **kwargs: Any) -> Showers:
        """Read an HDF5 file written by calolab or by a CaloChallenge tool."""
        from calolab.data.hdf5 import read_showers

        return read_showers(path, **kwargs)


def grid_span(
    detector: Calorimeter, section: str | None = None
) -> tuple[int, int, tuple[int, ...]]:
    """Where a section's cells lie in a row of ``cells``: ``(first, stop, (layers, nx, ny))``.

    ``section=None`` takes the whole detector, which needs one grid for every readout layer.
    """
    layers = [r for r in detector.readout_layers if section is None or r.section == section]
    if not layers:
        raise DataError(f"no readout layers in section {section!r}")
    grids = {(r.nx, r.ny) for r in layers}
    if len(grids) != 1:
        raise DataError(
            "readout layers have different grids "
            f"{sorted(grids)}; choose a section with grid(section=...)"
        )
    nx, ny = grids.pop()
    a, b = layers[0].offset, layers[-1].offset + layers[-1].n_cells
    if b - a != len(layers) * nx * ny:
        raise DataError(f"section {section!r} is not contiguous in the cell layout")
    return a, b, (len(layers), nx, ny)
