"""Comparison of the fast simulation with reference showers (Geant4 validation set).

The reference set (``shared/validation/geant4`` in the project, README there) holds Geant4
11.4 showers of electrons, photons and muons in six configurations, reproduced by the
presets ``geant4_v1`` … ``geant4_v6``. For each reference file this module computes the same
observables from the file and from a fast simulation of the same beam: mean visible energy
over E, its relative spread, the depth of the shower maximum from a Gamma fit to the mean
longitudinal profile (as in the README), the transverse containment in cells whose centre
lies within r of the axis, and, for muons, quantiles of the deposited energy.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.special import gammainc

from calolab.core.errors import DataError
from calolab.data.showers import Showers
from calolab.simulation.gun import ParticleGun
from calolab.simulation.run import simulate

CONTAINMENT_RADII_CM = (1.0, 2.0, 3.0, 5.0)
_NAME = re.compile(r"^(V\d)_(.+)_(\d+(?:\.\d+)?)GeV\.npz$")


@dataclass(frozen=True)
class ReferenceSample:
    """One reference file: configuration (V1…V6), particle, beam energy (GeV), path."""

    config: str
    particle: str
    energy_gev: float
    path: Path

    @property
    def preset(self) -> str:
        return f"geant4_{self.config.lower()}"

    @property
    def label(self) -> str:
        return f"{self.config} {self.particle} {self.energy_gev:g} GeV"


#: The Geant4 reference showers shipped with calolab (see the README in that directory).
PACKAGED_REFERENCE_DIR = Path(__file__).resolve().parent / "reference" / "geant4"


def default_reference_dir() -> Path:
    """``$CALOLAB_GEANT4_REFERENCE`` if set, else the reference showers shipped with calolab."""
    env = os.environ.get("CALOLAB_GEANT4_REFERENCE")
    return Path(env) if env else PACKAGED_REFERENCE_DIR


def find_references(directory: str | Path | None = None) -> list[ReferenceSample]:
    """All reference files in ``directory``, sorted by configuration, particle, energy."""
    d = default_reference_dir() if directory is None else Path(directory)
    if not d.is_dir():
        raise DataError(
            f"reference directory '{d}' does not exist; point --reference (or "
            "$CALOLAB_GEANT4_REFERENCE) to a directory of Geant4 reference files"
        )
    out = []
    for p in sorted(d.glob("*.npz")):
        m = _NAME.match(p.name)
        if m:
            out.append(ReferenceSample(m.group(1), m.group(2), float(m.group(3)), p))
    if not out:
        raise DataError(f"no reference files named like V1_e-_20GeV.npz in '{d}'")
    return sorted(out, key=lambda s: (s.config, s.particle, s.energy_gev))


def fit_gamma_maximum(profile: np.ndarray, layer_x0: float = 1.0) -> float:
    """Depth of the maximum of F·Γ(α, β) fitted to a binned mean longitudinal profile.

    ``profile[i]`` is the mean energy fraction in layer i (layers of equal thickness
    ``layer_x0`` radiation lengths). Returns T = (α-1)/β in radiation lengths.
    """
    i = np.arange(len(profile))

    def resid(p: np.ndarray) -> np.ndarray:
        f, a, b = p
        return f * (gammainc(a, b * (i + 1)) - gammainc(a, b * i)) - profile

    f, a, b = least_squares(resid, [1.0, 4.0, 0.5], bounds=([0, 1.01, 0.01], [2, 60, 5])).x
    return float((a - 1) / b * layer_x0)


def containment(grid: np.ndarray, cell_cm: float, radii: tuple[float, ...]) -> list[float]:
    """Fraction of the summed ``grid`` (layers, nx, ny) in cells whose centre is within r."""
    g = grid.sum(axis=0) if grid.ndim == 3 else grid
    nx = g.shape[0]
    xc = (np.arange(nx) + 0.5) * cell_cm - nx * cell_cm / 2
    rr = np.hypot(xc[:, None], xc[None, :])
    tot = g.sum()
    return [float(g[rr <= r].sum() / tot) if tot > 0 else float("nan") for r in radii]


def _summary(visible_gev: np.ndarray, energy: float) -> dict[str, float]:
    v = visible_gev / energy
    n = len(v)
    rel = float(v.std() / v.mean()) if v.mean() > 0 else float("nan")
    return {
        "events": n,
        "visible_over_e": float(v.mean()),
        "visible_over_e_err": float(v.std() / np.sqrt(n)),
        "sigma_over_mean": rel,
        "sigma_over_mean_err": rel / np.sqrt(2 * (n - 1)),
        "median_gev": float(np.median(visible_gev)),
        "q16_gev": float(np.quantile(visible_gev, 0.16)),
        "q84_gev": float(np.quantile(visible_gev, 0.84)),
    }


def reference_observables(sample: ReferenceSample) -> dict[str, Any]:
    """Observables of a reference file (energies in GeV)."""
    d = np.load(sample.path)
    meta = json.loads(str(d["meta"]))
    e = sample.energy_gev
    geo = meta.get("geometry", {})
    out: dict[str, Any] = dict(_summary(d["e_visible"] / 1000.0, e))
    layers = d["layers_visible"] / 1000.0
    out["layer_of_max"] = int(np.argmax(layers.mean(axis=0)))
    out["shower_max_layers"] = fit_gamma_maximum(layers.mean(axis=0) / e)
    cell = float(geo.get("cell_size_cm", [1.0])[0])
    out["containment"] = containment(d["mean_grid"].astype(np.float64), cell, CONTAINMENT_RADII_CM)
    return out


def fast_observables(showers: Showers, energy: float) -> dict[str, Any]:
    """The same observables from simulated showers of one beam energy (GeV)."""
    out: dict[str, Any] = dict(_summary(showers.truth["visible"], energy))
    if sample_is_em(showers):
        layers = showers.layer_energies()
        out["layer_of_max"] = int(np.argmax(layers.mean(axis=0)))
        out["shower_max_layers"] = fit_gamma_maximum(layers.mean(axis=0) / energy)
    det = showers.detector
    assert det is not None
    out["containment"] = containment(
        showers.grid().mean(axis=0), det.readout_layers[0].cell_size_cm[0], CONTAINMENT_RADII_CM
    )
    return out


def sample_is_em(showers: Showers) -> bool:
    return bool(np.all(np.isin(np.abs(showers.pdg), [11, 22, 111])))


def compare(sample: ReferenceSample, n_events: int | None = None, seed: int = 1) -> dict[str, Any]:
    """Simulate the reference beam with the fast backend and return both sets of observables."""
    ref = reference_observables(sample)
    n = n_events or ref["events"]
    showers = simulate(sample.preset, ParticleGun(sample.particle, sample.energy_gev), n, seed=seed)
    fast = fast_observables(showers, sample.energy_gev)
    if "shower_max_layers" not in fast:
        ref.pop("shower_max_layers", None)
        ref.pop("layer_of_max", None)
    return {
        "sample": sample.label,
        "config": sample.config,
        "particle": sample.particle,
        "energy_gev": sample.energy_gev,
        "reference": ref,
        "fast": fast,
    }
