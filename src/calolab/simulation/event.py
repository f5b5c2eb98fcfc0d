"""Per-event accumulation of what particles do in the calorimeter.

A particle handler (EM, hadronic, muon …) receives a :class:`Primary` and an
:class:`EventContext` and records, in detector coordinates (cm, GeV):

* EM showers to develop (start point, direction, energy, photon or electron) — they are
  developed together at the end of the event by the EM shower model;
* point deposits in one of three modes (see :mod:`calolab.simulation.stack`): EM-like or
  hadronic energy smeared over a sampling period, or energy deposited exactly where it is
  (ionisation along tracks);
* energy that leaves the detector explicitly (an exiting muon, neutrinos) and energy that
  becomes invisible (nuclear binding energy);
* per-event truth extras and ragged records (e.g. the list of radiative losses of a muon).

Energy bookkeeping: deposited + leaked + invisible = incident energy, exactly, per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from calolab.simulation.stack import MODE_EM, MODE_HAD, MODE_LOCAL, N_MODES

#: Point deposits of one kind: x, y, z (cm) and energy (GeV), arrays of one length.
Deposits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class EMSeeds:
    """EM showers to develop: arrays of shape (K,) (positions in cm, energies in GeV)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    ux: np.ndarray
    uy: np.ndarray
    uz: np.ndarray
    energy: np.ndarray
    photon: np.ndarray

    def __len__(self) -> int:
        return len(self.energy)

    @classmethod
    def from_rows(cls, rows: np.ndarray, photon: np.ndarray) -> EMSeeds:
        """From an array of rows (x, y, z, ux, uy, uz, energy) and photon flags."""
        return cls(
            x=rows[:, 0],
            y=rows[:, 1],
            z=rows[:, 2],
            ux=rows[:, 3],
            uy=rows[:, 4],
            uz=rows[:, 5],
            energy=rows[:, 6],
            photon=np.asarray(photon, dtype=bool),
        )

    @classmethod
    def empty(cls) -> EMSeeds:
        return cls.from_rows(np.zeros((0, 7)), np.zeros(0, dtype=bool))


@dataclass
class EventContext:
    """Accumulator of one event (see module docstring)."""

    index: int
    rng: np.random.Generator
    _seeds: list[tuple[float, float, float, float, float, float, float, bool]] = field(
        default_factory=list
    )
    _deposits: list[list[Deposits]] = field(default_factory=lambda: [[] for _ in range(N_MODES)])
    escaped: float = 0.0
    invisible: float = 0.0
    extras: dict[str, float] = field(default_factory=dict)
    records: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add_em_shower(
        self,
        position: tuple[float, float, float] | np.ndarray,
        direction: tuple[float, float, float] | np.ndarray,
        energy: float,
        photon: bool,
    ) -> None:
        """An electromagnetic shower of ``energy`` GeV starting at ``position`` (cm)."""
        if energy <= 0:
            return
        self._seeds.append(
            (
                float(position[0]),
                float(position[1]),
                float(position[2]),
                float(direction[0]),
                float(direction[1]),
                float(direction[2]),
                float(energy),
                bool(photon),
            )
        )

    def add_em_showers(self, seeds: EMSeeds) -> None:
        """Many EM showers at once."""
        for i in range(len(seeds)):
            self.add_em_shower(
                (seeds.x[i], seeds.y[i], seeds.z[i]),
                (seeds.ux[i], seeds.uy[i], seeds.uz[i]),
                seeds.energy[i],
                bool(seeds.photon[i]),
            )

    def add_deposits(
        self, mode: int, x: np.ndarray, y: np.ndarray, z: np.ndarray, e: np.ndarray
    ) -> None:
        """Point deposits (cm, GeV) in ``mode`` (``MODE_EM``, ``MODE_HAD`` or ``MODE_LOCAL``)."""
        if mode not in (MODE_EM, MODE_HAD, MODE_LOCAL):
            raise ValueError(f"unknown deposit mode {mode}")
        e = np.asarray(e, dtype=np.float64)
        if e.size:
            self._deposits[mode].append(
                (
                    np.asarray(x, dtype=np.float64),
                    np.asarray(y, dtype=np.float64),
                    np.asarray(z, dtype=np.float64),
                    e,
                )
            )

    def add_escaped(self, energy: float) -> None:
        """Energy (GeV) carried out of the detector by particles that are not simulated
        further (e.g. a muon leaving the back, neutrinos)."""
        self.escaped += float(energy)

    def add_invisible(self, energy: float) -> None:
        """Energy (GeV) that is lost without being deposited (e.g. nuclear binding)."""
        self.invisible += float(energy)

    def record(self, name: str, **values: float) -> None:
        """Append one entry to the ragged record ``name`` (e.g. one radiative loss)."""
        rec = self.records.setdefault(name, {})
        for k, v in values.items():
            rec.setdefault(k, []).append(float(v))

    # ------------------------------------------------------------------ access
    def seeds(self) -> EMSeeds:
        if not self._seeds:
            return EMSeeds.empty()
        a = np.array(self._seeds, dtype=np.float64)
        return EMSeeds.from_rows(a[:, :7], a[:, 7].astype(bool))

    def deposits(self, mode: int) -> Deposits:
        parts = self._deposits[mode]
        if not parts:
            z = np.zeros(0)
            return z, z, z, z
        if len(parts) == 1:
            return parts[0]
        x, y, z, e = (np.concatenate([p[i] for p in parts]) for i in range(4))
        return x, y, z, e
