"""Effective media and the response of sampling structures to electromagnetic showers.

Effective medium of one period of a section (GFlash, Grindhammer & Peters hep-ex/0001020,
section 3; PDG rules for mixtures): with mass fractions W_j = ρ_j d_j / Σ ρ_k d_k,

* Z_eff = Σ W_j Z_j,
* X0_eff = d_period / Σ (d_j / X0_j),
* 1/R_M = (1/E_s) Σ W_j E_c,j / X0_j (g/cm²), and E_c,eff = X0_eff Σ W_j E_c,j / X0_j,
* F_s = X0_eff / d_period,
* ê = 1 / (1 + 0.007 (Z_passive - Z_active)) (GFlash's e/mip, used for its shape corrections),
* μ_min: the minimum over the photon energy of Σ W_j (μ/ρ)_j times the mean density
  (:mod:`calolab.physics.photon`), the attenuation of the far lateral tail.

Visible energy of an EM shower in a sampling layer j: its MIP share f_j = m_j / Σ m_k
(m = dE/dx_min · ρ · d) times the e/mip ratio of that layer (:func:`e_over_mip`). Energy not
visible stays in the passive layers, so deposited energy is always conserved.

e/mip and plate thickness (the transition effect). An EM shower deposits a good part of its
energy through soft photons absorbed by the photoelectric effect, mostly in the high-Z
passive layers; the short-range electrons they release deposit their energy where they are
made, unseen by the active layers — hence e/mip < 1. GFlash's ê describes thick layers.
When layers are thin compared with the range of those electrons, part of their energy is
sampled after all (Wigmans, *Calorimetry*, 2nd ed. (2017), section 3.1; Fabjan & Gianotti,
Rev. Mod. Phys. 75 (2003) 1243): electrons made near the surface of a thin passive plate
escape into the active layer, and a thin active layer (a small "cavity") sees the electron
fluence of the passive "wall" (the Bragg–Gray limit). Burlin's general cavity theory
(T. E. Burlin, Br. J. Radiol. 39 (1966) 727; F. H. Attix, *Introduction to Radiological
Physics and Radiation Dosimetry* (1986), ch. 10) gives the fraction of the electron fluence
in a layer of mean chord L (g/cm²; 2 × its areal density for a slab) that crossed its
boundary, d = (1 - e^(-βL)) / (βL), with Loevinger's effective absorption coefficient of
electrons of maximum energy T, β = 16 / (T/MeV - 0.036)^1.4 cm²/g (R. Loevinger, Radiology
66 (1956) 55). The unseen part of the thick-layer deficit is the part that neither escapes
the passive plate nor reaches a thin enough active layer:

    e/mip = 1 - (1 - ê) (1 - d_active) (1 - d_passive).

T is the one parameter of the model: the energy scale of the electrons that carry the soft
part of the shower (photo- and Compton electrons of the MeV photons that dominate the late
shower, where the attenuation coefficient has its minimum). T = 2 MeV (1/β = 0.16 g/cm²)
reproduces the Geant4 sampling fractions of 4 mm Pb / 4 mm polystyrene and 15 mm Fe / 5 mm
polystyrene within 3 % and the W/Si stack of the CaloChallenge (1.4 mm W / 0.3 mm Si,
sampling fraction 0.033) within 2 %; docs/validation.md has the table.

Sampling fluctuations: the visible energy of each cell (EM deposits; hadronic deposits keep
a Beta visible fraction of the same relative variance) is a sum of independent *samples*
(the tracks and soft electrons that reach the active layer): their number is Poisson, each
sample's visible energy Gamma-distributed with shape k (:func:`sample_shape`), and the
sample size set so that the relative variance is q / E_dep, with E_dep the energy deposited
in that period and cell (all materials): the summed visible energy has σ²/E² = q/E, a
stochastic term a = √q. A cell whose deposit yields no sample sees exactly nothing, as in a
real detector (a bounded Beta visible fraction, used up to EM model hybrid-12, has to put
most of its probability just above 0 when the deposit is small: sub-keV "signals" in cells
that saw no particle). The sample's shape k = k_stop / (1 - d_active): where the soft
electrons stop in the active layer (thick scintillator, d_active ≈ 0.15–0.2) a sample is
anything from a few keV to a track's loss, k ≈ 0.6, many small samples and some large;
where they cross it (0.3 mm silicon, d_active ≈ 0.67) samples are track segments, k ≈ 1.5.
k_stop = 0.5 was chosen with the Geant4 reference showers of V3–V5 (the classifier AUC on
the longitudinal features and the fraction of empty deep layers); the resolution does not
depend on it. A share of the samples are MIP-like crossings (:func:`crossing_samples`,
since EM model hybrid-21). Each is a Gamma of a MIP's mean loss, peaked at Landau's most
probable loss, and they carry g·d_active of the visible energy (g = 0.3). The broad samples carry
the rest of the mean and of the variance. In 0.3 mm of silicon the crossings are the MIP
peak of the deep layers' signals; in thick scintillator they are a few per cent of the
energy. The *sampling quantum* q (GeV) follows the classic picture in which the number of
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
from calolab.geometry.materials import Material
from calolab.physics.em import E_S_GEV, MediumParams
from calolab.physics.ionisation import electron_landau_constants
from calolab.physics.photon import minimum_mass_attenuation

#: e/mip coefficient of GFlash: ê = 1/(1 + EHAT_COEFF (Z_passive - Z_active)).
EHAT_COEFF = 0.007
#: Maximum energy (MeV) of the soft electrons of the transition effect (see module docstring).
SOFT_ELECTRON_TMAX_MEV = 2.0
#: Share g of the electron fluence that crosses an active layer (Burlin's d_active) seen as
#: near-normal, MIP-like crossings (see :func:`crossing_samples`).
CROSSING_SHARE = 0.3


def loevinger_beta(t_max_mev: float = SOFT_ELECTRON_TMAX_MEV) -> float:
    """Effective mass absorption coefficient (cm²/g) of electrons of maximum energy
    ``t_max_mev``: β = 16 / (T - 0.036)^1.4 (Loevinger 1956)."""
    return 16.0 / (t_max_mev - 0.036) ** 1.4


def burlin_d(chord_g_cm2: float, beta_cm2_g: float | None = None) -> float:
    """Fraction of the soft-electron fluence in a layer of mean chord ``chord_g_cm2`` (g/cm²)
    that crossed the layer's boundary: d = (1 - e^(-βL)) / (βL) (Burlin 1966); 1 for a
    vanishing layer, → 1/(βL) for a thick one."""
    x = (beta_cm2_g if beta_cm2_g is not None else loevinger_beta()) * chord_g_cm2
    if x < 1e-9:
        return 1.0
    return -math.expm1(-x) / x


def e_over_mip(
    z_active: float,
    z_passive: float,
    areal_active_g_cm2: float,
    areal_passive_g_cm2: float,
    *,
    ehat_coeff: float | None = None,
) -> float:
    """e/mip of an active layer between passive ones (see module docstring).

    Parameters
    ----------
    z_active, z_passive:
        Effective atomic numbers (the passive one MIP-weighted over the other layers).
    areal_active_g_cm2, areal_passive_g_cm2:
        Areal densities ρ·d (g/cm²) of the active layer and of the passive plate; a slab's
        mean chord is twice its areal density.
    """
    c = EHAT_COEFF if ehat_coeff is None else ehat_coeff
    ehat = 1.0 / (1.0 + c * (z_passive - z_active))
    d_a = burlin_d(2.0 * areal_active_g_cm2)
    d_p = burlin_d(2.0 * areal_passive_g_cm2) if areal_passive_g_cm2 > 0 else 1.0
    return 1.0 - (1.0 - ehat) * (1.0 - d_a) * (1.0 - d_p)


@dataclass(frozen=True)
class SamplingModel:
    """Parameters of the sampling-fluctuation model (see module docstring).

    Attributes
    ----------
    g0:
        Overall scale of the sampling quantum.
    k_stop:
        Gamma shape of the visible energy of one sample in a thick active layer, where the
        soft electrons stop (see :func:`sample_shape`).
    c_z:
        Growth of the quantum with the passive material's Z.
    t0_g_cm2:
        Areal density (g/cm²) below which Landau fluctuations of the active layer matter.
    """

    g0: float = 0.95
    c_z: float = 0.0195
    t0_g_cm2: float = 0.095
    #: Gamma shape of the visible energy of one sample where the soft electrons stop in
    #: the active layer (:func:`sample_shape`)
    k_stop: float = 0.5


DEFAULT_SAMPLING = SamplingModel()


def _mip_weighted_z(layers: list[tuple[float, float]]) -> float:
    """Mean Z weighted by MIP loss; ``layers`` are (mip_loss, z_eff) pairs."""
    total = sum(m for m, _ in layers)
    return sum(m * z for m, z in layers) / total if total > 0 else 0.0


def section_mixture(section: Section) -> tuple[tuple[Material, ...], tuple[float, ...]]:
    """The materials of one period of ``section`` and their mass fractions."""
    masses = [layer.material.density_g_cm3 * layer.thickness_cm for layer in section.layers]
    m_tot = sum(masses)
    return tuple(layer.material for layer in section.layers), tuple(m / m_tot for m in masses)


def section_medium(section: Section) -> MediumParams:
    """Effective medium of one period of ``section`` for EM showers."""
    layers = section.layers
    m_tot = sum(layer.material.density_g_cm3 * layer.thickness_cm for layer in layers)
    mats, w = section_mixture(section)
    z_eff = sum(wi * m.z_eff for wi, m in zip(w, mats))
    rho_eff = m_tot / section.period_cm
    x0_cm = section.period_cm / section.period_x0
    ec_over_x0 = sum(wi * m.critical_energy_gev / m.x0_g_cm2 for wi, m in zip(w, mats))
    rm_cm = E_S_GEV / ec_over_x0 / rho_eff
    ec_gev = x0_cm * rho_eff * ec_over_x0
    mu_min = minimum_mass_attenuation(mats, w)[0] * rho_eff
    if len({m.name for m in mats}) == 1:
        return MediumParams(z_eff, ec_gev, x0_cm, rm_cm, photon_mu_min_cm=mu_min)
    passive = [(lay.mip_loss_mev, lay.material.z_eff) for lay in layers if not lay.sensitive]
    active = [(lay.mip_loss_mev, lay.material.z_eff) for lay in layers if lay.sensitive]
    ehat = 1.0
    if passive and active:
        ehat = 1.0 / (1.0 + EHAT_COEFF * (_mip_weighted_z(passive) - _mip_weighted_z(active)))
    return MediumParams(
        z_eff,
        ec_gev,
        x0_cm,
        rm_cm,
        fs=x0_cm / section.period_cm,
        ehat=ehat,
        photon_mu_min_cm=mu_min,
    )


def em_visible_shares(section: Section) -> tuple[float, ...]:
    """Mean visible fraction of EM energy deposited in one period, per layer of the pattern.

    Zero for insensitive layers. For a single-material section the share is the thickness
    fraction of each sensitive layer; otherwise f_mip,j · (e/mip)_j with :func:`e_over_mip`
    of layer j against the others (Z MIP-weighted, areal density their sum), capped so that
    the shares sum to <= 1.
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
        others = [o for k, o in enumerate(layers) if k != j]
        z_others = _mip_weighted_z([(o.mip_loss_mev, o.material.z_eff) for o in others])
        areal = lay.material.density_g_cm3 * lay.thickness_cm
        areal_others = sum(o.material.density_g_cm3 * o.thickness_cm for o in others)
        shares.append(fmip[j] * e_over_mip(lay.material.z_eff, z_others, areal, areal_others))
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


def sample_shape(section: Section, model: SamplingModel = DEFAULT_SAMPLING) -> tuple[float, ...]:
    """Gamma shape k of the visible energy of one sample, per layer of the pattern (0 where
    there is no sampling): k = k_stop / (1 - d_active), with d_active Burlin's fraction of the
    soft-electron fluence that crossed the active layer's boundary (:func:`burlin_d`).

    A sample's visible energy is broad where the soft electrons stop in the active layer
    (any energy up to theirs: k = k_stop < 1, many small samples and a few large ones) and
    narrower where they cross it (a thin layer: the track length through it, k grows as
    d_active → 1). See the module docstring.
    """
    if len({lay.material.name for lay in section.layers}) == 1:
        return tuple(0.0 for _ in section.layers)
    out = []
    for lay in section.layers:
        if not lay.sensitive:
            out.append(0.0)
            continue
        d_a = burlin_d(2.0 * lay.material.density_g_cm3 * lay.thickness_cm)
        out.append(model.k_stop / max(1.0 - d_a, 1e-3))
    return tuple(out)


def crossing_samples(section: Section) -> tuple[tuple[float, float, float], ...]:
    """The MIP-like samples of each layer of the pattern: (f_c, m, k_c), all 0 where the
    layer does not sample.

    Part of an active layer's signal comes from electrons that cross it near normal
    incidence. Each such crossing deposits about a MIP's loss with Landau fluctuations — the
    MIP peak of thin silicon layers (0.3 mm: most probable 84 keV). The rest of the samples
    (electrons that stop in the layer, grazing crossings, several particles) are broad
    (:func:`sample_shape`).

    * f_c = g · d_active is the fraction of the visible EM energy in crossings, with
      d_active Burlin's fraction of the electron fluence that crossed the layer's boundary
      (:func:`burlin_d`) and g = :data:`CROSSING_SHARE` = 0.3 the near-normal part of it.
      For a fluence crossing a plane isotropically (∝ cos θ), the crossings within 45° of
      the normal carry 1 - 1/√2 = 0.29 of the crossings' energy. The value was checked
      against the fraction of deep layers with no signal in the Geant4 W/Si stack (V4).
      Since EM model hybrid-22, sampling media also get the depth importance sampling.
      Before that, hybrid-21 needed g = 0.4: its tail spots, too few, left layers empty.
    * m is the mean loss of a minimum-ionising particle crossing the layer (GeV).
    * k_c is the shape of a Gamma distribution whose mode (k_c - 1)/k_c · m is Landau's
      most probable loss Δ_p (PDG eq. 34.12, electrons on the Fermi plateau). This gives
      k_c = 1/(1 - Δ_p/m): 3.6 for 0.3 mm of silicon, 4.6 for 4 mm of polystyrene.

    Thick scintillator (d_active ≈ 0.15–0.2) gets f_c ≈ 0.05–0.06, 0.3 mm silicon 0.20.
    """
    if len({lay.material.name for lay in section.layers}) == 1:
        return tuple((0.0, 0.0, 0.0) for _ in section.layers)
    out = []
    for lay in section.layers:
        if not lay.sensitive:
            out.append((0.0, 0.0, 0.0))
            continue
        areal = lay.material.density_g_cm3 * lay.thickness_cm
        _, xi_g, log_term, log_i = electron_landau_constants(lay.material)
        xi = xi_g * areal
        mpv_gev = xi * (log_term + math.log(xi) - log_i)
        mean_gev = lay.mip_loss_mev * 1e-3
        shape = 1.0 / (1.0 - min(max(mpv_gev / mean_gev, 0.0), 0.95))
        out.append((CROSSING_SHARE * burlin_d(2.0 * areal), mean_gev, shape))
    return tuple(out)


def rule_of_thumb_stochastic_term(section: Section) -> float:
    """a ≈ 2.7 % √(d/f_samp) (d = active thickness in mm, f_samp the MIP sampling fraction).

    The classic estimate of the EM stochastic term of a sampling calorimeter (e.g. PDG review
    "Calorimetry", section on EM sampling calorimeters); returns a as a fraction (√GeV).
    """
    d_mm = sum(lay.thickness_cm for lay in section.layers if lay.sensitive) * 10.0
    return 0.027 * math.sqrt(d_mm / section.mip_sampling_fraction)
