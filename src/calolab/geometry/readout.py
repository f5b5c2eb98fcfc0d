"""The readout of a section: photodetector, light yield, noise, threshold, saturation, cost.

Every section of a calorimeter has one :class:`Readout`, applied to each of its readout cells
(one channel per cell of every sensitive layer). Its numbers are in the units of the
instrumentation, not in GeV:

* the **MIP** of a sensitive layer is the mean energy a minimum-ionising particle crossing it
  at normal incidence deposits, ``dE/dx|min × thickness`` (:attr:`Layer.mip_loss_mev`; PDG
  values): 0.41 MeV in 2 mm of polystyrene, 7.9 MeV in a 7.7 mm PbWO4 slice, 235 MeV in a
  23 cm CMS crystal;
* **light yield** in photoelectrons per MIP (scintillator tiles) or per MeV (crystals), with
  the **excess noise factor** F of the photodetector's gain (APDs ≈ 2, SiPMs ≈ 1.1 from
  optical cross-talk, PMTs ≈ 1.2): the photo-statistical term is √(F/N_pe);
* **electronic noise** σ per channel in MIP equivalents (or in MeV of deposited energy);
* the zero-suppression **threshold** in units of the noise σ (a warning below 3σ, where noise
  hits swamp the event: at 1σ, 16 % of all channels fire);
* **saturation**: the largest signal a channel reports (the electronics' range), in MIP or MeV;
* the **price per channel** (photodetector, front-end and back-end share), CHF.

Technologies and their defaults (all overridable per section):

=========  ===========================  =====  ==============================================
name       what                         F      price per channel (indicative)
=========  ===========================  =====  ==============================================
sipm       SiPM on a tile / crystal     1.1    5 CHF: SiPM, tile wrapping, ASIC channel
apd        APD + charge preamp (CMS)    2.0    50 CHF: two APDs, MGPA/ADC, front-end share
pmt        photomultiplier              1.2    300 CHF: tube, base, HV and ADC channel
silicon    silicon pad + ASIC           –      2 CHF: ASIC channel and PCB (sensor = material)
lar        liquid-argon ionisation      –      30 CHF: preamp/shaper and digitiser share
ideal      no readout effects           –      0
=========  ===========================  =====  ==============================================

The prices are order-of-magnitude estimates, to make granularity cost something in design
comparisons; give ``cost_chf_per_channel`` for your own quotes.

Realistic defaults of the sensitive media of the course designs (:data:`DEFAULT_READOUTS`),
used when a section declares no readout:

* **polystyrene scintillator tiles with SiPMs** — the CALICE analogue HCAL (JINST 5 (2010)
  P05004): about 15 photoelectrons per MIP, cells read above 0.5 MIP; here σ = 0.12 MIP and
  a threshold of 4σ = 0.48 MIP; range 2,000 MIP;
* **PbWO4 crystals with APDs as in the CMS ECAL barrel** (JINST 3 (2008) S08004, sec. 4):
  4.5 photoelectrons per MeV at 18 °C, F ≈ 2 at gain 50, electronic noise ≈ 40 MeV per
  channel (the test beam measured 0.12–0.13 GeV for a 3 × 3 sum, JINST 2 (2007) P04004),
  range ≈ 1.7 TeV per channel; zero suppression at 3σ;
* **silicon pads** as in the CMS HGCAL (CERN-LHCC-2017-023): about 2,200 electrons of
  equivalent noise charge = 8 keV (3.62 eV per pair), threshold 5σ, range 10 pC ≈ 225 MeV.

Other sensitive media get the ``ideal`` readout until one is declared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from scipy.special import ndtr

from calolab.core.errors import GeometryError

#: Readout technologies.
TECHNOLOGIES = ("sipm", "apd", "pmt", "silicon", "lar", "ideal")
#: Technologies that count photoelectrons (photo-statistics apply).
OPTICAL = frozenset({"sipm", "apd", "pmt"})

#: Default excess noise factor of the optical technologies.
DEFAULT_ENF = {"sipm": 1.1, "apd": 2.0, "pmt": 1.2}
#: Default price per readout channel in CHF.
DEFAULT_CHANNEL_COST_CHF = {
    "sipm": 5.0,
    "apd": 50.0,
    "pmt": 300.0,
    "silicon": 2.0,
    "lar": 30.0,
    "ideal": 0.0,
}

#: Default time resolution per technology, ``(A, B)`` of σ_t = A/√(E/MIP) ⊕ B in ns:
#: indicative orders of magnitude (like the channel prices), to be replaced by a design's own
#: numbers (``time_mip_ns``, ``time_floor_ns``): silicon pads with a timing ASIC ~0.2 ns at one
#: MIP and a 20 ps floor; SiPM-on-tile ~0.5 ns / 50 ps; APD-read crystals ~1 ns / 70 ps;
#: photomultipliers ~0.5 ns / 50 ps; liquid argon (slow shaping) ~2 ns / 0.2 ns; ideal 0.
DEFAULT_TIME_RESOLUTION_NS = {
    "sipm": (0.5, 0.05),
    "apd": (1.0, 0.07),
    "pmt": (0.5, 0.05),
    "silicon": (0.2, 0.02),
    "lar": (2.0, 0.2),
    "ideal": (0.0, 0.0),
}

#: Below this many σ of the noise a threshold lets noise hits swamp the event (a warning).
MIN_THRESHOLD_SIGMA = 3.0


def _pick(where: str, a_name: str, a: float | None, b_name: str, b: float | None) -> None:
    if a is not None and b is not None:
        raise GeometryError(f"{where}: give {a_name} or {b_name}, not both")


def _number(where: str, name: str, value: object, *, minimum: float, strict: bool) -> None:
    if value is None:
        return
    ok = False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        ok = math.isfinite(v) and (v > minimum if strict else v >= minimum)
    if not ok:
        rel = ">" if strict else ">="
        raise GeometryError(f"{where}: {name} {value!r} must be a finite number {rel} {minimum:g}")


@dataclass(frozen=True)
class CellReadout:
    """A :class:`Readout` resolved for one sensitive layer (everything per channel, in MIP).

    Attributes
    ----------
    mip_mev:
        Energy of one MIP in this layer, MeV.
    photoelectrons_per_mip:
        Light yield, or 0 without photo-statistics.
    excess_noise_factor:
        F of the photodetector gain (1: pure Poisson).
    noise_mip, threshold_mip:
        Electronic noise σ and zero-suppression threshold, MIP (0: none).
    saturation_mip:
        Largest reported signal, MIP (``inf``: none).
    """

    mip_mev: float
    photoelectrons_per_mip: float
    excess_noise_factor: float
    noise_mip: float
    threshold_mip: float
    saturation_mip: float

    @property
    def noise_occupancy(self) -> float:
        """Probability that an empty channel reads above threshold (noise hit)."""
        if self.noise_mip <= 0:
            return 0.0
        return float(ndtr(-self.threshold_mip / self.noise_mip))


@dataclass(frozen=True)
class Readout:
    """How the cells of a section are read out (see the module docstring for the units).

    Parameters
    ----------
    technology:
        One of :data:`TECHNOLOGIES`.
    photoelectrons_per_mip, photoelectrons_per_mev:
        Light yield of the optical technologies (exactly one of the two); not allowed for
        ``silicon``, ``lar`` and ``ideal``, whose signal statistics are those of the deposit.
    excess_noise_factor:
        F ≥ 1 of the photodetector gain (default per technology).
    noise_mip, noise_mev:
        Electronic noise σ per channel in MIP equivalents or in MeV deposited (at most one;
        none: no noise).
    threshold_sigma:
        Zero-suppression threshold in units of the noise σ (no threshold without noise).
    saturation_mip, saturation_mev:
        Largest signal a channel reports (at most one; none: unlimited).
    cost_chf_per_channel:
        Price of one channel, CHF (default per technology).
    time_mip_ns, time_floor_ns:
        Time resolution of one channel, σ_t = A/√(E/MIP) ⊕ B (ns): ``time_mip_ns`` = A, the
        σ_t of a one-MIP signal, and ``time_floor_ns`` = B, the constant term (default per
        technology, :data:`DEFAULT_TIME_RESOLUTION_NS`; used when cell times are simulated,
        see :mod:`calolab.simulation.timing`).
    note:
        Where the numbers come from.
    """

    technology: str = "ideal"
    photoelectrons_per_mip: float | None = None
    photoelectrons_per_mev: float | None = None
    excess_noise_factor: float | None = None
    noise_mip: float | None = None
    noise_mev: float | None = None
    threshold_sigma: float = MIN_THRESHOLD_SIGMA
    saturation_mip: float | None = None
    saturation_mev: float | None = None
    cost_chf_per_channel: float | None = None
    time_mip_ns: float | None = None
    time_floor_ns: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        where = "readout"
        if self.technology not in TECHNOLOGIES:
            raise GeometryError(
                f"{where}: technology {self.technology!r} must be one of {', '.join(TECHNOLOGIES)}"
            )
        for name in ("photoelectrons_per_mip", "photoelectrons_per_mev"):
            _number(where, name, getattr(self, name), minimum=0.0, strict=True)
        for name in (
            "noise_mip",
            "noise_mev",
            "threshold_sigma",
            "cost_chf_per_channel",
            "time_mip_ns",
            "time_floor_ns",
        ):
            _number(where, name, getattr(self, name), minimum=0.0, strict=False)
        for name in ("saturation_mip", "saturation_mev"):
            _number(where, name, getattr(self, name), minimum=0.0, strict=True)
        _number(where, "excess_noise_factor", self.excess_noise_factor, minimum=1.0, strict=False)
        _pick(
            where,
            "photoelectrons_per_mip",
            self.photoelectrons_per_mip,
            "photoelectrons_per_mev",
            self.photoelectrons_per_mev,
        )
        _pick(where, "noise_mip", self.noise_mip, "noise_mev", self.noise_mev)
        _pick(where, "saturation_mip", self.saturation_mip, "saturation_mev", self.saturation_mev)
        light = self.photoelectrons_per_mip is not None or self.photoelectrons_per_mev is not None
        if self.technology in OPTICAL and not light:
            raise GeometryError(
                f"{where}: technology '{self.technology}' counts photoelectrons; give its light "
                "yield as photoelectrons_per_mip (tiles) or photoelectrons_per_mev (crystals)"
            )
        if self.technology not in OPTICAL:
            if light or self.excess_noise_factor is not None:
                raise GeometryError(
                    f"{where}: technology '{self.technology}' has no photoelectrons; remove "
                    "photoelectrons_per_mip/_mev and excess_noise_factor (or choose sipm, apd "
                    "or pmt)"
                )
        if self.technology == "ideal" and any(
            v is not None
            for v in (self.noise_mip, self.noise_mev, self.saturation_mip, self.saturation_mev)
        ):
            raise GeometryError(
                f"{where}: the 'ideal' readout has no noise and no saturation; choose a "
                f"technology ({', '.join(t for t in TECHNOLOGIES if t != 'ideal')})"
            )
        if not isinstance(self.note, str) or len(self.note) > 500:
            raise GeometryError(
                f"{where}: note {self.note!r} must be a string of <= 500 characters"
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in self.note):
            raise GeometryError(f"{where}: note {self.note!r} contains control characters")

    # ------------------------------------------------------------------ resolved values
    @property
    def enf(self) -> float:
        """Excess noise factor in use (1 for the non-optical technologies)."""
        if self.excess_noise_factor is not None:
            return float(self.excess_noise_factor)
        return DEFAULT_ENF.get(self.technology, 1.0)

    @property
    def channel_cost_chf(self) -> float:
        """Price of one channel in CHF (the technology's default unless given)."""
        if self.cost_chf_per_channel is not None:
            return float(self.cost_chf_per_channel)
        return DEFAULT_CHANNEL_COST_CHF[self.technology]

    @property
    def time_resolution_ns(self) -> tuple[float, float]:
        """``(A, B)`` of σ_t = A/√(E/MIP) ⊕ B in ns (the technology's default unless given)."""
        a0, b0 = DEFAULT_TIME_RESOLUTION_NS[self.technology]
        a = float(self.time_mip_ns) if self.time_mip_ns is not None else a0
        b = float(self.time_floor_ns) if self.time_floor_ns is not None else b0
        return a, b

    @property
    def is_ideal(self) -> bool:
        return self.technology == "ideal"

    def for_layer(self, mip_mev: float) -> CellReadout:
        """The readout of a sensitive layer whose MIP deposit is ``mip_mev`` MeV."""
        if not (math.isfinite(mip_mev) and mip_mev > 0):
            raise GeometryError(f"readout: the MIP deposit {mip_mev!r} MeV must be > 0")
        if self.photoelectrons_per_mip is not None:
            pe = float(self.photoelectrons_per_mip)
        elif self.photoelectrons_per_mev is not None:
            pe = float(self.photoelectrons_per_mev) * mip_mev
        else:
            pe = 0.0
        noise = (
            float(self.noise_mip)
            if self.noise_mip is not None
            else (float(self.noise_mev) / mip_mev if self.noise_mev is not None else 0.0)
        )
        if self.saturation_mip is not None:
            sat = float(self.saturation_mip)
        elif self.saturation_mev is not None:
            sat = float(self.saturation_mev) / mip_mev
        else:
            sat = math.inf
        return CellReadout(
            mip_mev=float(mip_mev),
            photoelectrons_per_mip=pe,
            excess_noise_factor=self.enf if pe > 0 else 1.0,
            noise_mip=noise,
            threshold_mip=float(self.threshold_sigma) * noise,
            saturation_mip=sat,
        )

    def warnings(self, where: str, n_channels: int) -> list[str]:
        """Human-readable problems of this readout for ``n_channels`` channels (empty if none):
        a threshold below :data:`MIN_THRESHOLD_SIGMA` of the noise, with the noise hits it
        lets through per event."""
        has_noise = (self.noise_mip or 0) > 0 or (self.noise_mev or 0) > 0
        if not has_noise or self.threshold_sigma >= MIN_THRESHOLD_SIGMA:
            return []
        if self.threshold_sigma <= 0:
            return [
                f"{where}: no zero suppression (threshold_sigma = 0): all {n_channels:,} "
                "channels are read with their noise in every event; set threshold_sigma to at "
                f"least {MIN_THRESHOLD_SIGMA:g} unless you want that (a test-beam readout)"
            ]
        occupancy = float(ndtr(-float(self.threshold_sigma)))
        return [
            f"{where}: zero-suppression threshold {self.threshold_sigma:g}σ is below "
            f"{MIN_THRESHOLD_SIGMA:g}σ of the noise: about {occupancy * n_channels:,.0f} of "
            f"{n_channels:,} channels fire on noise alone in every event "
            f"({100 * occupancy:.2g} %); raise threshold_sigma to at least "
            f"{MIN_THRESHOLD_SIGMA:g}"
        ]

    # ------------------------------------------------------------------ tables
    def to_table(self) -> dict[str, Any]:
        """The fields given (``None`` and an empty note left out), for detector files."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None or (f.name == "note" and not v):
                continue
            out[f.name] = v
        return out

    def describe(self) -> str:
        """One line for tables: technology, light yield, noise, threshold, range, price."""
        if self.is_ideal:
            return f"ideal (no readout effects), {self.channel_cost_chf:g} CHF/channel"
        parts = [self.technology]
        if self.photoelectrons_per_mip is not None:
            parts.append(f"{self.photoelectrons_per_mip:g} pe/MIP (F {self.enf:g})")
        elif self.photoelectrons_per_mev is not None:
            parts.append(f"{self.photoelectrons_per_mev:g} pe/MeV (F {self.enf:g})")
        if self.noise_mip is not None:
            parts.append(f"noise {self.noise_mip:g} MIP")
        elif self.noise_mev is not None:
            parts.append(f"noise {self.noise_mev:g} MeV")
        else:
            parts.append("no noise")
        if (self.noise_mip or self.noise_mev) and self.threshold_sigma > 0:
            parts.append(f"threshold {self.threshold_sigma:g}σ")
        if self.saturation_mip is not None:
            parts.append(f"range {self.saturation_mip:g} MIP")
        elif self.saturation_mev is not None:
            parts.append(f"range {self.saturation_mev:g} MeV")
        parts.append(f"{self.channel_cost_chf:g} CHF/channel")
        return ", ".join(parts)


#: Readouts of the sensitive media with a realistic default (see the module docstring).
DEFAULT_READOUTS: Mapping[str, Readout] = {
    "polystyrene": Readout(
        technology="sipm",
        photoelectrons_per_mip=15.0,
        excess_noise_factor=1.1,
        noise_mip=0.12,
        threshold_sigma=4.0,
        saturation_mip=2000.0,
        cost_chf_per_channel=5.0,
        note="scintillator tile + SiPM, CALICE AHCAL (JINST 5 (2010) P05004)",
    ),
    "PbWO4": Readout(
        technology="apd",
        photoelectrons_per_mev=4.5,
        excess_noise_factor=2.0,
        noise_mev=40.0,
        threshold_sigma=3.0,
        saturation_mev=1.7e6,
        cost_chf_per_channel=50.0,
        note="PbWO4 + APDs as in the CMS ECAL barrel (JINST 3 (2008) S08004)",
    ),
    "Si": Readout(
        technology="silicon",
        noise_mev=0.008,
        threshold_sigma=5.0,
        saturation_mev=225.0,
        cost_chf_per_channel=2.0,
        note="silicon pads + HGCROC-like ASIC, CMS HGCAL (CERN-LHCC-2017-023)",
    ),
}

IDEAL = Readout()


def default_readout(sensitive_materials: set[str] | frozenset[str]) -> Readout:
    """The default readout of a section whose sensitive layers are of these materials: the
    entry of :data:`DEFAULT_READOUTS` when there is one material with a default, else the
    ideal readout."""
    if len(sensitive_materials) == 1:
        (name,) = tuple(sensitive_materials)
        return DEFAULT_READOUTS.get(name, IDEAL)
    return IDEAL


__all__ = [
    "DEFAULT_CHANNEL_COST_CHF",
    "DEFAULT_ENF",
    "DEFAULT_READOUTS",
    "IDEAL",
    "MIN_THRESHOLD_SIGMA",
    "OPTICAL",
    "TECHNOLOGIES",
    "CellReadout",
    "Readout",
    "default_readout",
]
