"""Muon energy loss: differential cross sections, a(E) + b(E)·E and sampling tables.

The mean energy loss of a muon is -dE/dx = a(E) + b(E)·E (Groom, Mokhov & Striganov,
"Muon stopping power and range tables 10 MeV-100 TeV", At. Data Nucl. Data Tables 78
(2001) 183, hereafter GMS; PDG review "Passage of particles through matter", sec. 34.6).
a(E) is the electronic loss (:mod:`calolab.physics.ionisation`); b(E)·E sums

* bremsstrahlung: Kelner, Kokoulin & Petrukhin (Phys. At. Nucl. 62 (1999) 1894) in the form
  of GMS sec. 4.1 (nuclear screening with B = 183, nuclear size Δ_n with
  D_n = 1.54 A^0.27, and the bremsstrahlung on atomic electrons with B' = 1429);
* e+e- pair production: Kokoulin & Petrukhin (Proc. 12th ICCR (1971) 2436) with the
  atomic-electron term ζ of Kelner, as summarised by GMS sec. 4.2 and implemented in
  Geant4's G4MuPairProductionModel (the asymmetry ρ is integrated numerically);
* photonuclear interaction: Bezrukov & Bugaev (Sov. J. Nucl. Phys. 33 (1981) 635) with
  the Caldwell et al. photo-absorption cross section σ_γN = 114.3 + 1.647 ln²(0.0213 ε/GeV)
  μb and nuclear shadowing G(x), GMS sec. 4.3;
* knock-on electrons above the cut (spin-1/2 Bhabha-like cross section, PDG eq. 34.9), whose
  part below the cut is in the restricted ionisation loss.

Cross sections are per atom (cm²) as functions of the muon *total* energy E (GeV) and the
fractional energy transfer v = ε/E; per-gram quantities sum the elements of a material with
their mass fractions, n_j = w_j N_A / A_j.

:class:`MuonTables` tabulates, once per material, everything the transport needs on a grid of
kinetic energies: the continuous loss below the cut (restricted ionisation plus the soft
radiative part, with its variance), the rate of each discrete process above the cut and the
inverse cumulative distribution of the energy transfer. Tables are cached on disk (see
:func:`muon_tables`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from calolab.geometry.materials import ELEMENTS, Material
from calolab.physics._cache import cache_dir, cached, key_of
from calolab.physics.ionisation import (
    ALPHA,
    ELECTRON_MASS_GEV,
    K_MEV_CM2_MOL,
    MUON_MASS_GEV,
    bethe_loss,
    kinematics,
    landau_log_term,
    muon_electron_brems,
    t_max_gev,
)

log = logging.getLogger(__name__)

#: Avogadro's number, 1/mol.
N_A = 6.02214076e23
#: Classical electron radius, cm.
R_E_CM = 2.8179403262e-13
_SQRT_E = math.sqrt(math.e)
_ME = ELECTRON_MASS_GEV
_MMU = MUON_MASS_GEV

#: Discrete processes, in the order used by the tables and the truth records.
PROCESSES = ("brems", "pair", "photonuclear", "knockon")
BREMS, PAIR, PHOTONUCLEAR, KNOCKON = 0, 1, 2, 3
#: Lowest energy transfer of the photonuclear cross section (pion production threshold
#: region; Bezrukov-Bugaev is not meant below), GeV.
PHOTONUCLEAR_MIN_GEV = 0.2
#: Version of the formulas and table layout; part of the cache key.
FORMULA_VERSION = "muon-tables-1"

# 16-point Gauss-Legendre rule on [0, 1] for the pair-production asymmetry integral.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
_GL_X = 0.5 * (_GL_X + 1.0)
_GL_W = 0.5 * _GL_W


def _elements(material: Material) -> list[tuple[float, float, float]]:
    """(Z, A, atoms per gram) of each element of ``material``."""
    out = []
    for sym, w in material.composition:
        el = ELEMENTS[sym]
        out.append((float(el.z), float(el.a), w * N_A / el.a))
    return out


# ----------------------------------------------------------------- cross sections (per atom)
def brems_dsigma_dv(e_gev: np.ndarray, v: np.ndarray, z: float, a: float) -> np.ndarray:
    """Bremsstrahlung dσ/dv per atom (cm²), GMS eqs. 21-24 (KKP with B = 183, B' = 1429)."""
    e = np.asarray(e_gev, dtype=float)
    v = np.asarray(v, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = _MMU * _MMU * v / (2.0 * e * (1.0 - v))
        b, b1 = (202.4, 446.0) if z == 1 else (183.0, 1429.0)
        dn = 1.49 if z == 1 else 1.54 * a**0.27
        z13 = z ** (-1.0 / 3.0)
        phi_n = np.log(b * _MMU * z13 / _ME / (1.0 + delta * _SQRT_E * b * z13 / _ME)) - np.log(
            dn / (1.0 + delta * (dn * _SQRT_E - 2.0) / _MMU)
        )
        phi_e = np.log(
            b1
            * _MMU
            * z13
            * z13
            / _ME
            / (
                (1.0 + delta * _MMU / (_ME * _ME * _SQRT_E))
                * (1.0 + _SQRT_E * b1 * z13 * z13 * delta / _ME)
            )
        )
        v_max_e = 1.0 / (1.0 + _MMU * _MMU / (2.0 * _ME * e))
        phi_e = np.where(v < v_max_e, np.clip(phi_e, 0.0, None), 0.0)
        phi_n = np.clip(phi_n, 0.0, None)
        coeff = 16.0 / 3.0 * ALPHA * (R_E_CM * _ME / _MMU) ** 2
        out = coeff * z * (z * phi_n + phi_e) * (1.0 - v + 0.75 * v * v) / v
    v_max = 1.0 - 0.75 * _SQRT_E * _MMU / e * z ** (1.0 / 3.0)
    return np.where((v > 0) & (v < v_max), out, 0.0)


def _pair_zeta(e: np.ndarray, z: float) -> np.ndarray:
    """Kelner's correction ζ for pair production on atomic electrons (Z + ζ)."""
    if z == 1:
        g1, g2 = 4.4e-5, 4.8e-5
    else:
        g1, g2 = 1.95e-5, 5.3e-5
    ge = e / _MMU
    num = 0.073 * np.log(ge / (1.0 + g1 * z ** (2.0 / 3.0) * ge)) - 0.26
    den = 0.058 * np.log(ge / (1.0 + g2 * z ** (1.0 / 3.0) * ge)) - 0.14
    with np.errstate(divide="ignore", invalid="ignore"):
        zeta = np.where(num > 0, num / den, 0.0)
    return np.clip(zeta, 0.0, None)


def pair_dsigma_dv(e_gev: np.ndarray, v: np.ndarray, z: float, a: float) -> np.ndarray:
    """e+e- pair production dσ/dv per atom (cm²), Kokoulin-Petrukhin (GMS sec. 4.2).

    σ(E, ε) = (4/3π) Z(Z+ζ) (α r_e)² (1-v)/ε ∫_0^ρmax [Φ_e + (m_e/m_μ)² Φ_μ] dρ, with
    ε = vE; the ρ integral uses the variable ln(1-ρ) and 16 Gauss-Legendre points.
    """
    e, v = np.broadcast_arrays(np.asarray(e_gev, float), np.asarray(v, float))
    eps = v * e
    z13 = z ** (1.0 / 3.0)
    ok = (eps > 4.0 * _ME) & (eps < e - 0.75 * _SQRT_E * _MMU * z13) & (v < 1.0)
    out = np.zeros(e.shape)
    if not ok.any():
        return out
    e, v, eps = e[ok], v[ok], eps[ok]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho_max = (1.0 - 6.0 * _MMU * _MMU / (e * e * (1.0 - v))) * np.sqrt(1.0 - 4.0 * _ME / eps)
    rho_max = np.clip(rho_max, 0.0, 1.0 - 1e-12)
    beta = v * v / (2.0 * (1.0 - v))
    b = 183.0
    bz = b / z13
    t_lo = np.log(1.0 - rho_max)  # < 0
    total = np.zeros_like(e)
    for xg, wg in zip(_GL_X, _GL_W):
        t = t_lo * (1.0 - xg)  # from ln(1-ρmax) to 0
        one_m_rho = np.exp(t)
        rho = 1.0 - one_m_rho
        r2 = rho * rho
        xi = (_MMU * v / (2.0 * _ME)) ** 2 * (1.0 - r2) / (1.0 - v)
        ye = (5.0 - r2 + 4.0 * beta * (1.0 + r2)) / (
            2.0 * (1.0 + 3.0 * beta) * np.log(3.0 + 1.0 / xi) - r2 - 2.0 * beta * (2.0 - r2)
        )
        ym = (4.0 + r2 + 3.0 * beta * (1.0 + r2)) / (
            (1.0 + r2) * (1.5 + 2.0 * beta) * np.log(3.0 + xi) + 1.0 - 1.5 * r2
        )
        common = 2.0 * _ME * _SQRT_E * bz / (e * v * (1.0 - r2))
        le = np.log(
            bz * np.sqrt((1.0 + xi) * (1.0 + ye)) / (1.0 + common * (1.0 + xi) * (1.0 + ye))
        ) - 0.5 * np.log(1.0 + (1.5 * _ME * z13 / _MMU) ** 2 * (1.0 + xi) * (1.0 + ye))
        lm = np.log(
            (_MMU / _ME)
            * bz
            * np.sqrt((1.0 + 1.0 / xi) * (1.0 + ym))
            / (1.0 + common * (1.0 + xi) * (1.0 + ym))
        ) - np.log(1.5 * z13 * np.sqrt((1.0 + 1.0 / xi) * (1.0 + ym)))
        phi_e = (
            ((2.0 + r2) * (1.0 + beta) + xi * (3.0 + r2)) * np.log(1.0 + 1.0 / xi)
            + (1.0 - r2 - beta) / (1.0 + xi)
            - (3.0 + r2)
        ) * le
        phi_m = (
            ((1.0 + r2) * (1.0 + 1.5 * beta) - (1.0 + 2.0 * beta) * (1.0 - r2) / xi)
            * np.log(1.0 + xi)
            + xi * (1.0 - r2 - beta) / (1.0 + xi)
            + (1.0 + 2.0 * beta) * (1.0 - r2)
        ) * lm
        integrand = np.clip(phi_e, 0.0, None) + (_ME / _MMU) ** 2 * np.clip(phi_m, 0.0, None)
        # dρ = (1-ρ) d(-t); the t range has length -t_lo
        total += wg * integrand * one_m_rho * (-t_lo)
    zeta = _pair_zeta(e, z)
    sigma_eps = (
        4.0 / (3.0 * math.pi) * z * (z + zeta) * (ALPHA * R_E_CM) ** 2 * (1.0 - v) / eps * total
    )
    out[ok] = sigma_eps * e  # dσ/dv = E dσ/dε
    return out


def photonuclear_dsigma_dv(e_gev: np.ndarray, v: np.ndarray, z: float, a: float) -> np.ndarray:
    """Photonuclear dσ/dv per nucleus (cm²), Bezrukov-Bugaev (GMS eq. 31)."""
    e, v = np.broadcast_arrays(np.asarray(e_gev, float), np.asarray(v, float))
    eps = v * e
    ok = (eps >= PHOTONUCLEAR_MIN_GEV) & (v < 1.0 - _MMU / np.maximum(e, _MMU))
    out = np.zeros(e.shape)
    if not ok.any():
        return out
    e, v, eps = e[ok], v[ok], eps[ok]
    sig_ub = 114.3 + 1.647 * np.log(0.0213 * eps) ** 2
    x = 0.00282 * a ** (1.0 / 3.0) * sig_ub
    if z == 1:
        g = np.ones_like(x)
    else:
        g = 3.0 / x**3 * (0.5 * x * x - 1.0 + np.exp(-x) * (1.0 + x))
    m1, m2 = 0.54, 1.80  # GeV²
    mm2 = _MMU * _MMU
    t = mm2 * v * v / (1.0 - v)
    kappa = 1.0 - 2.0 / v + 2.0 / (v * v)
    brace = (
        0.75 * g * (kappa * np.log(1.0 + m1 / t) - kappa * m1 / (m1 + t) - 2.0 * mm2 / t)
        + 0.25 * (kappa * np.log(1.0 + m2 / t) - 2.0 * mm2 / t)
        + mm2 / (2.0 * t) * (0.75 * g * m1 / (m1 + t) + 0.25 * m2 / t * np.log(1.0 + t / m2))
    )
    out[ok] = np.clip(ALPHA / (2.0 * math.pi) * a * sig_ub * 1e-30 * v * brace, 0.0, None)
    return out


def knockon_dn_deps(
    t_gev: np.ndarray, eps: np.ndarray, material: Material, mass_gev: float = _MMU
) -> np.ndarray:
    """Knock-on electrons: dN/dε per g/cm² per GeV (PDG eq. 34.9 with the spin-1/2 term),
    zero above T_max."""
    t, eps = np.broadcast_arrays(np.asarray(t_gev, float), np.asarray(eps, float))
    _, _, b2 = kinematics(t, mass_gev)
    tmax = t_max_gev(t, mass_gev)
    e = t + mass_gev
    k_gev = 0.5 * K_MEV_CM2_MOL * 1e-3 * material.z_over_a
    with np.errstate(divide="ignore", invalid="ignore"):
        val = k_gev / (b2 * eps * eps) * (1.0 - b2 * eps / tmax + 0.5 * eps * eps / (e * e))
    return np.where((eps > 0) & (eps <= tmax), np.clip(val, 0.0, None), 0.0)


_RADIATIVE = (brems_dsigma_dv, pair_dsigma_dv, photonuclear_dsigma_dv)


def dn_deps(process: int, t_gev: np.ndarray, eps: np.ndarray, material: Material) -> np.ndarray:
    """Number of interactions per g/cm² per GeV of transfer ε, for a muon of kinetic
    energy ``t_gev`` (arrays broadcast)."""
    t, eps = np.broadcast_arrays(np.asarray(t_gev, float), np.asarray(eps, float))
    if process == KNOCKON:
        return knockon_dn_deps(t, eps, material)
    e = t + _MMU
    v = eps / e
    f = _RADIATIVE[process]
    total = np.zeros(t.shape)
    for z, a, n in _elements(material):
        total += n * f(e, v, z, a)
    return total / e


def eps_range(process: int, t_gev: np.ndarray, material: Material) -> tuple[np.ndarray, np.ndarray]:
    """Kinematic range (ε_min, ε_max) of the energy transfer, GeV."""
    t = np.asarray(t_gev, float)
    e = t + _MMU
    zmax = max(z for z, _, _ in _elements(material))
    if process == BREMS:
        return np.full_like(t, 1e-9), t - 0.75 * _SQRT_E * _MMU * zmax ** (1.0 / 3.0) + _MMU
    if process == PAIR:
        return np.full_like(t, 4.0 * _ME), e - 0.75 * _SQRT_E * _MMU * zmax ** (1.0 / 3.0)
    if process == PHOTONUCLEAR:
        return np.full_like(t, PHOTONUCLEAR_MIN_GEV), t
    return np.full_like(t, 1e-9), t_max_gev(t, _MMU)


def _log_integral(
    process: int, t_gev: np.ndarray, lo: np.ndarray, hi: np.ndarray, material: Material, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """∫ dN, ∫ ε dN and ∫ ε² dN between ``lo`` and ``hi`` (trapezoid rule in ln ε)."""
    t = np.asarray(t_gev, float)[:, None]
    good = hi > lo
    lo_c = np.where(good, lo, 1.0)[:, None]
    hi_c = np.where(good, hi, 2.0)[:, None]
    u = np.linspace(0.0, 1.0, n)[None, :]
    eps = lo_c * (hi_c / lo_c) ** u
    w = dn_deps(process, t, eps, material) * eps  # dN/d ln ε
    dl = np.log(hi_c / lo_c)[:, 0] / (n - 1)
    moments = []
    for k in range(3):
        f = w * eps**k
        moments.append(np.where(good, dl * (f.sum(axis=1) - 0.5 * (f[:, 0] + f[:, -1])), 0.0))
    return moments[0], moments[1], moments[2]


def b_coefficients(
    e_total_gev: np.ndarray, material: Material, n: int = 600
) -> dict[str, np.ndarray]:
    """Energy-scaled radiative loss b(E) (g⁻¹ cm²) of each radiative process at total
    energies ``e_total_gev``: b_p = (1/E) ∫ ε dN_p/dε dε over the whole kinematic range."""
    e = np.atleast_1d(np.asarray(e_total_gev, float))
    t = e - _MMU
    out = {}
    for p, name in enumerate(PROCESSES[:3]):
        lo, hi = eps_range(p, t, material)
        lo = np.maximum(lo, 1e-7 * e)
        _, m1, _ = _log_integral(p, t, lo, hi, material, n)
        out[name] = m1 / e
    out["total"] = out["brems"] + out["pair"] + out["photonuclear"]
    return out


def electronic_loss(t_gev: np.ndarray, material: Material) -> np.ndarray:
    """a(E): unrestricted electronic loss of a muon, MeV cm²/g (Bethe with density effect,
    spin-1/2 term and bremsstrahlung on atomic electrons, as in GMS)."""
    t = np.asarray(t_gev, float)
    return bethe_loss(t, _MMU, material, spin_half=True) + muon_electron_brems(t, material)


def mean_energy_loss(t_gev: np.ndarray, material: Material) -> np.ndarray:
    """-dE/dx = a(E) + b(E)·E of a muon of kinetic energy ``t_gev``, MeV cm²/g."""
    t = np.atleast_1d(np.asarray(t_gev, float))
    b = b_coefficients(t + _MMU, material)["total"]
    return electronic_loss(t, material) + b * (t + _MMU) * 1e3


def critical_energy(material: Material) -> float:
    """Muon critical energy (GeV): the energy at which a(E) = b(E)·E (GMS, PDG sec. 34.6),
    found by bisection in ln E between 10 GeV and 10 TeV."""
    lo, hi = math.log(10.0), math.log(1e4)

    def diff(le: float) -> float:
        e = math.exp(le)
        a = float(electronic_loss(np.array([e - _MMU]), material)[0])
        b = float(b_coefficients(np.array([e]), material)["total"][0])
        return b * e * 1e3 - a

    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if diff(mid) > 0:
            hi = mid
        else:
            lo = mid
    return math.exp(0.5 * (lo + hi))


# ----------------------------------------------------------------------------- tables
#: Kinetic-energy grid of the tables: 1 MeV to 100 TeV, 16 points per decade.
T_MIN_GEV, T_MAX_GEV, T_PER_DECADE = 1e-3, 1e5, 16
#: Nodes of the inverse cumulative distributions (uniform in y = ln(ε/ε_lo)/ln(ε_hi/ε_lo)).
N_CDF = 97


@dataclass(frozen=True)
class MuonTables:
    """Per-material tables for muon transport (lengths in g/cm², energies in GeV).

    Attributes (all on the kinetic-energy grid ``ln_t``, shape (nT,) or (P, nT[, N_CDF])):

    ln_t:
        ln(T/GeV) grid.
    ion_mean:
        Restricted ionisation loss (transfers below the cut, plus the bremsstrahlung on
        atomic electrons), GeV cm²/g.
    soft_mean, soft_var:
        Mean (GeV cm²/g) and variance (GeV² cm²/g) of the radiative loss below the cut.
    rate:
        (P, nT) rate of each discrete process above the cut, per g/cm².
    eps_lo, eps_hi:
        (P, nT) range of the sampled transfer, GeV.
    cdf:
        (P, nT, N_CDF) cumulative distribution of y = ln(ε/ε_lo)/ln(ε_hi/ε_lo) at uniform y.
    landau_l:
        L(T) of the most probable loss Δ_p = ξ (L + ln(ξ/I)).
    xi_per_g:
        ξ per g/cm², GeV.
    """

    material: str
    cut_gev: float
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
    ln_i_gev: float

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            k: getattr(self, k)
            for k in (
                "ln_t",
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
        }

    def mean_loss(self, t_gev: np.ndarray) -> np.ndarray:
        """Total mean loss from the tables (continuous + discrete), GeV cm²/g."""
        lt = np.log(np.asarray(t_gev, float))
        cont = np.interp(lt, self.ln_t, self.ion_mean + self.soft_mean)
        disc = np.zeros_like(cont)
        for p in range(len(PROCESSES)):
            _, m1, _ = _table_moments(self, p, lt)
            disc = disc + m1
        return cont + disc


def _table_moments(tab: MuonTables, p: int, lt: np.ndarray) -> tuple[float, np.ndarray, None]:
    """Mean transfer per g/cm² of process p above the cut from the tabulated CDF."""
    y = np.linspace(0.0, 1.0, N_CDF)
    i = np.clip(np.searchsorted(tab.ln_t, lt) - 1, 0, len(tab.ln_t) - 2)
    f = (lt - tab.ln_t[i]) / (tab.ln_t[i + 1] - tab.ln_t[i])
    out = []
    for k, fk in ((i, 1 - f), (i + 1, f)):
        lo, hi = tab.eps_lo[p, k], tab.eps_hi[p, k]
        eps = lo[:, None] * (hi / lo)[:, None] ** y[None, :]
        pdf_w = np.diff(tab.cdf[p, k], axis=-1)
        mid = 0.5 * (eps[:, 1:] + eps[:, :-1])
        out.append(fk * tab.rate[p, k] * (pdf_w * mid).sum(axis=-1))
    return 0.0, out[0] + out[1], None


def build_muon_tables(material: Material, cut_gev: float) -> MuonTables:
    """Compute the tables of ``material`` (about a second per material)."""
    n_dec = math.log10(T_MAX_GEV / T_MIN_GEV)
    ln_t = np.linspace(math.log(T_MIN_GEV), math.log(T_MAX_GEV), int(n_dec * T_PER_DECADE) + 1)
    t = np.exp(ln_t)
    n_p = len(PROCESSES)
    nt = len(t)
    rate = np.zeros((n_p, nt))
    eps_lo = np.ones((n_p, nt))
    eps_hi = np.ones((n_p, nt)) * 2.0
    cdf = np.zeros((n_p, nt, N_CDF))
    cdf[:, :, :] = np.linspace(0.0, 1.0, N_CDF)
    soft_mean = np.zeros(nt)
    soft_var = np.zeros(nt)
    knock_above = np.zeros(nt)
    y = np.linspace(0.0, 1.0, N_CDF)
    n_fine = 8 * (N_CDF - 1) + 1
    for p in range(n_p):
        lo, hi = eps_range(p, t, material)
        lo = np.maximum(lo, 1e-7 * (t + _MMU))
        # soft part below the cut (radiative processes only: knock-ons below the cut are in
        # the restricted ionisation)
        if p != KNOCKON:
            s_hi = np.minimum(hi, cut_gev)
            _, m1, m2 = _log_integral(p, t, lo, s_hi, material, 400)
            soft_mean += m1
            soft_var += m2
        a_lo = np.maximum(lo, cut_gev)
        good = hi > a_lo * (1.0 + 1e-9)
        if not good.any():
            continue
        tt = t[good]
        e_lo, e_hi = a_lo[good], hi[good]
        u = np.linspace(0.0, 1.0, n_fine)[None, :]
        eps = e_lo[:, None] * (e_hi / e_lo)[:, None] ** u
        w = dn_deps(p, tt[:, None], eps, material) * eps  # dN/d ln ε
        dl = np.log(e_hi / e_lo)[:, None] / (n_fine - 1)
        cum = np.concatenate(
            [np.zeros((len(tt), 1)), np.cumsum(0.5 * (w[:, 1:] + w[:, :-1]) * dl, axis=1)], axis=1
        )
        total = cum[:, -1]
        pos = total > 0
        rate[p, good] = total
        eps_lo[p, good] = e_lo
        eps_hi[p, good] = e_hi
        norm = np.where(pos, total, 1.0)[:, None]
        c = cum[:, :: (n_fine - 1) // (N_CDF - 1)] / norm
        c[~pos] = y
        c[:, -1] = 1.0
        cdf[p, good] = np.maximum.accumulate(c, axis=1)
        if p == KNOCKON:
            mid_eps = 0.5 * (eps[:, 1:] + eps[:, :-1])
            knock_above[good] = (0.5 * (w[:, 1:] + w[:, :-1]) * dl * mid_eps).sum(axis=1)
    full_ion = (
        bethe_loss(t, _MMU, material, spin_half=True) * 1e-3
        + muon_electron_brems(t, material) * 1e-3
    )
    ion_mean = np.clip(full_ion - knock_above, 1e-9, None)
    _, _, b2 = kinematics(t, _MMU)
    xi_per_g = 0.5 * K_MEV_CM2_MOL * 1e-3 * material.z_over_a / b2
    return MuonTables(
        material=material.name,
        cut_gev=cut_gev,
        ln_t=ln_t,
        ion_mean=ion_mean,
        soft_mean=soft_mean,
        soft_var=soft_var,
        rate=rate,
        eps_lo=eps_lo,
        eps_hi=eps_hi,
        cdf=cdf,
        landau_l=landau_log_term(t, _MMU, material),
        xi_per_g=xi_per_g,
        ln_i_gev=math.log(material.mean_excitation_ev * 1e-9),
    )


# ------------------------------------------------------------------------ disk cache
def table_key(material: Material, cut_gev: float) -> dict[str, object]:
    """Everything the tables depend on: material data, cut, grids and formula version."""
    return {
        "material": material.to_dict(),
        "name": material.name,
        "cut_gev": cut_gev,
        "grid": [T_MIN_GEV, T_MAX_GEV, T_PER_DECADE, N_CDF],
    }


_MEMORY: dict[str, MuonTables] = {}


def muon_tables(material: Material, cut_gev: float, *, use_cache: bool = True) -> MuonTables:
    """Tables of ``material`` for a cut ``cut_gev``: from memory, from the disk cache
    (``cache_dir()/muon/<name>-<hash>.npz``, verified by a checksum and rebuilt if corrupt;
    see :mod:`calolab.physics._cache`) or computed and written there atomically."""
    desc = table_key(material, cut_gev)
    mem_key = key_of({**desc, "version": FORMULA_VERSION})
    if mem_key in _MEMORY:
        return _MEMORY[mem_key]

    def build() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        tab = build_muon_tables(material, cut_gev)
        return tab.arrays(), {"material": material.name, "ln_i_gev": tab.ln_i_gev}

    arrays, meta = cached("muon", material.name, desc, FORMULA_VERSION, build, use_cache)
    try:
        tables = MuonTables(
            material=material.name, cut_gev=cut_gev, ln_i_gev=float(meta["ln_i_gev"]), **arrays
        )
    except (TypeError, KeyError):  # a file of another layout under the same key
        arrays, meta = build()
        tables = MuonTables(
            material=material.name, cut_gev=cut_gev, ln_i_gev=float(meta["ln_i_gev"]), **arrays
        )
    _MEMORY[mem_key] = tables
    return tables


__all__ = [
    "FORMULA_VERSION",
    "MuonTables",
    "PROCESSES",
    "b_coefficients",
    "brems_dsigma_dv",
    "build_muon_tables",
    "cache_dir",
    "critical_energy",
    "dn_deps",
    "electronic_loss",
    "knockon_dn_deps",
    "mean_energy_loss",
    "muon_tables",
    "pair_dsigma_dv",
    "photonuclear_dsigma_dv",
    "table_key",
    "cache_dir",
]
