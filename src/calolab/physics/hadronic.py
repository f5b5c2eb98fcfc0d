"""Parametrised hadronic showers: interaction lengths, EM fraction, profiles, response.

A hadron shower is split into

* an electromagnetic part (π0 → γγ, and η): a fraction f_em of the energy whose mean follows
  the power law of Groom (NIM A 572 (2007) 633; PDG review "Calorimetry", section on hadronic showers):
  ⟨f_em⟩ = 1 - (E/E0)^(m-1) with m = 0.83 and E0 = 1 GeV for mesons, 2.6 GeV for baryons
  (leading-baryon effect). Event by event f_em fluctuates as a Beta distribution. Over
  2-200 GeV this is, to a few per cent, the ⟨f_π0⟩ = a + b ln E form of the GFlash and CMS
  parametrisations. The π0 photons are emitted generation by generation, each generation
  turning one third of the remaining hadronic energy into π0s (Heitler-Matthews picture,
  J. Matthews, Astropart. Phys. 22 (2005) 387) one interaction length deeper on average, and
  are developed by the GFlash EM model (narrow core of the shower);
* a non-EM part: (1 - f_em) E, shared (Wigmans, "Calorimetry", 2nd ed. (OUP 2017), ch. 2-3;
  R. Wigmans, NIM A 259 (1987) 389) between the ionisation of relativistic charged hadrons
  (f_rel), non-relativistic spallation and evaporation protons (f_p), the kinetic energy of
  evaporation neutrons (f_n) and invisible energy (f_inv: nuclear binding energy and target
  recoils), see :func:`non_em_composition`. f_inv fluctuates event by event with
  σ = 0.085/√(E_h/GeV), which limits a compensating calorimeter to ≈ 13 %/√E (ibid. ch. 4).
  The deposited part is spread as energy spots whose longitudinal distribution from the
  interaction point is a Gamma distribution in nuclear interaction lengths and whose radial
  spread grows with depth, with the parameters of the CMS fast simulation (S. Abdullin,
  CMSSW FastSimulation/ShowerDevelopment, HDShowerParametrization, after Grindhammer et al.
  as in CMSJET): with ℓ = ln[(0.35 + 0.09 ln E) E], α_h = 0.38 + 0.23 ℓ and
  β_h = (0.83 - 0.049 ℓ)/λ at every energy (CMS switches to a second set, α_h = 1.17 + 0.21 ℓ,
  β_h = (2.10 - 0.72 ℓ)/λ, below 10 GeV; that set's showers lengthen fast towards 10 GeV
  (β_h → 0 near 30 GeV) and made a step at the switch, so the one continuous set is used
  throughout: at 2-5 GeV its mean depths are ≈ 20 % below the low-energy set's); radial scale
  R(t) = (0.0124 + 0.359 - 0.0511 ln E) t λ (t: depth from the interaction point in λ_I)
  with f(r) ∝ r R²/(r² + R²)² cut at 4R, times a per-shower factor 0.5 + U(0, 1): the CMS
  code draws 1 + U(0, 1) ("transParam"); centring it on 1 puts 95 % of the visible energy
  of 10-50 GeV pion showers within ≈ 1-1.3 λ_I, as the PDG calorimetry review states
  (hadronic showers: R95 ≈ λ_I).

Response (e/h) by absorber, active medium and geometry — Wigmans' decomposition::

    h/mip = f_rel · rel/mip + f_p · p/mip + f_n · n/mip + f_inv · 0,     e/h = (e/mip) / (h/mip)

* e/mip = ê is read from the EM response of the section (:mod:`calolab.physics.sampling`).
* rel/mip = 1: relativistic charged hadrons are minimum ionising.
* p/mip = ê^κ · Q_p: the spallation protons are short-range particles produced in the
  absorber, sampled like — and, being all short-ranged, more poorly than — the soft part of
  EM showers that makes ê < 1 with high-Z absorbers (κ = 2), and their signal in the active
  medium is saturated: Q_p is the Birks factor 1/(1 + kB dE/dx) (J.B. Birks, Proc. Phys. Soc.
  A 64 (1951) 874) averaged over their energy deposits, relative to a MIP's
  (:func:`proton_quench`).
* n/mip: MeV neutrons lose their kinetic energy to whatever the period holds, in proportion to
  each nucleus's energy-loss rate n σ ξ (elastic, ξ = 2A/(A+1)²; hydrogen ξ = 1/2) and n σ_inel ε
  (inelastic, ε = 1/2, the energy going into MeV γ-rays); the period is homogeneous for them
  (mean free paths of several cm). The share that goes to hydrogen appears as recoil
  protons, quenched by Birks (:func:`recoil_quench`); the γ share is seen like soft EM (ê);
  recoiling nuclei are not seen. So the hydrogen of an organic scintillator sees the
  neutrons with a sampling fraction far above its MIP sampling fraction (Pb: Σ_H/Σ_Pb ≫
  m_scint/m_Pb), LAr and silicon see only the γ share, and the neutron signal relative to
  a MIP grows with the absorber/active ratio — which is how a 4:1 Pb/scintillator stack
  compensates and a 1:1 one does not.

Four numbers of this picture are not fixed by the literature cited: κ, the mean energy of the
proton spectrum (:data:`PROTON_SPECTRUM_MEV`), the temperature of the evaporation neutrons
(:data:`NEUTRON_TEMPERATURE_MEV`) and iron's neutron share. They were set, within their
physical ranges, so that three designs come out at their published e/h — the ZEUS-type 4:1
lead/scintillator stack (≈ 1.0), the ATLAS Tile calorimeter (1.33) and the ATLAS copper/LAr
end-cap (1.5-1.6); every other design is a prediction (the table in docs/validation.md,
:mod:`calolab.simulation.hadron_references`).

Sampling fluctuations of the hadronic part follow Wigmans' rule σ/E = 11.5 % √(ΔE_mip/MeV) /
√(E/GeV) (ibid. ch. 4) through the sampling quantum of :class:`HadronicResponse`.

Interaction lengths: nucleons use the nuclear interaction length λ_I of the material; pions
and kaons the pion interaction length λ_π from the PDG tables where known, otherwise
λ_π = λ_I · 1.275 (A/27)^-0.058 (a fit to the PDG values of Al, Fe, Cu, W and Pb, within
1 %), combined for compounds with each element's share of the nuclear cross section
(∝ w_j A_j^-0.29). K0L uses λ_π (kaon-nucleus cross sections are ~10 % smaller; a known
approximation).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from calolab.geometry.detector import Section
from calolab.geometry.materials import ELEMENTS, Material
from calolab.physics.ionisation import bethe_loss
from calolab.physics.sampling import em_visible_shares
from calolab.physics.versions import MODEL_VERSIONS

Array = Any

#: Pion interaction lengths in g/cm² (PDG "Atomic and Nuclear Properties of Materials":
#: Al 50.64 cm, Fe 20.42 cm, Cu 18.51 cm, W 11.33 cm, Pb 19.93 cm, times the PDG densities).
PION_INTERACTION_LENGTH_G_CM2: dict[str, float] = {
    "Al": 50.64 * 2.699,
    "Fe": 20.42 * 7.874,
    "Cu": 18.51 * 8.960,
    "W": 11.33 * 19.30,
    "Pb": 19.93 * 11.35,
}
#: Version of the hadronic shower model (bump it in :mod:`calolab.physics.versions`).
MODEL_VERSION = MODEL_VERSIONS["hadronic"]

#: Fallback λ_π/λ_I = 1.275 (A/27)^-0.058.
_PION_RATIO = (1.275, 27.0, -0.058)

# ---- EM fraction (Groom 2007; PDG calorimetry review) ------------------------------------
EM_EXPONENT_M = 0.83
EM_E0_MESON_GEV = 1.0
EM_E0_BARYON_GEV = 2.6
#: Concentration κ of the Beta distribution of f_em (σ ≈ 0.12 at ⟨f_em⟩ ≈ 0.4).
EM_FRACTION_CONCENTRATION = 16.0
#: Fraction of the π0 energy produced per generation (one third of the hadronic energy).
PI0_SHARE_PER_GENERATION = 1.0 / 3.0
#: Mean transverse momentum of π0s with respect to the shower axis, GeV.
PI0_MEAN_PT_GEV = 0.35

# ---- composition of the non-EM energy (Wigmans, Calorimetry, 2nd ed., ch. 2) -------------
#: Atomic numbers at which the composition is tabulated: iron and lead. Between them it is
#: interpolated linearly in Z, outside it is held at the nearer end (lighter nuclei than
#: iron, e.g. the carbon of a scintillator, take iron's values; they hold a few per cent of
#: the nuclear interactions of a sampling calorimeter).
NON_EM_Z = (26.0, 82.0)
#: Shares of the non-EM energy, (Fe, Pb). Lead: Wigmans' table (ionisation by pions 19 %,
#: by protons 37 %, kinetic energy of evaporation neutrons 10 %, nuclear binding energy 32 %
#: plus target recoil 2 %). Iron (no table in the sources cited): fewer but hotter
#: evaporation neutrons (8 %, set with the tuned parameters, see the module docstring), more
#: protons, and a slightly smaller invisible share (30 %: ≈ 8.8 MeV of binding energy per
#: released nucleon against 7.9 MeV in lead, fewer nucleons released per GeV).
NON_EM_REL = (0.21, 0.19)
NON_EM_PROTON = (0.41, 0.37)
NON_EM_NEUTRON = (0.08, 0.10)
NON_EM_INVISIBLE = (0.30, 0.34)
#: σ of f_inv for a non-EM energy of 1 GeV (Wigmans: binding-energy fluctuations).
INVISIBLE_STOCHASTIC = 0.085

# ---- saturation of the active medium (Birks) ---------------------------------------------
#: Birks constant kB of polystyrene-based scintillator, g cm⁻² MeV⁻¹ (0.126 mm/MeV; Birks,
#: "The theory and practice of scintillation counting" (1964); the Geant4 default for
#: polystyrene). Hydrogenous (organic) active media without their own entry use it.
BIRKS_KB_ORGANIC = 0.0126
#: Recombination of liquid argon in Birks form, kB = k/E with k = 0.0486 (kV/cm) g cm⁻² MeV⁻¹
#: (ICARUS, S. Amoruso et al., NIM A 523 (2004) 275), at the field of the LHC LAr
#: calorimeters, E ≈ 10 kV/cm (1 kV/mm).
LAR_BIRKS_K = 0.0486
LAR_FIELD_KV_CM = 10.0
#: kB by material name, g cm⁻² MeV⁻¹; active media not listed and without hydrogen are not
#: saturated (silicon, crystals).
BIRKS_KB: dict[str, float] = {
    "polystyrene": BIRKS_KB_ORGANIC,
    "LAr": LAR_BIRKS_K / LAR_FIELD_KV_CM,
}
#: Mean kinetic energy T_p (MeV) of the spallation and evaporation protons, whose spectrum
#: falls about exponentially; with dN/dT0 ∝ exp(-T0/T_p), the energy they deposit at kinetic
#: energy T is ∝ exp(-T/T_p). Tuned (module docstring).
PROTON_SPECTRUM_MEV = 100.0
#: κ of p/mip = Q_p ê^κ: sampling of short-range protons relative to a MIP's. Tuned.
PROTON_EHAT_POWER = 2.0
#: Temperature θ (MeV) of the evaporation-neutron spectrum dN/dE ∝ E exp(-E/θ) (mean 2θ =
#: 3 MeV). Tuned.
NEUTRON_TEMPERATURE_MEV = 1.5

# ---- neutron energy loss at ≈ 2 MeV (evaporation neutrons) -------------------------------
#: n-p elastic cross section at ≈ 2 MeV, barn (ENDF/B: 4.3 b at 1 MeV, 2.9 b at 2 MeV).
NEUTRON_H_SIGMA_B = 2.9
#: Elastic cross section of a nucleus of mass number A, barn: σ_el = 2.5 (A/56)^(1/3) (iron
#: ≈ 2.5 b and carbon ≈ 1.6 b at 2 MeV); only light nuclei take much energy elastically.
NEUTRON_ELASTIC_FE_B = 2.5
#: Inelastic cross sections at 2 MeV, barn: zero for nuclei whose first excited level lies
#: above ≈ 2 MeV (C, N, O); for the others evaluated-data values rounded to 0.1 b (natural
#: lead is small because ²⁰⁸Pb, half of it, has its first level at 2.6 MeV). Elements not
#: listed: 1.0 b above A = 40, else 0.3 b.
NEUTRON_INELASTIC_B: dict[str, float] = {
    "H": 0.0,
    "C": 0.0,
    "N": 0.0,
    "O": 0.0,
    "Al": 0.4,
    "Si": 0.3,
    "Ar": 0.5,
    "Fe": 0.8,
    "Cu": 1.2,
    "Zn": 1.2,
    "W": 2.0,
    "Pb": 0.6,
}
#: Fraction of a neutron's energy lost in one inelastic scattering (into γ-rays).
NEUTRON_INELASTIC_LOSS = 0.5
_AVOGADRO = 6.02214076e23
_BARN_CM2 = 1e-24
_PROTON_MASS_GEV = 0.93827208816

# ---- CMS fast-simulation Gamma hadronic profile (one continuous set) ---------------------
PROFILE_E1, PROFILE_E2 = 0.35, 0.09
#: α1, α2, β1, β2 of α_h = α1 + α2 ℓ, β_h = β1 - β2 ℓ (CMS's set for E >= 10 GeV).
PROFILE = (0.38, 0.23, 0.83, 0.049)
PROFILE_E_MIN_GEV, PROFILE_E_MAX_GEV = 2.0, 500.0
RADIAL_R = (0.0124, 0.359, 0.0511)
RADIAL_MAX_FACTOR = 4.0
#: Lower end of the per-shower radial scale factor (CMS: 1.0; see module docstring).
RADIAL_FLUCTUATION_LO = 0.5

# ---- hadronic sampling fluctuations (Wigmans' 11.5 % √(ΔE_mip) rule) -----------------------
HAD_SAMPLING_A = 0.115
#: EM fraction at which the quantum is evaluated (see :class:`HadronicResponse`).
QUANTUM_EM_FRACTION = 0.35


def _element_lists(material: Material) -> list[tuple[float, float]]:
    return [(w, ELEMENTS[s].a) for s, w in material.composition]


def pion_interaction_length_cm(material: Material) -> float:
    """Interaction length of pions (and kaons) in ``material``, cm (see module docstring)."""
    tab = PION_INTERACTION_LENGTH_G_CM2.get(material.name)
    if tab is not None:
        return tab / material.density_g_cm3
    r0, a0, p = _PION_RATIO
    parts = _element_lists(material) or [(1.0, material.z_eff / material.z_over_a)]
    weights = [w * a ** (0.71 - 1.0) for w, a in parts]
    total = sum(weights)
    inv_ratio = sum(wt / (r0 * (a / a0) ** p) for wt, (_, a) in zip(weights, parts)) / total
    return material.lambda_i_cm / inv_ratio


def interaction_length_cm(material: Material, pdg: int) -> float:
    """Nuclear interaction length of hadron ``pdg`` in ``material``, cm."""
    if abs(pdg) in (2212, 2112):
        return material.lambda_i_cm
    return pion_interaction_length_cm(material)


def is_baryon(pdg: int) -> bool:
    return abs(pdg) in (2212, 2112)


def em_fraction_mean(energy_gev: Array, baryon: bool = False, xp: Any = None) -> Array:
    """⟨f_em⟩ = 1 - (E/E0)^(m-1) (Groom 2007), clipped to [0, 0.95]."""
    xp = xp or array_namespace(energy_gev)
    e0 = EM_E0_BARYON_GEV if baryon else EM_E0_MESON_GEV
    f = 1.0 - (xp.clip(energy_gev, min=1e-6) / e0) ** (EM_EXPONENT_M - 1.0)
    return xp.clip(f, min=0.0, max=0.95)


def profile_log_term(energy_gev: Array, xp: Any = None) -> Array:
    """ℓ = ln[(e1 + e2 ln E) E] of the CMS parametrisation (E clipped to [2, 500] GeV)."""
    xp = xp or array_namespace(energy_gev)
    e = xp.clip(energy_gev, min=PROFILE_E_MIN_GEV, max=PROFILE_E_MAX_GEV)
    return xp.log((PROFILE_E1 + PROFILE_E2 * xp.log(e)) * e)


def hadronic_profile(energy_gev: Array, xp: Any = None) -> tuple[Array, Array]:
    """Shape α_h and rate β_h (per λ_I) of the Gamma longitudinal profile of the hadronic
    (non-EM) deposits, measured from the interaction point; continuous in energy."""
    xp = xp or array_namespace(energy_gev)
    ell = profile_log_term(energy_gev, xp)
    a1, a2, b1, b2 = PROFILE
    return xp.clip(a1 + a2 * ell, min=0.3), xp.clip(b1 - b2 * ell, min=0.05)


def radial_scale(energy_gev: Array, depth_lambda: Array, xp: Any = None) -> Array:
    """Radial scale R (in λ_I) of the hadronic deposits at ``depth_lambda`` from the
    interaction point."""
    xp = xp or array_namespace(depth_lambda)
    r1, r2, r3 = RADIAL_R
    e = xp.clip(energy_gev, min=PROFILE_E_MIN_GEV, max=PROFILE_E_MAX_GEV)
    slope = xp.clip(r1 + r2 - r3 * xp.log(e), min=0.02)
    return slope * depth_lambda


def invisible_sigma(hadronic_energy_gev: Array, xp: Any = None) -> Array:
    """Standard deviation of the invisible fraction f_inv of a non-EM energy E_h."""
    xp = xp or array_namespace(hadronic_energy_gev)
    return INVISIBLE_STOCHASTIC / xp.sqrt(xp.clip(hadronic_energy_gev, min=1e-3))


# =============================================================================== response
def non_em_composition(z: Array, xp: Any = None) -> tuple[Array, Array, Array, Array]:
    """Shares (f_rel, f_p, f_n, f_inv) of the non-EM energy deposited by hadronic
    interactions with nuclei of atomic number ``z`` (see :data:`NON_EM_Z`); they sum to 1."""
    xp = xp or array_namespace(z)
    z0, z1 = NON_EM_Z
    w = xp.clip((z - z0) / (z1 - z0), min=0.0, max=1.0)
    return tuple(  # type: ignore[return-value]
        lo + (hi - lo) * w
        for lo, hi in (NON_EM_REL, NON_EM_PROTON, NON_EM_NEUTRON, NON_EM_INVISIBLE)
    )


def birks_factor(stopping_power: Array, kb: float, xp: Any = None) -> Array:
    """Birks' saturation dL/dE = 1/(1 + kB dE/dx) (dE/dx in MeV cm²/g, kB in g cm⁻² MeV⁻¹)."""
    return 1.0 / (1.0 + kb * stopping_power)


def birks_kb(material: Material) -> float:
    """Birks constant of ``material`` as an active medium, g cm⁻² MeV⁻¹ (see
    :data:`BIRKS_KB`): organic (hydrogenous) media default to polystyrene's."""
    kb = BIRKS_KB.get(material.name)
    if kb is not None:
        return kb
    return BIRKS_KB_ORGANIC if _hydrogen_fraction(material) > 0.0 else 0.0


def _hydrogen_fraction(material: Material) -> float:
    return sum(w for s, w in material.composition if s == "H")


def proton_stopping_power(t_mev: Array, material: Material, xp: Any = None) -> Array:
    """Electronic stopping power of protons, MeV cm²/g: Bethe (PDG) down to the kinetic energy
    where 2 m_e c² β²γ² = 10 I (≈ 4.6 keV per eV of I: 0.3 MeV in polystyrene, 0.9 MeV in
    argon), held constant below it (where Bethe fails; those deposits weigh little)."""
    xp = xp or array_namespace(t_mev)
    t_low = 4.6e-3 * material.mean_excitation_ev
    t = xp.clip(t_mev, min=t_low) * 1e-3
    return bethe_loss(t, _PROTON_MASS_GEV, material, xp=xp)


def _grid(xp: Any, t_max_mev: float, n: int = 800) -> Array:
    return xp.exp(xp.linspace(math.log(1e-3), math.log(t_max_mev), n))


def _trapz(xp: Any, y: Array, x: Array) -> Array:
    return xp.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1]))


def _relative_birks(material: Material, t_mev: Array, xp: Any) -> Array:
    """Birks factor of protons at kinetic energies ``t_mev`` relative to a MIP's."""
    kb = birks_kb(material)
    mip = birks_factor(material.dedx_min_mev_cm2_g, kb)
    return birks_factor(proton_stopping_power(t_mev, material, xp), kb, xp) / mip


@functools.lru_cache(maxsize=64)
def proton_quench(material: Material) -> float:
    """Q_p: mean Birks factor (relative to a MIP) of the energy deposited by spallation
    protons in ``material``, ∫ q(T) e^(-T/T_p) dT/T_p with T_p = :data:`PROTON_SPECTRUM_MEV`."""
    xp = np
    t = _grid(xp, 40.0 * PROTON_SPECTRUM_MEV)
    w = xp.exp(-t / PROTON_SPECTRUM_MEV) / PROTON_SPECTRUM_MEV
    q = xp.clip(_relative_birks(material, t, xp), max=1.0)
    return float(_trapz(xp, q * w, t) / _trapz(xp, w, t))


@functools.lru_cache(maxsize=64)
def recoil_quench(material: Material) -> float:
    """Q_n: light of the recoil protons of evaporation neutrons moderated by the hydrogen of
    ``material``, per unit of energy given to them, relative to a MIP.

    A neutron slowing down on hydrogen leaves its energy in recoils whose energies are uniform
    between 0 and its initial energy E; with the evaporation spectrum E e^(-E/θ) the energy
    they receive is distributed in recoil energy T as g(T) = (T + θ) e^(-T/θ)/(2θ²), and a
    recoil of energy T gives the light L(T) = ∫_0^T q(T') dT' (Birks), so Q_n = ∫ g L/T dT.
    """
    xp = np
    th = NEUTRON_TEMPERATURE_MEV
    t = _grid(xp, 40.0 * th, 1200)
    q = xp.clip(_relative_birks(material, t, xp), max=1.0)
    # L(T) by cumulative trapezoids from T ≈ 0 (q ≈ q(t[0]) below the grid)
    seg = 0.5 * (q[1:] + q[:-1]) * (t[1:] - t[:-1])
    light = xp.concatenate([t[:1] * q[:1], t[:1] * q[:1] + xp.cumsum(seg)])
    g = (t + th) * xp.exp(-t / th) / (2.0 * th * th)
    return float(_trapz(xp, g * light / t, t) / _trapz(xp, g, t))


def _neutron_loss_rates(material: Material) -> tuple[float, float, float]:
    """Energy-loss rates (per cm, dimensionless per unit neutron energy) of MeV neutrons in
    ``material``: to hydrogen, in inelastic scattering, and to recoiling heavier nuclei."""
    h = inel = el = 0.0
    parts = material.composition or (("?", 1.0),)
    for sym, w in parts:
        if sym in ELEMENTS:
            a = ELEMENTS[sym].a
        else:  # no elemental composition: one nucleus of the mean A
            a = material.z_eff / material.z_over_a
        n = material.density_g_cm3 * w / a * _AVOGADRO * _BARN_CM2  # per cm per barn
        if sym == "H":
            h += n * NEUTRON_H_SIGMA_B * 0.5
            continue
        sigma_el = NEUTRON_ELASTIC_FE_B * (a / 56.0) ** (1.0 / 3.0)
        sigma_in = NEUTRON_INELASTIC_B.get(sym, 1.0 if a > 40.0 else 0.3)
        el += n * sigma_el * 2.0 * a / (a + 1.0) ** 2
        inel += n * sigma_in * NEUTRON_INELASTIC_LOSS
    return h, inel, el


@dataclass(frozen=True)
class SectionResponse:
    """Response of one section (period) to the components of a hadron shower.

    All responses are per unit energy, relative to a MIP (the "/mip" of Wigmans' notation),
    for the section's sensitive layers together.

    Attributes
    ----------
    ehat:
        e/mip, the EM response (from :func:`calolab.physics.sampling.em_visible_shares`).
    f_rel, f_p, f_n, f_inv:
        Shares of the non-EM energy (:func:`non_em_composition`, weighted by where the
        nuclear interactions happen).
    p_over_mip, n_over_mip:
        Responses to spallation protons and to evaporation-neutron energy.
    neutron_to_hydrogen, neutron_to_gamma:
        Shares of the neutrons' kinetic energy given to hydrogen and to γ-rays.
    h_over_mip:
        f_rel + f_p p/mip + f_n n/mip.
    shares:
        Visible fraction of the deposited non-EM energy, per layer of the pattern (0 for
        insensitive layers); the hadronic deposits of the simulation use these.
    """

    ehat: float
    f_rel: float
    f_p: float
    f_n: float
    f_inv: float
    p_over_mip: float
    n_over_mip: float
    neutron_to_hydrogen: float
    neutron_to_gamma: float
    h_over_mip: float
    shares: tuple[float, ...]

    @property
    def e_over_h(self) -> float:
        """e/h = (e/mip)/(h/mip)."""
        return self.ehat / self.h_over_mip

    def pion_response(self, energy_gev: float, baryon: bool = False) -> float:
        """Mean π/e signal ratio of a fully contained shower: ⟨f_em⟩ + (1 - ⟨f_em⟩) h/e."""
        f = float(em_fraction_mean(np.asarray(float(energy_gev)), baryon, xp=np))
        return f + (1.0 - f) / self.e_over_h


def section_response(section: Section) -> SectionResponse:
    """Wigmans' decomposition of the hadronic response of ``section`` (module docstring)."""
    return _pattern_response(section.layers)


@functools.lru_cache(maxsize=256)
def _pattern_response(layers: tuple[Any, ...]) -> SectionResponse:
    section = Section("pattern", layers)
    fmip = section.mip_sampling_fractions()
    sens = [j for j, lay in enumerate(layers) if lay.sensitive]
    fmip_sens = sum(fmip[j] for j in sens)
    em = em_visible_shares(section)
    ehat = sum(em[j] for j in sens) / fmip_sens if fmip_sens > 0 else 1.0
    # composition of the non-EM energy, weighted by the nuclear interactions in each layer
    w = np.array([lay.lambda_i for lay in layers])
    z = np.array([lay.material.z_eff for lay in layers])
    comp = [float(np.sum(w * c) / np.sum(w)) for c in non_em_composition(z, xp=np)]
    f_rel, f_p, f_n, f_inv = comp
    # neutrons: energy-loss rates of the homogenised period
    rates = [_neutron_loss_rates(lay.material) for lay in layers]
    rate_h = [r[0] * lay.thickness_cm for r, lay in zip(rates, layers)]
    rate_in = sum(r[1] * lay.thickness_cm for r, lay in zip(rates, layers))
    rate_el = sum(r[2] * lay.thickness_cm for r, lay in zip(rates, layers))
    total = sum(rate_h) + rate_in + rate_el
    to_h = [rh / total for rh in rate_h]
    to_gamma = rate_in / total
    qp = [proton_quench(lay.material) if lay.sensitive else 0.0 for lay in layers]
    qn = [
        recoil_quench(lay.material) if lay.sensitive and to_h[j] > 0 else 0.0
        for j, lay in enumerate(layers)
    ]
    shares = []
    for j, lay in enumerate(layers):
        if not lay.sensitive:
            shares.append(0.0)
            continue
        vis = (
            fmip[j] * (f_rel + f_p * ehat**PROTON_EHAT_POWER * qp[j] + f_n * to_gamma * ehat)
            + f_n * to_h[j] * qn[j]
        )
        shares.append(vis / (1.0 - f_inv))
    s = sum(shares)
    if s > 1.0:
        shares = [x / s for x in shares]
    p_mip = (
        ehat**PROTON_EHAT_POWER * sum(fmip[j] * qp[j] for j in sens) / fmip_sens
        if fmip_sens > 0
        else 0.0
    )
    n_mip = to_gamma * ehat + (
        sum(to_h[j] * qn[j] for j in sens) / fmip_sens if fmip_sens > 0 else 0.0
    )
    h_mip = f_rel + f_p * p_mip + f_n * n_mip
    return SectionResponse(
        ehat=ehat,
        f_rel=f_rel,
        f_p=f_p,
        f_n=f_n,
        f_inv=f_inv,
        p_over_mip=p_mip,
        n_over_mip=n_mip,
        neutron_to_hydrogen=sum(to_h[j] for j in sens),
        neutron_to_gamma=to_gamma,
        h_over_mip=h_mip,
        shares=tuple(shares),
    )


def e_over_h(section: Section) -> float:
    """e/h of ``section`` (Wigmans' decomposition, see :func:`section_response`)."""
    return section_response(section).e_over_h


def expected_pion_response(energy_gev: float, section: Section, baryon: bool = False) -> float:
    """Mean π/e ratio of a fully contained shower in ``section``:
    ⟨f_em⟩ + (1 - ⟨f_em⟩) h/e."""
    return section_response(section).pion_response(energy_gev, baryon)


@dataclass(frozen=True)
class HadronicResponse:
    """Visible share and sampling quantum of hadronic deposits, per layer of a section's
    pattern (the interface :class:`~calolab.simulation.stack.StackModel` expects).

    The visible share is :attr:`SectionResponse.shares`. The quantum makes the relative
    variance of the visible hadronic energy q/E_dep follow Wigmans' rule
    σ/E = a √(ΔE_mip/MeV)/√(E/GeV), a = 11.5 %, for the whole shower: the hadronic deposits
    carry D = (1 - f_em)(1 - f_inv) of E and the signal is R = ê f_em + (1 - f_em) h/mip in
    MIP units, so q = a² ΔE_mip R² (1 - f_inv) / ((h/mip)² (1 - f_em)), evaluated at
    f_em = :data:`QUANTUM_EM_FRACTION`. Homogeneous sections have no sampling fluctuations.
    """

    sampling_a: float = HAD_SAMPLING_A

    def shares(self, section: Section) -> tuple[float, ...]:
        return section_response(section).shares

    def quanta(self, section: Section) -> tuple[float, ...]:
        if len({layer.material.name for layer in section.layers}) == 1:
            return tuple(0.0 for _ in section.layers)
        r = section_response(section)
        f = QUANTUM_EM_FRACTION
        big_r = r.ehat * f + (1.0 - f) * r.h_over_mip
        de_mip_mev = sum(layer.mip_loss_mev for layer in section.layers)
        q = (
            self.sampling_a**2
            * de_mip_mev
            * big_r**2
            * (1.0 - r.f_inv)
            / (r.h_over_mip**2 * (1.0 - f))
        )
        return tuple(q if layer.sensitive else 0.0 for layer in section.layers)


def hadronic_response() -> HadronicResponse:
    """Response model of sampling layers to hadronic deposits (used by FastSimulator)."""
    return HadronicResponse()


__all__ = [
    "HadronicResponse",
    "PION_INTERACTION_LENGTH_G_CM2",
    "SectionResponse",
    "birks_factor",
    "birks_kb",
    "e_over_h",
    "em_fraction_mean",
    "expected_pion_response",
    "hadronic_profile",
    "hadronic_response",
    "interaction_length_cm",
    "invisible_sigma",
    "is_baryon",
    "non_em_composition",
    "pion_interaction_length_cm",
    "proton_quench",
    "proton_stopping_power",
    "radial_scale",
    "recoil_quench",
    "section_response",
]
