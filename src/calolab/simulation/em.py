"""Development of electromagnetic showers: the first generations explicitly, then GFlash.

A hybrid fast simulation, as H1's and CMS's fast simulations did with GFlash (G. Grindhammer
and S. Peters, hep-ex/0001020: parametrised showers for the low-energy part, the rest
simulated): for every shower (an electron or photon *seed* of energy E0 — a beam particle, a
π0 photon, a muon's bremsstrahlung photon ...):

1. **The first generations** (:mod:`calolab.simulation._cascade`): every particle above the
   *follow energy* E_f = max(f·E0, E_min) (f = :data:`FOLLOW_FRACTION`, 0 by default: every
   particle above E_min = :data:`FOLLOW_MIN_GEV`, well above the critical energy, where the
   complete-screening cross sections hold; GFlash's profiles of 2–20 GeV sub-showers lie
   deeper than the explicit cascade and Geant4 in high-Z media) is tracked along its axis:
   photons convert after an exponential distance with the mean free path of photons of
   that energy (:meth:`EMShowerModel.photon_mfp_x0`; 9/7 X0 at high energy) into pairs
   split by the Bethe–Heitler spectrum; electrons radiate bremsstrahlung photons drawn
   from the complete-screening spectrum (LPM-suppressed below k_LPM = E²/E_LPM,
   :func:`calolab.physics.em.brems_suppression`, since hybrid-18) and ionise the sub-layers
   they cross with the electron collision loss, seen where it is deposited (an active layer
   sees a track's loss in it: the MIP response, not the shower's e/mip; in the active layers
   of sampling sections with Landau fluctuations, :meth:`EMShowerModel._straggle`). This
   gives the shower its event-by-event longitudinal fluctuations (where the leading
   particles convert and radiate) and the primary electron its own deposit before the
   shower builds up; a photon deposits nothing before it converts.
2. **Sub-showers** below E_f are developed by GFlash: photons first travel an exponential
   distance with the mean free path of Compton scattering and pair production at their energy
   (:func:`calolab.physics.photon.interaction_length_x0`: 1.7 X0 at 100 MeV, 2.5 X0 at 20 MeV in
   PbWO4) and convert (Bethe–Heitler split); each lepton ionises its first
   :data:`LEPTON_START_X0` explicitly (GFlash's Gamma vanishes at the start, a real shower
   starts with its lepton) and the rest of its energy follows a Gamma profile that starts
   later by :func:`calolab.physics.em.start_delay`, so that the sub-shower's centre of
   gravity stays GFlash's (without the delay the explicit start moved every sub-shower's
   energy forwards: 0.36–0.39 layers for 2–10 GeV e⁻ in Fe/polystyrene); the profile is a
   Gamma distribution (:func:`calolab.physics.em.longitudinal_moments`) with GFlash's
   correlated fluctuations of T and α (in sampling media the homogeneous fits' widths of the
   effective medium, since EM model hybrid-25: the sampling noise is drawn per cell) above
   :data:`FLUCT_MIN_GEV` — the lower end of the
   energies GFlash was fitted to. Below it GFlash's log-normal α would reach its pole at
   α → 1 (infinitely long showers): smaller sub-showers keep the median α and their depth
   scale T fluctuates with σ(ln T) of the fit range's lower end about the median T
   (:func:`calolab.physics.em.below_fit_range`; the mean profile of a shower is wider than
   its median one). No profile falls off more slowly than the photons at the attenuation
   minimum in its tail: its logarithmic slope β − (α − 1)/t is at least μ_min X0 from the
   centre of gravity plus three widths on (:func:`calolab.physics.em.tail_floor`; since EM
   model hybrid-24, before only β ≥ μ_min X0); and below the fit range
   none falls off faster than its photons allow: β at most an interpolation in ln E from
   GFlash's β at 1 GeV to μ_min X0 at the critical energy, the centre of gravity kept
   (:func:`calolab.physics.em.photon_limited_slope`; GFlash's extrapolated β grows to
   1.7 per X0 at 25 MeV in PbWO4, a shower over within one X0). Sub-showers of a cascaded seed follow the
   radial profile of the whole shower (GFlash parametrises it for the shower), not one of
   their own, at a depth τ standardised by the development of this event's shower (its
   centre of gravity and spread; :meth:`EMShowerModel._seed_scales`), as GFlash scales τ to
   each shower's own centre of gravity: the lateral containment does not follow the depth
   fluctuations of the first generations, which do not shrink with energy.
3. **Spots.** A shower's energy is carried by the number of spots N(E0) of the seed
   (:func:`calolab.physics.em.n_spots`: GFlash's, growing as E0 in homogeneous media),
   shared by its sub-showers in proportion to their energy (rounded stochastically). A spot
   lies at a depth drawn from its sub-shower's profile, a radius drawn from the radial profile
   at that depth and a uniform azimuth. Spot energies fluctuate — Gamma weights,
   :data:`calolab.physics.em.SPOT_WEIGHT_SHAPE` — and the
   depth is importance-sampled (drawn from Gamma(α, κβ), κ = :data:`TAIL_KAPPA`, and weighted
   back), which leaves the mean profile unchanged but puts more, lighter spots in the tail;
   the weights are normalised so that a sub-shower's spots sum exactly to its energy. So
   neither the leaked energy nor any cell energy is a multiple of a spot energy. In
   homogeneous media the radial component is importance-sampled as well: the halo (GFlash's
   tail component) is drawn with :data:`calolab.physics.em.HALO_SPOT_ODDS` times its odds
   and weighted back, normalised over the event, so that the halo has more, lighter spots
   than the core (EM model hybrid-23).
   Beyond the radius r_s where GFlash's power law falls more slowly than photons at the
   attenuation minimum allow, a spot's radius follows the photons' line-source tail
   (:func:`calolab.physics.em.radial_far_tail`); no component is wider than the radius
   R* = 0.82/μ_min where the two fall equally fast at R itself
   (:func:`calolab.physics.em.photon_limited_radius`, EM model hybrid-26: GFlash's R_T,
   extrapolated beyond its fit range, grows as e^{k₄τ} deep in low-energy showers), and
   the spot moves along the axis by
   r (tan θ - ⟨tan θ⟩): θ is the direction of the photon that carried it there, with an
   attenuation that depends on the direction (a photon scattered sideways or backwards
   carries at most m c² or m c²/2, :func:`calolab.physics.photon.directional_slope_table`),
   and the mean is taken out because GFlash's depth is already that of the deposits. The
   spots of GFlash's tail component (radius R_T: the deposits of the shower's photons) move
   along the axis in the same way, with the slope distribution at their own μ r. The
   spread lets the photons' deposits reach the layers in front of the shower and deep
   layers. A photon going forwards left the axis r ⟨tan θ⟩ before its spot's depth, and not
   before its sub-shower's start: where r ⟨tan θ⟩ is larger than the spot's depth from the
   start, the photon leaves from the start (centred offsets alone put forward photons'
   deposits in front of the shower and out through the front face). A photon going
   backwards that would cross the front face is absorbed at it: it is soft (at most
   m_e c²/2 at 180°), photoabsorbed within a millimetre or so of a high-Z medium — what
   leaves through the face is the albedo (4.).
   In homogeneous media, where the spots are the deposits' granularity, such a spot stands
   for several photons going both ways: its forward share (1 - p_back at its μ r) moves as
   one piece at the forward side's quantile of its uniform, and its backward share
   E p_back, the energy of photons Compton-scattered backwards, goes in parts at
   stratified quantiles of the backward directions. Within 4 X0 of the event's first
   sub-shower start — where the layers in front of the shower see nothing but these
   photons — the parts are back-scattered photons (since `hybrid-19`): their number is the
   expected one, E p_back over the mean energy of a backward photon at that μ r
   (:func:`calolab.physics.photon.backward_photon_energy_table`), rounded stochastically
   (one uniform per spot), and each carries the Compton energy of its direction,
   m c²/(1 + sin|θ|), 255–511 keV (:func:`calolab.physics.photon.compton_back_energy_mev`);
   the forward piece keeps the rest. So a layer in front of the shower is empty as often as
   no photon comes back (Geant4's fraction for photon showers in PbWO4; up to `hybrid-18`
   the mean share was sent back every time, in up to four fractions of a quantum, and the
   first layer was empty 0.35–0.6 times as often). In the deepest tenth of each sub-shower's
   spots the backward share goes in ⌊E p_back / (m c²/2)⌋ + 1 equal quanta (at most 4):
   there they stand for the deposits of the tail photons' Compton chains, which the model
   does not follow (docs/validation.md, "Diagnosis (2026-12-05)"). In the shower's dense
   body no spot is split (it changes no cell and would cost a third of the speed). In
   sampling media the sampling model sets the visible fluctuations; the spots are not
   split.
4. **The albedo** (:func:`calolab.physics.em.albedo_escape`): of a spot at depth t (X0 from
   the front face) the share η exp(-t/λ) leaves through the face, η proportional to the
   electron backscattering coefficient of the medium at the face, in quanta from m_e c²
   (an annihilation photon) to the critical energy with dN/dε ∝ 1/ε²: a spot sends out one
   quantum, at most its own energy, with the probability that gives that mean (one uniform
   per spot), so that a shower loses nothing, or one or more quanta of half an MeV and more,
   as Geant4's showers do.

Depths are in radiation lengths of the stack's effective media along the shower axis, so
showers crossing from one section into another (ECAL into HCAL) continue with the right
material, and inclined showers see the longer path. The radius is scaled by the Molière
radius of the period where the spot lies. Spots outside the stack are leaked energy.

Speed: the formulas are evaluated once per sub-shower; the Gamma quantile function is
tabulated once on a grid of (α, w = -ln(1-u)) — and on a grid of ln w below the first node,
where the quantile varies as w^(1/α) — and the radial parameters per section on a (ln E, τ)
grid; the per-spot work (lookups, position, cell) runs in one compiled loop
(:mod:`calolab.simulation._kernels`). The per-sub-shower arithmetic of a batch of events runs
at once (:meth:`EMShowerModel.plan`; a 50 GeV photon has about 210 sub-showers), only the
random draws event by event, each from its event's stream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
import scipy
from scipy.special import gammaincinv

from calolab.physics import em as gf
from calolab.physics._cache import cached
from calolab.physics.ionisation import (
    LANDAU_MODE_X,
    electron_collision_loss,
    electron_landau_constants,
    landau_tables,
)
from calolab.physics.photon import (
    backward_photon_energy_table,
    directional_slope_table,
    interaction_length_x0,
    minimum_mass_attenuation,
    mixture_mass_attenuation,
    neg_log_ki2_tables,
)
from calolab.physics.sampling import section_mixture
from calolab.simulation._cascade import (
    N_COLS,
    em_cascade,
    lepton_starts,
    straggle,
    straggle_partners,
)
from calolab.simulation._kernels import em_spots_into, em_spots_reference
from calolab.simulation.event import EMSeeds
from calolab.simulation.stack import StackModel

_A_MIN, _A_MAX, _A_STEP = 1.1, 40.0, 0.05
_W_MAX, _W_STEP = 17.0, 0.0125
_LNW_MIN, _LNW_STEP = math.log(1e-12), 0.1
_TAU_MAX, _TAU_STEP = 16.0, 0.05
_E_MIN, _E_MAX, _LNE_STEP = 1e-3, 1e5, 0.025
_LNR_MIN, _LNR_STEP, _N_LNR = math.log(1e-3), 0.01, 1300  # R from 1e-3 to 440 Molière radii
#: Showers below this energy (GeV) are deposited as one spot (GFlash is not valid there).
MIN_SHOWER_GEV = 0.02
#: Particles above this fraction of their shower's energy are followed explicitly ...
#: (0 since EM model hybrid-17: every particle above FOLLOW_MIN_GEV; GFlash's profiles of
#: 2–20 GeV sub-showers lay 0.1–0.3 X0 deeper than the explicit cascade and Geant4 in the
#: high-Z stacks; docs/validation.md "hybrid-17")
FOLLOW_FRACTION = 0.0
#: ... and above this energy (GeV): below it the sub-showers are GFlash's.
FOLLOW_MIN_GEV = 1.0
#: GFlash's ⟨ln T⟩, ⟨ln α⟩, σ(ln T), σ(ln α) and ρ (calolab.physics.em.longitudinal_moments)
_Moments = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
#: GFlash's shower-to-shower fluctuations of T and α are applied to (sub-)showers above this
#: energy (GeV), the lower end of the energies GFlash was fitted to; below it those of T at
#: this energy about the median T, with the median α (calolab.physics.em.below_fit_range).
FLUCT_MIN_GEV = 1.0
#: The leading lepton of a GFlash sub-shower ionises explicitly over this many X0 from its
#: start (GFlash's Gamma profile vanishes at the start; a real shower starts with it).
LEPTON_START_X0 = 1.0
#: Photons below this energy (GeV) travel the mean free path of photons of this energy (the
#: first node of the table; a sub-shower below MIN_SHOWER_GEV is one spot anyway).
PHOTON_LAMBDA_MIN_GEV = 1e-3
#: Depth importance sampling: spots are drawn from Gamma(α, κβ) and weighted (see kernel).
#: 0.85 until EM model hybrid-22; 0.8 since the homogeneous media have a quarter fewer spots
#: (:data:`calolab.physics.em.SPOT_HOM`): a shower's deepest spots stay as many as before.
TAIL_KAPPA = 0.8


@lru_cache(maxsize=1)
def _gamma_quantile_tables() -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of the standard Gamma(α) at u = 1 - exp(-w), float32:
    ``Q[α_i, w_j]`` on w = j·_W_STEP and ``ln Q[α_i, l]`` on ln w = _LNW_MIN + l·_LNW_STEP up
    to the first node w = _W_STEP. Cached on disk (:mod:`calolab.physics._cache`; building
    them costs ~0.6 s of CPU, once per process before)."""
    grid = (_A_MIN, _A_MAX, _A_STEP, _W_MAX, _W_STEP, _LNW_MIN, _LNW_STEP)
    description = {"grid": grid, "scipy": scipy.__version__, "numpy": np.__version__}
    a, _ = cached("em", "gamma_quantiles", description, "gamma-quantiles-1", _build_quantiles)
    return a["q"], a["qlog"]


def _build_quantiles() -> tuple[dict[str, np.ndarray], dict[str, object]]:
    a = np.arange(_A_MIN, _A_MAX + 1e-9, _A_STEP)[:, None]
    w = np.arange(0.0, _W_MAX + 1e-9, _W_STEP)[None, :]
    q = gammaincinv(a, -np.expm1(-w)).astype(np.float32)
    n_l = int(np.ceil((math.log(_W_STEP) - _LNW_MIN) / _LNW_STEP)) + 1
    lnw = _LNW_MIN + np.arange(n_l) * _LNW_STEP
    lnw[-1] = math.log(_W_STEP)
    with np.errstate(divide="ignore"):
        qlog = np.log(gammaincinv(a, -np.expm1(-np.exp(lnw)[None, :])))
    return {"q": q, "qlog": np.maximum(qlog, -300.0).astype(np.float32)}, {}


#: Grid of the axial-slope tables of photon-tail spots: x = μ_min r in steps of
#: _SLOPE_X_STEP up to _SLOPE_X_MAX, _SLOPE_N_U quantiles per side.
_SLOPE_X_MAX, _SLOPE_X_STEP, _SLOPE_N_U = 40.0, 0.05, 257


@lru_cache(maxsize=16)
def _slope_table(materials: tuple, mass_fractions: tuple) -> np.ndarray:
    """The signed axial-slope table of photon-tail spots in a medium of ``materials`` with
    these mass fractions (:func:`calolab.physics.photon.directional_slope_table`), cached on
    disk (keyed by the attenuation ratios it is built from)."""
    mu_min, k_min = minimum_mass_attenuation(materials, mass_fractions)

    def ratio(k: np.ndarray) -> np.ndarray:
        return mixture_mass_attenuation(materials, mass_fractions, k) / mu_min

    probe = ratio(np.geomspace(0.1, 100.0, 31))
    description = {
        "ratio": [round(float(v), 9) for v in probe],
        "k_min": round(k_min, 9),
        "grid": [_SLOPE_X_MAX, _SLOPE_X_STEP, _SLOPE_N_U],
    }

    def build() -> tuple[dict[str, np.ndarray], dict[str, object]]:
        table = directional_slope_table(ratio, k_min, _SLOPE_X_MAX, _SLOPE_X_STEP, _SLOPE_N_U)
        return {"table": table}, {}

    a, _ = cached("em", "photon_slopes", description, "photon-slopes-2", build)
    return a["table"]


@lru_cache(maxsize=16)
def _far_tail_grid(mu: float) -> np.ndarray:
    """:func:`calolab.physics.em.radial_far_tail` on the grid ln R = _LNR_MIN + i·_LNR_STEP."""
    return gf.radial_far_tail(np.exp(_LNR_MIN + np.arange(_N_LNR) * _LNR_STEP), mu)


def _far_tail_of_radius(mu: float, log_radius: np.ndarray) -> np.ndarray:
    """r_s of the components of radius exp(``log_radius``) (Molière units), interpolated on
    a grid of ln R with steps of 1 % (r_s varies smoothly with R; the profile's own precision
    is far coarser)."""
    if mu <= 0.0:
        return np.full(log_radius.shape, np.inf)
    grid = _far_tail_grid(float(mu))
    r_s = np.interp(log_radius, _LNR_MIN + np.arange(_N_LNR) * _LNR_STEP, grid)
    r_s = np.maximum(r_s, np.exp(log_radius))  # r_s >= R, also beyond the grid
    # components capped at R* (photon_limited_radius): r_s jumps there, from ≈ 1.18 R* just
    # inside to R beyond (the hazards touch at R). Within a grid step of the jump r_s is
    # computed, not interpolated across it, and the capped components take the limit from
    # inside, so that the profile is continuous in R
    log_cap = math.log(gf.photon_limited_radius(float(mu)))
    near = log_radius >= log_cap - _LNR_STEP
    if np.any(near):
        radius = np.exp(np.minimum(log_radius[near], log_cap - 1e-6))
        r_s = r_s.copy()
        r_s[near] = gf.radial_far_tail(radius, mu)
    return r_s


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


@dataclass
class SubShowers:
    """One event's GFlash sub-showers, ready for the spot kernel
    (:meth:`EMShowerModel.plan`; arrays of shape (K,) or (K, 3), one row per sub-shower)."""

    ion: np.ndarray  #: (D, 4) ionisation deposits of the followed particles (x, y, z, e)
    escaped: float  #: energy (GeV) of photons that left the stack before converting
    leaked: float  #: energy (GeV) that left the stack in the first generations
    n: np.ndarray  #: spots
    energy: np.ndarray  #: GeV
    start: np.ndarray  #: (K, 3) cm
    axis: np.ndarray  #: (K, 3) unit direction
    e1: np.ndarray  #: (K, 3) unit vector ⟂ axis
    e2: np.ndarray  #: (K, 3) unit vector ⟂ axis and e1
    inv_beta: np.ndarray  #: 1/β of the Gamma profile (X0); 0 for point-like showers
    t_start: np.ndarray  #: cumulative X0 of the start (the lepton's start's delay included)
    tau_scale: np.ndarray  #: τ per X0 over the τ grid's step
    tau_off: np.ndarray  #: X0 from the start of the shower whose radial profile it follows
    x0: np.ndarray  #: X0 (cm) at the start
    a_lo: np.ndarray  #: row of the α grid below α
    a_fr: np.ndarray  #: position of α between rows a_lo and a_lo + 1
    homogeneous: np.ndarray  #: int64, 1 where the sub-shower starts in a homogeneous medium
    rad_row: np.ndarray  #: row of the radial tables


class EMShowerModel:
    """Turns EM shower seeds into ionisation deposits and energy spots in detector
    coordinates.

    Parameters
    ----------
    stack:
        The detector's lookup tables.
    kernel:
        ``"numba"`` (compiled spot loop) or ``"numpy"`` (the plain-numpy reference).
    follow_fraction:
        f of the follow energy E_f = max(f·E0, ``follow_min_gev``) (see module docstring;
        default 0: every particle above ``follow_min_gev``); 1 turns the explicit first
        generations off (pure GFlash).
    far_tail_offsets:
        ``False`` leaves the photon-tail spots at GFlash's depth (no axial spread, no albedo):
        the physics the differentiable simulator implements, for comparisons with it.
    halo_odds:
        Odds factor (≥ 1) with which homogeneous media draw the spots of GFlash's tail
        component, weighted back (:data:`calolab.physics.em.HALO_SPOT_ODDS`; 1: plain
        sampling).
    """

    def __init__(
        self,
        stack: StackModel,
        kernel: str = "numba",
        follow_fraction: float = FOLLOW_FRACTION,
        follow_min_gev: float = FOLLOW_MIN_GEV,
        fluct_min_gev: float = FLUCT_MIN_GEV,
        tail_kappa: float = TAIL_KAPPA,
        far_tail_offsets: bool = True,
        halo_odds: float = gf.HALO_SPOT_ODDS,
    ):
        if not 0.0 < tail_kappa <= 1.0:
            raise ValueError(f"tail_kappa {tail_kappa!r} must be in (0, 1]")
        if not halo_odds >= 1.0:
            raise ValueError(f"halo_odds {halo_odds!r} must be at least 1")
        self.tail_kappa = float(tail_kappa)
        self.halo_odds = float(halo_odds)
        #: importance weights exp(-(1-κ)/κ q) on the quantile grid (see the spot kernel)
        self.wq_table = np.exp(
            -(1.0 - self.tail_kappa) / self.tail_kappa * _gamma_quantile_tables()[0]
        ).astype(np.float32)
        self.fluct_min_gev = float(fluct_min_gev)
        self.follow_min_gev = float(follow_min_gev)
        self.stack = stack
        if kernel not in ("numba", "numpy"):
            raise ValueError(f"kernel {kernel!r} must be 'numba' or 'numpy'")
        if not 0.0 <= follow_fraction <= 1.0:
            raise ValueError(f"follow_fraction {follow_fraction!r} must be in [0, 1]")
        self.kernel = em_spots_into if kernel == "numba" else em_spots_reference
        self.follow_fraction = float(follow_fraction)
        self.qtable, self.qlog = _gamma_quantile_tables()
        #: the quantiles and their importance weights side by side (one cache line per lookup)
        self.qw_table = np.ascontiguousarray(np.stack([self.qtable, self.wq_table], axis=-1))
        #: E_LPM (GeV) of each section's radiator (the LPM effect in the explicit cascade)
        self.section_lpm = np.array(
            [
                gf.radiator_lpm_energy_gev([lay.material for lay in sec.layers])
                for sec in stack.detector.sections
            ]
        )
        self.t_step, self.z_of_t = stack.t_grid(0.02)
        self.n_slots = np.array([len(x) for x in stack.section_slots], dtype=np.int64)
        #: 1 where a section is homogeneous (its spots' energies fluctuate), per section
        self._section_homogeneous = np.array(
            [0 if m.sampling else 1 for m in stack.media], dtype=np.int64
        )
        self.tau_grid = np.arange(0.0, _TAU_MAX + 1e-9, _TAU_STEP)
        self.lne_grid = np.arange(np.log(_E_MIN), np.log(_E_MAX) + 1e-9, _LNE_STEP)
        self.rad_core, self.rad_tail, self.p_core = self._radial_tables()
        self.rs_core, self.rs_tail, self.row_mu = self._far_tail_tables()
        self.ki_y_of_x, self.ki_x_of_y, self.ki_step = neg_log_ki2_tables()
        self.slope_tab = self._slope_tables()
        # mean energy (GeV) of a back-scattered photon at x = μ r, per section
        self.back_k = np.ascontiguousarray(
            np.stack([backward_photon_energy_table(t) for t in self.slope_tab]) * 1e-3
        )
        if not far_tail_offsets:  # backward share, slopes and their mean all 0: no offset
            self.slope_tab = np.zeros_like(self.slope_tab)
        self.slope_x_step, self.slope_u_step = _SLOPE_X_STEP, 1.0 / (_SLOPE_N_U - 1)
        # the albedo, with the medium at the front face (calolab.physics.em.albedo_share)
        front = stack.media[int(stack.period_section[0])]
        self.albedo_eta = gf.albedo_share(front)
        self.albedo_inv_lambda = 1.0 / gf.ALBEDO_LENGTH_X0
        self.albedo_lo, self.albedo_hi = gf.albedo_quantum_range(front)
        self.sub_mat, self.dedx_tab, self.landau_par = self._ionisation_tables()
        self.sub_straggle, self.sub_homogeneous = self._straggling_sublayers()
        self.any_straggle = bool(self.sub_straggle.any())
        self.landau = landau_tables()
        self.photon_lambda = self._photon_lambda_tables()
        self._t_cache: dict[tuple[int, float], tuple[float, float, float]] = {}
        self._fit_moments: dict[int, _Moments] = {}

    @property
    def _track_tables(self) -> tuple[np.ndarray | float, ...]:
        """The stack's tables for tracking a particle along z and its ionisation, in the
        order of the compiled trackers' arguments (:func:`~calolab.simulation._cascade.em_cascade`,
        :func:`~calolab.simulation._cascade.lepton_starts`): z at cumulative X0 and its step,
        the last period's X0, the period lookup, the sub-layer lookup, each sub-layer's
        material, the collision-loss table on its ln E grid, the depth."""
        st = self.stack
        return (
            self.z_of_t,
            1.0 / self.t_step,
            float(st.section_x0[st.period_section[-1]]),
            st._period_lut,
            1.0 / st._period_step,
            st.period_lo,
            st.period_t_lo,
            st.period_section,
            st.section_x0,
            st._sub_lut,
            1.0 / st._sub_step,
            st.sub_lo,
            st.sub_hi,
            self.sub_mat,
            self.dedx_tab,
            float(self.lne_grid[0]),
            1.0 / _LNE_STEP,
            st.depth,
        )

    def _ionisation_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Material index of every sub-layer, the electron collision loss (GeV/cm) of each
        material on the grid ln(E/GeV) = ln(_E_MIN) + i·_LNE_STEP, and each material's
        constants of :meth:`_straggle`: collision loss S (GeV cm²/g), ξ per g/cm² (GeV),
        PDG's L and ln(I/GeV) (:func:`~calolab.physics.ionisation.electron_landau_constants`)."""
        mats: dict[str, int] = {}
        rows: list[np.ndarray] = []
        landau: list[tuple[float, ...]] = []
        index: list[int] = []
        e = np.exp(self.lne_grid)
        for s in self.stack.detector.sections:
            for _ in range(s.repeat):
                for layer in s.layers:
                    m = layer.material
                    if m.name not in mats:
                        mats[m.name] = len(rows)
                        loss = electron_collision_loss(e, m, xp=np)  # MeV cm²/g
                        rows.append(loss * m.density_g_cm3 * 1e-3)
                        landau.append(electron_landau_constants(m))
                    index.append(mats[m.name])
        return (
            np.array(index, dtype=np.int64),
            np.ascontiguousarray(np.vstack(rows)),
            np.array(landau),
        )

    def _straggling_sublayers(self) -> tuple[np.ndarray, np.ndarray]:
        """Which sub-layers get Landau fluctuations of the followed leptons' ionisation — the
        sensitive ones: the active layers of sampling sections and (since EM model
        `hybrid-20`) the layers of homogeneous ones — and which of them are homogeneous."""
        st = self.stack
        sampling = np.array([m.sampling for m in st.media])[st.sub_section]
        sensitive = st.sub_ro >= 0
        return sensitive, sensitive & ~sampling

    def _straggle(self, ion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Landau fluctuations of the followed leptons' ionisation ``ion`` (D, 4) in the
        active layers of sampling sections and the layers of homogeneous ones (in place;
        returns ``ion``).

        A track's deposit in a layer fluctuates (PDG, "Passage of particles through
        matter", section 34.2.9): the truncated Landau distribution with
        Δ_p = ξ (L + ln(ξ/I)) and its mean the deposit's mean loss (as the muon transport
        does). The energy comes from, or goes to, the track's deposit in the passive layer
        next to it — in a homogeneous section its deposit in the next layer — (the
        knock-on electrons that carry it cross the boundary), capped by that deposit, so
        the event's energy is conserved; one uniform per such deposit. In a homogeneous
        block the primary electron's first-layer deposit then has Geant4's low end (5 GeV
        e⁻ in PbWO4: 5 % quantile 11.1–11.4 MeV, Geant4 11.3; without: a floor at 13.5).
        """
        if len(ion) == 0 or not self.any_straggle:
            return ion
        lt = self.landau
        sub = self.stack.sublayer_of(ion[:, 2])
        partner = straggle_partners(sub, self.sub_straggle, self.sub_homogeneous)
        u = rng.random(int(np.count_nonzero(partner >= 0)))
        straggle(
            ion,
            sub,
            partner,
            u,
            self.sub_mat,
            self.landau_par,
            LANDAU_MODE_X,
            lt.x_max,
            lt.trunc_mean,
            lt.cdf_max,
            lt.quantile,
            lt.s_step,
        )
        return ion

    def _slope_tables(self) -> np.ndarray:
        """Axial-slope tables of the photon-tail spots, one per section (its materials by
        mass), stacked: ``(n_sections, n_x, 2 n_u + 2)``."""
        tabs = [_slope_table(*section_mixture(section)) for section in self.stack.detector.sections]
        return np.ascontiguousarray(np.stack(tabs))

    def _photon_lambda_tables(self) -> np.ndarray:
        """Mean free path (X0 of the section's effective medium) of a photon before its first
        interaction, per section on the grid ln(E/GeV) = ln(_E_MIN) + i·_LNE_STEP
        (:func:`calolab.physics.photon.interaction_length_x0`; photons below
        :data:`PHOTON_LAMBDA_MIN_GEV` take its value there)."""
        e_mev = np.maximum(np.exp(self.lne_grid), PHOTON_LAMBDA_MIN_GEV) * 1e3
        rows = []
        for section, medium in zip(self.stack.detector.sections, self.stack.media):
            mats, w = section_mixture(section)
            g_cm2 = sum(lay.material.density_g_cm3 * lay.thickness_cm for lay in section.layers)
            x0_g_cm2 = medium.x0_cm * g_cm2 / section.period_cm
            rows.append(interaction_length_x0(mats, w, x0_g_cm2, e_mev))
        return np.ascontiguousarray(np.vstack(rows))

    def photon_mfp_x0(self, energy: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Mean free path (X0) of photons of ``energy`` (GeV) starting at depth ``z`` (cm), in
        the effective medium of the section where they start."""
        st = self.stack
        sec = st.period_section[st.period_of(np.clip(z, 0.0, st.depth))]
        fe = (np.log(np.maximum(energy, _E_MIN)) - np.log(_E_MIN)) / _LNE_STEP
        fe = np.clip(fe, 0.0, len(self.lne_grid) - 1.001)
        i = fe.astype(np.int64)
        f = fe - i
        tab = self.photon_lambda
        return tab[sec, i] + (tab[sec, i + 1] - tab[sec, i]) * f

    def _radial_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R_C, R_T and p of every section on the grid (ln E, τ), stacked: row
        ``section * n_E + i`` is ln(E/GeV) = ln(_E_MIN) + i·_LNE_STEP (a sub-shower uses the
        nearest row: an energy step of 2.5 %, far below the parametrisation's precision)."""
        tabs: list[list[np.ndarray]] = [[], [], []]
        for medium, mu in zip(self.stack.media, self._section_mu()):
            rc, rt, pc = gf.radial_params(
                self.tau_grid[None, :], self.lne_grid[:, None], medium, xp=np
            )
            # no component wider than its photons reach (EM model hybrid-26)
            cap = gf.photon_limited_radius(mu)
            rc, rt = np.minimum(rc, cap), np.minimum(rt, cap)
            shape = (len(self.lne_grid), len(self.tau_grid))
            for t, a in zip(tabs, (rc, rt, pc)):
                t.append(np.broadcast_to(a, shape))
        core, tail, p = (np.ascontiguousarray(np.concatenate(t), np.float32) for t in tabs)
        return core, tail, p

    def _section_mu(self) -> list[float]:
        """The minimum photon attenuation coefficient per Molière radius of each section's
        medium (0: none known, no cut-off)."""
        mus = []
        for medium in self.stack.media:
            mu = medium.photon_mu_min_cm
            mus.append(0.0 if mu is None else mu * medium.moliere_radius_cm)
        return mus

    def _far_tail_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The radius r_s (Molière units) beyond which the core and the tail component fall
        off with the photon attenuation (:func:`calolab.physics.em.radial_far_tail`), on the
        grid of :meth:`_radial_tables`, and the attenuation coefficient μ_min per Molière
        radius of each row's section (0: no cut-off)."""
        n_e = len(self.lne_grid)
        mus = self._section_mu()
        row_mu = np.repeat(np.array(mus), n_e)
        rs = []
        for radius in (self.rad_core, self.rad_tail):
            out = np.empty(radius.shape, dtype=np.float32)
            for i, mu in enumerate(mus):
                block = slice(i * n_e, (i + 1) * n_e)
                out[block] = _far_tail_of_radius(mu, np.log(radius[block]))
            rs.append(out)
        return rs[0], rs[1], row_mu

    # ------------------------------------------------------------------ the seeds
    def _seed_rows(self, seeds: EMSeeds) -> np.ndarray:
        """Rows (x, y, z, ux, uy, uz, E, photon, spot energy) of the seeds; the spot energy
        is E/N(E) with GFlash's spot number in the medium where the seed starts."""
        st = self.stack
        rows = np.zeros((len(seeds), N_COLS))
        rows[:, 0], rows[:, 1], rows[:, 2] = seeds.x, seeds.y, seeds.z
        rows[:, 3], rows[:, 4], rows[:, 5] = seeds.ux, seeds.uy, seeds.uz
        rows[:, 6] = seeds.energy
        rows[:, 7] = seeds.photon
        if len(st.media) == 1:
            n = np.maximum(gf.n_spots(seeds.energy, st.media[0], xp=np), 1.0)
        else:
            sec = st.period_section[st.period_of(seeds.z)]
            n = np.ones(len(seeds))
            for s in np.unique(sec):
                m = sec == s
                n[m] = np.maximum(gf.n_spots(seeds.energy[m], st.media[int(s)], xp=np), 1.0)
        rows[:, 8] = seeds.energy / n
        rows[:, 9] = np.arange(len(seeds))
        return rows

    def follow_energies(self, rows: np.ndarray) -> np.ndarray:
        """The follow energy E_f of each seed row (GeV), and ``inf`` where the seed is not
        cascaded (below E_f, not going forward, or outside the stack)."""
        st = self.stack
        ef = np.maximum(self.follow_fraction * rows[:, 6], self.follow_min_gev)
        ok = (
            (rows[:, 6] >= ef)
            & (rows[:, 5] >= 0.1)
            & (rows[:, 2] >= 0.0)
            & (rows[:, 2] < st.depth)
            & (np.abs(rows[:, 0]) < st.half_x)
            & (np.abs(rows[:, 1]) < st.half_y)
        )
        if self.follow_fraction >= 1.0:
            ok[:] = False
        return np.where(ok, ef, np.inf)

    def cascade(
        self, rows: np.ndarray, rng: np.random.Generator, e_follow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Follow the first generations of the seeds ``rows`` (see module docstring).

        Returns the sub-shower rows for GFlash, the ionisation deposits ``(D, 4)`` (x, y, z
        in cm, energy in GeV) and the energy that left the stack. Draws 256 + 512 K uniforms
        from ``rng`` (K seeds; more, in blocks of the same size, when the cascade needs them).
        """
        if e_follow is None:
            e_follow = self.follow_energies(rows)
        if not np.isfinite(e_follow).any():
            return rows, np.zeros((0, 4)), 0.0
        n_u, cap, cap_dep = 256 + 512 * len(rows), 64 + 16 * len(rows), 256 + 64 * len(rows)
        u = rng.random(n_u)
        while True:
            out = np.empty((cap, N_COLS))
            dep = np.empty((cap_dep, 4))
            n_out, n_dep, used, leaked = self.run_cascade(em_cascade, rows, e_follow, u, out, dep)
            if n_out < 0:
                cap *= 4
            elif n_dep < 0:
                cap_dep *= 4
            elif used < 0:
                u = np.concatenate([u, rng.random(len(u))])  # the same prefix: same showers
            else:
                return out[:n_out], dep[:n_dep], float(leaked)

    def run_cascade(
        self,
        kernel,  # type: ignore[no-untyped-def]
        rows: np.ndarray,
        e_follow: np.ndarray,
        u: np.ndarray,
        out: np.ndarray,
        dep: np.ndarray,
    ) -> tuple[int, int, int, float]:
        """Call the cascade ``kernel`` (:func:`~calolab.simulation._cascade.em_cascade` or its
        pure-Python ``py_func``) on this stack; see there for the arguments and result."""
        st = self.stack
        return kernel(  # type: ignore[no-any-return]
            rows,
            e_follow,
            u,
            self.section_lpm,
            self.photon_lambda,
            *self._track_tables,
            st.half_x,
            st.half_y,
            out,
            dep,
        )

    def _lepton_starts(self, rows: np.ndarray, row_end: np.ndarray | None = None) -> np.ndarray:
        """Ionisation deposits ``(D, 4)`` of the leading lepton of each electron sub-shower
        over its first :data:`LEPTON_START_X0` X0, taken out of the rows' energies (in place);
        row by row (``row_end`` (K,) int64, if given, receives the deposits of rows 0 … k)."""
        cap = 64 + 8 * len(rows)
        energy = rows[:, 6].copy()
        if row_end is None:
            row_end = np.empty(len(rows), dtype=np.int64)
        while True:
            dep = np.empty((cap, 4))
            rows[:, 6] = energy  # a retry starts from the energies before the first try
            n = lepton_starts(  # type: ignore[call-arg]
                rows,
                LEPTON_START_X0,
                MIN_SHOWER_GEV,
                *self._track_tables,
                dep,
                row_end,
            )
            if n >= 0:
                return dep[:n]
            cap *= 4

    def _moments(self, section: int, energy: np.ndarray) -> _Moments:
        """GFlash's moments of ln T and ln α of showers of ``energy`` in ``section``, those
        below :attr:`fluct_min_gev` by :func:`calolab.physics.em.below_fit_range`."""
        medium = self.stack.media[section]
        moments = gf.longitudinal_moments(energy, medium, xp=np)
        below = energy < self.fluct_min_gev
        if not below.any():
            return moments
        return gf.below_fit_range(moments, self._fit(section), below, xp=np)

    def _fit(self, section: int) -> _Moments:
        """GFlash's moments at the lower end of its fit range, :attr:`fluct_min_gev` (memoised)."""
        fit = self._fit_moments.get(section)
        if fit is None:
            medium = self.stack.media[section]
            fit = gf.longitudinal_moments(np.array([self.fluct_min_gev]), medium, xp=np)
            self._fit_moments[section] = fit
        return fit

    def _mean_t(self, section: int, energy: float) -> tuple[float, float, float]:
        """GFlash's mean shower: depth of the maximum T, centre of gravity α/β (X0) and
        variance α/β² (X0²) of the depth, memoised (guns repeat)."""
        key = (section, energy)
        t = self._t_cache.get(key)
        if t is None:
            medium = self.stack.media[section]
            moments = gf.longitudinal_moments(np.array([energy]), medium, xp=np)
            t_max = float(np.exp(moments[0][0]))
            a = float(gf.tail_floor(t_max, np.exp(moments[1][0]), medium.tail_beta_min, xp=np))
            inv_beta = t_max / max(a - 1.0, 1e-3)
            t = (t_max, a * inv_beta, a * inv_beta * inv_beta)
            if len(self._t_cache) < 4096:
                self._t_cache[key] = t
        return t

    def _by_section(self, sec: np.ndarray):  # type: ignore[no-untyped-def]
        """``(section, mask)`` pairs of the rows in each section (one pair, all rows, for a
        single-section stack)."""
        if len(self.stack.media) == 1:
            return [(0, slice(None))]
        return [(int(s), sec == s) for s in np.unique(sec)]

    def _seed_scales(
        self,
        seed_rows: np.ndarray,
        sub_rows: np.ndarray,
        j: np.ndarray,
        t_start: np.ndarray,
        t_mean: np.ndarray,
        t_var: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Radial-profile row, τ per X0 and depth offset (X0) of the sub-showers of cascaded
        seeds (see :meth:`plan`); ``j`` is each sub-shower's index into ``seed_rows``.

        GFlash evaluates the radial profile of a shower at a depth scaled to its own
        development: τ = t/⟨T⟩ · ⟨c⟩/c, with c the centre of gravity of that shower's
        (fluctuated) profile and ⟨c⟩ the mean one (:func:`calolab.physics.em.tau_scale`), so
        that a shower developing late is not wider for it. A cascaded seed develops as the sum
        of its sub-showers, which need not be one Gamma profile (a hard photon converting
        deep makes a second lump), so its depths are standardised by the first two moments of
        that sum: with c and s the energy-weighted mean and spread of the depths of this
        event's spots (sub-shower starts from the seed's start, plus each sub-shower's own
        mean ``t_mean`` and variance ``t_var``), and ⟨c⟩, ⟨s⟩ those of GFlash's mean shower of
        the seed (a photon's plus its mean free path λ(E) and that length's
        variance), a spot at depth t from the seed's start lies at
        τ = (⟨c⟩ - λ + (t - c)·⟨s⟩/s)/⟨T⟩ (λ = λ(E) for a photon seed, 0 for an electron,
        as for GFlash photons). Measuring τ from the seed's start with ⟨T⟩ alone would make
        the lateral containment follow the event's depth fluctuations, which do not shrink
        with energy; Geant4's is uncorrelated with the depth (correlation -0.04 in V1).
        """
        st = self.stack
        sz = seed_rows[:, 2]
        sp = st.period_of(sz)
        s_sec = st.period_section[sp]
        s_t0 = st.period_t_lo[sp] + (sz - st.period_lo[sp]) / st.section_x0[s_sec]
        mean = np.array([self._mean_t(int(s), float(e)) for s, e in zip(s_sec, seed_rows[:, 6])])
        s_e = np.clip(
            np.rint((np.log(seed_rows[:, 6]) - np.log(_E_MIN)) / _LNE_STEP).astype(np.int64),
            0,
            len(self.lne_grid) - 1,
        )
        depth_x0 = (t_start - s_t0[j]) / seed_rows[j, 5]
        e = sub_rows[:, 6]
        n_seeds = len(seed_rows)
        lam = np.where(
            seed_rows[:, 7] > 0.5, self.photon_mfp_x0(seed_rows[:, 6], seed_rows[:, 2]), 0.0
        )
        mean_c = mean[:, 1] + lam
        mean_var = mean[:, 2] + lam * lam
        e_sum = np.bincount(j, weights=e, minlength=n_seeds)
        norm = np.where(e_sum > 0.0, e_sum, 1.0)
        c = np.bincount(j, weights=e * (depth_x0 + t_mean), minlength=n_seeds) / norm
        dc = depth_x0 + t_mean - c[j]
        var = np.bincount(j, weights=e * (t_var + dc * dc), minlength=n_seeds) / norm
        ratio = np.sqrt(mean_var / np.where(var > 0.0, var, mean_var))
        ratio = np.where(e_sum > 0.0, np.clip(ratio, 0.5, 2.0), 1.0)
        c = np.where(e_sum > 0.0, c, mean_c)
        off = depth_x0 - c[j] + ((mean_c - lam) / ratio)[j]
        rad_row = (s_sec * len(self.lne_grid) + s_e)[j]
        return rad_row, (ratio / mean[:, 0])[j], off

    # ------------------------------------------------------------------ development
    def develop_into(
        self, seeds: EMSeeds, rng: np.random.Generator, dep: np.ndarray
    ) -> tuple[float, float, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Develop all ``seeds`` of one event and add their energy to ``dep``: :meth:`plan`
        of a batch of one event, then :meth:`deposit` (see there)."""
        return self.deposit(self.plan([seeds], [rng])[0], rng, dep)

    def plan(
        self, seeds: Sequence[EMSeeds], rngs: Sequence[np.random.Generator]
    ) -> list[SubShowers]:
        """The GFlash sub-showers of a batch of events (``seeds[i]`` drawing from
        ``rngs[i]``), ready for :meth:`deposit`.

        Each event draws from its own generator, in this order: the cascade's uniforms; per
        GFlash photon one exponential (conversion) and the pair-energy splits; two normals
        and one uniform (spot count rounding) per sub-shower; then, in :meth:`deposit`, the
        spots'. The arithmetic between the draws — conversion points, GFlash's parameters
        per sub-shower, the radial scaling of cascaded seeds — runs once for the whole
        batch, element by element, so an event gets the same numbers in any batch; run
        event by event it was most of a shower's per-event Python (50 GeV γ in
        ``muon_block``: ≈ 210 sub-showers per event, BENCHMARKS.md).
        """
        n_ev = len(seeds)
        if n_ev == 0:
            return []
        seed_cut = np.cumsum([0] + [len(s) for s in seeds])
        all_seeds = EMSeeds(
            **{f.name: np.concatenate([getattr(s, f.name) for s in seeds]) for f in fields(EMSeeds)}
        )
        seed_rows = self._seed_rows(all_seeds)
        seed_rows[:, 9] -= np.repeat(seed_cut[:-1], np.diff(seed_cut))  # index in the event
        e_follow = self.follow_energies(seed_rows)
        # the first generations and the conversion lengths' exponentials, event by event
        rows, ion, leaked, t_conv = [], [], [], []
        for e, rng in enumerate(rngs):
            b = slice(seed_cut[e], seed_cut[e + 1])
            r, i, lk = self.cascade(seed_rows[b], rng, e_follow[b])
            rows.append(r)
            ion.append(i)
            leaked.append(lk)
            t_conv.append(rng.standard_exponential(len(r)))
        counts = np.array([len(r) for r in rows])
        cut = np.cumsum(np.concatenate([[0], counts]))
        event = np.repeat(np.arange(n_ev), counts)
        all_rows = np.concatenate(rows)
        ph = all_rows[:, 7] > 0.5
        converting = np.bincount(event[ph], minlength=n_ev) > 0  # events with photons
        moved, gone, pair = self._conversion_points(
            all_rows, np.concatenate(t_conv), ph, converting[event]
        )
        # the pairs' energy splits, event by event
        escaped = [0.0] * n_ev
        split = []
        for c in np.flatnonzero(converting).tolist():
            b = slice(cut[c], cut[c + 1])
            escaped[c] = float(all_rows[b][gone[b], 6].sum())
            split.append(_bethe_heitler_fractions(int(pair[b].sum()), rngs[c]))
        sub_rows, event = self._pair_rows(moved, gone, pair, event, np.concatenate([[]] + split))
        counts = np.bincount(event, minlength=n_ev)
        cut = np.cumsum(np.concatenate([[0], counts]))
        e_before = sub_rows[:, 6].copy()
        row_end = np.empty(len(sub_rows), dtype=np.int64)
        starts = self._lepton_starts(sub_rows, row_end)
        # the sub-showers' normals and rounding uniforms, event by event
        normals = np.empty((2, len(sub_rows)))
        rounding = np.empty(len(sub_rows))
        for e, rng in enumerate(rngs):
            a, b = cut[e], cut[e + 1]
            if b > a:
                normals[:, a:b] = rng.standard_normal((2, b - a))
                rounding[a:b] = rng.random(b - a)
            lo = int(row_end[a - 1]) if a > 0 else 0
            hi = int(row_end[b - 1]) if b > a else lo
            ion[e] = np.concatenate([ion[e], starts[lo:hi]])
        # GFlash's parameters of every sub-shower of the batch at once
        sid = sub_rows[:, 9].astype(np.int64) + seed_cut[event]
        par = self._sub_shower_parameters(
            sub_rows, e_before, normals, rounding, seed_rows, np.isfinite(e_follow), sid
        )
        out = []
        for e in range(n_ev):
            b = slice(cut[e], cut[e + 1])
            out.append(
                SubShowers(
                    ion=ion[e],
                    escaped=escaped[e],
                    leaked=leaked[e],
                    **{name: v[b] for name, v in par.items()},
                )
            )
        return out

    def _sub_shower_parameters(
        self,
        rows: np.ndarray,
        e_before_start: np.ndarray,
        normals: np.ndarray,
        rounding: np.ndarray,
        seed_rows: np.ndarray,
        cascaded: np.ndarray,
        sid: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The spot kernel's per-sub-shower inputs (the fields of :class:`SubShowers`
        after ``ion``) of sub-shower ``rows`` (after their leptons' starts, with the energies
        ``e_before_start`` before them), from their normals (2, K) and rounding uniforms;
        ``sid`` is each row's index into ``seed_rows`` and ``cascaded``."""
        st = self.stack
        k = len(rows)
        energy = rows[:, 6]
        z0 = rows[:, 2]
        p0 = st.period_of(z0)
        sec0 = st.period_section[p0]
        t_start = st.period_t_lo[p0] + (z0 - st.period_lo[p0]) / st.section_x0[sec0]
        t_max = np.empty(k)
        alpha = np.empty(k)
        tau_fac = np.empty(k)
        log_e = np.log(np.maximum(energy, 1e-6))
        for s, m in self._by_section(sec0):
            moments = self._moments(s, energy[m])
            t_i, a_i = gf.fluctuate_t_alpha(*moments, normals[0, m], normals[1, m], xp=np)
            beta_min = st.media[s].tail_beta_min
            a_i = gf.tail_floor(t_i, a_i, beta_min, xp=np)
            if (energy[m] < self.fluct_min_gev).any():
                t_i, a_i = gf.photon_limited_slope(
                    t_i, a_i, energy[m], self._fit(s), self.fluct_min_gev, st.media[s], xp=np
                )
            mean_a = gf.tail_floor(np.exp(moments[0]), np.exp(moments[1]), beta_min, xp=np)
            t_max[m], alpha[m] = t_i, a_i
            tau_fac[m] = gf.tau_scale(t_i, a_i, np.log(mean_a), xp=np)
        rows_e = np.clip(
            np.rint((log_e - np.log(_E_MIN)) / _LNE_STEP).astype(np.int64),
            0,
            len(self.lne_grid) - 1,
        )
        rad_row = sec0 * len(self.lne_grid) + rows_e
        tau_off = np.zeros(k)
        small = energy < MIN_SHOWER_GEV
        inv_beta = t_max / (alpha - 1.0)
        inv_beta[small] = 0.0
        # the rest of a sub-shower whose lepton's start was deposited explicitly starts later,
        # its centre of gravity kept (calolab.physics.em.start_delay)
        t_start = t_start + rows[:, 5] * gf.start_delay(
            e_before_start - energy, energy, alpha * inv_beta, 0.5 * LEPTON_START_X0, xp=np
        )
        # sub-showers of a cascaded seed follow the radial profile of the whole shower, as
        # GFlash parametrises it: at τ = t/⟨T⟩ with the depth t from the seed's start scaled
        # so that this event's centre of gravity falls on the mean one (see _seed_scales)
        sub = cascaded[sid]
        if sub.any():
            rad_row[sub], tau_fac[sub], tau_off[sub] = self._seed_scales(
                seed_rows,
                rows[sub],
                sid[sub],
                t_start[sub],
                alpha[sub] * inv_beta[sub],
                alpha[sub] * inv_beta[sub] ** 2,
            )
        # spots: the seed's spot energy, shared in proportion to energy (stochastic rounding)
        n = np.maximum(np.floor(energy / rows[:, 8] + rounding), 1).astype(np.int64)
        n[small] = 1
        a_pos = (np.minimum(np.maximum(alpha, _A_MIN), _A_MAX - 1e-6) - _A_MIN) / _A_STEP
        a_lo = a_pos.astype(np.int64)
        e1, e2 = _basis(rows[:, 3], rows[:, 4], rows[:, 5])
        return {
            "n": n,
            "energy": energy,
            "start": np.ascontiguousarray(rows[:, 0:3]),
            "axis": np.ascontiguousarray(rows[:, 3:6]),
            "e1": e1,
            "e2": e2,
            "inv_beta": inv_beta,
            "t_start": t_start,
            "tau_scale": tau_fac / _TAU_STEP,
            "tau_off": tau_off,
            "x0": st.section_x0[sec0],
            "a_lo": a_lo,
            "a_fr": a_pos - a_lo,
            "homogeneous": self._section_homogeneous[sec0],
            "rad_row": rad_row,
        }

    def deposit(
        self, sub: SubShowers, rng: np.random.Generator, dep: np.ndarray
    ) -> tuple[float, float, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Develop one event's sub-showers (:meth:`plan`) into spots and add their energy to
        ``dep``.

        ``dep`` (n_cells,) float64 receives the EM energy deposited in each period-column
        (all materials of the period, indexed by the cells of its sensitive layers); the
        binning turns it into visible energy. Draws, after the event's draws in
        :meth:`plan`: per spot one exponential (depth), k exponentials (the Gamma(k)
        energy weight, k = :data:`calolab.physics.em.SPOT_WEIGHT_SHAPE`) and five uniforms
        (radius, azimuth, axial offset of a photon-tail spot, albedo quantum, number of
        back-scattered photons).

        Returns
        -------
        deposited, leaked:
            Energy (GeV) of the spots inside and outside the stack (the ionisation deposits
            are counted where they are binned).
        ionisation:
            Ionisation deposits of the followed particles ``(x, y, z, e)`` (cm, GeV), one
            per sub-layer crossed, binned as local deposits (visible where they lie);
            Landau-fluctuated in sampling sections' active layers (one uniform per such
            deposit, drawn after the spots').
        """
        ion = sub.ion
        local = (ion[:, 0], ion[:, 1], ion[:, 2], ion[:, 3])
        if len(sub.n) == 0:
            self._straggle(ion, rng)
            return 0.0, sub.escaped + sub.leaked, local
        st = self.stack
        n = sub.n
        n_tot = int(n.sum())
        w = rng.standard_exponential(n_tot, dtype=np.float32)
        w *= np.float32(1.0 / _W_STEP)
        # Gamma(k) weights with integer k as sums of k exponentials (numpy's standard_gamma is
        # ~15 times slower than its ziggurat exponential)
        wt = rng.standard_exponential(n_tot, dtype=np.float32)
        for _ in range(int(gf.SPOT_WEIGHT_SHAPE) - 1):
            wt += rng.standard_exponential(n_tot, dtype=np.float32)
        # spot-energy weights where the spots are the deposit granularity (homogeneous
        # media); in sampling media the cells' visible fractions fluctuate by the sampling
        # model instead, which the spots' weights must not add to. The depth importance
        # sampling (more, lighter spots in the tail) acts in both: in sampling media too few
        # spots in the tail left its layers empty too often (EM model hybrid-22)
        homogeneous = sub.homogeneous != 0
        if not homogeneous.all():
            wt[~np.repeat(homogeneous, n)] = 1.0
        u = rng.random((5, n_tot), dtype=np.float32)
        phi = u[1] * np.float32(2 * math.pi)
        deposited, leaked = self.kernel(
            w,
            u[0],
            np.cos(phi),
            np.sin(phi),
            wt,
            sub.n,
            sub.energy,
            sub.start,
            sub.axis,
            sub.e1,
            sub.e2,
            sub.inv_beta,
            sub.t_start,
            sub.tau_scale,
            sub.tau_off,
            sub.x0,
            sub.a_lo,
            sub.a_fr,
            self.qw_table,
            self.qlog,
            _LNW_MIN,
            1.0 / _LNW_STEP,
            _W_STEP,
            1.0 / self.tail_kappa,
            (1.0 - self.tail_kappa) / self.tail_kappa,
            sub.homogeneous,
            self.halo_odds,
            sub.rad_row,
            self.rad_core,
            self.rad_tail,
            self.p_core,
            self.rs_core,
            self.rs_tail,
            self.row_mu,
            self.ki_y_of_x,
            self.ki_x_of_y,
            1.0 / self.ki_step,
            u[2],
            self.slope_tab,
            1.0 / self.slope_x_step,
            1.0 / self.slope_u_step,
            u[3],
            u[4],
            self.back_k,
            self.albedo_eta,
            self.albedo_inv_lambda,
            self.albedo_lo,
            self.albedo_hi,
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
        self._straggle(ion, rng)
        return float(deposited), float(leaked) + sub.escaped + sub.leaked, local

    def axis_distance(self, rows: np.ndarray, t_axis: np.ndarray) -> np.ndarray:
        """Distance (cm) along each row's axis after ``t_axis`` radiation lengths of the
        stack's effective media (beyond the back: the last period's X0)."""
        st = self.stack
        z0, uz = rows[:, 2], rows[:, 5]
        fw = uz >= 0.1
        s = t_axis * st.section_x0[st.period_section[st.period_of(z0)]]
        if fw.any():
            tt = (st.t_of_z(z0[fw]) + t_axis[fw] * uz[fw]) / self.t_step
            tt = np.minimum(tt, len(self.z_of_t) - 1.001)
            ti = tt.astype(np.int64)
            z = self.z_of_t[ti] + (self.z_of_t[ti + 1] - self.z_of_t[ti]) * (tt - ti)
            s[fw] = (z - z0[fw]) / uz[fw]
        return s

    def _convert_photons(
        self, rows: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        """Replace photon rows by the e+e- pairs they convert into.

        Draws one exponential per row, then uniforms for the Bethe-Heitler energy split of
        the converting photons (vectorised rejection sampling). Returns the electron rows
        and the energy of photons that leave the stack before converting.
        """
        t_conv = rng.standard_exponential(len(rows))
        ph = rows[:, 7] > 0.5
        if not ph.any():
            return rows, 0.0
        moved, gone, pair = self._conversion_points(rows, t_conv, ph, np.ones(len(rows), bool))
        escaped = float(rows[gone, 6].sum())
        x = _bethe_heitler_fractions(int(pair.sum()), rng)
        out, _ = self._pair_rows(moved, gone, pair, np.zeros(len(rows), np.int64), x)
        return out, escaped

    def _conversion_points(
        self, rows: np.ndarray, t_conv: np.ndarray, ph: np.ndarray, moving: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows moved to where their photons (``ph``) convert, after ``t_conv`` (standard
        exponentials, scaled in place to X0) mean free paths (the rows ``moving``: those of
        events with photons, the others by nothing); which photons leave the stack first, and
        which convert into a pair."""
        t_conv[ph] *= self.photon_mfp_x0(rows[ph, 6], rows[ph, 2])
        s = np.where(ph, self.axis_distance(rows, np.where(ph, t_conv, 0.0)), 0.0)
        moved = rows.copy()
        moved[moving, 0:3] += s[moving, None] * rows[moving, 3:6]
        z = moved[:, 2]
        gone = ph & ~((z >= 0.0) & (z < self.stack.depth))
        pair = ph & ~gone & (rows[:, 6] >= 2 * MIN_SHOWER_GEV)
        return moved, gone, pair

    @staticmethod
    def _pair_rows(
        moved: np.ndarray, gone: np.ndarray, pair: np.ndarray, event: np.ndarray, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The electron rows after the conversions (:meth:`_conversion_points`) of the rows of
        events ``event`` (ascending): per event, the rows kept, then the pairs' first and
        second leptons, with the energy fractions ``x`` of the first (one per pair, in row
        order); and the event of each row."""
        kept = np.flatnonzero(~gone & ~pair)
        pairs = np.flatnonzero(pair)
        take = np.concatenate([kept, pairs, pairs])
        part = np.repeat([0, 1, 2], [len(kept), len(pairs), len(pairs)])
        order = np.lexsort((part, event[take]))  # stable: by event, then part, then row
        out = moved[take[order]]
        share = np.concatenate([np.ones(len(kept)), x, 1.0 - x])[order]
        out[:, 6] *= share
        out[:, 7] = 0.0
        return out, event[take[order]]


def _bethe_heitler_fractions(n: int, rng: np.random.Generator) -> np.ndarray:
    """Energy fractions x of the electron in n photon conversions, from
    dσ/dx ∝ 1 - (4/3) x (1 - x) (complete screening; PDG eq. 34.31), by rejection."""
    x = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        u = rng.random((2, todo.size))
        ok = u[1] <= gf.pair_shape(u[0])
        x[todo[ok]] = u[0, ok]
        todo = todo[~ok]
    return x
