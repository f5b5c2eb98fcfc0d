"""Published hadron calorimeters as validation references for the hadronic response.

Each :class:`HadronReference` is a real design reduced to its sampling structure (one period,
repeated ≈ 10 λ_I deep, 2 × 2 m wide so that leakage stays below ≈ 1 %) with the e/h and
pion resolution its builders published. :func:`measure_hadron_response` simulates electrons
and pions in it and fits σ/E = a/√E ⊕ c, so the references can be compared with both the
model (:func:`calolab.physics.hadronic.section_response`) and the fast simulation
(``scripts/hadron_validation.py`` writes the table of docs/validation.md).

Geometries are planar equivalents with the published absorber/active thicknesses (SPACAL's
fibres and TileCal's tiles parallel to the beam become plates of the same volume ratio).
References that could not be checked against the original paper here are marked so in
:attr:`HadronReference.note`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calolab.geometry.detector import Calorimeter, Layer, Section
from calolab.simulation.gun import ParticleGun
from calolab.simulation.run import simulate

#: Depth of the reference blocks in nuclear interaction lengths and their width, cm.
DEPTH_LAMBDA = 10.0
WIDTH_CM = 200.0


@dataclass(frozen=True)
class HadronReference:
    """A published hadron calorimeter: its period and what was measured.

    Attributes
    ----------
    name, description:
        Short name and what the design is.
    layers:
        One period (absorber first), with the active layer sensitive.
    e_over_h, e_over_h_error:
        Published e/h and its uncertainty (``None`` where only a range or a qualitative
        statement exists; then ``e_over_h`` is the middle of the range and the error its
        half-width).
    stochastic, constant:
        Published pion resolution σ/E = a/√E ⊕ c (fractions), or ``None``.
    source, note:
        Where the numbers come from, and caveats.
    """

    name: str
    description: str
    layers: tuple[Layer, ...]
    e_over_h: float | None
    e_over_h_error: float | None
    stochastic: float | None
    constant: float | None
    source: str
    note: str = ""

    def section(self) -> Section:
        """One period of the design as a section."""
        return Section(self.name, list(self.layers), 1, WIDTH_CM)

    def calorimeter(self, depth_lambda: float = DEPTH_LAMBDA) -> Calorimeter:
        """The design as a ``depth_lambda`` deep, 2 m wide block, one readout cell per layer."""
        period = self.section()
        repeat = int(math.ceil(depth_lambda / period.period_lambda_i))
        return Calorimeter(
            self.name,
            (WIDTH_CM, WIDTH_CM),
            [Section("hcal", list(self.layers), repeat, WIDTH_CM)],
            description=self.description,
        )


_SCINT = "polystyrene"

REFERENCES: tuple[HadronReference, ...] = (
    HadronReference(
        "zeus_pb_scint",
        "ZEUS lead/scintillator prototype: 10 mm Pb + 2.5 mm scintillator (4:1)",
        (Layer("Pb", 1.0), Layer(_SCINT, 0.25, sensitive=True)),
        1.0,
        0.05,
        0.44,
        None,
        "E. Bernardi et al., NIM A 262 (1987) 229; R. Wigmans, Calorimetry, 2nd ed., ch. 4",
        "the compensating ratio; e/h within a few per cent of 1",
    ),
    HadronReference(
        "spacal",
        "SPACAL lead/scintillating-fibre calorimeter, Pb:fibre 4:1 by volume "
        "(planar equivalent 4 mm Pb + 1 mm scintillator)",
        (Layer("Pb", 0.4), Layer(_SCINT, 0.1, sensitive=True)),
        1.05,
        0.05,
        0.30,
        None,
        "D. Acosta et al. (SPACAL), NIM A 308 (1991) 481",
        "e/h 1.0-1.1 and ≈ 30 %/√E as quoted in issue 13; fibres modelled as plates",
    ),
    HadronReference(
        "atlas_tilecal",
        "ATLAS Tile calorimeter: 14 mm Fe + 3 mm scintillator (4.7:1, tiles as plates)",
        (Layer("Fe", 1.4), Layer(_SCINT, 0.3, sensitive=True)),
        1.33,
        0.06,
        0.529,
        0.057,
        "ATLAS TileCal test beam, NIM A 606 (2009) 362",
    ),
    HadronReference(
        "calice_ahcal",
        "CALICE analogue HCAL: 21 mm steel (17.4 mm plate + cassette) + 5 mm scintillator",
        (Layer("Fe", 2.1), Layer(_SCINT, 0.5, sensitive=True)),
        1.2,
        0.1,
        0.576,
        0.016,
        "CALICE, JINST 7 (2012) P09017 (57.6 %/√E ⊕ 1.6 %, 10-80 GeV)",
        "e/h ≈ 1.2 as quoted in issue 13 (likely e/π at 10-80 GeV); not checked here",
    ),
    HadronReference(
        "cms_hb",
        "CMS barrel HCAL: 50.5 mm brass + 3.7 mm scintillator",
        (Layer("brass", 5.05), Layer(_SCINT, 0.37, sensitive=True)),
        1.3,
        0.1,
        None,
        None,
        "CMS HCAL TDR, CERN/LHCC 97-31; EPJC 60 (2009) 359",
        "e/h ≈ 1.3 as quoted in issue 13; not checked here",
    ),
    HadronReference(
        "atlas_hec",
        "ATLAS hadronic end-cap: 25 mm Cu + 8.5 mm liquid argon",
        (Layer("Cu", 2.5), Layer("LAr", 0.85, sensitive=True)),
        1.55,
        0.05,
        0.706,
        0.058,
        "B. Dowler et al., NIM A 482 (2002) 94",
        "e/h 1.5-1.6 as quoted in issue 13",
    ),
    HadronReference(
        "atlas_lar_em",
        "ATLAS LAr EM barrel (accordion): 1.8 mm Pb + 2 × 2.1 mm liquid argon",
        (Layer("Pb", 0.18), Layer("LAr", 0.42, sensitive=True)),
        1.74,
        0.04,
        None,
        None,
        "Y. Kulchitsky, M. Kuzmin, V. Vinogradov, hep-ex/9911033 (1996 combined test beam)",
        "e/h extracted from combined LAr+Tile data with a model; accordion as plates",
    ),
    HadronReference(
        "pb_scint_1to1",
        "Lead/scintillator 1:1: 5 mm Pb + 5 mm scintillator",
        (Layer("Pb", 0.5), Layer(_SCINT, 0.5, sensitive=True)),
        None,
        None,
        None,
        None,
        "R. Wigmans, NIM A 259 (1987) 389; Calorimetry, 2nd ed., ch. 3",
        "not compensating: e/h well above 1 (no single published value)",
    ),
)


def reference(name: str) -> HadronReference:
    """The reference design called ``name`` (see :data:`REFERENCES`)."""
    for r in REFERENCES:
        if r.name == name:
            return r
    known = ", ".join(r.name for r in REFERENCES)
    raise KeyError(f"no hadron reference '{name}'; known: {known}")


@dataclass(frozen=True)
class HadronMeasurement:
    """Simulated response of a reference design.

    Attributes
    ----------
    energies:
        Beam energies, GeV.
    electron_response, pion_response:
        Mean visible energy / E of electrons and π+ per energy.
    pion_resolution, pion_resolution_error:
        σ/⟨E_vis⟩ of the pions per energy, and its statistical error (kurtosis included).
    e_over_pi, e_over_pi_error:
        Ratio of the mean electron and pion signals per energy.
    stochastic, stochastic_error, constant, constant_error:
        Weighted fit of (σ/E)² = a²/E + c² to the pion resolutions.
    """

    energies: tuple[float, ...]
    electron_response: tuple[float, ...]
    pion_response: tuple[float, ...]
    pion_resolution: tuple[float, ...]
    pion_resolution_error: tuple[float, ...]
    e_over_pi: tuple[float, ...]
    e_over_pi_error: tuple[float, ...]
    stochastic: float
    stochastic_error: float
    constant: float
    constant_error: float


def relative_spread(v: np.ndarray) -> tuple[float, float]:
    """σ/mean of ``v`` and its statistical error √((κ - 1)/(4n)) · σ/mean (κ: kurtosis)."""
    v = np.asarray(v, dtype=np.float64)
    m, s = float(v.mean()), float(v.std(ddof=1))
    kurt = float(np.mean((v - m) ** 4) / s**4) if s > 0 else 3.0
    r = s / m
    return r, r * math.sqrt(max(kurt - 1.0, 0.0) / (4.0 * len(v)))


def fit_resolution(
    energies: np.ndarray, rel: np.ndarray, err: np.ndarray
) -> tuple[float, float, float, float]:
    """Weighted least squares of (σ/E)² = a²/E + c²; returns a, σ_a, c, σ_c (c ≥ 0)."""
    energies, rel, err = (np.asarray(x, dtype=np.float64) for x in (energies, rel, err))
    y, dy = rel**2, 2.0 * rel * err
    design = np.stack([1.0 / energies, np.ones_like(energies)], axis=1) / dy[:, None]
    (a2, c2), *_ = np.linalg.lstsq(design, y / dy, rcond=None)
    cov = np.linalg.inv(design.T @ design)
    a = math.sqrt(max(a2, 1e-12))
    c = math.sqrt(max(c2, 0.0))
    da = math.sqrt(cov[0, 0]) / (2.0 * a)
    dc = math.sqrt(cov[1, 1]) / (2.0 * c) if c > 1e-3 else math.sqrt(math.sqrt(cov[1, 1]))
    return a, da, c, dc


def measure_hadron_response(
    ref: HadronReference,
    energies: tuple[float, ...] = (5.0, 10.0, 20.0, 50.0, 100.0),
    n_pions: int = 400,
    n_electrons: int = 100,
    seed: int = 1,
) -> HadronMeasurement:
    """Simulate electrons and π+ in ``ref`` at ``energies`` and fit the pion resolution."""
    det = ref.calorimeter()
    ele, pio, res, dres, epi, depi = [], [], [], [], [], []
    for i, energy in enumerate(energies):
        e = simulate(det, ParticleGun("e-", energy), n_electrons, seed=seed + 2 * i)
        p = simulate(det, ParticleGun("pi+", energy), n_pions, seed=seed + 2 * i + 1)
        ve, vp = e.truth["visible"], p.truth["visible"]
        me, mp = float(ve.mean()), float(vp.mean())
        r, dr = relative_spread(vp)
        ele.append(me / energy)
        pio.append(mp / energy)
        res.append(r)
        dres.append(dr)
        epi.append(me / mp)
        de = float(ve.std(ddof=1)) / me / math.sqrt(len(ve))
        depi.append(me / mp * math.hypot(de, r / math.sqrt(len(vp))))
    a, da, c, dc = fit_resolution(np.array(energies), np.array(res), np.array(dres))
    return HadronMeasurement(
        energies=tuple(float(x) for x in energies),
        electron_response=tuple(ele),
        pion_response=tuple(pio),
        pion_resolution=tuple(res),
        pion_resolution_error=tuple(dres),
        e_over_pi=tuple(epi),
        e_over_pi_error=tuple(depi),
        stochastic=a,
        stochastic_error=da,
        constant=c,
        constant_error=dc,
    )


__all__ = [
    "HadronMeasurement",
    "HadronReference",
    "REFERENCES",
    "fit_resolution",
    "measure_hadron_response",
    "reference",
    "relative_spread",
]
