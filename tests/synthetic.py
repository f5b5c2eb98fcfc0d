"""Small seeded synthetic shower files with a known energy relation (for the ML tests).

The detector is tiny (a 4 × 4-cell PbWO4 section of 4 layers plus a 2 × 2-cell Fe/scintillator
section of 3 layers), and the "true energy" is an exact linear function of the layer energies,
so every model has a known relation to learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from calolab.data.hdf5 import write_showers
from calolab.data.showers import Showers
from calolab.geometry.detector import Calorimeter, Layer, Section


def tiny_detector(name: str = "tiny", n_ecal: int = 4) -> Calorimeter:
    return Calorimeter(
        name,
        (4.0, 4.0),
        [
            Section("ecal", [Layer("PbWO4", 1.0, sensitive=True)], n_ecal, 1.0),
            Section("hcal", [Layer("Fe", 2.0), Layer("polystyrene", 1.0, sensitive=True)], 3, 2.0),
        ],
    )


def uniform_detector(name: str = "cube") -> Calorimeter:
    """Every readout layer has the same 4 × 4 grid (a 3D CNN sees the whole detector)."""
    return Calorimeter(
        name, (4.0, 4.0), [Section("block", [Layer("PbWO4", 1.0, sensitive=True)], 6, 1.0)]
    )


def synthetic_showers(
    n: int,
    seed: int,
    *,
    detector: Calorimeter | None = None,
    weights: np.ndarray | float = 1.0,
    bias: float = 0.0,
    pdg: int | np.ndarray = 22,
    e_range: tuple[float, float] = (10.0, 100.0),
    noise: float = 0.0,
) -> Showers:
    """Showers whose true energy is ``layer_energies @ weights + bias`` (GeV), exactly, or
    with ``noise`` > 0 measured with a resolution σ/E = noise/√E (E in GeV): the true energy
    is then that relation divided by (1 + noise/√E · N(0, 1))."""
    rng = np.random.default_rng(seed)
    det = detector or tiny_detector()
    layers = det.readout_layers
    n_layers = len(layers)
    e0 = rng.uniform(*e_range, n)
    frac = rng.dirichlet(np.full(n_layers, 2.0), size=n)
    layer_e = e0[:, None] * frac  # (n, L) GeV
    cells = []
    for i, r in enumerate(layers):
        share = rng.gamma(2.0, size=(n, r.n_cells))
        share /= share.sum(axis=1, keepdims=True)
        cells.append(layer_e[:, i : i + 1] * share)
    cells_arr = np.concatenate(cells, axis=1).astype(np.float32)
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), (n_layers,))
    layer_sum = Showers(cells_arr, {"energy": np.ones(n)}, detector=det).layer_energies()
    energy = layer_sum @ w + bias
    if noise > 0:
        smear = 1 + noise / np.sqrt(np.abs(energy)) * rng.standard_normal(n)
        energy = energy / np.clip(smear, 0.2, None)
    pdg_arr = np.broadcast_to(np.asarray(pdg, dtype=np.int32), (n,)).copy()
    return Showers(
        cells=cells_arr,
        truth={"energy": energy, "pdg": pdg_arr},
        detector=det,
        provenance={"synthetic": {"seed": seed, "n": n, "bias": bias}},
    )


def write_synthetic(path: Path, n: int, seed: int, **kwargs) -> Path:
    write_showers(path, synthetic_showers(n, seed, **kwargs))
    return path
