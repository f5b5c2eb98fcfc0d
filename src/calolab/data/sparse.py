"""The sparse cell layout: only the non-zero cells of each event, as (cell index, energy) pairs.

A shower lights up a few per cent of the cells of a large calorimeter (1,300 of the 51,200 of
``muon_block`` for a 50 GeV photon); storing those alone makes files smaller and writing and
reading faster (BENCHMARKS.md, layout). In an HDF5 file written by
:class:`calolab.data.hdf5.ShowerWriter` with ``layout="sparse"``::

    /calolab/sparse                       attrs: n_cells
    /calolab/sparse/starts       (N,)     int64    first entry of event i
    /calolab/sparse/stops        (N,)     int64    one past its last entry
    /calolab/sparse/index        (M,)     int32    cell (column of the dense row), increasing
    /calolab/sparse/energy       (M,)     float32  MeV (as the dense ``showers``)
    /calolab/digitized/sparse/...                  the same for the digitised cells

Event ``i`` holds the cells ``index[starts[i]:stops[i]]`` with the energies
``energy[starts[i]:stops[i]]``; every other cell is 0. This is the (starts, stops, content)
list layout of awkward arrays (``ak.contents.ListArray``). Entries that no event refers to are
padding: each file's arrays are padded to whole HDF5 chunks, so that merged files copy
compressed chunks as they are, and the padding of every merged file stays between two events.
Such a file has no CaloChallenge ``showers`` dataset (``calolab simulate --layout dense``, or
:meth:`~calolab.data.hdf5.ShowerFile.read` and rewriting, give one); every calolab reader
gives the same dense arrays from either layout.

The layout of a run (``"auto"``): sparse when the grid has at least :data:`SPARSE_MIN_CELLS`
cells and the occupancy (fraction of non-zero cells, of the true and of the digitised cells,
whichever is larger) of its first :data:`AUTO_SAMPLE_EVENTS` events is at most
:data:`SPARSE_MAX_OCCUPANCY`; dense otherwise. The first events of a run are fixed by its seed,
so the choice is the same for a run in one process and for the same run as a campaign.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from calolab.core.errors import ConfigError

#: Layouts of the cells in a file.
LAYOUTS = ("dense", "sparse")
#: What a user may ask for.
LAYOUT_CHOICES = ("auto", "dense", "sparse")
#: ``auto``: grids smaller than this stay dense (a few kB per event either way, and the
#: CaloChallenge dataset is what other tools read).
SPARSE_MIN_CELLS = 4096
#: ``auto``: the largest occupancy for which sparse files are chosen. Measured (BENCHMARKS.md,
#: layout): the sparse file is the smaller one up to ~30 % of non-zero cells.
SPARSE_MAX_OCCUPANCY = 0.2
#: ``auto``: events whose occupancy decides (the first ones of the run).
AUTO_SAMPLE_EVENTS = 32
#: Entries per HDF5 chunk of ``index`` and ``energy`` (64 kB each); every file pads its arrays
#: to a multiple of it.
SPARSE_CHUNK = 1 << 14


def check_layout(
    value: object, what: str = "layout", choices: tuple[str, ...] = LAYOUT_CHOICES
) -> str:
    """``value`` if it is one of ``choices``, else a :class:`ConfigError` naming them."""
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{what} {value!r} must be one of {', '.join(choices)}")
    return value


def occupancy(*cell_arrays: np.ndarray | None, n_events: int = AUTO_SAMPLE_EVENTS) -> float:
    """Fraction of non-zero cells in the first ``n_events`` rows, the largest over the given
    ``(events, cells)`` arrays (``None`` entries are skipped); 0 without any cell."""
    best = 0.0
    for cells in cell_arrays:
        if cells is not None and cells.size:
            sample = cells[:n_events]
            best = max(best, float(np.count_nonzero(sample)) / sample.size)
    return best


def choose_layout(requested: str, n_cells: int, occupancy: float) -> str:
    """The layout of a file: ``requested`` unless ``"auto"``, which is ``"sparse"`` for grids
    of at least :data:`SPARSE_MIN_CELLS` cells with an occupancy of at most
    :data:`SPARSE_MAX_OCCUPANCY`, else ``"dense"``."""
    check_layout(requested)
    if requested != "auto":
        return requested
    return (
        "sparse" if n_cells >= SPARSE_MIN_CELLS and occupancy <= SPARSE_MAX_OCCUPANCY else "dense"
    )


def encode(
    cells: np.ndarray, scale: float = 1.0, nonzero: Sequence[np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero cells of ``(events, cells)``: ``(counts, index, values)``, with ``counts``
    per event (int64), the column of each entry (int32, increasing within an event) and its
    value as float32 times ``scale`` (computed as the dense layout computes its rows:
    ``float32(cell) * float32(scale)``). ``nonzero``, if the caller knows them: the
    ascending indices of each event's non-zero cells (NaN included, ±0 excluded, as the scan
    would find them); the rows are then not scanned."""
    cells32 = cells if cells.dtype == np.float32 else cells.astype(np.float32)
    n_events, n_cells = len(cells32), int(np.prod(cells32.shape[1:], dtype=np.int64))
    if nonzero is not None:
        if len(nonzero) != n_events:
            raise ValueError(f"nonzero: {len(nonzero)} index arrays for {n_events} events")
        counts = np.array([len(i) for i in nonzero], dtype=np.int64)
        cols = np.concatenate([np.zeros(0, np.int64), *nonzero]).astype(np.int64, copy=False)
        rows = np.repeat(np.arange(n_events), counts)
        values = cells32.reshape(n_events, -1)[rows, cols]
    else:
        flat = cells32.reshape(-1)
        # (a boolean mask first: 5x faster than nonzero() of floats; the same entries, NaN
        # included, -0.0 excluded)
        where = np.flatnonzero(flat != 0)
        rows = where // max(n_cells, 1)
        counts = np.bincount(rows, minlength=n_events).astype(np.int64)
        cols = where - rows * n_cells
        values = flat[where]
    if scale != 1.0:
        values = values * np.float32(scale)
    return counts, cols.astype(np.int32), values


def scatter(
    out: np.ndarray,
    counts: np.ndarray,
    index: np.ndarray,
    values: np.ndarray,
    columns: tuple[int, int] | None = None,
    divide: float | None = None,
) -> None:
    """Write entries into the zeroed dense rows ``out``: event ``j`` owns the next
    ``counts[j]`` entries; with ``columns = (a, b)`` only the cells ``[a, b)`` are kept, in
    the columns of ``out`` shifted by ``a`` (without: every cell, ``out`` has them all);
    values are divided by ``float32(divide)`` when given (as the dense readers convert MeV
    to GeV)."""
    rows = np.repeat(np.arange(len(counts)), counts)
    cols = index.astype(np.int64, copy=False)
    vals = values
    if columns is not None:
        a, b = columns
        keep = (cols >= a) & (cols < b)
        rows, cols, vals = rows[keep], cols[keep] - a, vals[keep]
    if divide is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            vals = np.asarray(vals, dtype=np.float32) / np.float32(divide)
    out[rows, cols] = vals


__all__ = [
    "AUTO_SAMPLE_EVENTS",
    "LAYOUTS",
    "LAYOUT_CHOICES",
    "SPARSE_CHUNK",
    "SPARSE_MAX_OCCUPANCY",
    "SPARSE_MIN_CELLS",
    "check_layout",
    "choose_layout",
    "encode",
    "occupancy",
    "scatter",
]
