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
* a hadronic part: (1 - f_em) E, of which a fraction f_inv is invisible (nuclear binding
  energy, target recoils; ⟨f_inv⟩ ≈ 0.35 of the non-EM energy for Fe and Pb, Wigmans,
  "Calorimetry", 2nd ed. (OUP 2017), ch. 2; fluctuating with σ = 0.085/√(E_h/GeV),
  which limits a compensating calorimeter to ≈ 13 %/√E, ibid. ch. 4). The rest is
  deposited as energy spots whose longitudinal distribution from the interaction point is a
  Gamma distribution in nuclear interaction lengths and whose radial spread grows with depth,
  with the parameters of the CMS fast simulation (S. Abdullin, CMSSW
  FastSimulation/ShowerDevelopment, HDShowerParametrization, after Grindhammer et al. as in
  CMSJET): with ℓ = ln[(0.35 + 0.09 ln E) E],
  α_h = 1.17 + 0.21 ℓ, β_h = (2.10 - 0.72 ℓ)/λ below 10 GeV and
  α_h = 0.38 + 0.23 ℓ, β_h = (0.83 - 0.049 ℓ)/λ above; radial scale
  R(t) = (0.0124 + 0.359 - 0.0511 ln E) t λ (t: depth from the interaction point in λ_I)
  with f(r) ∝ r R²/(r² + R²)² cut at 4R, times a per-shower factor 0.5 + U(0, 1): the CMS
  code draws 1 + U(0, 1) ("transParam"); centring it on 1 puts 95 % of the visible energy
  of 10-50 GeV pion showers within ≈ 1-1.3 λ_I, as the PDG calorimetry review states
  (hadronic showers: R95 ≈ λ_I).

Non-compensation follows: the EM part is seen with the e/mip ratio ê of the sampling
structure (GFlash), the hadronic part with ≈ (1 - ⟨f_inv⟩) × mip, so e/h = ê/(1 - ⟨f_inv⟩),
about 1.35 for Fe/scintillator (ATLAS Tile calorimeter, e/h = 1.33 ± 0.06, NIM A 606 (2009)
362) and about 1.5 for homogeneous crystals. Sampling fluctuations of the hadronic part
follow Wigmans' rule σ/E = 11.5 % √(ΔE_mip/MeV) / √(E/GeV) (ibid. ch. 4) through the
sampling quantum returned by :func:`hadronic_response`.

Interaction lengths: nucleons use the nuclear interaction length λ_I of the material; pions
and kaons the pion interaction length λ_π from the PDG tables where known, otherwise
λ_π = λ_I · 1.275 (A/27)^-0.058 (a fit to the PDG values of Al, Fe, Cu, W and Pb, within
1 %), combined for compounds with each element's share of the nuclear cross section
(∝ w_j A_j^-0.29). K0L uses λ_π (kaon-nucleus cross sections are ~10 % smaller; a known
approximation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

from calolab.geometry.detector import Section
from calolab.geometry.materials import ELEMENTS, Material
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
#: Fallback λ_π/λ_I = 1.275 (A/27)^-0.058.
#: Version of the hadronic shower model (bump it in :mod:`calolab.physics.versions`).
MODEL_VERSION = MODEL_VERSIONS["hadronic"]

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

# ---- invisible energy (Wigmans, Calorimetry, 2nd ed.) ------------------------------------
INVISIBLE_FRACTION = 0.35
INVISIBLE_STOCHASTIC = 0.085

# ---- CMS fast-simulation two-Gamma hadronic profile --------------------------------------
PROFILE_E1, PROFILE_E2 = 0.35, 0.09
PROFILE_LOW = (1.17, 0.21, 2.10, 0.72)  # α1, α2, β1, β2 for E < 10 GeV
PROFILE_HIGH = (0.38, 0.23, 0.83, 0.049)  # for E >= 10 GeV
PROFILE_E_SWITCH_GEV = 10.0
PROFILE_E_MIN_GEV, PROFILE_E_MAX_GEV = 2.0, 500.0
RADIAL_R = (0.0124, 0.359, 0.0511)
RADIAL_MAX_FACTOR = 4.0
#: Lower end of the per-shower radial scale factor (CMS: 1.0; see module docstring).
RADIAL_FLUCTUATION_LO = 0.5

# ---- hadronic sampling fluctuations (Wigmans' 11.5 % √(ΔE_mip) rule) -----------------------
HAD_SAMPLING_A = 0.115
#: The rule is stated for the visible signal S of the whole shower: σ²(S)/S² = a² ΔE_mip/E.
#: The hadronic deposits carry a fraction D = (1 - f_em)(1 - f_inv) of E and the signal is
#: R = ê f_em + D in MIP units, so their quantum is q = a² ΔE_mip R²/D, evaluated once with
#: typical values f_em = 0.35, f_inv = INVISIBLE_FRACTION and ê = 0.875 (Fe/scintillator).
_D_REF = (1.0 - 0.35) * (1.0 - INVISIBLE_FRACTION)
_R_REF = 0.35 * 0.875 + _D_REF
_HAD_QUANTUM_FACTOR = _R_REF**2 / _D_REF


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
    """⟨f_em⟩ = 1 - (E/E0)^(m-1) (Groom 2007), clipped to [0, 1)."""
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
    (non-EM) deposits, measured from the interaction point."""
    xp = xp or array_namespace(energy_gev)
    ell = profile_log_term(energy_gev, xp)
    low = energy_gev < PROFILE_E_SWITCH_GEV
    a1, a2, b1, b2 = PROFILE_LOW
    c1, c2, d1, d2 = PROFILE_HIGH
    alpha = xp.where(low, a1 + a2 * ell, c1 + c2 * ell)
    beta = xp.where(low, b1 - b2 * ell, d1 - d2 * ell)
    return xp.clip(alpha, min=0.3), xp.clip(beta, min=0.05)


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


@dataclass(frozen=True)
class HadronicResponse:
    """Visible share and sampling quantum of hadronic deposits, per layer of a section's
    pattern (the interface :class:`~calolab.simulation.stack.StackModel` expects).

    The visible share is the MIP sampling fraction (the charged secondaries of the
    hadronic part ionise like minimum-ionising particles; non-compensation comes from the
    invisible energy and from ê < 1 of the EM part). The quantum makes the relative
    variance of the visible hadronic energy q/E_dep follow Wigmans' rule
    σ/E = a √(ΔE_mip/MeV)/√(E/GeV), a = 11.5 %, for the whole shower; homogeneous sections
    have no sampling fluctuations.
    """

    sampling_a: float = HAD_SAMPLING_A

    def shares(self, section: Section) -> tuple[float, ...]:
        f = section.mip_sampling_fractions()
        return tuple(fi if layer.sensitive else 0.0 for fi, layer in zip(f, section.layers))

    def quanta(self, section: Section) -> tuple[float, ...]:
        if len({layer.material.name for layer in section.layers}) == 1:
            return tuple(0.0 for _ in section.layers)
        de_mip_mev = sum(layer.mip_loss_mev for layer in section.layers)
        q = self.sampling_a**2 * de_mip_mev * _HAD_QUANTUM_FACTOR
        return tuple(q if layer.sensitive else 0.0 for layer in section.layers)


def hadronic_response() -> HadronicResponse:
    """Response model of sampling layers to hadronic deposits (used by FastSimulator)."""
    return HadronicResponse()


def e_over_h(ehat: float) -> float:
    """e/h = ê / (1 - ⟨f_inv⟩) of a structure with e/mip ratio ê (see module docstring)."""
    return ehat / (1.0 - INVISIBLE_FRACTION)


def expected_pion_response(energy_gev: float, ehat: float, baryon: bool = False) -> float:
    """Mean π/e ratio of a fully contained shower: ⟨f_em⟩ + (1 - ⟨f_em⟩) h/e."""
    import numpy as np

    f = float(em_fraction_mean(np.asarray(float(energy_gev)), baryon))
    return f + (1.0 - f) / e_over_h(ehat)


__all__ = [
    "HadronicResponse",
    "PION_INTERACTION_LENGTH_G_CM2",
    "e_over_h",
    "em_fraction_mean",
    "expected_pion_response",
    "hadronic_profile",
    "hadronic_response",
    "interaction_length_cm",
    "invisible_sigma",
    "is_baryon",
    "pion_interaction_length_cm",
    "radial_scale",
]
