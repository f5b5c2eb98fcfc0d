"""Tables of a stack's materials for track transport, and a tracker around the kernel.

:class:`Tracker` transports one particle (muon or hadron before its first nuclear
interaction) through a :class:`~calolab.simulation.stack.StackModel` with the compiled loop
of :mod:`calolab.simulation._transport`, and returns its continuous deposits (for
``MODE_LOCAL``), its discrete losses and how it ended.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from calolab.geometry.materials import Material
from calolab.physics.ionisation import (
    K_MEV_CM2_MOL,
    LandauTables,
    bethe_loss,
    kinematics,
    landau_log_term,
    landau_tables,
)
from calolab.physics.muon import T_MAX_GEV, T_MIN_GEV, T_PER_DECADE
from calolab.simulation._transport import BUFFER_FULL, transport_track
from calolab.simulation.stack import StackModel

_N_DEP = 2048
_N_LOSS = 512


@lru_cache(maxsize=1)
def _landau() -> LandauTables:
    return landau_tables()


def stack_materials(stack: StackModel) -> tuple[list[Material], np.ndarray]:
    """Distinct materials of ``stack`` and the material index of each sub-layer."""
    mats: dict[str, Material] = {}
    for section in stack.detector.sections:
        for layer in section.layers:
            mats.setdefault(layer.material.name, layer.material)
    names = list(mats)
    index = np.array([names.index(n) for n in stack.sub_material], dtype=np.int64)
    return [mats[n] for n in names], index


def t_grid() -> np.ndarray:
    """ln(T/GeV) grid shared by all track tables (that of :mod:`calolab.physics.muon`)."""
    n_dec = math.log10(T_MAX_GEV / T_MIN_GEV)
    return np.linspace(math.log(T_MIN_GEV), math.log(T_MAX_GEV), int(n_dec * T_PER_DECADE) + 1)


@dataclass
class TrackTables:
    """Per-material arrays for :func:`~calolab.simulation._transport.transport_track`."""

    sub_mat: np.ndarray
    rho: np.ndarray
    x0_cm: np.ndarray
    nuc_rate: np.ndarray
    ln_t: np.ndarray
    ion_mean: np.ndarray
    soft_mean: np.ndarray
    soft_var: np.ndarray
    rate: np.ndarray
    eps_lo: np.ndarray
    eps_hi: np.ndarray
    cdf: np.ndarray
    landau_l: np.ndarray
    xi_per_g: np.ndarray
    ln_i: np.ndarray


def continuous_only(material: Material, mass_gev: float, ln_t: np.ndarray) -> dict[str, np.ndarray]:
    """Tables of a particle with ionisation only (no discrete processes): full Bethe loss
    with Landau fluctuations. Used for hadrons before their nuclear interaction."""
    t = np.exp(ln_t)
    _, _, b2 = kinematics(t, mass_gev)
    nt = len(t)
    return {
        "ion_mean": bethe_loss(t, mass_gev, material) * 1e-3,
        "soft_mean": np.zeros(nt),
        "soft_var": np.zeros(nt),
        "rate": np.zeros((1, nt)),
        "eps_lo": np.ones((1, nt)),
        "eps_hi": np.full((1, nt), 2.0),
        "cdf": np.tile(np.linspace(0.0, 1.0, 5), (1, nt, 1)),
        "landau_l": landau_log_term(t, mass_gev, material),
        "xi_per_g": 0.5 * K_MEV_CM2_MOL * 1e-3 * material.z_over_a / b2,
    }


def build_track_tables(
    stack: StackModel,
    per_material: Callable[[Material], dict[str, np.ndarray]],
    nuclear_length_cm: Callable[[Material], float] | None = None,
) -> TrackTables:
    """Stack the per-material tables of every material of ``stack``."""
    mats, sub_mat = stack_materials(stack)
    rows = [per_material(m) for m in mats]
    keys = (
        "ion_mean",
        "soft_mean",
        "soft_var",
        "rate",
        "eps_lo",
        "eps_hi",
        "cdf",
        "landau_l",
        "xi_per_g",
    )
    arr = {k: np.ascontiguousarray(np.stack([r[k] for r in rows]), dtype=np.float64) for k in keys}
    nuc = np.zeros(len(mats))
    if nuclear_length_cm is not None:
        nuc = np.array([1.0 / nuclear_length_cm(m) for m in mats])
    return TrackTables(
        sub_mat=sub_mat,
        rho=np.array([m.density_g_cm3 for m in mats]),
        x0_cm=np.array([m.x0_cm for m in mats]),
        nuc_rate=nuc,
        ln_t=t_grid(),
        ln_i=np.array([math.log(m.mean_excitation_ev * 1e-9) for m in mats]),
        **arr,
    )


@dataclass
class TrackResult:
    """Outcome of one track: deposits (N, 4) x, y, z (cm), e (GeV); losses (K, 9) x, y, z,
    ux, uy, uz, process, energy (GeV), kinetic energy before (GeV); the final state
    (x, y, z, ux, uy, uz, T) and the status code of :mod:`calolab.simulation._transport`."""

    deposits: np.ndarray
    losses: np.ndarray
    state: np.ndarray
    status: int


class Tracker:
    """Transports particles of one species through a stack (see module docstring)."""

    def __init__(
        self,
        stack: StackModel,
        tables: TrackTables,
        *,
        mass_gev: float,
        charged: bool,
        max_step_cm: float = 5.0,
        t_stop_gev: float = 1e-3,
    ):
        self.stack = stack
        self.tables = tables
        self.mass = float(mass_gev)
        self.charged = bool(charged)
        self.max_step = float(max_step_cm)
        self.t_stop = float(t_stop_gev)
        lt = tables.ln_t
        self._ln_t0 = float(lt[0])
        self._inv_dlt = 1.0 / float(lt[1] - lt[0])
        self._landau = _landau()

    def run(
        self,
        rng: np.random.Generator,
        position: tuple[float, float, float] | np.ndarray,
        direction: tuple[float, float, float] | np.ndarray,
        kinetic_energy_gev: float,
    ) -> TrackResult:
        st = self.stack
        tb = self.tables
        lt = self._landau
        state = np.array([*position, *direction, kinetic_energy_gev, -1.0], dtype=np.float64)
        deps: list[np.ndarray] = []
        losses: list[np.ndarray] = []
        while True:
            dep = np.empty((_N_DEP, 4))
            loss = np.empty((_N_LOSS, 9))
            nd, nl, status = transport_track(
                rng,
                state,
                self.mass,
                self.charged,
                st.sub_lo,
                st.sub_hi,
                tb.sub_mat,
                st.half_x,
                st.half_y,
                st.depth,
                tb.rho,
                tb.x0_cm,
                tb.nuc_rate,
                self._ln_t0,
                self._inv_dlt,
                tb.ion_mean,
                tb.soft_mean,
                tb.soft_var,
                tb.rate,
                tb.eps_lo,
                tb.eps_hi,
                tb.cdf,
                tb.landau_l,
                tb.xi_per_g,
                tb.ln_i,
                lt.x_max,
                lt.trunc_mean,
                lt.cdf_max,
                lt.quantile,
                lt.s_step,
                self.max_step,
                self.t_stop,
                dep,
                loss,
            )
            deps.append(dep[:nd])
            losses.append(loss[:nl])
            if status != BUFFER_FULL:
                break
        return TrackResult(
            deposits=deps[0] if len(deps) == 1 else np.concatenate(deps),
            losses=losses[0] if len(losses) == 1 else np.concatenate(losses),
            state=state[:7].copy(),
            status=int(status),
        )


__all__ = ["TrackResult", "TrackTables", "Tracker", "build_track_tables", "continuous_only"]
