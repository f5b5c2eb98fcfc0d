"""Showers for the event display: which events to show, and their cells in space.

The display draws every cell above a threshold as a box at its position in the detector.
Cell geometry follows :class:`~calolab.geometry.ReadoutLayer`: the front face is z = 0, the
transverse plane is centred on the beam axis (x, y in [-L/2, L/2]), and the cells of a layer
are flattened in C order over ``(ix, iy)``. A cell's box spans its sampling period in z (the
absorber in front of a scintillator belongs to the same cell), so that the boxes of
consecutive layers touch, as in the usual calorimeter event displays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.errors import DataError
from calolab.core.particles import particle_name
from calolab.data.hdf5 import ShowerFile
from calolab.geometry.detector import Calorimeter

#: Default energy (GeV) near which the displayed event of each particle species is chosen.
DEFAULT_EVENT_ENERGY = 50.0
#: Most cells sent to the browser per event: the most energetic ones are kept.
MAX_CELLS = 2500
#: Cells below this fraction of the hottest cell are not sent (the display's colour scale
#: spans 4 decades).
MIN_FRACTION = 1e-4


@dataclass(frozen=True)
class CellGeometry:
    """Centres and full sizes (cm) of every readout cell, each an array of shape (n_cells,),
    plus the readout-layer index of each cell."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    dz: np.ndarray
    layer: np.ndarray


def cell_geometry(detector: Calorimeter) -> CellGeometry:
    """Positions and sizes (cm) of all ``detector.n_channels`` cells, in the cell order of
    :class:`~calolab.data.Showers` (layer by layer, C order over ``(ix, iy)``)."""
    lx, ly = detector.transverse_size_cm
    section_z0 = np.concatenate([[0.0], np.cumsum([s.depth_cm for s in detector.sections])])
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("x", "y", "z", "dx", "dy", "dz", "l")}
    for r in detector.readout_layers:
        sec = detector.sections[r.section_index]
        z0 = section_z0[r.section_index] + r.period * sec.period_cm
        cx, cy = r.cell_size_cm
        ix, iy = np.meshgrid(np.arange(r.nx), np.arange(r.ny), indexing="ij")
        n = r.nx * r.ny
        parts["x"].append(-lx / 2 + (ix.ravel() + 0.5) * cx)
        parts["y"].append(-ly / 2 + (iy.ravel() + 0.5) * cy)
        parts["z"].append(np.full(n, z0 + sec.period_cm / 2))
        parts["dx"].append(np.full(n, cx))
        parts["dy"].append(np.full(n, cy))
        parts["dz"].append(np.full(n, sec.period_cm))
        parts["l"].append(np.full(n, r.index))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return CellGeometry(
        cat["x"], cat["y"], cat["z"], cat["dx"], cat["dy"], cat["dz"], cat["l"].astype(np.int64)
    )


def select_events(path: str | Path, per_species: int = 1, energy: float | None = None) -> list[int]:
    """Indices of the events to display from a dataset: for each particle species, the
    ``per_species`` events whose true energy is closest to ``energy`` (GeV; default
    :data:`DEFAULT_EVENT_ENERGY`, or the median energy when that lies outside the sample)."""
    with ShowerFile(path) as f:
        truth = f.f["calolab/truth"] if f.is_calolab else None
        e = (
            np.asarray(f.rows("calolab/truth/energy"), dtype=np.float64)
            if truth is not None and "energy" in truth
            else np.asarray(f.rows("incident_energies"), dtype=np.float64).reshape(-1) / 1000.0
        )
        pdg = (
            np.asarray(f.rows("calolab/truth/pdg"))
            if truth is not None and "pdg" in truth
            else np.zeros(len(e), dtype=np.int64)
        )
    if len(e) == 0:
        return []
    target = DEFAULT_EVENT_ENERGY if energy is None else float(energy)
    if not (e.min() <= target <= e.max()):
        target = float(np.median(e))
    out: list[int] = []
    for p in np.unique(pdg):
        idx = np.flatnonzero(pdg == p)
        order = idx[np.argsort(np.abs(e[idx] - target), kind="stable")]
        out.extend(int(i) for i in order[:per_species])
    return sorted(out)


def _round(a: np.ndarray, digits: int) -> list[float]:
    return [float(v) for v in np.round(a.astype(np.float64), digits)]


def _sig(a: np.ndarray, digits: int = 4) -> list[float]:
    return [float(f"{v:.{digits}g}") for v in a.astype(np.float64)]


def event_payload(
    path: str | Path, index: int, *, max_cells: int = MAX_CELLS, label: str | None = None
) -> dict[str, Any]:
    """One event as plain data for the browser (lengths in cm, energies in GeV).

    Cell energies are the digitised ones when the file has them (what the readout reports),
    else the true visible energies.

    Keeps at most the ``max_cells`` most energetic cells above :data:`MIN_FRACTION` of the
    hottest one; ``n_hit`` counts all non-empty cells.

    Raises
    ------
    DataError
        The file has no detector description (the cell positions are unknown) or the index
        is out of range.
    """
    with ShowerFile(path) as f:
        det = f.detector
        if det is None:
            raise DataError(
                f"'{path}' has no detector description: its cells cannot be placed in space"
            )
        if not 0 <= index < len(f):
            raise DataError(f"event {index} is out of range for '{path}' ({len(f)} events)")
        ev = f.read(index, index + 1)
    geo = cell_geometry(det)
    digitized = ev.digitized is not None
    cells = (ev.digitized if ev.digitized is not None else ev.cells)[0].astype(np.float64)
    hit = np.flatnonzero(cells > max(cells.max(), 0.0) * MIN_FRACTION)
    if len(hit) > max_cells:
        hit = hit[np.argsort(cells[hit])[::-1][:max_cells]]
    hit = hit[np.argsort(geo.z[hit], kind="stable")]
    pdg = int(ev.pdg[0])
    particle = particle_name(pdg) if pdg else "unknown"
    energy = float(ev.energy[0])
    direction = ev.truth.get("direction")
    entry = ev.truth.get("entry_point")
    section_z0 = 0.0
    sections = []
    for s in det.sections:
        sections.append(
            {
                "name": s.name,
                "z0": round(section_z0, 3),
                "z1": round(section_z0 + s.depth_cm, 3),
                "hx": det.transverse_size_cm[0] / 2,
                "hy": det.transverse_size_cm[1] / 2,
            }
        )
        section_z0 += s.depth_cm
    return {
        "label": label or f"{det.name} · {particle} · {Path(path).name} #{index}",
        "detector": det.name,
        "particle": particle,
        "energy": energy,
        "visible": float(cells.sum()),
        "digitized": digitized,
        "n_hit": int(np.count_nonzero(cells > 0)),
        "entry": (
            [float(v) for v in entry[0][:2]] if entry is not None and len(entry) else [0.0, 0.0]
        ),
        "direction": (
            [float(v) for v in direction[0]]
            if direction is not None and len(direction)
            else [0.0, 0.0, 1.0]
        ),
        "sections": sections,
        "x": _round(geo.x[hit], 3),
        "y": _round(geo.y[hit], 3),
        "z": _round(geo.z[hit], 3),
        "dx": _round(geo.dx[hit], 3),
        "dy": _round(geo.dy[hit], 3),
        "dz": _round(geo.dz[hit], 3),
        "e": _sig(cells[hit]),
        "layer": [int(v) for v in geo.layer[hit]],
    }


def check_payload(payload: dict[str, Any]) -> None:
    """Sanity checks on an event payload (equal-length arrays, finite numbers)."""
    keys = ("x", "y", "z", "dx", "dy", "dz", "e", "layer")
    n = {len(payload[k]) for k in keys}
    if len(n) != 1:
        raise DataError(f"event payload arrays have different lengths {sorted(n)}")
    for k in keys:
        if not all(math.isfinite(v) for v in payload[k]):
            raise DataError(f"event payload '{k}' has non-finite values")
