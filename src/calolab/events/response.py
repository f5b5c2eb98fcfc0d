"""A fast tower-level detector response in the style of a Delphes detector card.

Input: the stable final-state particles of generated events (:class:`Particles`). Output:
calorimeter towers and tracks (:class:`~calolab.events.objects.EventObjects`), the same
objects the Delphes importer reads, so generated and imported events give the same images.

What is modelled (the numbers of :func:`atlas_card` are those of Delphes' ATLAS card,
``cards/delphes_card_ATLAS.tcl`` of https://github.com/delphes/delphes, modules
ParticlePropagator, *TrackingEfficiency, *MomentumSmearing, ECal and HCal):

* propagation in a solenoid (B along z, radius R, half-length L): a charged particle reaches
  the calorimeter at transverse radius r = min(R, L·p_T/|p_z|), its φ turned by
  −q·asin(r / 2ρ) with the helix radius ρ = p_T / (0.3 |q| B) (m, GeV, T); η is unchanged.
  Particles with 2ρ < r curl up inside the field and deposit nothing (Delphes loopers);
* energy sharing between ECAL and HCAL by |PDG id| (e, γ, π0 → ECAL; K0S, Λ 30/70;
  μ, ν and LSP → none; other hadrons → HCAL), Delphes ``EnergyFraction``;
* towers: a grid of η (by |η|, mirrored) × φ segments; the energies of all particles in a
  tower are summed and smeared with a log-normal of width σ(E) = √((c·E)² + a²·E + b²) by
  |η| region; towers below ``energy_min_gev`` or below ``significance_min`` · σ are dropped;
  the tower position is drawn uniformly inside the tower (``SmearTowerCenter``); E_T =
  E / cosh η;
* tracks: charged particles inside the tracker acceptance, kept with an efficiency by
  species (hadron / electron / muon), |η| and p_T, p_T smeared log-normally with a relative
  resolution √(a² + (b·p_T)²) by |η| region (capped at 1, as Delphes does); the track is
  placed where it reaches the calorimeter (like Delphes' EtaOuter/PhiOuter).

Everything is vectorised over all particles of a batch of events; random numbers come from
an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError, DataError
from calolab.data.showers import Ragged
from calolab.events.objects import EventObjects, event_index, ragged_from_counts

#: Speed of light factor: ρ[m] = p_T[GeV] / (C_LIGHT · |q| · B[T]).
C_LIGHT = 0.299792458
PARTICLE_COLUMNS = ("pdg", "charge", "px", "py", "pz", "e")


@dataclass
class Particles:
    """Stable particles of ``N`` events: a ragged table with columns ``pdg`` (int), ``charge``
    (units of e), ``px``, ``py``, ``pz``, ``e`` (GeV)."""

    table: Ragged

    def __post_init__(self) -> None:
        missing = [c for c in PARTICLE_COLUMNS if c not in self.table.columns]
        if missing:
            raise DataError(f"particles lack the columns {missing}")

    def __len__(self) -> int:
        return len(self.table.offsets) - 1


@dataclass(frozen=True)
class TowerSegment:
    """Towers between consecutive ``abs_eta_edges`` (mirrored to negative η) with ``n_phi``
    equal φ bins."""

    abs_eta_edges: tuple[float, ...]
    n_phi: int

    def __post_init__(self) -> None:
        e = np.asarray(self.abs_eta_edges, dtype=float)
        if len(e) < 2 or (e < 0).any() or (np.diff(e) <= 0).any():
            raise ConfigError(
                f"tower segment edges {self.abs_eta_edges} must be >= 0 and increasing"
            )
        if self.n_phi < 1:
            raise ConfigError(f"tower segment n_phi {self.n_phi} must be >= 1")
        object.__setattr__(self, "abs_eta_edges", tuple(float(x) for x in e))

    @property
    def n_eta(self) -> int:
        return len(self.abs_eta_edges) - 1

    @property
    def n_towers(self) -> int:
        return 2 * self.n_eta * self.n_phi


@dataclass(frozen=True)
class ResolutionRegion:
    """σ(E)/GeV = √((constant·E)² + stochastic²·E/GeV + noise²) for |η| ≤ ``eta_max``."""

    eta_max: float
    stochastic: float
    constant: float
    noise: float = 0.0


@dataclass(frozen=True)
class CalorimeterCard:
    """One calorimeter (ECAL or HCAL): tower grid, resolution and thresholds."""

    name: str
    segments: tuple[TowerSegment, ...]
    resolution: tuple[ResolutionRegion, ...]
    energy_min_gev: float
    significance_min: float
    smear_tower_center: bool = True

    def __post_init__(self) -> None:
        segs = sorted(self.segments, key=lambda s: s.abs_eta_edges[0])
        for a, b in zip(segs, segs[1:]):
            if b.abs_eta_edges[0] < a.abs_eta_edges[-1] - 1e-12:
                raise ConfigError(f"calorimeter '{self.name}': tower segments overlap in |η|")
        object.__setattr__(self, "segments", tuple(segs))
        if not self.resolution:
            raise ConfigError(f"calorimeter '{self.name}': give at least one resolution region")
        res = tuple(sorted(self.resolution, key=lambda r: r.eta_max))
        object.__setattr__(self, "resolution", res)
        if self.energy_min_gev < 0 or self.significance_min < 0:
            raise ConfigError(f"calorimeter '{self.name}': thresholds must be >= 0")

    @property
    def n_towers(self) -> int:
        return sum(s.n_towers for s in self.segments)

    def sigma(self, energy: np.ndarray, abs_eta: np.ndarray) -> np.ndarray:
        """Energy resolution σ (GeV) at ``energy`` (GeV) and ``|η|``; inf outside coverage."""
        etamax = np.array([r.eta_max for r in self.resolution])
        k = np.searchsorted(etamax, abs_eta, side="left")
        inside = k < len(etamax)
        k = np.minimum(k, len(etamax) - 1)
        a = np.array([r.stochastic for r in self.resolution])[k]
        c = np.array([r.constant for r in self.resolution])[k]
        b = np.array([r.noise for r in self.resolution])[k]
        e = np.maximum(energy, 0.0)
        s = np.sqrt((c * e) ** 2 + a**2 * e + b**2)
        return np.where(inside, s, np.inf)

    def tower_of(self, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """Tower id of each (η, φ), −1 outside the grid."""
        aeta = np.abs(eta)
        out = np.full(len(eta), -1, dtype=np.int64)
        offset = 0
        for s in self.segments:
            edges = np.asarray(s.abs_eta_edges)
            inside = (aeta >= edges[0]) & (aeta < edges[-1])
            ieta = np.clip(np.searchsorted(edges, aeta, side="right") - 1, 0, s.n_eta - 1)
            iphi = np.floor((phi + math.pi) / (2 * math.pi / s.n_phi)).astype(np.int64) % s.n_phi
            side = (eta < 0).astype(np.int64)
            tid = offset + (side * s.n_eta + ieta) * s.n_phi + iphi
            out = np.where(inside, tid, out)
            offset += s.n_towers
        return out

    def tower_bounds(self, tid: np.ndarray) -> tuple[np.ndarray, ...]:
        """η and φ edges ``(eta_lo, eta_hi, phi_lo, phi_hi)`` of tower ids."""
        eta_lo = np.zeros(len(tid))
        eta_hi = np.zeros(len(tid))
        phi_lo = np.zeros(len(tid))
        phi_hi = np.zeros(len(tid))
        offset = 0
        for s in self.segments:
            m = (tid >= offset) & (tid < offset + s.n_towers)
            loc = tid[m] - offset
            iphi = loc % s.n_phi
            rest = loc // s.n_phi
            side = rest // s.n_eta
            ieta = rest % s.n_eta
            edges = np.asarray(s.abs_eta_edges)
            lo, hi = edges[ieta], edges[ieta + 1]
            eta_lo[m] = np.where(side == 1, -hi, lo)
            eta_hi[m] = np.where(side == 1, -lo, hi)
            dphi = 2 * math.pi / s.n_phi
            phi_lo[m] = -math.pi + iphi * dphi
            phi_hi[m] = phi_lo[m] + dphi
            offset += s.n_towers
        return eta_lo, eta_hi, phi_lo, phi_hi


@dataclass(frozen=True)
class EfficiencyRegion:
    """Tracking efficiency for |η| ≤ ``eta_max``: ``efficiency[i]`` applies above
    ``pt_min_gev[i]`` (and below the next threshold); 0 below the first."""

    eta_max: float
    pt_min_gev: tuple[float, ...]
    efficiency: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.pt_min_gev) != len(self.efficiency) or not self.pt_min_gev:
            raise ConfigError("efficiency region: pt_min_gev and efficiency need equal lengths")
        if any(not 0 <= e <= 1 for e in self.efficiency):
            raise ConfigError(f"efficiencies {self.efficiency} must lie in [0, 1]")


@dataclass(frozen=True)
class MomentumRegion:
    """Relative p_T resolution √(a² + (b·p_T/GeV)²) for |η| ≤ ``eta_max``."""

    eta_max: float
    a: float
    b: float


@dataclass(frozen=True)
class TrackerCard:
    """Tracking efficiency and p_T resolution by species (``hadron``, ``electron``,
    ``muon``)."""

    efficiency: tuple[tuple[str, tuple[EfficiencyRegion, ...]], ...]
    resolution: tuple[tuple[str, tuple[MomentumRegion, ...]], ...]

    def __post_init__(self) -> None:
        for what, table in (("efficiency", self.efficiency), ("resolution", self.resolution)):
            names = [k for k, _ in table]
            if sorted(names) != ["electron", "hadron", "muon"]:
                raise ConfigError(
                    f"tracker {what} needs entries for hadron, electron and muon, got {names}"
                )

    def _eff(self, species: str) -> tuple[EfficiencyRegion, ...]:
        return dict(self.efficiency)[species]

    def _res(self, species: str) -> tuple[MomentumRegion, ...]:
        return dict(self.resolution)[species]

    @property
    def eta_max(self) -> float:
        return max(r.eta_max for _, regs in self.efficiency for r in regs)

    def efficiency_of(self, species: str, abs_eta: np.ndarray, pt: np.ndarray) -> np.ndarray:
        regs = sorted(self._eff(species), key=lambda r: r.eta_max)
        out = np.zeros(len(pt))
        done = np.zeros(len(pt), dtype=bool)
        for r in regs:
            m = (abs_eta <= r.eta_max) & ~done
            thr = np.asarray(r.pt_min_gev)
            k = np.searchsorted(thr, pt[m], side="left") - 1  # pt > threshold
            eff = np.where(k >= 0, np.asarray(r.efficiency)[np.maximum(k, 0)], 0.0)
            out[m] = eff
            done |= m
        return out

    def resolution_of(self, species: str, abs_eta: np.ndarray, pt: np.ndarray) -> np.ndarray:
        regs = sorted(self._res(species), key=lambda r: r.eta_max)
        out = np.zeros(len(pt))
        done = np.zeros(len(pt), dtype=bool)
        for r in regs:
            m = (abs_eta <= r.eta_max) & ~done
            out[m] = np.sqrt(r.a**2 + (r.b * pt[m]) ** 2)
            done |= m
        return np.minimum(out, 1.0)


@dataclass(frozen=True)
class DetectorCard:
    """A whole detector: solenoid, tracker, ECAL, HCAL and how particles share energy.

    ``ecal_fraction`` maps |PDG id| to the share of the energy deposited in the ECAL
    (``default_ecal_fraction`` for ids not listed); the rest goes to the HCAL, except for
    the ids in ``no_deposit`` (muons, neutrinos, LSPs), which deposit nothing.
    """

    name: str
    bz_tesla: float
    radius_m: float
    half_length_m: float
    tracker: TrackerCard
    ecal: CalorimeterCard
    hcal: CalorimeterCard
    ecal_fraction: tuple[tuple[int, float], ...]
    default_ecal_fraction: float
    no_deposit: tuple[int, ...]
    invisible: tuple[int, ...]

    def __post_init__(self) -> None:
        for k in ("radius_m", "half_length_m"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"detector card {k} {getattr(self, k)} must be > 0")
        if self.bz_tesla < 0:
            raise ConfigError(f"detector card bz_tesla {self.bz_tesla} must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def atlas_card() -> DetectorCard:
    """The ATLAS-like card of Delphes (``delphes_card_ATLAS.tcl``), with the tower grids
    simplified to uniform segments: ECAL Δη = 0.0174 (|η| < 2.958) × 1° and
    0.175 × 10° up to |η| = 5; HCAL 0.1 × 10° (|η| < 2.5) and 0.2 × 20° up to |η| = 4.9."""
    ecal_fwd = (2.958, 3.125, 3.3, 3.475, 3.65, 3.825, 4.0, 4.175, 4.35, 4.525, 4.7, 5.0)
    ecal = CalorimeterCard(
        name="ecal",
        segments=(
            TowerSegment(tuple(np.round(np.arange(171) * 0.0174, 6)), 360),
            TowerSegment(ecal_fwd, 36),
        ),
        resolution=(
            ResolutionRegion(3.2, stochastic=0.101, constant=0.0017),
            ResolutionRegion(4.9, stochastic=0.285, constant=0.035),
        ),
        energy_min_gev=0.5,
        significance_min=2.0,
    )
    hcal = CalorimeterCard(
        name="hcal",
        segments=(
            TowerSegment(tuple(np.round(np.arange(26) * 0.1, 6)), 36),
            TowerSegment(tuple(np.round(2.5 + np.arange(13) * 0.2, 6)), 18),
        ),
        resolution=(
            ResolutionRegion(1.7, stochastic=0.5205, constant=0.0302, noise=1.59),
            ResolutionRegion(3.2, stochastic=0.706, constant=0.05),
            ResolutionRegion(4.9, stochastic=1.0, constant=0.0942),
        ),
        energy_min_gev=1.0,
        significance_min=2.0,
    )
    tracker = TrackerCard(
        efficiency=(
            (
                "hadron",
                (
                    EfficiencyRegion(1.5, (0.1, 1.0), (0.70, 0.95)),
                    EfficiencyRegion(2.5, (0.1, 1.0), (0.60, 0.85)),
                ),
            ),
            (
                "electron",
                (
                    EfficiencyRegion(1.5, (0.1, 1.0, 100.0), (0.73, 0.95, 0.99)),
                    EfficiencyRegion(2.5, (0.1, 1.0, 100.0), (0.50, 0.83, 0.90)),
                ),
            ),
            (
                "muon",
                (
                    EfficiencyRegion(1.5, (0.1, 1.0), (0.75, 0.99)),
                    EfficiencyRegion(2.5, (0.1, 1.0), (0.70, 0.98)),
                ),
            ),
        ),
        resolution=(
            (
                "hadron",
                (
                    MomentumRegion(0.5, 0.06, 1.3e-3),
                    MomentumRegion(1.5, 0.10, 1.7e-3),
                    MomentumRegion(2.5, 0.25, 3.1e-3),
                ),
            ),
            (
                "electron",
                (
                    MomentumRegion(0.5, 0.03, 1.3e-3),
                    MomentumRegion(1.5, 0.05, 1.7e-3),
                    MomentumRegion(2.5, 0.15, 3.1e-3),
                ),
            ),
            (
                "muon",
                (
                    MomentumRegion(0.5, 0.01, 1.0e-4),
                    MomentumRegion(1.5, 0.015, 1.5e-4),
                    MomentumRegion(2.5, 0.025, 3.5e-4),
                ),
            ),
        ),
    )
    lsp = (1000022, 1000023, 1000025, 1000035, 1000045)
    return DetectorCard(
        name="atlas",
        bz_tesla=2.0,
        radius_m=1.15,
        half_length_m=3.51,
        tracker=tracker,
        ecal=ecal,
        hcal=hcal,
        ecal_fraction=((11, 1.0), (22, 1.0), (111, 1.0), (310, 0.3), (3122, 0.3)),
        default_ecal_fraction=0.0,
        no_deposit=(12, 13, 14, 16, *lsp),
        invisible=(12, 14, 16, *lsp),
    )


CARDS = {"atlas": atlas_card}


def get_card(name: str | DetectorCard) -> DetectorCard:
    """A detector card by name (``atlas``) or the card itself."""
    if isinstance(name, DetectorCard):
        return name
    try:
        return CARDS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown detector card {name!r}; available: {', '.join(sorted(CARDS))}"
        ) from None


def _lognormal(rng: np.random.Generator, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Log-normal with the given mean and standard deviation (Delphes' LogNormal); 0 where
    the mean is not positive."""
    mean = np.asarray(mean, dtype=np.float64)
    pos = mean > 0
    m = np.where(pos, mean, 1.0)
    s = np.where(np.isfinite(sigma), sigma, 0.0)
    b = np.sqrt(np.log1p((s / m) ** 2))
    a = np.log(m) - 0.5 * b**2
    z = rng.standard_normal(len(m))
    return np.where(pos, np.exp(a + b * z), 0.0)


def propagate(
    card: DetectorCard, pt: np.ndarray, pz: np.ndarray, phi: np.ndarray, charge: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """φ where each particle reaches the calorimeter, and whether it does (not a looper)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r_exit = np.minimum(
            card.radius_m,
            np.where(np.abs(pz) > 0, card.half_length_m * pt / np.abs(pz), np.inf),
        )
        charged = charge != 0
        if card.bz_tesla == 0:
            return phi.copy(), np.ones(len(pt), dtype=bool)
        rho = np.where(charged, pt / (C_LIGHT * np.abs(charge) * card.bz_tesla), np.inf)
        x = r_exit / (2 * rho)
    reaches = ~charged | (x <= 1.0)
    dphi = np.where(charged & reaches, -np.sign(charge) * np.arcsin(np.minimum(x, 1.0)), 0.0)
    phi_out = (phi + dphi + math.pi) % (2 * math.pi) - math.pi
    return phi_out, reaches


def _calorimeter(
    cal: CalorimeterCard,
    ev: np.ndarray,
    energy: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Towers (event, η, φ, E_T) of one calorimeter."""
    tid = cal.tower_of(eta, phi)
    m = (tid >= 0) & (energy > 0)
    key = ev[m].astype(np.int64) * cal.n_towers + tid[m]
    if not len(key):
        z = np.zeros(0)
        return z.astype(np.int64), z, z, z
    ukey, inv = np.unique(key, return_inverse=True)
    e_true = np.bincount(inv, weights=energy[m])
    tower = ukey % cal.n_towers
    tev = ukey // cal.n_towers
    eta_lo, eta_hi, phi_lo, phi_hi = cal.tower_bounds(tower)
    if cal.smear_tower_center:
        t_eta = rng.uniform(eta_lo, eta_hi)
        t_phi = rng.uniform(phi_lo, phi_hi)
    else:
        t_eta = 0.5 * (eta_lo + eta_hi)
        t_phi = 0.5 * (phi_lo + phi_hi)
    centre = np.abs(0.5 * (eta_lo + eta_hi))
    e = _lognormal(rng, e_true, cal.sigma(e_true, centre))
    sig = cal.sigma(e, centre)
    keep = (e >= cal.energy_min_gev) & (e >= cal.significance_min * sig) & (e > 0)
    et = e / np.cosh(t_eta)
    return tev[keep], t_eta[keep], t_phi[keep], et[keep]


def detector_response(
    particles: Particles, card: DetectorCard | str, rng: np.random.Generator
) -> EventObjects:
    """Towers and tracks of every event (see the module docstring for the model).

    Parameters
    ----------
    particles:
        Stable final-state particles (GeV).
    card:
        The detector (:func:`atlas_card` or its name).
    rng:
        Source of all random numbers.
    """
    card = get_card(card)
    t = particles.table
    n = len(particles)
    ev = event_index(t)
    apdg = np.abs(np.asarray(t.columns["pdg"], dtype=np.int64))
    q = np.asarray(t.columns["charge"], dtype=np.float64)
    px, py, pz, e = (np.asarray(t.columns[k], dtype=np.float64) for k in ("px", "py", "pz", "e"))
    pt = np.hypot(px, py)
    ok = (pt > 0) & np.isfinite(pt) & np.isfinite(pz) & np.isfinite(e)
    ok &= ~np.isin(apdg, np.asarray(card.invisible))
    ev, apdg, q, pt, pz, e = ev[ok], apdg[ok], q[ok], pt[ok], pz[ok], e[ok]
    phi = np.arctan2(py[ok], px[ok])
    eta = np.arcsinh(pz / pt)
    phi_calo, reaches = propagate(card, pt, pz, phi, q)

    # calorimeters
    f_ecal = np.full(len(apdg), card.default_ecal_fraction)
    for pid, frac in card.ecal_fraction:
        f_ecal[apdg == pid] = frac
    deposits = reaches & ~np.isin(apdg, np.asarray(card.no_deposit))
    e_dep = np.where(deposits, e, 0.0)
    towers = []
    for cal, share, col in ((card.ecal, f_ecal, "em"), (card.hcal, 1.0 - f_ecal, "had")):
        tev, t_eta, t_phi, et = _calorimeter(cal, ev, e_dep * share, eta, phi_calo, rng)
        towers.append((tev, t_eta, t_phi, et, col))
    tev = np.concatenate([x[0] for x in towers])
    order = np.argsort(tev, kind="stable")
    et_em = np.concatenate([x[3] if x[4] == "em" else np.zeros_like(x[3]) for x in towers])
    et_had = np.concatenate([x[3] if x[4] == "had" else np.zeros_like(x[3]) for x in towers])
    tower_table = ragged_from_counts(
        np.bincount(tev, minlength=n),
        {
            "eta": np.concatenate([x[1] for x in towers])[order].astype(np.float32),
            "phi": np.concatenate([x[2] for x in towers])[order].astype(np.float32),
            "et_em": et_em[order].astype(np.float32),
            "et_had": et_had[order].astype(np.float32),
        },
    )

    # tracks
    aeta = np.abs(eta)
    charged = q != 0
    species = np.where(apdg == 11, 1, np.where(apdg == 13, 2, 0))
    eff = np.zeros(len(pt))
    res = np.zeros(len(pt))
    for code, name in enumerate(("hadron", "electron", "muon")):
        m = charged & (species == code)
        eff[m] = card.tracker.efficiency_of(name, aeta[m], pt[m])
        res[m] = card.tracker.resolution_of(name, aeta[m], pt[m])
    u = rng.random(len(pt))
    found = charged & (u < eff)
    pt_reco = _lognormal(rng, pt[found], res[found] * pt[found])
    k_phi = np.where(reaches, phi_calo, phi)[found]
    k_ev = ev[found]
    track_table = ragged_from_counts(
        np.bincount(k_ev, minlength=n),
        {
            "pt": pt_reco.astype(np.float32),
            "eta": eta[found].astype(np.float32),
            "phi": k_phi.astype(np.float32),
        },
    )
    return EventObjects(tower_table, track_table)
