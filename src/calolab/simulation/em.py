"""Development of electromagnetic showers into energy spots (GFlash, vectorised).

For each shower: photons first travel an exponential distance with mean 9/7 X0 (PDG) and
convert into an e+e- pair whose energy split x follows the Bethe-Heitler spectrum in the
complete-screening limit, dσ/dx ∝ 1 - (4/3) x (1 - x) (PDG review "Passage of particles
through matter", eq. 34.31); each lepton then showers. The longitudinal profile is a
Gamma distribution with correlated, fluctuating T and α (:func:`calolab.physics.em.longitudinal_moments`); the shower energy is split into
N equal spots (GFlash spot number), each placed at a depth drawn from the profile, a radius
drawn from the two-component radial profile at that depth and a uniform azimuth.

Depths are in radiation lengths of the stack's effective media along the shower axis, so
showers crossing from one section into another (ECAL into HCAL) continue with the right
material, and inclined showers see the longer path. The radius is scaled by the Molière
radius of the period where the spot lies. Spots outside the stack are leaked energy.

Speed: the formulas are evaluated once per shower; the Gamma quantile function is
tabulated once on a grid of (α, -ln(1-u)) and the radial parameters per shower on a τ grid,
and the per-spot work (lookups, position, cell) runs in one compiled loop
(:mod:`calolab.simulation._kernels`), about 10-20 ns per spot.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import gammaincinv

from calolab.physics import em as gf
from calolab.simulation._kernels import em_spots_into, em_spots_reference
from calolab.simulation.event import EMSeeds
from calolab.simulation.stack import StackModel

_A_MIN, _A_MAX, _A_STEP = 1.1, 40.0, 0.05
_W_MAX, _W_STEP = 17.0, 0.0125
_TAU_MAX, _TAU_STEP = 16.0, 0.05
_E_MIN, _E_MAX, _LNE_STEP = 1e-3, 1e5, 0.025
#: Showers below this energy (GeV) are deposited as one spot (GFlash is not valid there).
MIN_SHOWER_GEV = 0.02


@lru_cache(maxsize=1)
def _gamma_quantile_table() -> np.ndarray:
    """Q[α_i, w_j]: quantile of the standard Gamma(α) at u = 1 - exp(-w), float32."""
    a = np.arange(_A_MIN, _A_MAX + 1e-9, _A_STEP)[:, None]
    w = np.arange(0.0, _W_MAX + 1e-9, _W_STEP)[None, :]
    return gammaincinv(a, -np.expm1(-w)).astype(np.float32)


def _basis(ux: np.ndarray, uy: np.ndarray, uz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to the unit directions u; arrays of shape (K, 3).

    e1 = u × x̂ normalised (u × ẑ when u is close to x̂), e2 = u × e1.
    """
    k = len(ux)
    e1 = np.empty((k, 3))
    use_z = np.abs(ux) > 0.9
    # u × x̂ = (0, uz, -uy);  u × ẑ = (uy, -ux, 0)
    e1[:, 0] = np.where(use_z, uy, 0.0)
    e1[:, 1] = np.where(use_z, -ux, uz)
    e1[:, 2] = np.where(use_z, 0.0, -uy)
    e1 /= np.sqrt((e1 * e1).sum(axis=1))[:, None]
    e2 = np.empty((k, 3))
    e2[:, 0] = uy * e1[:, 2] - uz * e1[:, 1]
    e2[:, 1] = uz * e1[:, 0] - ux * e1[:, 2]
    e2[:, 2] = ux * e1[:, 1] - uy * e1[:, 0]
    return e1, e2


class EMShowerModel:
    """Turns EM shower seeds into energy spots in detector coordinates."""

    def __init__(self, stack: StackModel, kernel: str = "numba"):
        self.stack = stack
        if kernel not in ("numba", "numpy"):
            raise ValueError(f"kernel {kernel!r} must be 'numba' or 'numpy'")
        self.kernel = em_spots_into if kernel == "numba" else em_spots_reference
        self.qtable = _gamma_quantile_table()
        self.t_step, self.z_of_t = stack.t_grid(0.02)
        self.n_slots = np.array([len(x) for x in stack.section_slots], dtype=np.int64)
        self.tau_grid = np.arange(0.0, _TAU_MAX + 1e-9, _TAU_STEP)
        self._radial: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def radial_tables(self, section: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R_C, R_T and p of ``section`` on the grid (ln E, τ), computed once per section.

        Rows are ln(E/GeV) from ln(_E_MIN) in steps of _LNE_STEP; a shower uses the nearest
        row (an energy step of 2.5 %, far below the parametrisation's own precision).
        """
        if section not in self._radial:
            lne = np.arange(np.log(_E_MIN), np.log(_E_MAX) + 1e-9, _LNE_STEP)
            rc, rt, pc = gf.radial_params(
                self.tau_grid[None, :], lne[:, None], self.stack.media[section], xp=np
            )
            self._radial[section] = tuple(  # type: ignore[assignment]
                np.ascontiguousarray(np.broadcast_to(a, (len(lne), len(self.tau_grid))), np.float32)
                for a in (rc, rt, pc)
            )
        return self._radial[section]

    def develop_into(
        self, seeds: EMSeeds, rng: np.random.Generator, dep: np.ndarray
    ) -> tuple[float, float]:
        """Develop all ``seeds`` of one event and add their energy to ``dep``.

        ``dep`` (n_cells,) float64 receives the EM energy deposited in each period-column
        (all materials of the period, indexed by the cells of its sensitive layers); the
        binning turns it into visible energy. Draws, in order: one exponential per seed
        (photon conversion) and the pair-energy splits, two normals per shower (profile
        fluctuations), then three uniforms per spot.

        Returns
        -------
        deposited, leaked:
            Energy (GeV) of the spots inside and outside the stack.
        """
        seeds, escaped = self._convert_photons(seeds, rng)
        k = len(seeds)
        if k == 0:
            return 0.0, escaped
        st = self.stack
        normals = rng.standard_normal((2, k))
        energy = seeds.energy
        sec0 = st.period_section[st.period_of(seeds.z)]

        t_max = np.empty(k)
        alpha = np.empty(k)
        tau_fac = np.empty(k)
        n = np.empty(k, dtype=np.int64)
        n_tau = len(self.tau_grid)
        core_tab = np.empty((k, n_tau), dtype=np.float32)
        tail_tab = np.empty_like(core_tab)
        p_tab = np.empty_like(core_tab)
        log_e = np.log(np.maximum(energy, 1e-6))
        for s in np.unique(sec0):
            m = sec0 == s
            medium = st.media[int(s)]
            moments = gf.longitudinal_moments(energy[m], medium, xp=np)
            t_i, a_i = gf.fluctuate_t_alpha(*moments, normals[0, m], normals[1, m], xp=np)
            t_max[m], alpha[m] = t_i, a_i
            tau_fac[m] = gf.tau_scale(t_i, a_i, moments[1], xp=np)
            n[m] = np.maximum(np.rint(gf.n_spots(energy[m], medium, xp=np)), 1).astype(np.int64)
            rows_e = np.clip(
                np.rint((log_e[m] - np.log(_E_MIN)) / _LNE_STEP).astype(np.int64),
                0,
                None,
            )
            rc, rt, pc = self.radial_tables(int(s))
            rows_e = np.minimum(rows_e, len(rc) - 1)
            core_tab[m], tail_tab[m], p_tab[m] = rc[rows_e], rt[rows_e], pc[rows_e]
        small = energy < MIN_SHOWER_GEV
        n[small] = 1
        inv_beta = t_max / (alpha - 1.0)
        inv_beta[small] = 0.0
        core_tab[small] = 0.0
        tail_tab[small] = 0.0

        a_pos = (np.minimum(np.maximum(alpha, _A_MIN), _A_MAX - 1e-6) - _A_MIN) / _A_STEP
        a_lo = a_pos.astype(np.int64)
        a_fr = (a_pos - a_lo).astype(np.float32)[:, None]
        rows = self.qtable[a_lo] * (1 - a_fr) + self.qtable[a_lo + 1] * a_fr
        u = rng.random((3, int(n.sum())), dtype=np.float32)
        w = np.log1p(-u[0])
        w *= np.float32(-1.0 / _W_STEP)
        phi = u[2] * np.float32(2 * math.pi)
        e1, e2 = _basis(seeds.ux, seeds.uy, seeds.uz)
        deposited, leaked = self.kernel(
            w,
            u[1],
            np.cos(phi),
            np.sin(phi),
            n,
            energy / n,
            np.stack([seeds.x, seeds.y, seeds.z], axis=1),
            np.stack([seeds.ux, seeds.uy, seeds.uz], axis=1),
            e1,
            e2,
            inv_beta,
            st.t_of_z(seeds.z),
            tau_fac / _TAU_STEP,
            st.section_x0[sec0],
            rows,
            core_tab,
            tail_tab,
            p_tab,
            self.z_of_t,
            1.0 / self.t_step,
            st._period_lut,
            1.0 / st._period_step,
            st.period_lo,
            st.period_section,
            st.period_ro_first,
            st.section_rm,
            st.section_cell_x,
            st.section_cell_y,
            st.section_nx,
            st.section_ny,
            self.n_slots,
            st.ro_offset,
            st.depth,
            st.half_x,
            st.half_y,
            dep,
        )
        return float(deposited), float(leaked) + escaped

    def axis_distance(self, seeds: EMSeeds, t_axis: np.ndarray) -> np.ndarray:
        """Distance (cm) along each seed's axis after ``t_axis`` radiation lengths of the
        stack's effective media (beyond the back: the last period's X0)."""
        st = self.stack
        fw = seeds.uz >= 0.1
        s = t_axis * st.section_x0[st.period_section[st.period_of(seeds.z)]]
        if fw.any():
            tt = (st.t_of_z(seeds.z[fw]) + t_axis[fw] * seeds.uz[fw]) / self.t_step
            tt = np.minimum(tt, len(self.z_of_t) - 1.001)
            ti = tt.astype(np.int64)
            z = self.z_of_t[ti] + (self.z_of_t[ti + 1] - self.z_of_t[ti]) * (tt - ti)
            s[fw] = (z - seeds.z[fw]) / seeds.uz[fw]
        return s

    def _convert_photons(self, seeds: EMSeeds, rng: np.random.Generator) -> tuple[EMSeeds, float]:
        """Replace photons by the e+e- pairs they convert into.

        Draws one exponential per seed, then uniforms for the Bethe-Heitler energy split of
        the converting photons (vectorised rejection sampling). Returns the electron seeds
        and the energy of photons that leave the stack before converting.
        """
        k = len(seeds)
        t_conv = rng.standard_exponential(k) * gf.PHOTON_MFP_X0
        ph = seeds.photon.astype(bool)
        if not ph.any():
            return seeds, 0.0
        s = np.where(ph, self.axis_distance(seeds, np.where(ph, t_conv, 0.0)), 0.0)
        rows = np.stack(
            [
                seeds.x + s * seeds.ux,
                seeds.y + s * seeds.uy,
                seeds.z + s * seeds.uz,
                seeds.ux,
                seeds.uy,
                seeds.uz,
                seeds.energy,
            ],
            axis=1,
        )
        gone = ph & ~((rows[:, 2] >= 0.0) & (rows[:, 2] < self.stack.depth))
        escaped = float(seeds.energy[gone].sum())
        pair = ph & ~gone & (seeds.energy >= 2 * MIN_SHOWER_GEV)
        x = _bethe_heitler_fractions(int(pair.sum()), rng)
        keep = rows[~gone & ~pair]
        first = rows[pair].copy()
        second = rows[pair].copy()
        first[:, 6] *= x
        second[:, 6] *= 1.0 - x
        out = np.concatenate([keep, first, second])
        return EMSeeds.from_rows(out, np.zeros(len(out), bool)), escaped


def _bethe_heitler_fractions(n: int, rng: np.random.Generator) -> np.ndarray:
    """Energy fractions x of the electron in n photon conversions, from
    dσ/dx ∝ 1 - (4/3) x (1 - x) (complete screening; PDG eq. 34.31), by rejection."""
    x = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        u = rng.random((2, todo.size))
        ok = u[1] <= 1.0 - 4.0 / 3.0 * u[0] * (1.0 - u[0])
        x[todo[ok]] = u[0, ok]
        todo = todo[~ok]
    return x
