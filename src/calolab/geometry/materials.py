"""Materials with the properties calorimetry needs.

Every constant of the built-in table comes from the Particle Data Group's *Atomic and Nuclear
Properties of Materials* (https://pdg.lbl.gov/AtomicNuclearProperties, values as printed in
the 2024 Review of Particle Physics tables): density, radiation length X0, nuclear interaction
length λI, Molière radius R_M, critical energy E_c for electrons (Rossi definition), Z/A,
mean excitation energy I and minimum ionisation dE/dx. Where the PDG page gives no Molière
radius (polystyrene, air, zinc) it is computed as R_M = X0 · E_s / E_c with E_s = 21.2052 MeV
(PDG review "Passage of particles through matter", eq. 34.37).

Crystals. BGO and CsI(Tl): density, X0, λI, dE/dx|min, I and Z/A from the PDG Atomic and Nuclear
Properties pages (the compositions are those of Geant4's NIST table, ``G4_BGO`` and
``G4_CESIUM_IODIDE``); LYSO (Lu1.8Y0.2SiO5:Ce) and PbF2, which those pages do not list: density,
X0, λI and dE/dx from the table of inorganic crystal scintillators of the Review of Particle
Physics (Table 35.4, "Particle detectors at accelerators") and R.-Y. Zhu's crystal table (Phys.
Procedia 37 (2012) 372), Z/A from the composition and I by Bragg additivity of the elemental
values. For all four, the Molière radius is that of the RPP crystal table and E_c = X0 E_s / R_M
(so that calolab's R_M = X0 E_s / E_c holds); the thallium and cerium dopants are neglected.
For comparison, the same crystal table gives PbWO4 X0 0.89 cm, R_M 2.00 cm, λI 20.7 cm; calolab
keeps the Atomic and Nuclear Properties values for PbWO4 (0.8903, 1.959 and 20.28 cm).

Effective Z is the mass-fraction-weighted mean atomic number, the convention of the GFlash
parametrisation (Grindhammer & Peters, hep-ex/0001020) for compounds.

Prices (CHF per kg) are indicative and user-overridable. They were chosen so that calolab
reproduces the cost tracker of the calorimeter design course (study E in the project notes):
about 2,300 CHF for the 60 × (0.2 cm Pb + 0.2 cm scintillator) design and about 47,000 CHF for
the triple Pb/scintillator/PbWO4 design. Lead tungstate crystals dominate (≈ 3 CHF/cm³);
silicon is priced as finished sensors (≈ 10 CHF/cm² at 300 µm). The other crystals keep the
cost ratios per cm³ of R.-Y. Zhu's crystal table (Phys. Procedia 37 (2012) 372: PbWO4 2.5,
BGO 6, CsI(Tl) 4.3, LYSO 40, PbF2 6 US$/cm³ in mass production) scaled to calolab's PbWO4
price (3.0 CHF/cm³): BGO 7.2, CsI(Tl) 5.2, LYSO 48, PbF2 7.2 CHF/cm³. They are indicative;
override them in a ``[materials]`` table. Readout channels are priced separately, per
section (:mod:`calolab.geometry.readout`).

Mixtures follow the PDG rules for compounds (review section 34.4.2 and 34.2.10):
1/X0 = Σ w_j/X0_j, 1/λI = Σ w_j/λI_j, Z/A = Σ w_j (Z/A)_j, Bragg additivity for dE/dx and
ln I, and 1/R_M = (1/E_s) Σ w_j E_c,j / X0_j (PDG eq. 34.38), all with mass fractions w_j.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from calolab.core.errors import MaterialError

#: Scale energy E_s = m_e c² √(4π/α) in MeV (PDG eq. 34.37), used for Molière radii.
E_S_MEV = 21.2052


@dataclass(frozen=True)
class Element:
    """A chemical element: symbol, atomic number Z and atomic mass A (g/mol)."""

    symbol: str
    z: int
    a: float


#: Elements used by the built-in materials (A from the PDG table of atomic weights).
ELEMENTS: dict[str, Element] = {
    e.symbol: e
    for e in (
        Element("H", 1, 1.008),
        Element("C", 6, 12.011),
        Element("N", 7, 14.007),
        Element("O", 8, 15.999),
        Element("Al", 13, 26.9815385),
        Element("Si", 14, 28.0855),
        Element("Ar", 18, 39.948),
        Element("F", 9, 18.998403163),
        Element("Fe", 26, 55.845),
        Element("Cu", 29, 63.546),
        Element("Zn", 30, 65.38),
        Element("Ge", 32, 72.630),
        Element("Y", 39, 88.90584),
        Element("I", 53, 126.90447),
        Element("Cs", 55, 132.90545196),
        Element("Lu", 71, 174.9668),
        Element("W", 74, 183.84),
        Element("Pb", 82, 207.2),
        Element("Bi", 83, 208.98040),
    )
}


@dataclass(frozen=True)
class Material:
    """A homogeneous material.

    Lengths are stored in g/cm² (the PDG convention) and exposed in cm through properties.

    Attributes
    ----------
    name:
        Canonical name, e.g. ``"PbWO4"``.
    density_g_cm3:
        Density in g/cm³.
    x0_g_cm2:
        Radiation length in g/cm².
    lambda_i_g_cm2:
        Nuclear interaction length in g/cm².
    moliere_radius_g_cm2:
        Molière radius in g/cm².
    critical_energy_mev:
        Critical energy for electrons in MeV (Rossi definition, as tabulated by the PDG).
    z_over_a:
        ⟨Z/A⟩ in mol/g.
    z_eff:
        Mass-weighted mean atomic number.
    mean_excitation_ev:
        Mean excitation energy I in eV.
    dedx_min_mev_cm2_g:
        Minimum ionisation energy loss in MeV cm²/g.
    price_chf_per_kg:
        Price in CHF per kg.
    composition:
        Mass fractions of the elements, ``((symbol, fraction), ...)`` summing to 1.
    source:
        Where the numbers come from.
    """

    name: str
    density_g_cm3: float
    x0_g_cm2: float
    lambda_i_g_cm2: float
    moliere_radius_g_cm2: float
    critical_energy_mev: float
    z_over_a: float
    z_eff: float
    mean_excitation_ev: float
    dedx_min_mev_cm2_g: float
    price_chf_per_kg: float
    composition: tuple[tuple[str, float], ...]
    source: str = "PDG Atomic and Nuclear Properties"
    aliases: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for attr in (
            "density_g_cm3",
            "x0_g_cm2",
            "lambda_i_g_cm2",
            "moliere_radius_g_cm2",
            "critical_energy_mev",
            "z_over_a",
            "z_eff",
            "mean_excitation_ev",
            "dedx_min_mev_cm2_g",
        ):
            value = getattr(self, attr)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise MaterialError(
                    f"material '{self.name}': {attr} {value!r} must be a number > 0"
                )
        if not (math.isfinite(self.price_chf_per_kg) and self.price_chf_per_kg >= 0):
            raise MaterialError(
                f"material '{self.name}': price_chf_per_kg {self.price_chf_per_kg!r} must be >= 0"
            )
        total = sum(w for _, w in self.composition)
        if self.composition and abs(total - 1.0) > 1e-3:
            raise MaterialError(
                f"material '{self.name}': element mass fractions sum to {total:.4f}, must sum to 1"
            )
        for symbol, _ in self.composition:
            if symbol not in ELEMENTS:
                raise MaterialError(
                    f"material '{self.name}': unknown element '{symbol}'; "
                    f"known elements: {', '.join(ELEMENTS)}"
                )

    # ------------------------------------------------------------------ derived lengths (cm)
    @property
    def x0_cm(self) -> float:
        """Radiation length in cm."""
        return self.x0_g_cm2 / self.density_g_cm3

    @property
    def lambda_i_cm(self) -> float:
        """Nuclear interaction length in cm."""
        return self.lambda_i_g_cm2 / self.density_g_cm3

    @property
    def moliere_radius_cm(self) -> float:
        """Molière radius in cm."""
        return self.moliere_radius_g_cm2 / self.density_g_cm3

    @property
    def critical_energy_gev(self) -> float:
        """Critical energy for electrons in GeV."""
        return self.critical_energy_mev * 1e-3

    @property
    def dedx_min_mev_cm(self) -> float:
        """Minimum ionisation loss in MeV/cm."""
        return self.dedx_min_mev_cm2_g * self.density_g_cm3

    def with_price(self, price_chf_per_kg: float) -> Material:
        """Return a copy with another price (CHF/kg)."""
        return replace(self, price_chf_per_kg=float(price_chf_per_kg))

    def to_dict(self) -> dict[str, object]:
        """Plain-data description (used in detector files and provenance)."""
        return {
            "density_g_cm3": self.density_g_cm3,
            "x0_g_cm2": self.x0_g_cm2,
            "lambda_i_g_cm2": self.lambda_i_g_cm2,
            "moliere_radius_g_cm2": self.moliere_radius_g_cm2,
            "critical_energy_mev": self.critical_energy_mev,
            "z_over_a": self.z_over_a,
            "z_eff": self.z_eff,
            "mean_excitation_ev": self.mean_excitation_ev,
            "dedx_min_mev_cm2_g": self.dedx_min_mev_cm2_g,
            "price_chf_per_kg": self.price_chf_per_kg,
            "composition": {s: w for s, w in self.composition},
        }


def _rm_from_x0_ec(x0_g_cm2: float, ec_mev: float) -> float:
    """Molière radius in g/cm² from X0 (g/cm²) and E_c (MeV): R_M = X0 E_s / E_c."""
    return x0_g_cm2 * E_S_MEV / ec_mev


def _m(
    name: str,
    aliases: tuple[str, ...],
    *,
    rho: float,
    x0: float,
    lam: float,
    rm_cm: float | None,
    ec: float,
    zoa: float,
    zeff: float,
    i_ev: float,
    dedx: float,
    price: float,
    comp: dict[str, float],
    source: str = "PDG Atomic and Nuclear Properties (2024)",
) -> Material:
    rm = rm_cm * rho if rm_cm is not None else _rm_from_x0_ec(x0, ec)
    return Material(
        name=name,
        density_g_cm3=rho,
        x0_g_cm2=x0,
        lambda_i_g_cm2=lam,
        moliere_radius_g_cm2=rm,
        critical_energy_mev=ec,
        z_over_a=zoa,
        z_eff=zeff,
        mean_excitation_ev=i_ev,
        dedx_min_mev_cm2_g=dedx,
        price_chf_per_kg=price,
        composition=tuple(comp.items()),
        source=source,
        aliases=aliases,
    )


_CRYSTAL_SOURCE = (
    "PDG Atomic and Nuclear Properties (2024): density, X0, λI, dE/dx, I, Z/A, composition "
    "(as Geant4's NIST table); Molière radius from PDG RPP Table 35.4 (inorganic crystal "
    "scintillators), E_c = X0 E_s / R_M"
)
_CRYSTAL_TABLE_SOURCE = (
    "PDG RPP Table 35.4 and R.-Y. Zhu's crystal table (Phys. Procedia 37 (2012) 372): density, "
    "X0, λI, R_M, dE/dx; Z/A and I (Bragg additivity) from the composition; E_c = X0 E_s / R_M"
)


def _builtin() -> dict[str, Material]:
    table = [
        _m(
            "PbWO4",
            ("G4_PbWO4", "lead_tungstate", "PWO"),
            rho=8.300,
            x0=7.39,
            lam=168.3,
            rm_cm=1.959,
            ec=9.64,
            zoa=0.41315,
            zeff=68.37,
            i_ev=600.7,
            dedx=1.229,
            price=363.0,
            comp={"Pb": 0.455347, "W": 0.404011, "O": 0.140642},
        ),
        # --- crystals (PDG RPP, "Atomic and Nuclear Properties" and Table 35.4 of inorganic
        # crystal scintillators; see the module docstring for what comes from where)
        _m(
            "BGO",
            ("G4_BGO", "bismuth_germanate", "Bi4Ge3O12"),
            rho=7.130,
            x0=7.97,
            lam=159.1,
            rm_cm=2.23,
            ec=10.63,
            zoa=0.42065,
            zeff=62.52,
            i_ev=534.1,
            dedx=1.251,
            price=1010.0,
            comp={"O": 0.154126, "Ge": 0.174820, "Bi": 0.671054},
            source=_CRYSTAL_SOURCE,
        ),
        _m(
            "CsI",
            ("CsI(Tl)", "G4_CESIUM_IODIDE", "cesium_iodide", "caesium_iodide"),
            rho=4.510,
            x0=8.39,
            lam=171.5,
            rm_cm=3.57,
            ec=11.05,
            zoa=0.41569,
            zeff=54.02,
            i_ev=553.1,
            dedx=1.243,
            price=1144.0,
            comp={"I": 0.488451, "Cs": 0.511549},
            source=_CRYSTAL_SOURCE + "; the thallium dopant (~0.1 % by mass) is neglected",
        ),
        _m(
            "LYSO",
            ("LYSO(Ce)", "LSO", "LSO(Ce)", "lutetium_yttrium_oxyorthosilicate"),
            rho=7.40,
            x0=8.436,
            lam=154.7,
            rm_cm=2.07,
            ec=11.68,
            zoa=0.43013,
            zeff=54.64,
            i_ev=401.6,
            dedx=1.2905,
            price=6486.0,
            comp={"Lu": 0.714471, "Y": 0.040338, "Si": 0.063715, "O": 0.181476},
            source=_CRYSTAL_TABLE_SOURCE + "; Lu1.8Y0.2SiO5(Ce)",
        ),
        _m(
            "PbF2",
            ("lead_fluoride", "G4_LEAD_FLUORIDE"),
            rho=7.77,
            x0=7.226,
            lam=163.2,
            rm_cm=2.21,
            ec=8.92,
            zoa=0.40784,
            zeff=70.69,
            i_ev=577.5,
            dedx=1.2124,
            price=927.0,
            comp={"Pb": 0.845035, "F": 0.154965},
            source=_CRYSTAL_TABLE_SOURCE + "; a Cherenkov radiator (no scintillation)",
        ),
        _m(
            "Pb",
            ("G4_Pb", "lead"),
            rho=11.35,
            x0=6.37,
            lam=199.6,
            rm_cm=1.602,
            ec=7.43,
            zoa=0.39575,
            zeff=82.0,
            i_ev=823.0,
            dedx=1.122,
            price=2.0,
            comp={"Pb": 1.0},
        ),
        _m(
            "W",
            ("G4_W", "tungsten"),
            rho=19.30,
            x0=6.76,
            lam=191.9,
            rm_cm=0.9327,
            ec=7.97,
            zoa=0.40252,
            zeff=74.0,
            i_ev=727.0,
            dedx=1.145,
            price=60.0,
            comp={"W": 1.0},
        ),
        _m(
            "Fe",
            ("G4_Fe", "iron", "steel"),
            rho=7.874,
            x0=13.84,
            lam=132.1,
            rm_cm=1.719,
            ec=21.68,
            zoa=0.46557,
            zeff=26.0,
            i_ev=286.0,
            dedx=1.451,
            price=0.5,
            comp={"Fe": 1.0},
        ),
        _m(
            "Cu",
            ("G4_Cu", "copper"),
            rho=8.960,
            x0=12.86,
            lam=137.3,
            rm_cm=1.568,
            ec=19.42,
            zoa=0.45636,
            zeff=29.0,
            i_ev=322.0,
            dedx=1.403,
            price=9.0,
            comp={"Cu": 1.0},
        ),
        _m(
            "Zn",
            ("G4_Zn", "zinc"),
            rho=7.133,
            x0=12.43,
            lam=138.5,
            rm_cm=None,
            ec=18.76,
            zoa=0.45886,
            zeff=30.0,
            i_ev=330.0,
            dedx=1.411,
            price=3.0,
            comp={"Zn": 1.0},
        ),
        _m(
            "Al",
            ("G4_Al", "aluminium", "aluminum"),
            rho=2.699,
            x0=24.01,
            lam=107.2,
            rm_cm=4.419,
            ec=42.70,
            zoa=0.48181,
            zeff=13.0,
            i_ev=166.0,
            dedx=1.615,
            price=3.0,
            comp={"Al": 1.0},
        ),
        _m(
            "Si",
            ("G4_Si", "silicon"),
            rho=2.329,
            x0=21.82,
            lam=108.4,
            rm_cm=4.944,
            ec=40.19,
            zoa=0.49848,
            zeff=14.0,
            i_ev=173.0,
            dedx=1.664,
            price=143000.0,
            comp={"Si": 1.0},
        ),
        _m(
            "LAr",
            ("G4_lAr", "liquid_argon", "lar"),
            rho=1.396,
            x0=19.55,
            lam=119.7,
            rm_cm=9.043,
            ec=32.84,
            zoa=0.45059,
            zeff=18.0,
            i_ev=188.0,
            dedx=1.508,
            price=1.0,
            comp={"Ar": 1.0},
        ),
        _m(
            "polystyrene",
            ("G4_POLYSTYRENE", "scintillator", "scint", "polystyrene_scintillator"),
            rho=1.060,
            x0=43.79,
            lam=77.07,
            rm_cm=None,
            ec=93.11,
            zoa=0.53768,
            zeff=5.613,
            i_ev=68.7,
            dedx=1.936,
            price=2.7,
            comp={"C": 0.922582, "H": 0.077418},
        ),
        _m(
            "air",
            ("G4_AIR",),
            rho=1.205e-3,
            x0=36.62,
            lam=90.1,
            rm_cm=None,
            ec=87.92,
            zoa=0.49919,
            zeff=7.37,
            i_ev=85.7,
            dedx=1.815,
            price=0.0,
            comp={"C": 0.000124, "N": 0.755267, "O": 0.231781, "Ar": 0.012828},
        ),
    ]
    out = {m.name: m for m in table}
    brass = mixture(
        "brass",
        [(out["Cu"], 0.70), (out["Zn"], 0.30)],
        density_g_cm3=8.53,
        price_chf_per_kg=7.0,
        aliases=("G4_BRASS", "cartridge_brass"),
        source="mixture of PDG Cu and Zn: C26000 cartridge brass (70 % Cu, 30 % Zn, 8.53 g/cm³)",
    )
    out[brass.name] = brass
    return out


def mixture(
    name: str,
    components: Iterable[tuple[Material, float]],
    *,
    density_g_cm3: float,
    price_chf_per_kg: float | None = None,
    aliases: tuple[str, ...] = (),
    source: str | None = None,
) -> Material:
    """Build a mixture from materials and mass fractions.

    Parameters
    ----------
    name:
        Name of the new material.
    components:
        ``(material, mass_fraction)`` pairs; fractions must be positive and sum to 1.
    density_g_cm3:
        Density of the mixture in g/cm³ (not derivable from the components).
    price_chf_per_kg:
        Price in CHF/kg; the mass-weighted price of the components if omitted.
    """
    comps = list(components)
    if not comps:
        raise MaterialError(f"mixture '{name}': needs at least one component")
    for mat, w in comps:
        if not (math.isfinite(w) and w > 0):
            raise MaterialError(
                f"mixture '{name}': mass fraction {w!r} of '{mat.name}' must be > 0"
            )
    total = sum(w for _, w in comps)
    if abs(total - 1.0) > 1e-3:
        raise MaterialError(
            f"mixture '{name}': mass fractions sum to {total:.4f}; they must sum to 1"
        )
    ws = [(m, w / total) for m, w in comps]
    inv_x0 = sum(w / m.x0_g_cm2 for m, w in ws)
    x0 = 1.0 / inv_x0
    lam = 1.0 / sum(w / m.lambda_i_g_cm2 for m, w in ws)
    zoa = sum(w * m.z_over_a for m, w in ws)
    ln_i = sum(w * m.z_over_a * math.log(m.mean_excitation_ev) for m, w in ws) / zoa
    ec_over_x0 = sum(w * m.critical_energy_mev / m.x0_g_cm2 for m, w in ws)
    rm = E_S_MEV / ec_over_x0
    ec = x0 * ec_over_x0
    elements: dict[str, float] = {}
    for m, w in ws:
        for sym, f in m.composition:
            elements[sym] = elements.get(sym, 0.0) + w * f
    return Material(
        name=name,
        density_g_cm3=float(density_g_cm3),
        x0_g_cm2=x0,
        lambda_i_g_cm2=lam,
        moliere_radius_g_cm2=rm,
        critical_energy_mev=ec,
        z_over_a=zoa,
        z_eff=sum(w * m.z_eff for m, w in ws),
        mean_excitation_ev=math.exp(ln_i),
        dedx_min_mev_cm2_g=sum(w * m.dedx_min_mev_cm2_g for m, w in ws),
        price_chf_per_kg=(
            float(price_chf_per_kg)
            if price_chf_per_kg is not None
            else sum(w * m.price_chf_per_kg for m, w in ws)
        ),
        composition=tuple(elements.items()),
        source=source or "mixture: " + ", ".join(f"{w:.3f} {m.name}" for m, w in ws),
        aliases=aliases,
    )


BUILTIN_MATERIALS: dict[str, Material] = _builtin()


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def material_key(name: str) -> str:
    """The normalised form under which materials are looked up (case, '-' and ' ' ignored)."""
    return _key(name)


def _index(materials: Mapping[str, Material]) -> dict[str, Material]:
    idx: dict[str, Material] = {}
    for m in materials.values():
        for n in (m.name, *m.aliases):
            idx[_key(n)] = m
    return idx


_BUILTIN_INDEX = _index(BUILTIN_MATERIALS)


def material_names() -> list[str]:
    """Canonical names of the built-in materials."""
    return list(BUILTIN_MATERIALS)


def get_material(name: str, extra: Mapping[str, Material] | None = None) -> Material:
    """Look up a material by name, case-insensitively; Geant4 NIST names are accepted.

    Parameters
    ----------
    name:
        e.g. ``"PbWO4"``, ``"G4_PbWO4"``, ``"scintillator"``, ``"G4_lAr"``.
    extra:
        Additional (user-defined) materials, searched first.

    Raises
    ------
    MaterialError
        If the name is unknown; the message lists the known names.
    """
    if not isinstance(name, str) or not name.strip():
        raise MaterialError(f"material name {name!r} must be a non-empty string")
    key = _key(name)
    if extra:
        found = _index(extra).get(key)
        if found is not None:
            return found
    found = _BUILTIN_INDEX.get(key)
    if found is None:
        known = sorted({*BUILTIN_MATERIALS, *(extra or {})})
        raise MaterialError(
            f"unknown material '{name}'; known materials: {', '.join(known)} "
            "(Geant4 NIST names such as G4_PbWO4 are accepted; define new ones in a "
            "[materials] table of the detector file)"
        )
    return found
