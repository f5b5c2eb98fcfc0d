"""Digitisation: what the readout makes of the visible energy.

Applied per cell, in this order: photo-statistics (Poisson number of photoelectrons), an
energy-scale calibration, Gaussian electronic noise, saturation, and a zero-suppression
threshold. The true visible energies are always kept; digitised energies are stored
separately (``Showers.digitized``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from calolab.core.errors import ConfigError
from calolab.simulation.stack import MODE_EM, StackModel


@dataclass(frozen=True)
class Digitizer:
    """Readout model.

    Parameters
    ----------
    noise_gev:
        σ of the Gaussian electronic noise per cell, GeV (in calibrated units when
        ``calibration = "em"``).
    threshold_gev:
        Cells below this energy (after noise) are set to 0, GeV.
    photoelectrons_per_gev:
        Light yield; the visible energy is replaced by Poisson(npe)/yield. ``None``: off.
    saturation_gev:
        Maximum energy a cell can report, GeV. ``None``: off.
    calibration:
        ``"none"``: report visible energy; ``"em"``: divide each cell by the mean visible
        fraction of EM showers in its layer (sampling-fraction calibration), so that the
        sum estimates the EM energy.
    """

    noise_gev: float = 0.0
    threshold_gev: float = 0.0
    photoelectrons_per_gev: float | None = None
    saturation_gev: float | None = None
    calibration: str = "none"

    def __post_init__(self) -> None:
        for name in ("noise_gev", "threshold_gev"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"digitisation: {name} {v!r} must be a number >= 0")
        for name in ("photoelectrons_per_gev", "saturation_gev"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"digitisation: {name} {v!r} must be a number > 0 (or unset)")
        if self.calibration not in {"none", "em"}:
            raise ConfigError(
                f"digitisation: calibration {self.calibration!r} must be 'none' or 'em'"
            )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def scale(self, stack: StackModel) -> np.ndarray:
        """Per-cell calibration factor (n_cells,)."""
        if self.calibration == "none":
            return np.ones(stack.n_cells, dtype=np.float32)
        share = stack.cell_share[MODE_EM]
        return np.where(share > 0, 1.0 / np.where(share > 0, share, 1.0), 0.0).astype(np.float32)

    def apply(self, cells: np.ndarray, scale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Digitise one event's visible cell energies (GeV, shape (n_cells,))."""
        out = cells.astype(np.float64)
        if self.photoelectrons_per_gev is not None:
            nz = np.flatnonzero(out)
            out[nz] = (
                rng.poisson(out[nz] * self.photoelectrons_per_gev) / self.photoelectrons_per_gev
            )
        out *= scale
        if self.noise_gev > 0:
            out += rng.normal(0.0, self.noise_gev, size=out.shape)
        if self.saturation_gev is not None:
            np.minimum(out, self.saturation_gev, out=out)
        if self.threshold_gev > 0:
            out[out < self.threshold_gev] = 0.0
        return out.astype(np.float32)
