"""Feature builders: what the models see of a shower.

All energies are in GeV and all lengths in cm. Every builder takes a :class:`Showers` batch
and returns float arrays with one row per event, so that features can be computed while a
file is streamed batch by batch.

* :func:`layer_sums` — visible energy per readout layer, ``(N, L)``.
* :func:`total_energy` — summed visible energy, ``(N,)``.
* :class:`HighLevelFeatures` — shower-shape features from domain knowledge, ``(N, F)``:
  energy and number of cells above thresholds, the maximum cell, longitudinal depth moments
  (in X0 and λI), transverse centroid and width, and the number of 3D clusters of cells above
  a threshold (the inputs of the high-level branch of Kieseler et al., EPJC 82 (2022) 79).
* :func:`section_grid` — the cells of one section as an image ``(N, L_s, nx, ny)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from calolab.core.errors import ConfigError, DataError
from calolab.data.showers import Showers
from calolab.geometry.detector import Calorimeter

#: Default thresholds of the high-level features, GeV (a Si MIP is ~0.1 MeV, a PbWO4 MIP in a
#: 4 cm cell ~40 MeV: the range covers sampling and homogeneous calorimeters).
DEFAULT_THRESHOLDS_GEV = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def layer_sums(showers: Showers, digitized: bool = False) -> np.ndarray:
    """Visible energy per readout layer, GeV, shape ``(N, L)`` float64."""
    return showers.layer_energies(digitized=digitized)


def total_energy(showers: Showers, digitized: bool = False) -> np.ndarray:
    """Summed visible energy of all cells, GeV, shape ``(N,)`` float64."""
    return showers.total(digitized=digitized)


def _require_detector(showers: Showers, what: str) -> Calorimeter:
    if showers.detector is None:
        raise DataError(
            f"{what} needs the detector description (cell positions and depths); this file has "
            "none — use layer features ('layers') or a calolab file"
        )
    return showers.detector


@dataclass(frozen=True)
class _CellGeometry:
    x: np.ndarray  # (n_cells,) cm, cell centre
    y: np.ndarray
    depth_x0: np.ndarray  # (n_cells,) mid depth of the readout layer, X0
    depth_lambda: np.ndarray  # (n_cells,) λI
    sections: tuple[tuple[int, int, int, int, int], ...]  # (offset, n_layers, nx, ny, end)


@lru_cache(maxsize=16)
def _geometry(det: Calorimeter) -> _CellGeometry:
    xs, ys, dx0, dl = [], [], [], []
    lx, ly = det.transverse_size_cm
    for r in det.readout_layers:
        cx = (np.arange(r.nx) + 0.5) * r.cell_size_cm[0] - lx / 2
        cy = (np.arange(r.ny) + 0.5) * r.cell_size_cm[1] - ly / 2
        gx, gy = np.meshgrid(cx, cy, indexing="ij")
        xs.append(gx.ravel())
        ys.append(gy.ravel())
        dx0.append(np.full(r.n_cells, 0.5 * (r.depth_x0_start + r.depth_x0_end)))
        dl.append(np.full(r.n_cells, 0.5 * (r.depth_lambda_start + r.depth_lambda_end)))
    secs: list[tuple[int, int, int, int, int]] = []
    for name in dict.fromkeys(r.section for r in det.readout_layers):
        layers = [r for r in det.readout_layers if r.section == name]
        a = layers[0].offset
        b = layers[-1].offset + layers[-1].n_cells
        secs.append((a, len(layers), layers[0].nx, layers[0].ny, b))
    return _CellGeometry(
        np.concatenate(xs),
        np.concatenate(ys),
        np.concatenate(dx0),
        np.concatenate(dl),
        tuple(secs),
    )


def _count_clusters(mask: np.ndarray) -> np.ndarray:
    """Number of 6-connected 3D clusters per event of a boolean ``(N, L, nx, ny)`` mask."""
    from scipy import ndimage

    n = mask.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    structure = np.zeros((3, 3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(3, 1)  # never connect two events
    labels, _ = ndimage.label(mask, structure=structure)
    # labels are assigned in scan order and events are the slowest axis, so the labels of
    # event i are the range (max label of events < i, max label of events <= i].
    per_event_max = labels.reshape(n, -1).max(axis=1)
    cum = np.maximum.accumulate(per_event_max)
    return np.diff(np.concatenate([[0], cum])).astype(np.int64)


@dataclass(frozen=True)
class HighLevelFeatures:
    """Shower-shape features from domain knowledge.

    The features, in order (see :attr:`names`), are ``total``; ``e_above_<t>`` and
    ``n_above_<t>`` for each threshold; ``max_cell``, ``max_cell_frac``; ``depth_x0_mean``,
    ``depth_x0_rms``, ``depth_lambda_mean``, ``depth_lambda_rms`` (energy-weighted, in X0
    and λI); ``x_mean``, ``y_mean``, ``r_rms`` (cm, energy-weighted transverse centroid and
    width); ``n_clusters``; ``n_layers_hit``.

    Parameters
    ----------
    thresholds_gev:
        Cell-energy thresholds (GeV) for the "energy above" and "cells above" features.
    cluster_threshold_gev:
        Cells above this energy (GeV) are grouped into 6-connected 3D clusters (within each
        section); the number of clusters is a feature (radiative losses of muons, hadronic
        sub-showers).
    """

    thresholds_gev: tuple[float, ...] = DEFAULT_THRESHOLDS_GEV
    cluster_threshold_gev: float = 1e-2
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        th = tuple(float(t) for t in self.thresholds_gev)
        if not th or any(not np.isfinite(t) or t < 0 for t in th):
            raise ConfigError(f"high-level features: thresholds_gev {th} must be numbers >= 0")
        if not (np.isfinite(self.cluster_threshold_gev) and self.cluster_threshold_gev >= 0):
            raise ConfigError(
                f"high-level features: cluster_threshold_gev {self.cluster_threshold_gev!r} "
                "must be >= 0"
            )
        object.__setattr__(self, "thresholds_gev", th)
        names = ["total"]
        names += [f"e_above_{t:g}" for t in th]
        names += [f"n_above_{t:g}" for t in th]
        names += ["max_cell", "max_cell_frac"]
        names += ["depth_x0_mean", "depth_x0_rms", "depth_lambda_mean", "depth_lambda_rms"]
        names += ["x_mean", "y_mean", "r_rms", "n_clusters", "n_layers_hit"]
        object.__setattr__(self, "_names", tuple(names))

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names, in column order."""
        return self._names

    def to_dict(self) -> dict[str, object]:
        return {
            "thresholds_gev": list(self.thresholds_gev),
            "cluster_threshold_gev": self.cluster_threshold_gev,
        }

    def __call__(self, showers: Showers, digitized: bool = False) -> np.ndarray:
        """Features of every event, shape ``(N, F)`` float64 (energies GeV, lengths cm)."""
        det = _require_detector(showers, "high-level features")
        geo = _geometry(det)
        cells = showers._cells(digitized).astype(np.float64, copy=False)
        n = cells.shape[0]
        tot = cells.sum(axis=1)
        safe = np.where(tot > 0, tot, 1.0)
        cols: list[np.ndarray] = [tot]
        for t in self.thresholds_gev:
            cols.append(np.where(cells > t, cells, 0.0).sum(axis=1))
        for t in self.thresholds_gev:
            cols.append((cells > t).sum(axis=1).astype(np.float64))
        mx = cells.max(axis=1) if cells.shape[1] else np.zeros(n)
        cols += [mx, mx / safe]

        def moments(coord: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            m1 = cells @ coord / safe
            m2 = cells @ (coord * coord) / safe
            return m1, np.sqrt(np.clip(m2 - m1 * m1, 0.0, None))

        for coord in (geo.depth_x0, geo.depth_lambda):
            cols.extend(moments(coord))
        xm, _ = moments(geo.x)
        ym, _ = moments(geo.y)
        r2 = cells @ (geo.x * geo.x + geo.y * geo.y) / safe - xm * xm - ym * ym
        cols += [xm, ym, np.sqrt(np.clip(r2, 0.0, None))]
        nclu = np.zeros(n)
        for a, nl, nx, ny, b in geo.sections:
            nclu += _count_clusters(
                cells[:, a:b].reshape(n, nl, nx, ny) > self.cluster_threshold_gev
            )
        cols.append(nclu)
        cols.append((showers.layer_energies(digitized) > 0).sum(axis=1).astype(np.float64))
        return np.stack(cols, axis=1)


def grid_sections(detector: Calorimeter) -> list[str]:
    """Names of the detector's sections, front to back (each has one cell grid)."""
    return list(dict.fromkeys(r.section for r in detector.readout_layers))


def default_grid_section(detector: Calorimeter) -> str | None:
    """The section a 3D CNN looks at by default: ``None`` (the whole detector) when every
    readout layer has the same grid, else the first section (the ECAL of the course designs)."""
    if detector.uniform_grid is not None:
        return None
    return grid_sections(detector)[0]


def section_grid(showers: Showers, section: str | None, digitized: bool = False) -> np.ndarray:
    """Cells of ``section`` (``None``: the whole detector, which needs one uniform grid) as
    ``(N, L_s, nx, ny)`` float32, GeV."""
    _require_detector(showers, "the 3D grid")
    return np.ascontiguousarray(showers.grid(section, digitized=digitized), dtype=np.float32)


def grid_shape(detector: Calorimeter, section: str | None) -> tuple[int, int, int]:
    """``(L_s, nx, ny)`` of :func:`section_grid` for ``detector``."""
    layers = [r for r in detector.readout_layers if section is None or r.section == section]
    if not layers:
        raise ConfigError(
            f"detector '{detector.name}' has no section {section!r}; sections: "
            f"{', '.join(grid_sections(detector))}"
        )
    grids = {(r.nx, r.ny) for r in layers}
    if len(grids) != 1:
        raise ConfigError(
            f"detector '{detector.name}': readout layers have different grids {sorted(grids)}; "
            f"choose one section of {', '.join(grid_sections(detector))}"
        )
    nx, ny = grids.pop()
    return (len(layers), nx, ny)
