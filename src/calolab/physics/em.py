"""GFlash parametrisation of electromagnetic showers, written once for any array library.

Reference: G. Grindhammer and S. Peters, "The parameterized simulation of electromagnetic
showers in homogeneous and sampling calorimeters", hep-ex/0001020 (1993); coefficients as
implemented in Geant4's ``GVFlashHomoShowerTuning`` and ``GFlashSamplingShowerTuning``.

Every function takes arrays of one library (numpy or torch, detected through
``array_api_compat``) and returns arrays of the same library, so that the numpy fast simulator
and a differentiable torch simulator share the formulas. Energies in GeV; depths in radiation
lengths; radii in Molière radii.

Longitudinal profile (per shower)::

    (1/E) dE/dt = (βt)^(α-1) β e^(-βt) / Γ(α),   T = (α-1)/β (depth of the maximum)

with correlated log-normal fluctuations of T and α. Radial profile (per depth)::

    f(r) = p 2r R_C²/(r² + R_C²)² + (1-p) 2r R_T²/(r² + R_T²)²

(core and tail components, both sampled by r = R √(u/(1-u))). Each component falls as a power
law (energy outside r ∝ R²/r²); far from the axis the energy is carried by photons of a few
MeV, at the minimum μ_min of the attenuation coefficient, and falls off exponentially
(:func:`radial_far_tail`).
Sampling calorimeters modify T, α, R_C, R_T and p through F_s = X0_eff/d_period and
ê = e/mip = 1/(1 + 0.007 (Z_passive - Z_active)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from calolab.physics.versions import MODEL_VERSIONS

Array = Any

#: Version of the EM shower model (bump it in :mod:`calolab.physics.versions`).
MODEL_VERSION = MODEL_VERSIONS["em"]

# ---- homogeneous media (GVFlashHomoShowerTuning) ---------------------------------------
T1_HOM = -0.812  # <ln T> = ln(ln y + T1)
A1_HOM, A2_HOM, A3_HOM = 0.81, 0.458, 2.26  # <ln α> = ln(A1 + (A2 + A3/Z) ln y)
SIG_LOG_T_HOM = (-1.4, 1.26)  # σ(ln T) = 1/(s1 + s2 ln y)
SIG_LOG_A_HOM = (-0.58, 0.86)  # σ(ln α) = 1/(s1 + s2 ln y)
RHO_HOM = (0.705, -0.023)  # ρ(ln T, ln α) = r1 + r2 ln y
# ---- sampling media (GFlashSamplingShowerTuning) ---------------------------------------
T1_SAM, T2_SAM = -0.55, -0.69  # T_sam = T_hom + T1/F_s + T2 (1 - ê)
A1_SAM = -0.476  # α_sam = α_hom + A1/F_s
# GFlash's fluctuations of ln T, ln α and their correlation fitted to sampling calorimeters'
# individual visible profiles — σ(ln T) = 1/(-2.5 + 1.25 ln y), σ(ln α) = 1/(-0.82 + 0.79 ln y),
# ρ = 0.784 - 0.023 ln y — hold the sampling noise of the fitted profiles: their excess
# variance over the homogeneous fits falls with energy (σ² 0.160 - 0.076 = 0.084 at y = 55,
# 0.014 at y = 400; as E^-0.7 from 1 to 300 GeV). calolab draws the sampling fluctuations
# cell by cell (:mod:`calolab.physics.sampling`), so the shape of a shower in a sampling
# medium fluctuates with the homogeneous parameters of its effective medium (EM model
# hybrid-25; before, the sampling ones counted the sampling noise twice).
#: Lower end (GeV) of the shower energies GFlash's sampling terms were fitted to (below, the
#: term of α is applied as the relative change of α - 1 there; see longitudinal_moments).
SAMPLING_FIT_MIN_GEV = 1.0
#: GFlash's floor of the fluctuated α (:func:`fluctuate_t_alpha`).
ALPHA_MIN = 1.1
# ---- radial profile ----------------------------------------------------------------------
RC = (0.0251, 0.00319, 0.1162, -0.000381)  # R_C = z1 + z2 τ; z1 = c1 + c2 ln E; z2 = c3 + c4 Z
RT = (0.659, -0.00309, 0.645, -2.59, 0.3585, 0.0412)  # R_T = k1 (e^{k3(τ-k2)} + e^{k4(τ-k2)})
WC = (2.632, -0.00094, 0.401, 0.00187, 1.313, -0.0686)  # p = p1 exp((p2-τ)/p3 - exp((p2-τ)/p3))
RC_SAM = (-0.0203, 0.0397)  # R_C += c1 (1-ê) + c2/F_s e^{-τ}
RT_SAM = (-0.14, -0.495)  # R_T += t1 (1-ê) + t2/F_s e^{-τ}
WC_SAM = (0.348, -0.642)  # p += (1-ê)(c1 + c2/F_s e^{-(τ-1)²})
# ---- spots -------------------------------------------------------------------------------
#: Homogeneous media: N = n1 ln(Z) E^n2 spots (GFlash's form; GFlash has n1 = 93, n2 = 0.876
#: for spots of equal energy). The spots' energies fluctuate (Gamma weights of shape
#: SPOT_WEIGHT_SHAPE, so that no energy is a multiple of a spot energy), which divides the
#: effective number of independent spots by 1 + 1/shape. Geant4's lateral containment
#: fluctuates as 1/√E (V1 PbWO4 5, 20, 200 GeV: σ of the fraction within 1 cm of the axis
#: 1.58/0.82/0.27 %; V2 Pb 20 GeV alike): the number of independent deposits grows as E, not
#: E^0.876, so n2 = 1. n1 = 48 until EM model hybrid-22; 36 since hybrid-23, with the halo's
#: spots drawn HALO_SPOT_ODDS times as often (lighter): the shower's core has fewer
#: independent deposits, its halo more. Measured with the Geant4 reference showers: the
#: layer energies after the shower maximum fluctuated 8-14 % too little (V1 e⁻ 5 and 20 GeV,
#: layers 7-10) and the containment within 3 cm 13-33 % too much (V1, V2).
SPOT_HOM = (36.0, 1.0)
#: Homogeneous media: GFlash's tail component (R_T: the deposits of the shower's photons,
#: many soft ones) is drawn with HALO_SPOT_ODDS times its odds against the core component
#: and weighted back, so that its spots are more numerous and lighter than the core's
#: (:func:`calolab.simulation._kernels.em_spots_into`; 1 turns this off).
HALO_SPOT_ODDS = 2.0
#: Shape k (an integer) of the Gamma(k)/k energy weights of the spots in homogeneous media
#: (mean 1, variance 1/k; see SPOT_HOM).
SPOT_WEIGHT_SHAPE = 2
SPOT_SAM = (10.3, 0.959, 0.11)  # N = n1/c_s E^n2 with c_s the sampling resolution
#: Mean free path of a high-energy photon before conversion, in X0 (PDG: 9/7 X0).
PHOTON_MFP_X0 = 9.0 / 7.0
#: Scale energy E_s (GeV) used for Molière radii.
E_S_GEV = 0.0212052


@dataclass(frozen=True)
class MediumParams:
    """Effective medium seen by an EM shower (one section of the stack).

    Attributes
    ----------
    z_eff:
        Effective atomic number (mass-weighted).
    critical_energy_gev:
        Effective critical energy E_c in GeV.
    x0_cm:
        Effective radiation length in cm.
    moliere_radius_cm:
        Effective Molière radius in cm.
    fs:
        Sampling parameter F_s = X0_eff / d_period, or ``None`` for a homogeneous medium.
    ehat:
        ê = e/mip of the sampling structure (1 for a homogeneous medium).
    photon_mu_min_cm:
        Minimum over the photon energy of the linear attenuation coefficient μ (1/cm) of the
        medium (:func:`calolab.physics.photon.minimum_mass_attenuation` times the density),
        which sets the far lateral tail (:func:`radial_far_tail`); ``None``: GFlash's power
        law at all radii.
    """

    z_eff: float
    critical_energy_gev: float
    x0_cm: float
    moliere_radius_cm: float
    fs: float | None = None
    ehat: float = 1.0
    photon_mu_min_cm: float | None = None

    @property
    def sampling(self) -> bool:
        return self.fs is not None

    @property
    def tail_beta_min(self) -> float:
        """The slowest fall-off of a longitudinal profile per X0, μ_min X0 (0 without μ_min;
        :func:`tail_floor`)."""
        return 0.0 if self.photon_mu_min_cm is None else self.photon_mu_min_cm * self.x0_cm


def _is_numpy(xp: Any) -> bool:
    """Whether the array namespace ``xp`` is numpy (plain or array_api_compat's wrapper)."""
    return xp is np or getattr(xp, "__name__", "") == "array_api_compat.numpy"


def _clip(xp: Any, x: Array, min: float | None = None, max: float | None = None) -> Array:
    """``xp.clip`` — with numpy's fast ``maximum``/``minimum`` ufuncs when ``xp`` is numpy
    (``np.clip`` costs microseconds per call on the small arrays of per-shower formulas)."""
    if _is_numpy(xp):
        if min is not None:
            x = np.maximum(x, min)
        if max is not None:
            x = np.minimum(x, max)
        return x
    return xp.clip(x, min=min, max=max)


def _inv_sigma(xp: Any, log_y: Array, s1: float, s2: float) -> Array:
    """σ = min(0.5, 1/(s1 + s2 ln y)), guarded where the denominator is small or negative."""
    den = s1 + s2 * log_y
    safe = xp.where(den > 2.0, den, 2.0 + 0.0 * den)
    return _clip(xp, 1.0 / safe, max=0.5)


def longitudinal_moments(
    energy_gev: Array, medium: MediumParams, xp: Any = None
) -> tuple[Array, Array, Array, Array, Array]:
    """Mean and width of ln T and ln α and their correlation.

    Sampling media shift the means (GFlash's sampling terms) but not the widths and the
    correlation: those are GFlash's homogeneous ones of the effective medium, since the
    sampling fluctuations are drawn cell by cell (EM model hybrid-25).

    Parameters
    ----------
    energy_gev:
        Shower energies, shape ``(K,)``.
    medium:
        Effective medium.

    Returns
    -------
    mean_log_t, mean_log_alpha, sigma_log_t, sigma_log_alpha, rho:
        Arrays of shape ``(K,)``.
    """
    xp = xp or array_namespace(energy_gev)
    log_y = xp.log(_clip(xp, energy_gev / medium.critical_energy_gev, min=1.5))
    ln_t_h = xp.log(_clip(xp, log_y + T1_HOM, min=0.1))
    ln_a_h = xp.log(_clip(xp, A1_HOM + (A2_HOM + A3_HOM / medium.z_eff) * log_y, min=0.1))
    if medium.fs is None:
        ln_t, ln_a = ln_t_h, ln_a_h
    else:
        t_sam = xp.exp(ln_t_h) + T1_SAM / medium.fs + T2_SAM * (1.0 - medium.ehat)
        # GFlash's sampling term of α was fitted to showers of 1-100 GeV; below that range
        # (sub-showers of the hybrid) it is applied as the relative change of α - 1 at its lower
        # end: the additive term would reach α → 1 (an infinitely long shower: a 100 MeV
        # sub-shower in 15 mm Fe / 5 mm scintillator had α = 1.17, a mean depth of 8 X0)
        log_y_fit = xp.log(
            _clip(xp, energy_gev, min=SAMPLING_FIT_MIN_GEV) / medium.critical_energy_gev
        )
        a_h_fit = A1_HOM + (A2_HOM + A3_HOM / medium.z_eff) * _clip(
            xp, log_y_fit, min=math.log(1.5)
        )
        a_ratio = (a_h_fit + A1_SAM / medium.fs - 1.0) / _clip(xp, a_h_fit - 1.0, min=1e-3)
        a_sam = 1.0 + (xp.exp(ln_a_h) - 1.0) * _clip(xp, a_ratio, min=1e-3)
        ln_t = _clip(xp, xp.log(_clip(xp, t_sam, min=1e-3)), min=0.1)
        ln_a = _clip(xp, xp.log(_clip(xp, a_sam, min=1e-3)), min=0.1)
    # the shape's fluctuations: GFlash's homogeneous ones, in sampling media too (the
    # comment on GFlash's sampling fits with the sampling parameters above)
    (st1, st2), (sa1, sa2), (r1, r2) = SIG_LOG_T_HOM, SIG_LOG_A_HOM, RHO_HOM
    rho = _clip(xp, r1 + r2 * log_y, min=-0.99, max=0.99)
    return ln_t, ln_a, _inv_sigma(xp, log_y, st1, st2), _inv_sigma(xp, log_y, sa1, sa2), rho


def fluctuate_t_alpha(
    mean_log_t: Array,
    mean_log_alpha: Array,
    sigma_log_t: Array,
    sigma_log_alpha: Array,
    rho: Array,
    z1: Array,
    z2: Array,
    xp: Any = None,
) -> tuple[Array, Array]:
    """Correlated log-normal T (X0) and α from two standard normals ``z1``, ``z2``.

    Returns ``(T, alpha)`` with T >= 0.5 X0 and α >= 1.1 (as in GFlash).
    """
    xp = xp or array_namespace(mean_log_t)
    c1 = xp.sqrt((1.0 + rho) / 2.0)
    c2 = xp.sqrt((1.0 - rho) / 2.0)
    t = xp.exp(mean_log_t + sigma_log_t * (c1 * z1 + c2 * z2))
    a = xp.exp(mean_log_alpha + sigma_log_alpha * (c1 * z1 - c2 * z2))
    return _clip(xp, t, min=0.5), _clip(xp, a, min=ALPHA_MIN)


def below_fit_range(
    moments: tuple[Array, Array, Array, Array, Array],
    fit_moments: tuple[Array, Array, Array, Array, Array],
    below: Array,
    xp: Any = None,
) -> tuple[Array, Array, Array, Array, Array]:
    """GFlash's moments (:func:`longitudinal_moments`) for showers ``below`` the energies its
    fluctuations were fitted to (1–100 GeV), given ``fit_moments`` at the lower end.

    GFlash's ⟨ln T⟩, ⟨ln α⟩ there are an extrapolation and its σ(ln α) would put α on
    the pole of the profile (α → 1: a shower without build-up, as long as one likes). Below
    the fit range the depth scale T fluctuates with σ(ln T) of the fit range's lower end,
    about a mean equal to the extrapolated median (⟨ln T⟩ − σ²/2: the mean of a log-normal),
    and the shape α is the median's (σ(ln α) = 0). The spread of T is the depth-of-maximum
    fluctuation that makes the mean profile of a shower wider than its median one.
    """
    xp = xp or array_namespace(moments[0])
    ln_t, ln_a, s_t, s_a, rho = moments
    s_fit = fit_moments[2]
    ln_t = xp.where(below, ln_t - 0.5 * s_fit * s_fit, ln_t)
    s_t = xp.where(below, s_fit + 0.0 * s_t, s_t)
    s_a = xp.where(below, 0.0 * s_a, s_a)
    return ln_t, ln_a, s_t, s_a, rho


#: Where a shower's tail begins, in widths past its centre of gravity: from there on its
#: profile falls off at least as fast as the photons at the attenuation minimum
#: (:func:`tail_floor`; EM model hybrid-24).
TAIL_FLOOR_WIDTHS = 3.0

#: u = √α on a grid, and the floor's y(u) = (α − 1)(1 + k u)/(α + k u) of :func:`tail_floor`
#: there (k = TAIL_FLOOR_WIDTHS; increasing from 0 at α = 1), inverted by interpolation with
#: numpy.
_FLOOR_U = np.linspace(1.0, 60.0, 23601)
_FLOOR_Y = (
    (_FLOOR_U**2 - 1.0)
    * (1.0 + TAIL_FLOOR_WIDTHS * _FLOOR_U)
    / (_FLOOR_U**2 + TAIL_FLOOR_WIDTHS * _FLOOR_U)
)


def tail_floor(t_max: Array, alpha: Array, beta_min: float, xp: Any = None) -> Array:
    """α raised where the profile would fall off more slowly than ``beta_min`` per X0 in its
    tail (:attr:`MediumParams.tail_beta_min`; 0: α unchanged, as α ≥ 1.1).

    Past its maximum a shower's energy is carried by photons, and the deepest by those at the
    minimum of the attenuation coefficient μ_min: no profile's tail falls off more slowly
    than e^{−μ_min X0 t} (Geant4's tails in the shared reference set, beyond the centre of
    gravity plus two widths: 3.4 X0 in PbWO4 and 2.5 X0 in Fe/polystyrene against
    1/(μ_min X0) = 3.4 and 2.4 X0). A Gamma profile's logarithmic slope,
    −d ln f/dt = β − (α − 1)/t, approaches β from below, so β ≥ μ_min X0 alone (up to EM
    model hybrid-23) let the tail fall off more slowly than the photons at every depth: 2 and
    10 GeV e⁻ in Fe/polystyrene put 1.2–1.3× Geant4's energy beyond the centre of gravity
    plus three widths, 1.5–1.7× beyond four. The floor therefore holds from where the tail
    begins, k = :data:`TAIL_FLOOR_WIDTHS` widths past the centre of gravity,
    t = (α + k√α)/β:

        β (1 + k√α)/(α + k√α) ≥ μ_min X0,

    the depth of the maximum T = (α − 1)/β kept: α' is the smallest α ≥ α with
    (α' − 1)(1 + k√α')/(α' + k√α') ≥ μ_min X0 · T (the left side increases with α'; for
    α → 1 the condition is β ≥ μ_min X0, the exponential's). Where the tail begins is
    bracketed by the Fe/polystyrene reference: from two widths on, the energy beyond the
    centre plus one to three widths is 10–15 % below Geant4's; from three, within −8 % and
    +11 % out to four widths (docs/validation.md, `hybrid-24`). Binding for GFlash's
    extrapolated sub-GeV showers (α ≈ 1.2 at 50 MeV in Fe/polystyrene), seldom above a GeV;
    a shower with α = 2 at the floor has β = 1.19 μ_min X0.
    """
    xp = xp or array_namespace(t_max)
    y = beta_min * t_max
    if _is_numpy(xp):
        u = np.interp(y, _FLOOR_Y, _FLOOR_U)
    else:
        # u = √α' is the root above 1 of k u³ + (1 − y)u² − k(1 + y)u − 1 (y(u) = y cleared
        # of fractions); Newton's method from u = 1 + y, where the cubic is positive,
        # descends monotonically to it (the cubic is convex there); differentiable in y
        k = TAIL_FLOOR_WIDTHS
        u = 1.0 + y
        for _ in range(16):
            p = ((k * u + 1.0 - y) * u - k * (1.0 + y)) * u - 1.0
            dp = (3.0 * k * u + 2.0 * (1.0 - y)) * u - k * (1.0 + y)
            u = u - p / dp
    return xp.maximum(alpha, u * u)


def start_delay(
    e_start: Array, e_rest: Array, mean_depth: Array, start_centre: float, xp: Any = None
) -> Array:
    """Delay (X0) of the Gamma profile of a sub-shower whose start is deposited explicitly.

    GFlash's profile describes all of a shower's deposit, its leading lepton's ionisation
    included, with the centre of gravity ``mean_depth`` = α/β from its start. Where the
    first X0 of that lepton's ionisation, ``e_start`` with its centre ``start_centre`` from
    the start, is deposited explicitly and taken out of the profile (the Gamma vanishes at
    the start, a real shower does not), the rest, ``e_rest``, starts δ later so that the
    sub-shower's centre of gravity stays GFlash's:
    e_start · start_centre + e_rest · (mean_depth + δ) = (e_start + e_rest) · mean_depth,

        δ = e_start · max(mean_depth − start_centre, 0) / e_rest.

    Without the delay every sub-shower's energy moved forwards by e_start (mean_depth −
    start_centre) / E: 0.3 X0 for the hybrid's 10 GeV e⁻ showers in Fe/polystyrene (whose
    20 MeV per X0 of ionisation is 5–20 % of a sub-GeV sub-shower), and the first layer of
    the PbWO4 block held 1.23–1.28× Geant4's energy at 5–20 GeV.
    """
    xp = xp or array_namespace(e_start)
    lag = _clip(xp, mean_depth - start_centre, min=0.0)
    return e_start * lag / _clip(xp, e_rest, min=1e-12)


def photon_limited_slope(
    t_max: Array,
    alpha: Array,
    energy_gev: Array,
    fit_moments: tuple[Array, Array, Array, Array, Array],
    fit_energy_gev: float,
    medium: MediumParams,
    xp: Any = None,
) -> tuple[Array, Array]:
    """``(T, α)`` of showers below the fit range with the profile's fall-off limited by the
    photons that carry their energy; the mean depth α/β is kept.

    GFlash's extrapolated β = (α − 1)/T grows fast below the energies it was fitted to (in
    PbWO4 0.54 per X0 at 1 GeV, 0.62 at 100 MeV, 1.7 at 25 MeV: a 25 MeV shower would be
    over within a radiation length), but a small shower is its lepton's ionisation and the
    photons it radiated, which travel their mean free path before depositing: the smaller
    the shower, the closer its fall-off comes to the photons' attenuation at its minimum,
    μ_min X0 (the slowest, :func:`tail_floor`). So below ``fit_energy_gev`` β is at most

        β_lim(E) = μ_min X0 + (β_fit − μ_min X0) · ln(E/E_c) / ln(E_fit/E_c)   (E_c ≤ E ≤ E_fit),

    β_fit that of GFlash's median shower at the fit range's lower end (``fit_moments``, with
    the tail floor) and μ_min X0 at the critical energy E_c, where a shower is one particle;
    a shower whose β exceeds the limit gets β = β_lim and α = β_lim · α/β (the same centre of
    gravity: a wider profile, with an earlier maximum and a longer tail; β no lower than
    keeps α ≥ :data:`ALPHA_MIN`). The limit has no free parameter; it is continuous at
    E_fit (no change at and above it). Measured with the
    shipped Geant4 references at 2–5 GeV, whose sub-showers lie below the fit range (see
    docs/validation.md): the mean per-event width of the layer profile of 5 GeV e⁻ in PbWO4
    3.78 → 3.93 X0 (Geant4 3.99), of 3 GeV e⁻ in Pb/polystyrene 4.75 → 4.99 layers (5.07).
    """
    xp = xp or array_namespace(t_max)
    beta_min = medium.tail_beta_min
    if beta_min <= 0.0:  # no photon attenuation known for the medium: GFlash's extrapolation
        return t_max, alpha
    t_fit = xp.exp(fit_moments[0])
    a_fit = tail_floor(t_fit, xp.exp(fit_moments[1]), beta_min, xp=xp)
    beta_fit = (a_fit - 1.0) / t_fit
    e_c = medium.critical_energy_gev
    fit_e = energy_gev * 0.0 + fit_energy_gev  # an array of the library (e_c may be a tensor)
    x = _clip(xp, xp.log(_clip(xp, energy_gev, min=1e-12) / e_c) / xp.log(fit_e / e_c), 0.0, 1.0)
    beta_lim = beta_min + (beta_fit - beta_min) * x
    beta = (alpha - 1.0) / t_max
    limited = (energy_gev < fit_energy_gev) & (beta > beta_lim)
    # the centre c = α/β is kept; where c β_lim < ALPHA_MIN (a shower of a few tens of MeV
    # whose centre GFlash puts within a radiation length or two), β = ALPHA_MIN / c instead
    centre = alpha / beta
    beta_new = xp.where(limited, xp.maximum(beta_lim, ALPHA_MIN / centre), beta)
    a_new = centre * beta_new
    return xp.where(limited, (a_new - 1.0) / beta_new, t_max), xp.where(limited, a_new, alpha)


def tau_scale(t_max: Array, alpha: Array, mean_log_alpha: Array, xp: Any = None) -> Array:
    """Factor converting depth t (X0) to the radial-profile variable τ = t · factor.

    GFlash defines τ relative to the individual shower's centre of gravity scaled to the
    average shower: τ = t/T · (α-1)/α · ⟨α⟩/(⟨α⟩-1).
    """
    xp = xp or array_namespace(t_max)
    mean_a = xp.exp(mean_log_alpha)
    return (alpha - 1.0) / alpha * mean_a / (_clip(xp, mean_a - 1.0, min=1e-3) * t_max)


def radial_params(
    tau: Array, log_energy: Array, medium: MediumParams, xp: Any = None
) -> tuple[Array, Array, Array]:
    """Core radius R_C, tail radius R_T (Molière units) and core probability p at depth τ.

    ``log_energy`` is ln(E/GeV) of the shower, broadcast against ``tau``.
    """
    xp = xp or array_namespace(tau)
    z = medium.z_eff
    r_core = RC[0] + RC[1] * log_energy + (RC[2] + RC[3] * z) * tau
    k1 = RT[0] + RT[1] * z
    k4 = RT[4] + RT[5] * log_energy
    r_tail = k1 * (xp.exp(RT[3] * (tau - RT[2])) + xp.exp(k4 * (tau - RT[2])))
    p1 = WC[0] + WC[1] * z
    p2 = WC[2] + WC[3] * z
    p3 = WC[4] + WC[5] * log_energy
    arg = (p2 - tau) / p3
    p = p1 * xp.exp(arg - xp.exp(arg))
    if medium.fs is not None:
        one_m_e = 1.0 - medium.ehat
        r_core = r_core + RC_SAM[0] * one_m_e + RC_SAM[1] / medium.fs * xp.exp(-tau)
        r_tail = r_tail + RT_SAM[0] * one_m_e + RT_SAM[1] / medium.fs * xp.exp(-tau)
        p = p + one_m_e * (WC_SAM[0] + WC_SAM[1] / medium.fs * xp.exp(-((tau - 1.0) ** 2)))
    r_core = _clip(xp, r_core, min=1e-3)
    r_tail = _clip(xp, r_tail, min=1e-3)
    return r_core, r_tail, _clip(xp, p, min=0.0, max=1.0)


def n_spots(energy_gev: Array, medium: MediumParams, xp: Any = None) -> Array:
    """GFlash number of energy spots of a shower (float; round before use)."""
    xp = xp or array_namespace(energy_gev)
    e = _clip(xp, energy_gev, min=1e-6)
    if medium.fs is None:
        import math

        return SPOT_HOM[0] * math.log(medium.z_eff) * e ** SPOT_HOM[1]
    return SPOT_SAM[0] / SPOT_SAM[2] * e ** SPOT_SAM[1]


# ---- the first generations of the cascade (complete screening, E >> E_c) ------------------
# PDG review "Passage of particles through matter" (R. L. Workman et al., PTEP 2022 083C01),
# eqs. 34.29 and 34.31: per radiation length, an electron of energy E radiates photons of energy
# k = yE with dN/dy = (4/3 - 4/3 y + y^2)/y, and a photon converts into a pair with the
# electron taking x = E_e/E with dσ/dx ∝ 1 - (4/3) x (1 - x), total rate 7/9 per X0.


def brems_shape(y: Array) -> Array:
    """y dN/dy of bremsstrahlung per X0 (complete screening): 4/3 (1 - y) + y², for y = k/E.

    Plain arithmetic, so it works on floats, numpy and torch arrays and compiles with numba.
    """
    return 4.0 / 3.0 * (1.0 - y) + y * y


def pair_shape(x: Array) -> Array:
    """dσ/dx of pair production, normalised to 1 at x = 0 (complete screening): the electron
    takes the fraction x of the photon energy. Mean over x in [0, 1]: 7/9."""
    return 1.0 - 4.0 / 3.0 * x * (1.0 - x)


#: The LPM energy per cm of radiation length: E_LPM = m² c⁴ α X0 / (4π ħc) = 7.7 TeV/cm · X0
#: (PDG, "Passage of particles through matter", section on the LPM effect).
LPM_GEV_PER_CM = 7.7e3


def lpm_energy_gev(x0_cm: Array) -> Array:
    """E_LPM (GeV) of a medium of radiation length ``x0_cm``: 7.7 TeV per cm of X0 (4.3 TeV in
    lead, 6.9 TeV in PbWO4, 2.7 TeV in tungsten)."""
    return LPM_GEV_PER_CM * x0_cm


def radiator_lpm_energy_gev(materials: Any) -> float:
    """E_LPM (GeV) of a layer pattern's radiator: its material with the shortest radiation
    length in cm (lead in Pb/scintillator, tungsten in W/Si), where the bremsstrahlung of a
    sampling stack is emitted."""
    return float(lpm_energy_gev(min(m.x0_g_cm2 / m.density_g_cm3 for m in materials)))


def brems_suppression(y: Array, y_lpm: Array) -> Array:
    """The LPM suppression S of bremsstrahlung at y = k/E, with ``y_lpm`` = E/E_LPM:
    S = √(y/y_lpm) below y_lpm, 1 above (Migdal's strong-suppression limit, dσ/dk ∝ 1/√k for
    k ≪ k_LPM = E²/E_LPM; S. Klein, Rev. Mod. Phys. 71 (1999) 1501, eq. 13). An electron of
    200 GeV in PbWO4 radiates photons below 5.8 GeV less; below ~80 GeV the suppressed
    photons carry under 10⁻³ of the radiated energy. Plain arithmetic (numpy, torch,
    numba)."""
    r = y / (y_lpm + 1e-30)
    return (r < 1.0) * r**0.5 + (r >= 1.0) * 1.0


def _rate_part(y: Array) -> Array:
    """∫ y^(-1/2) brems_shape(y) dy (the suppressed part of the hard rate, times √y_lpm)."""
    return y**0.5 * (8.0 / 3.0 - 8.0 / 9.0 * y + 0.4 * y * y)


def _soft_part(y: Array) -> Array:
    """∫ y^(1/2) brems_shape(y) dy (the suppressed part of the soft fraction, times √y_lpm)."""
    return y**1.5 * (8.0 / 9.0 - 8.0 / 15.0 * y + 2.0 / 7.0 * y * y)


def brems_hard_rate(y_min: Array, xp: Any = None, y_lpm: Array = 0.0) -> Array:
    """Photons per X0 with y = k/E above ``y_min``: ∫ S(y) brems_shape(y)/y dy from y_min to 1
    (S: :func:`brems_suppression`, ``y_lpm`` = E/E_LPM; 0: none) — without suppression
    -4/3 ln m - 4/3 (1 - m) + (1 - m²)/2 at m = y_min; with it, that at m = min(max(y_lpm,
    y_min), 1) plus the suppressed part between y_min and m."""
    xp = xp or array_namespace(y_min)
    m = xp.where(y_lpm > y_min, y_lpm + 0.0 * y_min, y_min)
    m = xp.where(m < 1.0, m, 1.0 + 0.0 * m)
    full = -4.0 / 3.0 * xp.log(m) - 4.0 / 3.0 * (1.0 - m) + 0.5 * (1.0 - m * m)
    return full + (_rate_part(m) - _rate_part(y_min)) / (y_lpm + 1e-30) ** 0.5


def brems_soft_fraction(y_min: Array, y_lpm: Array = 0.0) -> Array:
    """Fraction of the electron energy radiated per X0 into photons with y < ``y_min``:
    ∫ S(y) brems_shape(y) dy from 0 to y_min (S: :func:`brems_suppression`) — without
    suppression 4/3 y_min - 2/3 y_min² + y_min³/3."""
    n = (y_lpm < y_min) * y_lpm + (y_lpm >= y_min) * y_min
    return (
        _soft_part(n) / (y_lpm + 1e-30) ** 0.5
        + y_min * (4.0 / 3.0 - 2.0 / 3.0 * y_min + y_min * y_min / 3.0)
        - n * (4.0 / 3.0 - 2.0 / 3.0 * n + n * n / 3.0)
    )


def radial_containment(r: Array, r_core: Array, r_tail: Array, p: Array, xp: Any = None) -> Array:
    """Fraction of the energy at one depth inside radius ``r`` (Molière units).

    The integral of the two-component profile: p r²/(r²+R_C²) + (1-p) r²/(r²+R_T²).
    """
    xp = xp or array_namespace(r)
    r2 = r * r
    return p * r2 / (r2 + r_core**2) + (1.0 - p) * r2 / (r2 + r_tail**2)


def radial_far_tail(radius: Array, mu: float) -> Array:
    """The radius (Molière units) beyond which a radial component of core/tail radius R
    (Molière units) falls off as the photon attenuation tail, for an attenuation coefficient
    ``mu`` (per Molière radius); numpy.

    A component's energy outside r is S_G(r) = R²/(r² + R²), i.e. its hazard rate
    h_G(r) = -d ln S_G/dr = 2r/(r² + R²) → 2/r: a power law. Far from the axis the energy is
    brought by photons of a few MeV, where the attenuation coefficient has its minimum μ.
    Photons leaving the shower axis (a line source) and attenuated as e^(-μ R)/R² per unit
    volume deposit, per unit radius, 2 Ki₁(μ r) (the Bickley function,
    :func:`calolab.physics.photon.bickley`), so that their energy outside r is ∝ Ki₂(μ r), a
    hazard h_ph(r) = μ Ki₁(μ r)/Ki₂(μ r), between μπ/2 on the axis and μ + 1/(2r) far from it
    (e^(-μ r)/√r): unlike GFlash's, it does not vanish at large r. Beyond R the profile falls
    with the larger of the two hazards: GFlash's where it was fitted, the photons' from the
    radius r_s where GFlash's becomes the smaller (the first r ≥ R with h_G(r) ≤ h_ph(r);
    r_s = R if that holds at R already). So S(r) = S_G(r) for r ≤ r_s and
    S(r) = S_G(r_s) Ki₂(μ r)/Ki₂(μ r_s) beyond (sampled in
    :mod:`calolab.simulation._kernels`). ``mu`` = 0 returns infinity (no cut-off).
    """
    from calolab.physics.photon import line_source_hazard

    r_c = np.asarray(radius, dtype=float)
    if mu <= 0.0:
        return np.full_like(r_c, np.inf)

    def excess(r: np.ndarray) -> np.ndarray:
        return 2.0 * r / (r * r + r_c * r_c) - mu * line_source_hazard(mu * r)

    # h_G - h_ph decreases from R on (h_G falls as 2/r, h_ph towards μ): bisection
    lo = r_c.copy()
    hi = r_c + 10.0 / mu
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        pos = excess(mid) > 0.0
        lo = np.where(pos, mid, lo)
        hi = np.where(pos, hi, mid)
    return np.where(excess(r_c) > 0.0, 0.5 * (lo + hi), r_c)


#: x* = μR* with x* Ki₁(x*)/Ki₂(x*) = 1 (see :func:`photon_limited_radius`): the root of
#: :func:`calolab.physics.photon.line_source_hazard`'s equation, solved once with
#: ``scipy.optimize.brentq`` on its table and kept as a number, so that no simulation start-up
#: pays scipy.optimize's import (0.16 s, in every worker); tests/physics/test_photon.py
#: solves it again and holds this value to 1e-12.
PHOTON_LIMITED_X = 0.8198105529525103


def photon_limited_radius(mu: float) -> float:
    """The largest radius (Molière units) a radial component may have, for an attenuation
    coefficient ``mu`` per Molière radius (:func:`radial_far_tail`): R* = x*/μ, x* ≈ 0.820.

    A component of radius R holds half its energy inside R, and its hazard there is
    h_G(R) = 1/R. The energy that far from the axis is carried by photons, whose
    line-source profile at the attenuation minimum falls with the hazard μ Ki₁(μR)/Ki₂(μR)
    at least. :func:`radial_far_tail` lets the photons take over beyond the first radius
    r ≥ R where GFlash's hazard becomes the smaller; where it is already the smaller at R
    (R > R*), GFlash's profile would spread half the energy over a disc wider than the
    photons reach. That happens where GFlash's R_T, fitted at τ ≲ 3, is extrapolated
    (it grows as e^{k₄τ}): deep in showers of low energy, whose τ = t/T grows fast
    (a 100 MeV e⁻ in aluminium leaked 34 % of its energy sideways out of a block 10 R_M
    wide, with R_T reaching 30 R_M). Capping R at R*, where the two hazards are equal at
    R, leaves every component with R < R* as it was. (At R* the hazards touch: just inside
    it GFlash's profile holds to r_s ≈ 1.18 R*, just outside r_s = R; a capped component
    takes the limit from inside, so that the profile is continuous in R.)
    ``mu`` ≤ 0: no cap (infinity). EM model hybrid-26.
    """
    if mu <= 0.0:
        return math.inf
    return PHOTON_LIMITED_X / mu


# ---- the albedo: energy thrown back out through the front face ---------------------------
# A shower throws part of its energy back through the face it entered: photons Compton-
# scattered backwards (at most m_e c²/2 each at 180°) and, more in high-Z media, electrons of
# up to about the critical energy turned round by multiple scattering. Model (calolab's,
# fitted to the escaping energy of the Geant4 reference set, docs/validation.md "hybrid-16"):
# of the energy a shower deposits at depth t (X0 from the front face) the share
# η exp(-t/λ) leaves, with η proportional to the electron backscattering coefficient of the
# medium (Everhart's, below), in quanta with dN/dε ∝ 1/ε² from m_e c² to E_c.
#: The albedo's fall-off with depth, X0 (the one length that makes η the same for 5-200
#: GeV e⁻ and γ in PbWO4, Pb/polystyrene and W/Si; 1 and 3 X0 spread it by 2.5-3x).
ALBEDO_LENGTH_X0 = 2.0
#: η per unit electron backscattering coefficient (η = 0.0166 in PbWO4, b = 0.54). Refitted
#: with EM model hybrid-27 (0.0263 since hybrid-16) to the same samples (PbWO4, Pb/polystyrene,
#: W/Si): hybrid-17 … hybrid-26 had removed other escapes the first fit had absorbed (the
#: far tail leaving the blocks' sides, hybrid-26), and the escaping energy had drifted to
#: 0.79-0.94x Geant4's (docs/validation.md, "hybrid-27").
ALBEDO_SHARE_PER_BACKSCATTER = 0.0308
#: The smallest albedo quantum (GeV): an annihilation photon, m_e c².
ALBEDO_QUANTUM_MIN_GEV = 0.51099895e-3


def electron_backscatter(z_eff: Array) -> Array:
    """Backscattering coefficient of electrons on a thick target of atomic number ``z_eff``
    (a float or an array of any library): T. E. Everhart, J. Appl. Phys. 31 (1960) 1483,
    b = (a - 1 + 0.5^a)/(a + 1), a = 0.045 Z (0.28 for Fe, 0.54 for PbWO4, 0.59 for Pb)."""
    a = 0.045 * z_eff
    return (a - 1.0 + 0.5**a) / (a + 1.0)


def albedo_share(medium: MediumParams) -> Array:
    """η: the share of the energy deposited at the front face that leaves through it, in a
    medium at the face (:data:`ALBEDO_SHARE_PER_BACKSCATTER` times
    :func:`electron_backscatter` of its Z)."""
    return ALBEDO_SHARE_PER_BACKSCATTER * electron_backscatter(medium.z_eff)


def albedo_quantum_range(medium: MediumParams) -> tuple[float, float]:
    """The smallest and largest albedo quantum (GeV) in a medium: a photon Compton-scattered
    straight back (m_e c²/2) and an electron at the critical energy E_c, above which
    electrons lose their energy radiating forwards rather than turn round."""
    return ALBEDO_QUANTUM_MIN_GEV, max(medium.critical_energy_gev, 2.0 * ALBEDO_QUANTUM_MIN_GEV)


def albedo_quantum_mean(energy: Array, lo: float, hi: float, xp: Any = None) -> Array:
    """Mean of min(ε, ``energy``) for ε distributed as dε/ε² from ``lo`` to ``hi`` (the same
    energy in every octave, most quanta near ``lo``): a quantum takes at most the energy of
    the deposit it leaves from. With c = 1/(1/lo - 1/hi): c (ln(e/lo) + 1 - e/hi) for e in
    [lo, hi], c ln(hi/lo) above, e below."""
    xp = xp or array_namespace(energy)
    c = 1.0 / (1.0 / lo - 1.0 / hi)
    e = _clip(xp, energy, min=lo, max=hi)
    return xp.where(energy <= lo, energy, c * (xp.log(e / lo) + 1.0 - e / hi))


def albedo_quantum(v: Array, lo: float, hi: float) -> Array:
    """The albedo quantum (GeV) at the uniform ``v``: the inverse of the dε/ε² distribution
    from ``lo`` to ``hi``, 1/ε = 1/lo - v (1/lo - 1/hi)."""
    return 1.0 / (1.0 / lo - v * (1.0 / lo - 1.0 / hi))


def albedo_escape(t: Array, medium: MediumParams, xp: Any = None) -> Array:
    """Mean share of the energy deposited at depth ``t`` (X0 from the front face) that leaves
    through the face: η exp(-t/λ) (:func:`albedo_share`, :data:`ALBEDO_LENGTH_X0`)."""
    xp = xp or array_namespace(t)
    return albedo_share(medium) * xp.exp(-_clip(xp, t, min=0.0) / ALBEDO_LENGTH_X0)
