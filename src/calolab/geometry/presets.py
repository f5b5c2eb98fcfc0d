"""Built-in detectors. Their names are part of calolab's interface.

Study presets
-------------
``muon_block``
    The homogeneous PbWO4 block of Kieseler et al., EPJC 82 (2022) 79: 50 layers × 32 × 32
    cells of 3.75 mm, 12 × 12 cm face, 199.136 cm deep.
``course_pbwo4``
    Calorimeter design course, design v1: a 26 X0 PbWO4 crystal ECAL in 30 slices followed by a
    graded Fe/polystyrene HCAL (16 × (0.8 + 0.8) cm, 32 × (1.2 + 0.6) cm, 47 × (1.5 + 0.5) cm),
    50 × 50 cm, ≈ 200 cm deep. The whole crystal ECAL is sensitive; in the HCAL only the
    scintillator is.
``course_pbscint``
    Design v2: 60 × (0.20 cm Pb + 0.20 cm scintillator) sampling ECAL + graded Fe/scintillator
    HCAL (18 × (0.5 + 1.0), 28 × (1.0 + 0.7), 50 × (1.5 + 0.5)); 198.6 cm deep.
``course_triple``
    Design v4_2: 60 × (0.15 Pb + 0.20 scintillator + 0.10 PbWO4) ECAL + HCAL
    (8 × (0.3 + 1.2), 24 × (1.0 + 0.7), 50 × (1.5 + 0.5)); only the scintillator is read out.
``endcap_photon``
    A 50-layer W/Si sampling ECAL with 40 × 40 cells per layer, modelled on the muon-collider
    endcap ECAL of the photon-regression study (1.9 mm W + 0.5 mm Si, 5.1 mm cells).

Cell sizes of the course presets: 2.5 cm in the ECALs (about one Molière radius of PbWO4 and
of the Pb/scintillator stack, like CMS's 2.2 cm crystals) and 10 cm in the HCALs (about
0.6 λI of Fe/scintillator, the scale of hadron-calorimeter towers).

Readout: every preset uses the default readout of its sensitive medium
(:data:`calolab.geometry.readout.DEFAULT_READOUTS`): scintillator tiles with SiPMs (CALICE
AHCAL), PbWO4 with APDs as in the CMS ECAL (one channel per slice of ``course_pbwo4`` and per
cell of ``muon_block``), silicon pads as in the CMS HGCAL — except ``endcap_photon``, whose
small pads have the wider range of the CALICE SiW-ECAL's ASIC (:data:`SIW_ECAL_READOUT`). Costs: the course's tracker counted
materials only — about 2,300 CHF (v2) and 47,000 CHF (v4_2) against its 50,000 CHF budget
(``material_cost_chf``); with the readout channels (26,400 and 26,050 SiPM channels at 5 CHF,
12,000 APD channels at 50 CHF for v1) every course design is over that budget
(``cost_chf``), which is what granularity costs.

Geant4 validation presets
-------------------------
``geant4_v1`` … ``geant4_v5`` reproduce the configurations of the Geant4 reference showers
shipped with the project (``shared/validation/geant4``): PbWO4 and Pb blocks, Pb/polystyrene,
W/Si and Fe/polystyrene stacks, all with 1 cm cells. ``geant4_v6`` is the muon block.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from calolab.core.errors import ConfigError
from calolab.geometry.detector import Calorimeter, Layer, Section
from calolab.geometry.materials import get_material
from calolab.geometry.readout import DEFAULT_READOUTS

PBWO4 = "PbWO4"
SCINT = "polystyrene"


def _hcal(parts: list[tuple[int, float, float]], cell: float = 10.0) -> list[Section]:
    return [
        Section(
            f"hcal{i + 1}",
            [Layer("Fe", absorber), Layer(SCINT, active, sensitive=True)],
            repeat=n,
            cell_size_cm=cell,
        )
        for i, (n, absorber, active) in enumerate(parts)
    ]


def muon_block() -> Calorimeter:
    return Calorimeter(
        "muon_block",
        (12.0, 12.0),
        [Section("block", [Layer(PBWO4, 199.136 / 50, sensitive=True)], 50, 0.375)],
        description="Homogeneous PbWO4 block, 50 x 32 x 32 cells of 3.75 mm "
        "(Kieseler et al., EPJC 82 (2022) 79)",
    )


def course_pbwo4() -> Calorimeter:
    slice_cm = round(26 * get_material(PBWO4).x0_cm / 30, 4)
    return Calorimeter(
        "course_pbwo4",
        (50.0, 50.0),
        [Section("ecal", [Layer(PBWO4, slice_cm, sensitive=True)], 30, 2.5)]
        + _hcal([(16, 0.8, 0.8), (32, 1.2, 0.6), (47, 1.5, 0.5)]),
        description="Design course v1: 26 X0 PbWO4 ECAL in 30 slices + graded Fe/scintillator HCAL",
    )


def course_pbscint() -> Calorimeter:
    return Calorimeter(
        "course_pbscint",
        (50.0, 50.0),
        [Section("ecal", [Layer("Pb", 0.2), Layer(SCINT, 0.2, sensitive=True)], 60, 2.5)]
        + _hcal([(18, 0.5, 1.0), (28, 1.0, 0.7), (50, 1.5, 0.5)]),
        description="Design course v2: 60 x (0.2 cm Pb + 0.2 cm scintillator) ECAL "
        "+ graded Fe/scintillator HCAL",
    )


def course_triple() -> Calorimeter:
    return Calorimeter(
        "course_triple",
        (50.0, 50.0),
        [
            Section(
                "ecal",
                [Layer("Pb", 0.15), Layer(SCINT, 0.20, sensitive=True), Layer(PBWO4, 0.10)],
                60,
                2.5,
            )
        ]
        + _hcal([(8, 0.3, 1.2), (24, 1.0, 0.7), (50, 1.5, 0.5)]),
        description="Design course v4_2: 60 x (0.15 Pb + 0.20 scintillator + 0.10 PbWO4) ECAL "
        "+ graded Fe/scintillator HCAL",
    )


#: Readout of ``endcap_photon``: silicon pads read by a SKIROC2-like ASIC as in the CALICE
#: SiW-ECAL that the CLIC and muon-collider ECALs descend from (S. Callier et al., JINST 6
#: (2011) C12040: range 0.5-2,500 MIP). The HGCAL default's 10 pC (225 MeV) would saturate
#: the central 5.1 mm pads of 300-500 GeV photons at shower maximum.
SIW_ECAL_READOUT = replace(
    DEFAULT_READOUTS["Si"],
    saturation_mev=None,
    saturation_mip=2500.0,
    note="silicon pads + SKIROC2-like ASIC, CALICE SiW-ECAL (JINST 6 (2011) C12040)",
)


def endcap_photon() -> Calorimeter:
    return Calorimeter(
        "endcap_photon",
        (20.4, 20.4),
        [
            Section(
                "ecal",
                [Layer("W", 0.19), Layer("Si", 0.05, sensitive=True)],
                50,
                0.51,
                readout=SIW_ECAL_READOUT,
            )
        ],
        description="50-layer W/Si endcap ECAL, 40 x 40 cells of 5.1 mm (muon-collider "
        "photon-regression study)",
    )


def _block(
    name: str, material: str, thickness: float, n: int, size: float, desc: str
) -> Calorimeter:
    return Calorimeter(
        name,
        (size, size),
        [Section("block", [Layer(material, thickness, sensitive=True)], n, 1.0)],
        description=desc,
    )


def _stack(
    name: str, absorber: str, d_abs: float, active: str, d_act: float, n: int, desc: str
) -> Calorimeter:
    return Calorimeter(
        name,
        (50.0, 50.0),
        [Section("stack", [Layer(absorber, d_abs), Layer(active, d_act, sensitive=True)], n, 1.0)],
        description=desc,
    )


def geant4_v1() -> Calorimeter:
    return _block("geant4_v1", PBWO4, 0.89, 40, 60.0, "Geant4 reference V1: PbWO4 block")


def geant4_v2() -> Calorimeter:
    return _block("geant4_v2", "Pb", 0.56, 40, 60.0, "Geant4 reference V2: Pb block")


def geant4_v3() -> Calorimeter:
    return _stack("geant4_v3", "Pb", 0.4, SCINT, 0.4, 40, "Geant4 reference V3: Pb/polystyrene")


def geant4_v4() -> Calorimeter:
    return _stack("geant4_v4", "W", 0.35, "Si", 0.03, 45, "Geant4 reference V4: W/Si")


def geant4_v5() -> Calorimeter:
    return _stack("geant4_v5", "Fe", 1.5, SCINT, 0.5, 100, "Geant4 reference V5: Fe/polystyrene")


def geant4_v6() -> Calorimeter:
    det = muon_block()
    return Calorimeter("geant4_v6", det.transverse_size_cm, det.sections, det.description)


PRESETS: dict[str, Callable[[], Calorimeter]] = {
    "muon_block": muon_block,
    "course_pbwo4": course_pbwo4,
    "course_pbscint": course_pbscint,
    "course_triple": course_triple,
    "endcap_photon": endcap_photon,
    "geant4_v1": geant4_v1,
    "geant4_v2": geant4_v2,
    "geant4_v3": geant4_v3,
    "geant4_v4": geant4_v4,
    "geant4_v5": geant4_v5,
    "geant4_v6": geant4_v6,
}


def preset_names() -> list[str]:
    return list(PRESETS)


def preset(name: str) -> Calorimeter:
    """Return a built-in detector by name (see the module docstring for the list)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown detector preset '{name}'; presets: {', '.join(PRESETS)} "
            "(or give the path of a .toml detector file)"
        ) from None


def resolve_detector(spec: str | os.PathLike[str] | Calorimeter) -> Calorimeter:
    """A preset name, a path to a TOML (or JSON) detector file, or a :class:`Calorimeter`."""
    from pathlib import Path

    from calolab.geometry.io import load_detector

    if isinstance(spec, Calorimeter):
        return spec
    if isinstance(spec, os.PathLike):
        return load_detector(spec)
    if spec in PRESETS:
        return preset(spec)
    if spec.endswith((".toml", ".json")) or Path(spec).exists():
        return load_detector(spec)
    return preset(spec)
