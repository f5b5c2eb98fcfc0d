"""Effective media and the response of sampling structures to electromagnetic showers.

Effective medium of one period of a section (GFlash, Grindhammer & Peters hep-ex/0001020,
section 3; PDG rules for mixtures): with mass fractions W_j = ρ_j d_j / Σ ρ_k d_k,

* Z_eff = Σ W_j Z_j,
* X0_eff = d_period / Σ (d_j / X0_j),
* 1/R_M = (1/E_s) Σ W_j E_c,j / X0_j (g/cm²), and E_c,eff = X0_eff Σ W_j E_c,j / X0_j,
* F_s = X0_eff / d_period,
* ê = 1 / (1 + 0.007 (Z_passive - Z_active)).

Visible energy of an EM shower in a sampling layer j: its MIP share f_j = m_j / Σ m_k
(m = dE/dx_min · ρ · d) times ê, the e/mip ratio above. Energy not visible stays in the
passive layers, so deposited energy is always conserved.

Sampling fluctuations: the visible fraction of each cell is drawn from a Beta distribution
whose relative variance is q / E_dep, with E_dep the energy deposited in that period and
cell (all materials), so that the summed visible energy has σ²/E² = q/E: a stochastic term
a = √q. The *sampling quantum* q (GeV) follows the classic picture in which the number of
independent samples is the deposited energy divided by the MIP energy lost in one period,
ΔE_period (Amaldi, Phys. Scripta 23 (1981) 409; Fabjan & Gianotti, RMP 75 (2003) 1243):

    q = ΔE_period · g0 · (1 + c_Z Z_passive) · (1 + (t0 / (ρ d)_active)²)

The factor (1 + c_Z Z) describes the larger share of soft, non-crossing electrons in high-Z
absorbers; the last factor the Landau fluctuations of thin active layers. g0, c_Z and t0 are
tuned once to Geant4 11.4 reference showers (Pb/polystyrene, W/Si and Fe/polystyrene stacks,
``shared/validation/geant4``) and tested against them and against the rule of thumb
a ≈ 2.7 % √(d/f_samp) (d in mm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from calolab.geometry.detector import Section
from calolab.physics.em import E_S_GEV, MediumParams

#: e/mip coefficient of GFlash: ê = 1/(1 + EHAT_COEFF (Z_passive - Z_active)).
EHAT_COEFF = 0.007


@dataclass(frozen=True)
class SamplingModel:
    """Parameters of the sampling-fluctuation model (see module docstring).

    Attributes
    ----------
    g0:
        Overall scale of the sampling quantum.
    c_z:
        Growth of the quantum with the passive material's Z.
    t0_g_cm2:
        Areal density (g/cm²) below which Landau fluctuations of the active layer matter.
    """

    g0: float = 0.95
    c_z: float = 0.0195
    t0_g_cm2: float = 0.095


DEFAULT_SAMPLING = SamplingModel()


def _mip_weighted_z(layers: list[tuple[float, float]]) -> float:
    """Mean Z weighted by MIP loss; ``layers`` are (mip_loss, z_eff) pairs."""
    total = sum(m for m, _ in layers)
    return sum(m * z for m, z in layers) / total if total > 0 else 0.0


def section_medium(section: Section) -> MediumParams:
    """Effective medium of one period of ``section`` for EM showers."""
    layers = section.layers
    masses = [layer.material.density_g_cm3 * layer.thickness_cm for layer in layers]
    m_tot = sum(masses)
    w = [m / m_tot for m in masses]
    mats = [layer.material for layer in layers]
    z_eff = sum(wi * m.z_eff for wi, m in zip(w, mats))
    rho_eff = m_tot / section.period_cm
    x0_cm = section.period_cm / section.period_x0
    ec_over_x0 = sum(wi * m.critical_energy_gev / m.x0_g_cm2 for wi, m in zip(w, mats))
    rm_cm = E_S_GEV / ec_over_x0 / rho_eff
    ec_gev = x0_cm * rho_eff * ec_over_x0
    if len({m.name for m in mats}) == 1:
        return MediumParams(z_eff, ec_gev, x0_cm, rm_cm)
    passive = [(lay.mip_loss_mev, lay.material.z_eff) for lay in layers if not lay.sensitive]
    active = [(lay.mip_loss_mev, lay.material.z_eff) for lay in layers if lay.sensitive]
    ehat = 1.0
    if passive and active:
        ehat = 1.0 / (1.0 + EHAT_COEFF * (_mip_weighted_z(passive) - _mip_weighted_z(active)))
    return MediumParams(z_eff, ec_gev, x0_cm, rm_cm, fs=x0_cm / section.period_cm, ehat=ehat)


def em_visible_shares(section: Section) -> tuple[float, ...]:
    """Mean visible fraction of EM energy deposited in one period, per layer of the pattern.

    Zero for insensitive layers. For a single-material section the share is the thickness
    fraction of each sensitive layer; otherwise f_mip,j · ê_j with
    ê_j = 1/(1 + 0.007 (Z_others - Z_j)) (GFlash), capped so that the shares sum to <= 1.
    """
    layers = section.layers
    if len({lay.material.name for lay in layers}) == 1:
        total = section.period_cm
        return tuple(lay.thickness_cm / total if lay.sensitive else 0.0 for lay in layers)
    fmip = section.mip_sampling_fractions()
    shares = []
    for j, lay in enumerate(layers):
        if not lay.sensitive:
            shares.append(0.0)
            continue
        others = [(o.mip_loss_mev, o.material.z_eff) for k, o in enumerate(layers) if k != j]
        ehat_j = 1.0 / (1.0 + EHAT_COEFF * (_mip_weighted_z(others) - lay.material.z_eff))
        shares.append(fmip[j] * ehat_j)
    s = sum(shares)
    if s > 1.0:
        shares = [x / s for x in shares]
    return tuple(shares)


def em_sampling_quanta(
    section: Section, model: SamplingModel = DEFAULT_SAMPLING
) -> tuple[float, ...]:
    """Sampling quantum q (GeV) per layer of the pattern; 0 where there is no sampling.

    The relative variance of the visible energy of a cell is q / E_dep (see module docstring).
    """
    layers = section.layers
    if len({lay.material.name for lay in layers}) == 1:
        return tuple(0.0 for _ in layers)
    period_mip_gev = sum(lay.mip_loss_mev for lay in layers) * 1e-3
    passive = [(lay.mip_loss_mev, lay.material.z_eff) for lay in layers if not lay.sensitive]
    z_passive = _mip_weighted_z(passive) if passive else 0.0
    out = []
    for lay in layers:
        if not lay.sensitive:
            out.append(0.0)
            continue
        areal = lay.material.density_g_cm3 * lay.thickness_cm
        landau = 1.0 + (model.t0_g_cm2 / areal) ** 2
        out.append(period_mip_gev * model.g0 * (1.0 + model.c_z * z_passive) * landau)
    return tuple(out)


def rule_of_thumb_stochastic_term(section: Section) -> float:
    """a ≈ 2.7 % √(d/f_samp) (d = active thickness in mm, f_samp the MIP sampling fraction).

    The classic estimate of the EM stochastic term of a sampling calorimeter (e.g. PDG review
    "Calorimetry", section on EM sampling calorimeters); returns a as a fraction (√GeV).
    """
    d_mm = sum(lay.thickness_cm for lay in section.layers if lay.sensitive) * 10.0
    return 0.027 * math.sqrt(d_mm / section.mip_sampling_fraction)
