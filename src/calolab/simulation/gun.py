"""Particle gun: which particle, with which energy, direction and entry point.

Conventions: the calorimeter's front face is the plane z = 0 and particles travel towards
+z. θ is the polar angle to the z axis and φ the azimuth, in degrees. The entry point
``(x, y)`` is where the particle (or, for a decay upstream, its line of flight) crosses the
front face, in cm. Energies are in GeV: the total energy for photons, electrons and π0
(whose photons share it), the kinetic energy for hadrons and muons (Geant4's convention).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calolab.core.config import check_float
from calolab.core.errors import ConfigError
from calolab.core.particles import particle_name, particle_pdg

# ---------------------------------------------------------------------------- limits
#: Photons, electrons and π0: showers from the GFlash parametrisation.
EM_PDGS = frozenset({22, 11, -11, 111})
#: Muons: transport through the tabulated energy losses of calolab.physics.muon.
MUON_PDGS = frozenset({13, -13})
#: Energies (GeV) the gun accepts, per kind of particle, and why:
#:
#: * at least 1 MeV for every particle: the muon energy-loss tables start at a kinetic
#:   energy of 1 MeV (``calolab.physics.muon.T_MIN_GEV``), the GFlash and hadronic
#:   parametrisations are fitted to showers of ~1 GeV and more and deposit anything far
#:   below the critical energy (~10 MeV) locally; below 1 MeV nothing calolab models applies;
#: * at most 100 TeV for photons, electrons, π0 and hadrons: the parametrisations (GFlash's
#:   T and α logarithmic in E, Groom's f_em = 1 - (E/E0)^(m-1)) stay finite, energy is
#:   conserved event by event (tested), and the number of energy spots grows ∝ E: 100 TeV
#:   costs ~0.5-2 s and ~150 MB per event (measured on the course detectors), while 10 PeV
#:   exhausts the memory (measured). Above a few TeV in dense absorbers the
#:   Landau-Pomeranchuk-Migdal suppression of bremsstrahlung and pair production
#:   (E_LPM = 7.7 TeV/cm × X0, PDG "Passage of particles through matter" §34.4.5: 4.3 TeV in
#:   lead) lengthens real showers and is not modelled;
#: * at most 50 TeV for muons: half the top of the muon tables (T ≤ 100 TeV), as in
#:   ``calolab.simulation.muon.MAX_MUON_ENERGY_GEV``.
ENERGY_LIMITS_GEV: dict[str, tuple[float, float]] = {
    "em": (1e-3, 1e5),
    "hadron": (1e-3, 1e5),
    "muon": (1e-3, 5e4),
}
_KIND_WORDS = {
    "em": "photons, electrons and pi0",
    "hadron": "hadrons (kinetic energy)",
    "muon": "muons (kinetic energy)",
}


def particle_kind(pdg: int) -> str:
    """``"em"``, ``"muon"`` or ``"hadron"``: which energy limits apply."""
    if pdg in EM_PDGS:
        return "em"
    if pdg in MUON_PDGS:
        return "muon"
    return "hadron"


def energy_limits(pdg: int) -> tuple[float, float]:
    """``(lowest, highest)`` gun energy in GeV for particle ``pdg``."""
    return ENERGY_LIMITS_GEV[particle_kind(pdg)]


def energy_limits_text() -> str:
    """The limits in words (for ``--help`` and messages)."""

    def fmt(e: float) -> str:
        return f"{e * 1e3:g} MeV" if e < 1 else f"{e / 1e3:g} TeV" if e >= 1e3 else f"{e:g} GeV"

    return "; ".join(
        f"{_KIND_WORDS[k]} {fmt(lo)} to {fmt(hi)}" for k, (lo, hi) in ENERGY_LIMITS_GEV.items()
    )


# ---------------------------------------------------------------------------- energies
@dataclass(frozen=True)
class EnergySpectrum:
    """Energy distribution of the gun (GeV).

    ``kind`` is ``"fixed"`` (``values = (E,)``), ``"uniform"`` (``(lo, hi)``),
    ``"log"`` (log-uniform, ``(lo, hi)``) or ``"list"`` (uniform choice among ``values``).
    """

    kind: str
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.kind not in {"fixed", "uniform", "log", "list"}:
            raise ConfigError(
                f"energy spectrum kind {self.kind!r} must be fixed, uniform, log or list"
            )
        vals = self.values
        if not vals or any(not (isinstance(v, (int, float)) and math.isfinite(v)) for v in vals):
            raise ConfigError(f"energy {vals!r} must be finite numbers in GeV")
        if any(v <= 0 for v in vals):
            raise ConfigError(f"energy {self.spec()} must be > 0 GeV")
        if self.kind in {"uniform", "log"}:
            if len(vals) != 2 or not vals[0] < vals[1]:
                raise ConfigError(
                    f"energy range {self.spec()}: needs two values lo < hi, e.g. 10:100"
                )
        if self.kind == "fixed" and len(vals) != 1:
            raise ConfigError(f"fixed energy needs one value, got {vals!r}")

    @classmethod
    def parse(cls, spec: str | float | EnergySpectrum) -> EnergySpectrum:
        """Parse ``"50"``, ``"10:100"`` (uniform), ``"log:50:8000"`` or ``"10,20,50"``."""
        if isinstance(spec, EnergySpectrum):
            return spec
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            return cls("fixed", (float(spec),))
        if not isinstance(spec, str):
            raise ConfigError(f"energy {spec!r} must be a number or a string like 10:100")
        s = spec.strip().lower()
        values: tuple[float, ...]
        try:
            if s.startswith("log:"):
                lo, hi = s[4:].split(":")
                kind, values = "log", (float(lo), float(hi))
            else:
                if s.startswith("list:"):
                    s = s[5:]
                if "," in s:
                    kind, values = "list", tuple(float(v) for v in s.split(",") if v.strip())
                elif ":" in s:
                    lo, hi = s.split(":")
                    kind, values = "uniform", (float(lo), float(hi))
                else:
                    kind, values = "fixed", (float(s),)
        except ValueError:
            raise ConfigError(
                f"energy {spec!r} is not understood; use 50 (fixed), 10:100 (uniform), "
                "log:50:8000 (log-uniform) or 10,20,50 (list), in GeV"
            ) from None
        return cls(kind, values)

    def spec(self, exact: bool = False) -> str:
        """String form accepted by :meth:`parse` (6 significant digits, as recorded in
        provenance; ``exact``: every digit, so that :meth:`parse` gives back these values)."""
        text = [repr(x) if exact else f"{x:g}" for x in self.values]
        if self.kind == "log":
            return "log:" + ":".join(text)
        if self.kind == "list":
            return ",".join(text)
        return ":".join(text)

    def sample(self, rng: np.random.Generator) -> float:
        """One energy (GeV); consumes exactly one uniform number (none when fixed)."""
        if self.kind == "fixed":
            return self.values[0]
        u = rng.random()
        lo, hi = self.values[0], self.values[-1]
        if self.kind == "uniform":
            return lo + (hi - lo) * u
        if self.kind == "log":
            return lo * (hi / lo) ** u
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

    @property
    def bounds(self) -> tuple[float, float]:
        return (min(self.values), max(self.values))


# ---------------------------------------------------------------------------- gun
@dataclass(frozen=True)
class Primary:
    """One generated particle: PDG id, energy (GeV), unit direction and entry point (cm)."""

    pdg: int
    energy: float
    direction: tuple[float, float, float]
    entry: tuple[float, float, float]
    vertex_distance_cm: float = 0.0


def _unit(theta_deg: float, phi_deg: float) -> np.ndarray:
    th, ph = math.radians(theta_deg), math.radians(phi_deg)
    return np.array([math.sin(th) * math.cos(ph), math.sin(th) * math.sin(ph), math.cos(th)])


@dataclass(frozen=True)
class ParticleGun:
    """Generates primaries.

    Parameters
    ----------
    particle:
        Name or PDG id (``"gamma"``, ``"e-"``, ``"pi0"``, ``211`` …).
    energy:
        GeV: a number, an :class:`EnergySpectrum` or a spec string (``"10:100"``,
        ``"log:50:8000"``, ``"10,20,50"``).
    theta_deg, phi_deg:
        Direction: polar angle to the calorimeter axis and azimuth, degrees.
    direction_spread_deg:
        Gaussian smearing (σ, degrees) of the direction, applied in two transverse angles.
    position_cm:
        Nominal entry point ``(x, y)`` on the front face, cm.
    position_spread_cm:
        Spread of the entry point, cm: σ of a Gaussian per axis, or the half-width of a
        uniform square when ``position_spread_shape = "uniform"``.
    vertex_distance_cm:
        Distance upstream of the entry point, along the direction, at which the particle is
        produced (decays such as π0 → γγ happen there; the space in between is vacuum).
    """

    particle: str | int = "gamma"
    energy: EnergySpectrum | float | str = 50.0
    theta_deg: float = 0.0
    phi_deg: float = 0.0
    direction_spread_deg: float = 0.0
    position_cm: tuple[float, float] = (0.0, 0.0)
    position_spread_cm: float = 0.0
    position_spread_shape: str = "gauss"
    vertex_distance_cm: float = 0.0
    pdg: int = field(init=False)
    spectrum: EnergySpectrum = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pdg", particle_pdg(self.particle))
        object.__setattr__(self, "spectrum", EnergySpectrum.parse(self.energy))
        for name in (
            "theta_deg",
            "phi_deg",
            "direction_spread_deg",
            "position_spread_cm",
            "vertex_distance_cm",
        ):
            check_float(name, getattr(self, name), where="particle gun")
        if not 0.0 <= self.theta_deg < 90.0:
            raise ConfigError(
                f"particle gun: theta_deg {self.theta_deg} must be in [0, 90) degrees "
                "(particles must travel towards the calorimeter)"
            )
        if (
            self.direction_spread_deg < 0
            or self.position_spread_cm < 0
            or self.vertex_distance_cm < 0
        ):
            raise ConfigError("particle gun: spreads and vertex_distance_cm must be >= 0")
        if self.position_spread_shape not in {"gauss", "uniform"}:
            raise ConfigError(
                f"particle gun: position_spread_shape {self.position_spread_shape!r} must be "
                "'gauss' or 'uniform'"
            )
        pos = self.position_cm
        if not (isinstance(pos, Sequence) and len(pos) == 2):
            raise ConfigError(f"particle gun: position_cm {pos!r} must be (x, y) in cm")
        xy = tuple(
            check_float(f"position_cm[{i}]", v, where="particle gun", unit="cm")
            for i, v in enumerate(pos)
        )
        object.__setattr__(self, "position_cm", xy)
        lo, hi = energy_limits(self.pdg)
        e_lo, e_hi = self.spectrum.bounds
        if e_lo < lo or e_hi > hi:
            noun = {"em": "electromagnetic", "hadron": "hadron", "muon": "muon"}
            raise ConfigError(
                f"particle gun: {noun[particle_kind(self.pdg)]} energy {self.spectrum.spec()} "
                f"GeV ({particle_name(self.pdg)}) is outside [{lo:g}, {hi:g}] GeV, the range "
                f"calolab's models cover ({energy_limits_text()})"
            )

    @property
    def particle_name(self) -> str:
        return particle_name(self.pdg)

    def to_dict(self) -> dict[str, object]:
        """Plain-data configuration (used in provenance)."""
        return {
            "particle": self.particle_name,
            "pdg": self.pdg,
            "energy": self.spectrum.spec(),
            "theta_deg": self.theta_deg,
            "phi_deg": self.phi_deg,
            "direction_spread_deg": self.direction_spread_deg,
            "position_cm": list(self.position_cm),
            "position_spread_cm": self.position_spread_cm,
            "position_spread_shape": self.position_spread_shape,
            "vertex_distance_cm": self.vertex_distance_cm,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParticleGun:
        """The gun of :meth:`to_dict`'s data, in canonical form (numbers as floats, the
        particle by name), so that equal guns have equal configuration hashes."""
        particle: str | int = int(d["pdg"])
        with contextlib.suppress(ConfigError):  # a name avoids loading the PDG table
            if particle_pdg(str(d["particle"])) == particle:
                particle = str(d["particle"])
        return cls(
            particle=particle,
            energy=str(d["energy"]),
            theta_deg=float(d["theta_deg"]),
            phi_deg=float(d["phi_deg"]),
            direction_spread_deg=float(d["direction_spread_deg"]),
            position_cm=(float(d["position_cm"][0]), float(d["position_cm"][1])),
            position_spread_cm=float(d["position_spread_cm"]),
            position_spread_shape=str(d["position_spread_shape"]),
            vertex_distance_cm=float(d["vertex_distance_cm"]),
        )

    def canonical(self) -> ParticleGun:
        """This gun in canonical form: numbers as floats, the particle by name where it has
        one, the energy spectrum exactly as it is (the same primaries, the same provenance)."""
        return ParticleGun.from_dict({**self.to_dict(), "energy": self.spectrum.spec(exact=True)})

    def sample(self, rng: np.random.Generator) -> Primary:
        """Draw one primary from ``rng`` (a fixed number of draws for a given configuration)."""
        energy = self.spectrum.sample(rng)
        d = _unit(self.theta_deg, self.phi_deg)
        if self.direction_spread_deg > 0:
            a1, a2 = rng.normal(0.0, math.radians(self.direction_spread_deg), size=2)
            e1 = np.cross(d, [0.0, 0.0, 1.0])
            if np.linalg.norm(e1) < 1e-9:
                e1 = np.array([1.0, 0.0, 0.0])
            e1 /= np.linalg.norm(e1)
            e2 = np.cross(d, e1)
            d = d + a1 * e1 + a2 * e2
            d /= np.linalg.norm(d)
            if d[2] <= 0.05:
                d[2] = 0.05
                d /= np.linalg.norm(d)
        x, y = self.position_cm
        if self.position_spread_cm > 0:
            if self.position_spread_shape == "gauss":
                dx, dy = rng.normal(0.0, self.position_spread_cm, size=2)
            else:
                dx, dy = rng.uniform(-self.position_spread_cm, self.position_spread_cm, size=2)
            x, y = x + dx, y + dy
        return Primary(
            pdg=self.pdg,
            energy=float(energy),
            direction=(float(d[0]), float(d[1]), float(d[2])),
            entry=(float(x), float(y), 0.0),
            vertex_distance_cm=self.vertex_distance_cm,
        )
