"""Ionisation energy loss of heavy charged particles (muons, pions, kaons, protons).

Formulas from the PDG review "Passage of particles through matter" (R.L. Workman et al.,
PTEP 2022 083C01, section 34.2), written once for any array library (numpy or torch,
detected through ``array_api_compat``):

* mean (Bethe) and restricted energy loss, eqs. 34.5 and 34.12, with the maximum energy
  transfer T_max of eq. 34.4 and, for spin-1/2 projectiles (muons), the term T²/(8E²);
* the density-effect correction δ(βγ) in Sternheimer's parametrisation (eq. 34.7) with the
  coefficients of Sternheimer, Berger & Seltzer, At. Data Nucl. Data Tables 30 (1984) 261
  (as tabulated by the PDG) for the built-in materials, and the general prescription of
  Sternheimer & Peierls, Phys. Rev. B 3 (1971) 3681 for any other material;
* the bremsstrahlung of a muon on atomic electrons, which Groom, Mokhov & Striganov
  (ADNDT 78 (2001) 183, eq. 18) add to the electronic loss a(E);
* the parameters of the Landau-Vavilov distribution of the energy lost in a layer
  (ξ and the most probable loss Δ_p, eq. 34.12 of the review).

Units: kinetic energies and masses in GeV; stopping powers in MeV cm²/g (the PDG unit);
ξ and Δ_p in MeV for an areal density in g/cm².
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from calolab.geometry.materials import Material

Array = Any

#: K = 4π N_A r_e² m_e c² in MeV cm²/mol (PDG).
K_MEV_CM2_MOL = 0.307075
#: Electron mass in GeV (PDG 2024).
ELECTRON_MASS_GEV = 0.51099895e-3
#: Muon mass in GeV (PDG 2024).
MUON_MASS_GEV = 0.1056583755
#: Fine-structure constant.
ALPHA = 1.0 / 137.035999084
#: Constant j of the most probable loss (PDG eq. 34.12).
LANDAU_J = 0.200
_LN10 = math.log(10.0)


@dataclass(frozen=True)
class SternheimerParams:
    """Coefficients of Sternheimer's density-effect parametrisation (PDG eq. 34.7).

    ``i_ev`` is the mean excitation energy they were derived with; a material whose I differs
    by more than 1 % does not use them (the general prescription is used instead).
    """

    cbar: float
    x0: float
    x1: float
    a: float
    k: float
    delta0: float
    i_ev: float


#: Sternheimer, Berger & Seltzer, ADNDT 30 (1984) 261, as tabulated on the PDG pages
#: "Atomic and Nuclear Properties of Materials"; keyed by calolab's material names.
STERNHEIMER: dict[str, SternheimerParams] = {
    "PbWO4": SternheimerParams(5.8528, 0.4068, 3.0023, 0.22758, 3.0000, 0.00, 600.7),
    "Pb": SternheimerParams(6.2018, 0.3776, 3.8073, 0.09359, 3.1608, 0.14, 823.0),
    "W": SternheimerParams(5.4059, 0.2167, 3.4960, 0.15509, 2.8447, 0.14, 727.0),
    "Fe": SternheimerParams(4.2911, -0.0012, 3.1531, 0.14680, 2.9632, 0.12, 286.0),
    "Cu": SternheimerParams(4.4190, -0.0254, 3.2792, 0.14339, 2.9044, 0.08, 322.0),
    "Zn": SternheimerParams(4.6906, 0.0049, 3.3668, 0.14653, 2.8590, 0.08, 330.0),
    "Al": SternheimerParams(4.2395, 0.1708, 3.0127, 0.08024, 3.6345, 0.12, 166.0),
    "Si": SternheimerParams(4.4351, 0.2014, 2.8715, 0.14921, 3.2546, 0.14, 173.0),
    "LAr": SternheimerParams(5.2146, 0.2000, 3.0000, 0.19559, 3.0000, 0.00, 188.0),
    "polystyrene": SternheimerParams(3.2999, 0.1647, 2.5031, 0.16454, 3.2224, 0.00, 68.7),
    "air": SternheimerParams(10.5961, 1.7418, 4.2759, 0.10914, 3.3994, 0.00, 85.7),
}


def plasma_energy_ev(material: Material) -> float:
    """Plasma energy ħω_p = 28.816 √(ρ ⟨Z/A⟩) eV (PDG table 34.1)."""
    return 28.816 * math.sqrt(material.density_g_cm3 * material.z_over_a)


def sternheimer_peierls(material: Material) -> SternheimerParams:
    """General density-effect coefficients (Sternheimer & Peierls 1971), m = k = 3.

    C̄ = 2 ln(I/ħω_p) + 1; for condensed media x1 = 2 (I < 100 eV) or 3, and x0 = 0.2 or
    0.326 C̄ - 1.0 (resp. - 1.5) above C̄ = 3.681 (resp. 5.215); for gases (ρ < 0.01 g/cm³)
    the table of the same paper. a follows from continuity at x1.
    """
    i_ev = material.mean_excitation_ev
    cbar = 2.0 * math.log(i_ev / plasma_energy_ev(material)) + 1.0
    if material.density_g_cm3 >= 0.01:
        if i_ev < 100.0:
            x1 = 2.0
            x0 = 0.2 if cbar < 3.681 else 0.326 * cbar - 1.0
        else:
            x1 = 3.0
            x0 = 0.2 if cbar < 5.215 else 0.326 * cbar - 1.5
    else:
        steps: tuple[tuple[float, float, float], ...] = (
            (10.0, 1.6, 4.0),
            (10.5, 1.7, 4.0),
            (11.0, 1.8, 4.0),
            (11.5, 1.9, 4.0),
            (12.25, 2.0, 4.0),
            (13.804, 2.0, 5.0),
        )
        x0, x1 = 0.326 * cbar - 2.5, 5.0
        for limit, s0, s1 in steps:
            if cbar < limit:
                x0, x1 = s0, s1
                break
    a = (cbar - 2.0 * _LN10 * x0) / (x1 - x0) ** 3
    return SternheimerParams(cbar, x0, x1, a, 3.0, 0.0, i_ev)


def sternheimer_params(material: Material) -> SternheimerParams:
    """Tabulated coefficients of ``material`` if known (same I within 1 %), else the
    Sternheimer-Peierls prescription."""
    p = STERNHEIMER.get(material.name)
    if p is not None and abs(p.i_ev / material.mean_excitation_ev - 1.0) < 0.01:
        return p
    return sternheimer_peierls(material)


def kinematics(t_gev: Array, mass_gev: float, xp: Any = None) -> tuple[Array, Array, Array]:
    """γ, βγ and β² of a particle of kinetic energy ``t_gev`` and mass ``mass_gev``."""
    xp = xp or array_namespace(t_gev)
    gamma = 1.0 + t_gev / mass_gev
    bg2 = gamma * gamma - 1.0
    return gamma, xp.sqrt(bg2), bg2 / (gamma * gamma)


def t_max_gev(t_gev: Array, mass_gev: float, xp: Any = None) -> Array:
    """Maximum kinetic energy transferable to a free electron (PDG eq. 34.4), GeV."""
    gamma, bg, _ = kinematics(t_gev, mass_gev, xp)
    r = ELECTRON_MASS_GEV / mass_gev
    return 2.0 * ELECTRON_MASS_GEV * bg * bg / (1.0 + 2.0 * gamma * r + r * r)


def density_effect(bg: Array, p: SternheimerParams, xp: Any = None) -> Array:
    """Density-effect correction δ(βγ) (PDG eq. 34.7)."""
    xp = xp or array_namespace(bg)
    x = xp.log10(xp.clip(bg, min=1e-12))
    high = 2.0 * _LN10 * x - p.cbar
    mid = high + p.a * xp.clip(p.x1 - x, min=0.0) ** p.k
    low = p.delta0 * 10.0 ** (2.0 * (x - p.x0))
    return xp.where(x >= p.x1, high, xp.where(x >= p.x0, mid, low))


def bethe_loss(
    t_gev: Array,
    mass_gev: float,
    material: Material,
    *,
    cut_gev: float | None = None,
    spin_half: bool = False,
    xp: Any = None,
) -> Array:
    """Mean ionisation loss, MeV cm²/g, of a singly charged particle (PDG eqs. 34.5, 34.12).

    With ``cut_gev`` the loss is restricted to energy transfers below the cut (knock-on
    electrons above it are counted as discrete losses). ``spin_half`` adds the T²/(8E²)
    term of spin-1/2 projectiles. Below βγ ≈ 0.05 (shell corrections, Barkas effect) the
    formula is not valid; the result is kept positive.
    """
    xp = xp or array_namespace(t_gev)
    gamma, bg, b2 = kinematics(t_gev, mass_gev, xp)
    tmax = t_max_gev(t_gev, mass_gev, xp)
    tup = tmax if cut_gev is None else xp.clip(tmax, max=cut_gev)
    i_gev = material.mean_excitation_ev * 1e-9
    delta = density_effect(bg, sternheimer_params(material), xp)
    arg = 2.0 * ELECTRON_MASS_GEV * bg * bg * tup / (i_gev * i_gev)
    bracket = 0.5 * xp.log(arg) - 0.5 * b2 * (1.0 + tup / tmax) - 0.5 * delta
    if spin_half:
        e_tot = t_gev + mass_gev
        bracket = bracket + tup * tup / (8.0 * e_tot * e_tot)
    loss = K_MEV_CM2_MOL * material.z_over_a / b2 * bracket
    return xp.clip(loss, min=1e-6)


def electron_collision_loss(t_gev: Array, material: Material, xp: Any = None) -> Array:
    """Mean collision (ionisation and excitation) loss of an electron, MeV cm²/g, including
    all knock-on electrons: the Rohrlich–Carlson formula of ICRU Report 37 (1984), eq. 2.1
    (Berger and Seltzer; the ESTAR tables), with the density effect of :func:`density_effect`:

        S/ρ = (K/2) (Z/A) / β² [ln(τ²(τ+2) / (2 (I/mc²)²)) + F⁻(τ) - δ],
        F⁻(τ) = 1 - β² + (τ²/8 - (2τ+1) ln 2) / (τ+1)²,   τ = T/mc².

    It rises above the minimum-ionising value by ≈ 40 % in lead at 1 GeV (density effect
    included): the electrons of a shower ionise more than a MIP.
    """
    xp = xp or array_namespace(t_gev)
    tau = t_gev / ELECTRON_MASS_GEV
    gamma, bg, b2 = kinematics(t_gev, ELECTRON_MASS_GEV, xp)
    i_rel = material.mean_excitation_ev * 1e-9 / ELECTRON_MASS_GEV
    delta = density_effect(bg, sternheimer_params(material), xp)
    f_minus = 1.0 - b2 + (tau * tau / 8.0 - (2.0 * tau + 1.0) * math.log(2.0)) / (tau + 1.0) ** 2
    bracket = xp.log(tau * tau * (tau + 2.0) / (2.0 * i_rel * i_rel)) + f_minus - delta
    return xp.clip(0.5 * K_MEV_CM2_MOL * material.z_over_a / b2 * bracket, min=1e-6)


def muon_electron_brems(t_gev: Array, material: Material, xp: Any = None) -> Array:
    """Muon bremsstrahlung on atomic electrons, MeV cm²/g (Groom, Mokhov & Striganov,
    ADNDT 78 (2001) 183, eq. 18); GMS count it in the electronic loss a(E)."""
    xp = xp or array_namespace(t_gev)
    e = t_gev + MUON_MASS_GEV
    q = t_max_gev(t_gev, MUON_MASS_GEV, xp)
    lq = xp.log(xp.clip(2.0 * q / ELECTRON_MASS_GEV, min=1.0))
    term = xp.log(2.0 * e / MUON_MASS_GEV) - lq / 3.0
    val = K_MEV_CM2_MOL / (4.0 * math.pi) * material.z_over_a * ALPHA * term * lq * lq
    return xp.clip(val, min=0.0)


def electron_landau_constants(material: Material, t_gev: float = 1.0) -> tuple[float, ...]:
    """Constants of the Landau distribution of an electron's collision loss in ``material``
    (kinetic energy ``t_gev``; the default, 1 GeV, stands for the followed electrons of a
    shower, on the Fermi plateau where the constants hardly depend on the energy):
    the mean collision loss S (GeV cm²/g, :func:`electron_collision_loss`), ξ per g/cm² (GeV,
    β = 1), PDG's L (:func:`landau_log_term`) and ln(I/GeV). A deposit of mean E (GeV) then
    has ξ = ξ_g E / S and Δ_p = ξ (L + ln ξ - ln I)."""
    import numpy as np

    t = np.array([t_gev])
    return (
        float(electron_collision_loss(t, material, xp=np)[0]) * 1e-3,
        0.5 * K_MEV_CM2_MOL * material.z_over_a * 1e-3,
        float(landau_log_term(t, ELECTRON_MASS_GEV, material, xp=np)[0]),
        math.log(material.mean_excitation_ev * 1e-9),
    )


def landau_xi_mev(t_gev: Array, mass_gev: float, material: Material, areal_g_cm2: Array) -> Array:
    """Width parameter ξ = (K/2) ⟨Z/A⟩ x / β² of the Landau distribution, MeV (x in g/cm²)."""
    _, _, b2 = kinematics(t_gev, mass_gev)
    return 0.5 * K_MEV_CM2_MOL * material.z_over_a * areal_g_cm2 / b2


def landau_log_term(t_gev: Array, mass_gev: float, material: Material, xp: Any = None) -> Array:
    """L such that the most probable loss is Δ_p = ξ (L + ln(ξ/I)) (PDG eq. 34.12):
    L = ln(2 m_e c² β²γ²/I) + j - β² - δ (dimensionless)."""
    xp = xp or array_namespace(t_gev)
    _, bg, b2 = kinematics(t_gev, mass_gev, xp)
    i_gev = material.mean_excitation_ev * 1e-9
    delta = density_effect(bg, sternheimer_params(material), xp)
    return xp.log(2.0 * ELECTRON_MASS_GEV * bg * bg / i_gev) + LANDAU_J - b2 - delta


def highland_theta0(
    p_gev: Array, beta: Array, path_x0: Array, charge: float = 1.0, xp: Any = None
) -> Array:
    """Width θ0 (rad) of the projected multiple-scattering angle after ``path_x0`` radiation
    lengths (Highland formula as revised by Lynch & Dahl, PDG eq. 34.16)."""
    xp = xp or array_namespace(p_gev)
    x = xp.clip(path_x0, min=1e-12)
    corr = 1.0 + 0.038 * xp.log(x * charge * charge / (beta * beta))
    return 0.0136 / (beta * p_gev) * abs(charge) * xp.sqrt(x) * xp.clip(corr, min=0.0)


#: Mode of scipy's standard Landau density (scipy.stats.landau); the classic variable λ of
#: the PDG review is λ = (π/2) x + 0.4516, whose mode is -0.2228.
LANDAU_MODE_X = -0.4293145


@dataclass(frozen=True)
class LandauTables:
    """Tables to sample the standard Landau distribution truncated at x_max (scipy units).

    ``x_max``, ``trunc_mean`` and ``cdf_max`` (shape (n,)): the truncation point, the mean
    of the truncated distribution and F(x_max); ``quantile`` (shape (m,)): x at
    s = -ln(1-u) on the uniform grid ``[0, s_step · (m-1)]``.
    """

    x_max: Any
    trunc_mean: Any
    cdf_max: Any
    quantile: Any
    s_step: float


def landau_tables(use_cache: bool = True) -> LandauTables:
    """:class:`LandauTables` from scipy's Landau distribution, cached on disk (importing
    scipy.stats takes seconds; the tables themselves milliseconds)."""
    from calolab.physics._cache import cached

    a, meta = cached("landau", "landau", {"grid": "v1"}, "landau-1", _build_landau, use_cache)
    return LandauTables(
        x_max=a["x_max"],
        trunc_mean=a["trunc_mean"],
        cdf_max=a["cdf_max"],
        quantile=a["quantile"],
        s_step=float(meta["s_step"]),
    )


def _build_landau():  # type: ignore[no-untyped-def]
    import numpy as np
    from scipy.stats import landau

    x = np.concatenate([np.linspace(-4.0, 30.0, 6801), np.logspace(np.log10(30.0), 10.0, 3000)[1:]])
    pdf = landau.pdf(x)
    cdf = landau.cdf(x)
    sf = landau.sf(x)
    first = x[0] * cdf[0]  # the part below x[0] is negligible (F(-4) ~ 1e-264)
    mom = np.concatenate(
        [[first], first + np.cumsum(0.5 * (x[1:] * pdf[1:] + x[:-1] * pdf[:-1]) * np.diff(x))]
    )
    keep = cdf > 1e-12
    trunc_mean = mom[keep] / cdf[keep]
    s = -np.log(np.clip(sf, 1e-300, None))
    s_step = 0.005
    s_grid = np.arange(0.0, 22.0 + 1e-9, s_step)
    quantile = np.interp(s_grid, s, x)
    arrays = {
        "x_max": x[keep],
        "trunc_mean": np.maximum.accumulate(trunc_mean),
        "cdf_max": cdf[keep],
        "quantile": quantile,
    }
    return arrays, {"s_step": s_step}


__all__ = [
    "ALPHA",
    "LANDAU_MODE_X",
    "electron_landau_constants",
    "LandauTables",
    "landau_tables",
    "ELECTRON_MASS_GEV",
    "K_MEV_CM2_MOL",
    "MUON_MASS_GEV",
    "STERNHEIMER",
    "SternheimerParams",
    "bethe_loss",
    "density_effect",
    "highland_theta0",
    "kinematics",
    "landau_log_term",
    "landau_xi_mev",
    "muon_electron_brems",
    "plasma_energy_ev",
    "sternheimer_params",
    "sternheimer_peierls",
    "t_max_gev",
]
