"""Test helper: calolab showers written as an EDM4hep-layout ROOT file (with uproot).

The file has what ``ddsim`` writes for a calorimeter collection: a TTree ``events`` with the
hit collection's members as leaves ``<collection>.<member>`` (cellID, energy in GeV, position
in mm, time in ns), an ``MCParticles`` collection (the primary with generator status 1 and one
secondary of status 0) and a ``metadata`` frame with the ``<collection>__CellIDEncoding``
parameter (an RNTuple: uproot cannot write a TTree of string vectors). Cell IDs follow DD4hep:
the encoding ``system:5,layer:9,x:32:-16,y:-16``, ``system`` = 20 + section index, ``layer``
counted from 1 within the section, and x/y the indices of DD4hep's ``CartesianGridXY``
(``floor((x + size/2) / size)``, centred on the axis).
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from calolab.core.particles import particle_mass_gev
from calolab.data import Showers
from calolab.data.cellid import CellIDEncoding

ENCODING = "system:5,layer:9,x:32:-16,y:-16"


def cell_geometry(showers: Showers) -> dict[str, np.ndarray]:
    """Per cell: section index, layer in section (0-based), ix, iy, centre (cm)."""
    det = showers.detector
    assert det is not None
    n = det.n_channels
    out = {k: np.zeros(n, dtype=np.int64) for k in ("section", "layer", "ix", "iy")}
    out.update({k: np.zeros(n) for k in ("x", "y", "z")})
    count: dict[int, int] = {}
    for r in det.readout_layers:
        k = count.get(r.section_index, 0)
        count[r.section_index] = k + 1
        sl = slice(r.offset, r.offset + r.n_cells)
        ix, iy = np.divmod(np.arange(r.n_cells), r.ny)
        out["section"][sl] = r.section_index
        out["layer"][sl] = k
        out["ix"][sl], out["iy"][sl] = ix, iy
        out["x"][sl] = (ix + 0.5) * r.cell_size_cm[0] - det.transverse_size_cm[0] / 2
        out["y"][sl] = (iy + 0.5) * r.cell_size_cm[1] - det.transverse_size_cm[1] / 2
        out["z"][sl] = 0.5 * (r.z_start_cm + r.z_end_cm)
    return out


def dd4hep_index(centre_cm: np.ndarray, size_cm: np.ndarray) -> np.ndarray:
    """DD4hep CartesianGridXY bin of a position (offset 0)."""
    return np.floor((centre_cm + 0.5 * size_cm) / size_cm).astype(np.int64)


def write_edm4hep(
    path: Path,
    showers: Showers,
    *,
    collection: str = "ECalCollection",
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    metadata: bool = True,
) -> Path:
    """Write the non-empty cells of ``showers`` as hits of ``collection``."""
    det = showers.detector
    assert det is not None
    geo = cell_geometry(showers)
    size_x = np.zeros(det.n_channels)
    size_y = np.zeros(det.n_channels)
    for r in det.readout_layers:
        size_x[r.offset : r.offset + r.n_cells] = r.cell_size_cm[0]
        size_y[r.offset : r.offset + r.n_cells] = r.cell_size_cm[1]
    enc = CellIDEncoding.parse(ENCODING)
    ids = enc.encode(
        {
            "system": 20 + geo["section"],
            "layer": geo["layer"] + 1,
            "x": dd4hep_index(geo["x"], size_x),
            "y": dd4hep_index(geo["y"], size_y),
        }
    )
    hits: dict[str, list[np.ndarray]] = {k: [] for k in ("cellID", "energy", "x", "y", "z", "t")}
    for row in showers.cells:
        nz = np.flatnonzero(row)
        hits["cellID"].append(ids[nz])
        hits["energy"].append(row[nz].astype(np.float32))
        hits["x"].append((geo["x"][nz] * 10 + origin_mm[0]).astype(np.float32))
        hits["y"].append((geo["y"][nz] * 10 + origin_mm[1]).astype(np.float32))
        hits["z"].append((geo["z"][nz] * 10 + origin_mm[2]).astype(np.float32))
        hits["t"].append((geo["z"][nz] / 29.9792458).astype(np.float32))  # ns
    n = len(showers)
    energy = showers.truth["energy"]
    pdg = showers.truth["pdg"]
    mass = np.array([particle_mass_gev(int(p)) for p in pdg])
    p = np.sqrt(np.maximum(energy**2 - mass**2, 0.0))
    mom = showers.truth["direction"] * p[:, None]
    vtx = showers.truth["entry_point"] * 10.0
    # the primary (status 1) and a soft secondary (status 0) in every event
    mc = {
        "PDG": np.stack([pdg, np.full(n, 22)], axis=1).astype(np.int32),
        "generatorStatus": np.tile([1, 0], (n, 1)).astype(np.int32),
        "mass": np.stack([mass, np.zeros(n)], axis=1),
        "momentum.x": np.stack([mom[:, 0], np.full(n, 0.01)], axis=1),
        "momentum.y": np.stack([mom[:, 1], np.zeros(n)], axis=1),
        "momentum.z": np.stack([mom[:, 2], np.zeros(n)], axis=1),
        "vertex.x": np.stack([vtx[:, 0], vtx[:, 0]], axis=1),
        "vertex.y": np.stack([vtx[:, 1], vtx[:, 1]], axis=1),
        "vertex.z": np.stack([vtx[:, 2], vtx[:, 2]], axis=1),
    }
    counts = np.array([len(h) for h in hits["cellID"]])

    def jagged(parts: list[np.ndarray]) -> ak.Array:
        return ak.unflatten(np.concatenate(parts), counts)

    branches = {
        f"{collection}.cellID": jagged(hits["cellID"]),
        f"{collection}.energy": jagged(hits["energy"]),
        f"{collection}.time": jagged(hits["t"]),
        f"{collection}.position.x": jagged(hits["x"]),
        f"{collection}.position.y": jagged(hits["y"]),
        f"{collection}.position.z": jagged(hits["z"]),
        **{f"MCParticles.{k}": ak.unflatten(v.ravel(), np.full(n, 2)) for k, v in mc.items()},
    }
    with uproot.recreate(path) as f:
        f.mktree("events", {k: v.type.content for k, v in branches.items()})
        f["events"].extend(branches)
        if metadata:
            f["metadata"] = {
                "GPStringKeys": ak.Array([[f"{collection}__CellIDEncoding"]]),
                "GPStringValues": ak.Array([[[ENCODING]]]),
            }
    return path
