"""Photon attenuation in matter: Compton scattering, pair production and the photoelectric
effect, and the minimum of the attenuation coefficient that sets the far lateral tail of EM
showers.

The far tail of an EM shower (several Molière radii from the axis) is carried by photons of
a few MeV, where the total cross section has its minimum (Compton scattering falling, pair
production rising): the energy deposited at a distance r from the axis falls as
exp(-μ_min r) (see :func:`calolab.physics.em.radial_far_tail`). This module computes
μ(E) and its minimum for any material from its elemental composition:

* **Compton scattering** on the atomic electrons, free and at rest (binding is negligible at
  MeV energies): the Klein–Nishina total cross section per electron (PDG review "Passage of
  particles through matter", R. L. Workman et al., PTEP 2022 083C01, section 34.4; O. Klein
  and Y. Nishina, Z. Phys. 52 (1929) 853) times Z electrons per atom;
* **pair production** in the field of the nucleus and of the electrons: the parametrisation
  of L. Urban used by Geant4 (``G4BetheHeitlerModel`` and, below 80 GeV,
  ``G4PairProductionRelModel``; Geant4 Physics Reference Manual, "Gamma conversion"), a fit
  to J. H. Hubbell, H. A. Gimm and I. Øverbø, J. Phys. Chem. Ref. Data 9 (1980) 1023, valid
  from 1.5 MeV to 100 GeV: σ(Z, E) = (Z + 1) (Z F1(X) + Z² F2(X) + F3(X)), X = ln(E/m_e c²),
  with F_i quintic polynomials; below 1.5 MeV scaled by ((E - 2m)/(1.5 MeV - 2m))². Above
  100 GeV, where Hubbell's tables end, the cross section is held at its value there (since EM
  model `hybrid-28`): it has reached the complete-screening plateau, 7/9 per X0 within a few
  per cent (PDG eq. 34.31; the fit gives a mean free path of 1.294 X0 in lead and 1.273 X0 in
  iron at 100 GeV, 9/7 = 1.286). Extrapolated, the polynomials left the plateau: the mean
  free path fell to 1.24 X0 at 200 GeV, 0.99 X0 at 1 TeV and 0.60 X0 at 10 TeV in lead, so
  that the photons of multi-TeV muons and of showers above 100 GeV converted too early. The
  LPM suppression of pair production is not modelled: in the strong-suppression form of the
  bremsstrahlung's (:func:`calolab.physics.em.brems_suppression`) it starts at 4 E_LPM,
  17 TeV in lead and 28 TeV in PbWO4, above the photons of the studies calolab serves.

* **the photoelectric effect** (since EM model `hybrid-10`): the photoabsorption cross
  sections of W. T. Elam, B. D. Ravel and J. R. Sieber, Radiat. Phys. Chem. 63 (2002) 121,
  through the `xraydb` library, up to their last node at 800 keV; above, extrapolated with a
  logarithmic slope that goes from the tables' last one (≈ −2.2 in lead) to the −1 of
  Sauter's high-energy limit: n(E) = 1 + (n₀ − 1) E₀/E (:func:`photoelectric_cm2_g`). It
  dominates below ≈ 500 keV in lead and tungsten — the energies of the photons scattered
  sideways and backwards out of a shower (:func:`directional_slope_table`) — and adds ≈ 6 %
  at the minimum in lead (NIST XCOM, M. J. Berger et al., NIST Standard Reference Database 8:
  μ/ρ = 0.0420 cm²/g at 3–4 MeV), nothing measurable in iron and lighter elements.

Rayleigh (coherent) scattering is left out: it deflects photons by small angles without
energy loss (4 % of μ in lead at 1 MeV, < 2 % above 2 MeV).
Energies in MeV here (the photon cross-section convention), attenuation in cm²/g and 1/cm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from calolab.geometry.materials import ELEMENTS, Material

#: Electron mass (MeV) and classical electron radius (cm), PDG 2024.
ELECTRON_MASS_MEV = 0.51099895
ELECTRON_RADIUS_CM = 2.8179403262e-13
AVOGADRO = 6.02214076e23
#: Coefficients (microbarn) of F1, F2, F3 of the pair-production fit (Geant4
#: ``G4BetheHeitlerModel::ComputeCrossSectionPerAtom``), lowest power of X first.
_PAIR_F = (
    (8.7842e2, -1.9625e3, 1.2949e3, -2.0028e2, 1.2575e1, -2.8333e-1),
    (-1.0342e1, 1.7692e1, -8.2381, 1.3063, -9.0815e-2, 2.3586e-3),
    (-4.5263e2, 1.1161e3, -8.6749e2, 2.1773e2, -2.0467e1, 6.5372e-1),
)
_PAIR_FIT_MIN_MEV = 1.5
#: Highest energy (MeV) of the tables the fit was made to; the cross section is held there
#: above it (EM model hybrid-28).
PAIR_FIT_MAX_MEV = 1.0e5
#: Energy grid (MeV) on which the minimum of μ is searched.
_E_GRID_MEV = np.exp(np.linspace(math.log(1.0), math.log(1000.0), 1200))


def klein_nishina_cm2(energy_mev: np.ndarray) -> np.ndarray:
    """Klein–Nishina total Compton cross section per electron (cm²) at photon energy E (MeV)."""
    k = np.asarray(energy_mev, dtype=float) / ELECTRON_MASS_MEV
    lg = np.log1p(2.0 * k)
    return (
        2.0
        * math.pi
        * ELECTRON_RADIUS_CM**2
        * (
            (1.0 + k) / k**2 * (2.0 * (1.0 + k) / (1.0 + 2.0 * k) - lg / k)
            + lg / (2.0 * k)
            - (1.0 + 3.0 * k) / (1.0 + 2.0 * k) ** 2
        )
    )


def pair_cross_section_cm2(energy_mev: np.ndarray, z: float) -> np.ndarray:
    """Pair-production cross section per atom (cm²; nucleus and electrons) of element Z at
    photon energy E (MeV); zero below the threshold 2 m_e c²."""
    e = np.asarray(energy_mev, dtype=float)
    x = np.log(np.clip(e, _PAIR_FIT_MIN_MEV, PAIR_FIT_MAX_MEV) / ELECTRON_MASS_MEV)
    f1, f2, f3 = (sum(c * x**i for i, c in enumerate(coef)) for coef in _PAIR_F)
    sigma = (z + 1.0) * (f1 * z + f2 * z * z + f3) * 1e-30
    thr = 2.0 * ELECTRON_MASS_MEV
    low = ((np.maximum(e, thr) - thr) / (_PAIR_FIT_MIN_MEV - thr)) ** 2
    return np.where(e < _PAIR_FIT_MIN_MEV, sigma * low, sigma) * (e > thr)


#: Last node (MeV) of the Elam photoabsorption tables.
ELAM_MAX_MEV = 0.8


#: Grid (MeV) on which the Elam photoabsorption of an element is tabulated and cached on disk
#: (log-log interpolation; 1 keV to 800 keV, 2,401 nodes: 0.3 % steps).
_PHOTO_GRID_MEV = np.geomspace(1e-3, ELAM_MAX_MEV, 2401)


@lru_cache(maxsize=128)
def _photo_table(z: int) -> np.ndarray:
    """ln τ/ρ (cm²/g) of element Z on :data:`_PHOTO_GRID_MEV`, from the Elam tables
    (``xraydb``, imported only to build the on-disk cache)."""
    from calolab.physics._cache import cached

    def build() -> tuple[dict[str, np.ndarray], dict[str, object]]:
        import warnings

        import xraydb

        with warnings.catch_warnings():  # "unreliable above 800 keV": never asked for there
            warnings.simplefilter("ignore")
            tau = np.asarray(xraydb.mu_elam(int(z), _PHOTO_GRID_MEV * 1e6, kind="photo"))
        return {"log_tau": np.log(np.maximum(tau, 1e-300))}, {"source": "xraydb mu_elam photo"}

    description = {"z": int(z), "grid": [1e-3, ELAM_MAX_MEV, len(_PHOTO_GRID_MEV)]}
    a, _ = cached("photon", f"elam-photo-{int(z)}", description, "elam-photo-1", build)
    return np.asarray(a["log_tau"])


def _elam_photo(z: int, energy_mev: np.ndarray) -> np.ndarray:
    lg = np.log(_PHOTO_GRID_MEV)
    return np.exp(np.interp(np.log(energy_mev), lg, _photo_table(z)))


@lru_cache(maxsize=128)
def _photo_anchor(z: int) -> tuple[float, float]:
    """τ/ρ (cm²/g) of element Z at :data:`ELAM_MAX_MEV` and the logarithmic slope
    −d ln τ/d ln E of the tables between 600 and 800 keV."""
    t600, t800 = _elam_photo(z, np.array([0.6, ELAM_MAX_MEV]))
    return float(t800), float(math.log(t600 / t800) / math.log(ELAM_MAX_MEV / 0.6))


def photoelectric_cm2_g(z: int, energy_mev: np.ndarray) -> np.ndarray:
    """Photoabsorption mass attenuation τ/ρ (cm²/g) of element Z at E (MeV): the Elam tables
    up to 800 keV (``xraydb``); above, τ(E) = τ(E₀) exp(−∫ n d ln E) with
    n(E) = 1 + (n₀ − 1) E₀/E (E₀ = 800 keV, n₀ the tables' last slope): Sauter's 1/E at high
    energy. Against NIST XCOM for lead: 1.81 × 10⁻² cm²/g at 1 MeV (XCOM 1.81 × 10⁻²),
    5.6 × 10⁻³ at 2 MeV (5.0 × 10⁻³), 2.6 × 10⁻³ at 3.5 MeV (2.1 × 10⁻³): ≤ 1.2 % of μ."""
    e = np.asarray(energy_mev, dtype=float)
    out = np.zeros_like(e)
    low = e <= ELAM_MAX_MEV
    if np.any(low):
        out[low] = _elam_photo(z, e[low])
    if not np.all(low):
        t0, n0 = _photo_anchor(int(z))
        r = ELAM_MAX_MEV / e[~low]
        out[~low] = t0 * np.exp(np.log(r) - (n0 - 1.0) * (1.0 - r))
    return out


def mass_attenuation_cm2_g(material: Material, energy_mev: np.ndarray) -> np.ndarray:
    """Mass attenuation coefficient μ/ρ (cm²/g) of ``material`` at E (MeV): Compton, pair
    production and the photoelectric effect, summed over its elements with their mass
    fractions."""
    e = np.asarray(energy_mev, dtype=float)
    kn = klein_nishina_cm2(e)
    out = np.zeros_like(e)
    # a material given without its composition: one element of its Z_eff and Z/A
    elements = [(float(ELEMENTS[s].z), ELEMENTS[s].a, w) for s, w in material.composition] or [
        (material.z_eff, material.z_eff / material.z_over_a, 1.0)
    ]
    for z, a, w in elements:
        atomic = w * AVOGADRO / a * (z * kn + pair_cross_section_cm2(e, z))
        out = out + atomic + w * photoelectric_cm2_g(max(1, round(z)), e)
    return out


def mixture_mass_attenuation(
    materials: Sequence[Material], mass_fractions: Sequence[float], energy_mev: np.ndarray
) -> np.ndarray:
    """μ/ρ (cm²/g) of a mixture of ``materials`` with the given mass fractions, at
    ``energy_mev``: the mass-weighted sum of :func:`mass_attenuation_cm2_g`."""
    e = np.asarray(energy_mev, dtype=float)
    mu = np.zeros_like(e)
    for wi, m in zip(mass_fractions, materials):
        mu = mu + wi * mass_attenuation_cm2_g(m, e)
    return mu


def minimum_mass_attenuation(
    materials: Sequence[Material], mass_fractions: Sequence[float] | None = None
) -> tuple[float, float]:
    """Minimum over the photon energy of μ/ρ (cm²/g) of a mixture of ``materials`` with the
    given mass fractions (one material: itself), and the energy (MeV) where it lies."""
    w = mass_fractions if mass_fractions is not None else [1.0] * len(materials)
    mu = mixture_mass_attenuation(materials, w, _E_GRID_MEV)
    i = int(np.argmin(mu))
    return float(mu[i]), float(_E_GRID_MEV[i])


#: Grid of x = μ r for the Bickley functions (uniform, to _KI_X_MAX).
_KI_X_MAX, _KI_X_STEP = 150.0, 0.01
_N_THETA = 400


@lru_cache(maxsize=1)
def _gauss_legendre() -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the Gauss–Legendre rule of :func:`bickley` (computed on first
    use: 0.3 s of CPU, which every import paid before)."""
    return np.polynomial.legendre.leggauss(_N_THETA)  # type: ignore[no-any-return]


def bickley(n: int, x: np.ndarray) -> np.ndarray:
    """Bickley function Ki_n(x) = ∫₀^{π/2} cos^(n-1)θ e^(-x/cos θ) dθ (Abramowitz & Stegun
    11.2; W. G. Bickley and J. Naylor, Phil. Mag. 20 (1935) 343), by Gauss–Legendre
    quadrature; x >= 0. Ki₁(x) = ∫_x^∞ K₀, Ki₂(x) = ∫_x^∞ Ki₁; Ki₁(0) = π/2, Ki₂(0) = 1.

    Ki₁(μ r) is the transverse profile (per unit radius, up to 2/μ) of the energy that photons
    from a line source, attenuated as e^(-μ R)/R², deposit at a distance r from it."""
    xa = np.asarray(x, dtype=float)
    nodes, weights = _gauss_legendre()
    th = 0.25 * math.pi * (nodes + 1.0)  # [0, π/2]
    c = np.cos(th)
    f = c ** (n - 1) * np.exp(-xa[..., None] / c)
    return 0.25 * math.pi * (f * weights).sum(axis=-1)


def _ki_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.arange(0.0, _KI_X_MAX + 1e-9, _KI_X_STEP)
    return x, bickley(1, x), bickley(2, x)


@lru_cache(maxsize=1)
def _ki() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, Ki₁(x), Ki₂(x) on the grid to _KI_X_MAX, built once and cached on disk
    (:mod:`calolab.physics._cache`: ~0.5 s of CPU per process otherwise)."""
    from calolab.physics._cache import cached

    def build() -> tuple[dict[str, np.ndarray], dict[str, object]]:
        x, k1, k2 = _ki_tables()
        return {"x": x, "ki1": k1, "ki2": k2}, {}

    description = {
        "x_max": _KI_X_MAX,
        "x_step": _KI_X_STEP,
        "nodes": _N_THETA,
        "numpy": np.__version__,
    }
    a, _ = cached("photon", "bickley", description, "bickley-1", build)
    return a["x"], a["ki1"], a["ki2"]


def line_source_hazard(x: np.ndarray) -> np.ndarray:
    """Ki₁(x)/Ki₂(x): the hazard rate -d ln Ki₂(μ r)/dr of the line-source photon profile
    divided by μ, at x = μ r (π/2 at 0, → 1 + 1/(2x) at large x)."""
    xa = np.asarray(x, dtype=float)
    xg, k1, k2 = _ki()
    inside = np.interp(np.minimum(xa, _KI_X_MAX), xg, k1 / k2)
    return np.where(xa <= _KI_X_MAX, inside, 1.0 + 0.5 / np.maximum(xa, 1e-9))


def neg_log_ki2_tables(step: float = 0.01) -> tuple[np.ndarray, np.ndarray, float]:
    """Tables for sampling the photon tail: Y(x) = -ln Ki₂(x) on the grid x = i·step (to
    150), and its inverse X on a uniform grid of Y from 0 with the same step, returned as
    ``(y_of_x, x_of_y, step)``."""
    xg, _, k2 = _ki()
    y = -np.log(k2)
    x = np.arange(0.0, _KI_X_MAX + 1e-9, step)
    y_of_x = np.interp(x, xg, y)
    yq = np.arange(0.0, y[-1], step)
    x_of_y = np.interp(yq, y, xg)
    return y_of_x, x_of_y, step


def directional_slope_table(
    mu_ratio: Callable[[np.ndarray], np.ndarray],
    k_min_mev: float,
    x_max: float = 40.0,
    x_step: float = 0.05,
    n_u: int = 257,
) -> np.ndarray:
    """Inverse-CDF table of the signed axial slope tan θ of a photon that deposits at the
    distance r from the shower axis (θ from the transverse plane, > 0 forwards), when the
    photon's attenuation depends on its direction.

    A photon travelling at angle ψ to the shower axis (sin θ = cos ψ) that was scattered out
    of the forward-going shower carries at most k(ψ) = m c²/(1 - cos ψ) (Compton kinematics
    off a parent of any energy): 511 keV sideways, 255 keV backwards, the energy k_min of
    the attenuation minimum only within ψ ≲ 35° in lead. The most penetrating photon in that
    direction is attenuated with μ(min(k(ψ), k_min)) ≥ μ_min. Emitted isotropically from
    the axis, such photons deposit at distance r and angle θ with density
    ∝ m(θ) exp(-x m(θ)/cos θ), x = μ_min r, m(θ) = μ/μ_min (``mu_ratio`` of the photon energy
    in MeV; the integrand of the Bickley function Ki₁(x), :func:`bickley`, where m = 1): the
    backward photons, soft, stay close to the axis, the far ones go forwards.

    Returns ``table`` of shape ``(n_x, 2 n_u + 2)`` on x = i·x_step: ``table[i, :n_u]`` is
    |tan θ| of the backward photons at cumulative probability j/(n_u - 1) of |θ| (the last
    node at 1 - 10⁻⁴), ``table[i, n_u:2 n_u]`` the same for the forward ones,
    ``table[i, 2 n_u]`` the probability that the photon goes backwards and
    ``table[i, 2 n_u + 1]`` the mean of tan θ (from the quantiles)."""
    xs = np.arange(0.0, x_max + 1e-9, x_step)
    th = np.linspace(0.0, 0.5 * math.pi * (1.0 - 1e-4), 4001)
    sec = 1.0 / np.cos(th)
    # the last node: the quantile at 1 - 1e-4, not the edge of the θ grid (tan → 10⁴), which
    # linear interpolation in the last bin would reach with probability 1/(n_u - 1)
    uq = np.linspace(0.0, 1.0, n_u)
    uq[-1] = 1.0 - 1e-4
    out = np.empty((len(xs), 2 * n_u + 2))
    sides = []
    for sign in (-1.0, 1.0):  # backward, forward
        k = ELECTRON_MASS_MEV / np.maximum(1.0 - sign * np.sin(th), 1e-12)
        sides.append(np.maximum(mu_ratio(np.minimum(k, k_min_mev)), 1.0))
    for i, x in enumerate(xs):
        mass = []
        for side, m in enumerate(sides):
            f = m * np.exp(-x * (m * sec - 1.0))
            c = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(th))])
            out[i, side * n_u : (side + 1) * n_u] = np.tan(np.interp(uq, c / c[-1], th))
            mass.append(c[-1])
        out[i, 2 * n_u] = mass[0] / (mass[0] + mass[1])
        # mean tan θ, from the quantiles (the resolution the spots are drawn with)
        qb = out[i, :n_u]
        qf = out[i, n_u : 2 * n_u]
        mb = np.mean(0.5 * (qb[1:] + qb[:-1]))
        mf = np.mean(0.5 * (qf[1:] + qf[:-1]))
        out[i, 2 * n_u + 1] = out[i, 2 * n_u] * -mb + (1.0 - out[i, 2 * n_u]) * mf
    return out


def compton_back_energy_mev(tan_theta: Any) -> Any:
    """Energy (MeV) of a photon Compton-scattered out of a high-energy shower into the axial
    slope ``tan_theta`` (θ from the transverse plane, < 0 backwards): m c²/(1 - cos ψ) with
    cos ψ = sin θ the cosine of its angle to the axis (the most a photon scattered into that
    direction carries off a parent of any energy; :func:`directional_slope_table`): m c² =
    511 keV sideways, m c²/2 = 255 keV straight back. Plain arithmetic: it works on floats
    and numpy arrays and compiles with numba (the spot kernels use it)."""
    return ELECTRON_MASS_MEV / (1.0 - tan_theta / (1.0 + tan_theta * tan_theta) ** 0.5)


def backward_photon_energy_table(table: np.ndarray) -> np.ndarray:
    """Mean energy (MeV) of the backward photons of each row x of a
    :func:`directional_slope_table`: :func:`compton_back_energy_mev` averaged over the
    backward side's quantiles (bin midpoints, as the table's mean slope), shape ``(n_x,)``.
    A spot's backward share divided by it is the expected number of back-scattered photons
    (:func:`calolab.simulation._kernels.em_spots_into`)."""
    n_u = (table.shape[1] - 2) // 2
    qb = table[:, :n_u]
    mid = 0.5 * (qb[:, 1:] + qb[:, :-1])
    return np.mean(compton_back_energy_mev(-mid), axis=1)


def interaction_length_x0(
    materials: Sequence[Material],
    mass_fractions: Sequence[float],
    x0_g_cm2: float,
    energy_mev: np.ndarray,
) -> np.ndarray:
    """Mean free path of a photon of energy E (MeV) before its first interaction (Compton
    scattering or pair production), in radiation lengths ``x0_g_cm2`` (g/cm²) of the mixture
    of ``materials`` with the given mass fractions: 1/(μ/ρ · X0).

    At high energy it tends to 9/7 X0 (PDG eq. 34.31; the pair fit to Hubbell et al. is
    within a few per cent of it at 10 GeV); near the minimum of μ (a few MeV in lead, ≈ 10 MeV
    in iron) it is 2.5–3.5 X0 in high-Z media: low-energy photons start their sub-showers
    deeper than high-energy ones."""
    return 1.0 / (mixture_mass_attenuation(materials, mass_fractions, energy_mev) * x0_g_cm2)
