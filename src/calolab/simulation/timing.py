"""Cell times: when the energy of each cell was deposited, and what the readout measures.

Applied to each simulated event after its cells are binned (it reads the event's truth and
cells, and draws from its own random stream, so it never changes the showers themselves):
each cell's time is taken at its centre, not averaged over its deposits. The time is smooth
across a cell, so the two differ by a common offset of a few ps and by about 1 ps event to
event in the shower time (measured on ``course_pbwo4`` with a 4x finer copy of its ECAL as a
per-deposit proxy: ``scripts/timing_cells_vs_deposits.py``, docs/conditions.md).
Times are in ns; t = 0 when the primary crosses the front face of the calorimeter at its entry
point (``interaction_distance_cm`` adds the flight from an interaction point upstream).

**True time of a cell** (``Showers.times``, ``calolab/times``): the energy-weighted mean time
of its deposits, in two parts.

1. *Time of flight.* The primary flies along its direction at its speed βc (β from its energy
   and PDG mass) to the depth of the cell, L = (r_cell − r_entry)·u; the shower's particles
   then reach the cell's centre at the speed of light: t_tof = (d_upstream + L)/(βc) +
   (√(L² + ρ²) − L)/c, with ρ the cell's distance from the primary's line. Energy therefore
   never arrives before the primary reached the cell's depth (causality; tested).
2. *Development.* Electromagnetic showers are prompt: their particles are relativistic and
   the energy of a cell is deposited within tens of ps of the shower front, which the path
   above already describes; no further delay is added (EM primaries, and the f_em share of
   hadron showers). Hadron showers have a slow component: the evaporation neutrons of
   nuclear break-up carry about 10 % of the shower energy (R. Wigmans, Rev. Sci. Instrum.
   69 (1998) 3723) and deposit it late, through elastic scattering off hydrogen and capture
   γs; DREAM measured this contribution as an exponential tail of time constant ≈ 25 ns in
   its copper/fibre calorimeter (N. Akchurin et al., NIM A 581 (2007) 643,
   arXiv:0707.4019), and CALICE T3B found the late component much larger with tungsten than
   with steel absorbers (JINST 9 (2014) P07022). Here a fraction ``slow_fraction`` of the
   non-EM visible energy (1 − f_em) of each cell downstream of the first interaction is
   delayed: it comes in quanta of ``slow_quantum_mev`` (each an exponential delay of
   ``slow_tau_ns``), so the cell's delayed time is the mean of k ~ ⌈E_slow/quantum⌉ draws,
   Gamma(k, τ/k), and its energy-weighted time t_tof + (E_slow/E_cell)·⟨delay⟩. Cells in
   front of the first interaction see only the primary's ionisation (prompt). The defaults
   are those of a hydrogenous (scintillator) readout with a copper-like absorber; set them
   for tungsten or a non-hydrogenous medium (silicon sees mostly the capture γs).

**Digitised time** (``Showers.digitized_times``, ``calolab/digitized/times``): the true time
smeared by the channel's resolution σ_t = A/√(E/MIP) ⊕ B (A, B of the section's readout,
``time_mip_ns`` and ``time_floor_ns``, :attr:`calolab.geometry.readout.Readout.time_resolution_ns`),
with E the cell's visible energy in MIP of its layer; noise-only hits get a time uniform in
``noise_window_ns``. With ``window_ns`` the digitisation keeps only cells whose measured time
lies in the window (the others read 0 in ``digitized`` and ``digitized_times``): the time cut
of a detector that rejects out-of-time background.

The random streams of event i are ``SeedSequence(seed, spawn_key=(i, 3, k))``, k = 0 for the
development and 1 for the time digitisation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from calolab.core.config import check_float
from calolab.core.errors import ConfigError
from calolab.data.showers import Showers
from calolab.geometry.detector import Calorimeter

#: Speed of light, cm/ns.
C_CM_PER_NS = 29.9792458
#: Random stream of the timing (0: physics, 1: digitisation, 2: noisy channels).
TIMING_STREAM = 3


@dataclass(frozen=True)
class TimingModel:
    """Parameters of the cell times (see the module docstring).

    Parameters
    ----------
    slow_fraction:
        Share of the non-EM visible energy of hadron showers that is deposited late.
    slow_tau_ns:
        Time constant of the late deposits, ns.
    slow_quantum_mev:
        Visible energy of one late deposit, MeV (sets how well a cell averages them).
    interaction_distance_cm:
        Flight of the primary before the front face, cm (the primary's vertex).
    window_ns:
        ``(lo, hi)``: digitised cells outside this time window read 0; ``None``: no cut.
    noise_window_ns:
        Times of noise-only hits are uniform in this range, ns.
    """

    slow_fraction: float = 0.10
    slow_tau_ns: float = 25.0
    slow_quantum_mev: float = 1.0
    interaction_distance_cm: float = 0.0
    window_ns: tuple[float, float] | None = None
    noise_window_ns: tuple[float, float] = (-12.5, 12.5)

    def __post_init__(self) -> None:
        check_float("timing: slow_fraction", self.slow_fraction, minimum=0.0, maximum=1.0)
        check_float("timing: slow_tau_ns", self.slow_tau_ns, exclusive_minimum=0.0, unit="ns")
        check_float(
            "timing: slow_quantum_mev", self.slow_quantum_mev, exclusive_minimum=0.0, unit="MeV"
        )
        check_float("timing: interaction_distance_cm", self.interaction_distance_cm, minimum=0.0)
        for name in ("window_ns", "noise_window_ns"):
            w = getattr(self, name)
            if w is None:
                continue
            if len(w) != 2 or not all(math.isfinite(float(v)) for v in w) or not w[0] < w[1]:
                raise ConfigError(f"timing: {name} {w!r} must be two times lo < hi in ns")
            object.__setattr__(self, name, (float(w[0]), float(w[1])))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CellGeometry:
    """Centre of every cell (cm, ``(n_cells,)`` each), its front face ``z_front``, the MIP
    energy of its layer (GeV) and its readout's time resolution ``a_ns``, ``b_ns``."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    z_front: np.ndarray
    gev_per_mip: np.ndarray
    a_ns: np.ndarray
    b_ns: np.ndarray

    @staticmethod
    def of(detector: Calorimeter) -> CellGeometry:
        n = detector.n_channels
        x, y, z, zf, mip, a, b = (np.zeros(n) for _ in range(7))
        hx, hy = detector.transverse_size_cm[0] / 2, detector.transverse_size_cm[1] / 2
        for r in detector.readout_layers:
            sl = slice(r.offset, r.offset + r.n_cells)
            ix, iy = np.meshgrid(np.arange(r.nx), np.arange(r.ny), indexing="ij")
            x[sl] = (-hx + (ix + 0.5) * r.cell_size_cm[0]).reshape(-1)
            y[sl] = (-hy + (iy + 0.5) * r.cell_size_cm[1]).reshape(-1)
            z[sl] = 0.5 * (r.z_start_cm + r.z_end_cm)
            zf[sl] = r.z_start_cm
            section = detector.sections[r.section_index]
            mip[sl] = section.layers[r.pattern_index].mip_loss_mev * 1e-3
            a[sl], b[sl] = section.readout.time_resolution_ns
        return CellGeometry(x, y, z, zf, mip, a, b)


def _beta(pdg: int, energy: float) -> float:
    from calolab.core.particles import particle_mass_gev

    try:
        m = float(particle_mass_gev(int(pdg)))
    except Exception:  # unknown species: relativistic
        m = 0.0
    if energy <= m or m <= 0:
        return 1.0
    return math.sqrt(max(0.0, 1.0 - (m / energy) ** 2))


def flight_times(
    geo: CellGeometry,
    entry: np.ndarray,
    direction: np.ndarray,
    beta: float,
    upstream_cm: float = 0.0,
    front: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``(t_tof, L)``: time of flight (ns) to every cell's centre (or, with ``front``, the
    time the primary reaches the depth of the cell's front face) and the cell's depth along
    the primary's line L (cm)."""
    u = np.asarray(direction, dtype=np.float64)
    u = u / np.linalg.norm(u)
    z = geo.z_front if front else geo.z
    d = np.stack([geo.x - entry[0], geo.y - entry[1], z - entry[2]], axis=1)
    along = np.clip(d @ u, 0.0, None)
    rho2 = np.maximum((d * d).sum(axis=1) - (d @ u) ** 2, 0.0)
    prim = (upstream_cm + along) / (beta * C_CM_PER_NS)
    if front:
        return prim, along
    return prim + (np.sqrt(along**2 + rho2) - along) / C_CM_PER_NS, along


def event_rng(seed: int, index: int, sub: int = 0) -> np.random.Generator:
    """Event ``index``'s timing stream (``sub`` 0: development, 1: time digitisation)."""
    ss = np.random.SeedSequence(seed, spawn_key=(index, TIMING_STREAM, sub))
    return np.random.Generator(np.random.PCG64(ss))


def cell_times(
    showers: Showers,
    model: TimingModel,
    *,
    seed: int = 0,
    first_event: int = 0,
    geometry: CellGeometry | None = None,
) -> np.ndarray:
    """True energy-weighted cell times (ns, ``(N, n_cells)`` float32; 0 in empty cells)."""
    det = showers.detector
    if det is None:
        raise ConfigError("cell times need the detector description")
    geo = geometry or CellGeometry.of(det)
    out = np.zeros(showers.cells.shape, dtype=np.float32)
    f_em = showers.extras.get("em_fraction")
    z_int = showers.extras.get("first_interaction_z_cm")
    quantum = model.slow_quantum_mev * 1e-3
    for j in range(len(showers)):
        e = showers.cells[j]
        hit = np.flatnonzero(e > 0)
        if not len(hit):
            continue
        t = showers.truth
        beta = _beta(int(t["pdg"][j]), float(t["energy"][j]))
        tof, _ = flight_times(
            _sub(geo, hit),
            t["entry_point"][j],
            t["direction"][j],
            beta,
            model.interaction_distance_cm,
        )
        times = tof
        fe = float(f_em[j]) if f_em is not None else math.nan
        if math.isfinite(fe) and model.slow_fraction > 0:
            zi = float(z_int[j]) if z_int is not None else math.nan
            after = geo.z[hit] >= zi if math.isfinite(zi) else np.ones(len(hit), bool)
            share = np.where(after, (1.0 - fe) * model.slow_fraction, 0.0)
            e_slow = share * e[hit].astype(np.float64)
            k = np.maximum(1, np.ceil(e_slow / quantum)).astype(np.float64)
            rng = event_rng(seed, first_event + j)
            delay = rng.gamma(k, model.slow_tau_ns / k)
            times = tof + share * delay
        out[j, hit] = times
    return out


def _sub(geo: CellGeometry, idx: np.ndarray) -> CellGeometry:
    return CellGeometry(*(getattr(geo, f)[idx] for f in geo.__dataclass_fields__))


def digitize_times(
    showers: Showers,
    times: np.ndarray,
    model: TimingModel,
    *,
    seed: int = 0,
    first_event: int = 0,
    geometry: CellGeometry | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(digitized_times, digitized)``: measured cell times (ns; 0 where the digitised cell
    is 0) and the digitised energies after the time window (a copy)."""
    if showers.digitized is None:
        raise ConfigError("digitised times need digitised cells (simulate with digitisation)")
    det = showers.detector
    assert det is not None
    geo = geometry or CellGeometry.of(det)
    digi = showers.digitized.copy()
    out = np.zeros(digi.shape, dtype=np.float32)
    lo, hi = model.noise_window_ns
    for j in range(len(showers)):
        rng = event_rng(seed, first_event + j, 1)
        fired = np.flatnonzero(digi[j] != 0)
        if not len(fired):
            continue
        vis = showers.cells[j, fired].astype(np.float64)
        signal = vis > 0
        e_mip = np.where(signal, vis / geo.gev_per_mip[fired], 1.0)
        sigma = np.sqrt(geo.a_ns[fired] ** 2 / e_mip + geo.b_ns[fired] ** 2)
        t = np.where(
            signal,
            times[j, fired] + sigma * rng.standard_normal(len(fired)),
            rng.uniform(lo, hi, len(fired)),
        )
        if model.window_ns is not None:
            keep = (t >= model.window_ns[0]) & (t <= model.window_ns[1])
            digi[j, fired[~keep]] = 0
            fired, t = fired[keep], t[keep]
        out[j, fired] = t
    return out, digi


def add_timing(
    showers: Showers,
    model: TimingModel,
    *,
    seed: int = 0,
    first_event: int = 0,
    geometry: CellGeometry | None = None,
) -> Showers:
    """A copy of ``showers`` with ``times`` (and, when digitised, ``digitized_times``, the
    time window applied to ``digitized``)."""
    if not isinstance(model, TimingModel):
        raise ConfigError(f"timing {model!r} must be a TimingModel (calolab.simulation.timing)")
    if showers.detector is None:
        raise ConfigError("cell times need the detector description")
    geo = geometry or CellGeometry.of(showers.detector)
    times = cell_times(showers, model, seed=seed, first_event=first_event, geometry=geo)
    if showers.digitized is None:
        return replace(showers, times=times)
    dt, digi = digitize_times(
        showers, times, model, seed=seed, first_event=first_event, geometry=geo
    )
    return replace(showers, times=times, digitized_times=dt, digitized=digi)


__all__ = [
    "C_CM_PER_NS",
    "CellGeometry",
    "TimingModel",
    "add_timing",
    "cell_times",
    "digitize_times",
    "flight_times",
]
