"""Objectives: what a trial measures on a design, each number with its statistical error.

A trial simulates every particle of the study at every energy point (``events`` showers
each) through :func:`calolab.simulation.simulate`, in memory, and measures the design's
numbers from them. The reconstruction sees the *digitised* layer energies — the design's own
readout (photo-statistics, noise, threshold, saturation), at the EM scale — unless the space
says ``energies = "true"`` in ``[measurement]`` (an ideal readout). The menu
(:data:`METRICS`):

``resolution`` (particle, energy)
    σ/E of the Gaussian core of E_reco/E_true at one energy, on the *test* half of the
    showers: ``σ_core / μ_core`` of :func:`calolab.evaluation.gaussian_core_fit`, i.e. after
    the response at that energy is corrected (the bias correction), with the error of the
    ratio propagated from the fit's HESSE errors. E_reco is the per-layer calibration
    E = Σ_l w_l E_l + b fitted in closed form on the *training* half
    (:func:`calolab.models.per_layer_least_squares`, relative-error weights 1/E², ridge
    towards the EM-scale (digitised) or MIP (true energies) calibration chosen by
    leave-one-out), or an MLP trained on it (``reconstruction = "mlp"``, through
    :func:`calolab.training.train`). The training showers of a point at E have energies
    spread uniformly over E (1 ± ``train_spread``), the test showers are at E: a calibration
    trained at the very energies it is measured at learns them (with one point, E_reco = b
    is exact) and flatters every design.
``rmse`` (particle, energy)
    √⟨(E_reco/E_true − 1)²⟩ on the test half: bias and spread in quadrature, tails
    included (the metric of Kieseler et al., EPJC 82 (2022) 79, for muons, whose energy
    distributions have no Gaussian core worth the name), error by the delta method.
``stochastic`` (particle)
    The stochastic term a of σ/E = a/√E ⊕ c fitted to the resolutions at the study's
    energies (:func:`calolab.evaluation.fit_resolution`), in √GeV; with fewer than three
    energies a alone (c = 0), since two points cannot measure two terms with errors.
``linearity`` (particle)
    The largest deviation of the core response μ_core from 1 over the energies (the
    calibration is fitted on all energies at once, so a non-linear detector shows it).
``leakage`` (particle, energy)
    Mean fraction of the energy that leaves the detector (truth), with its error.
``leakage_longitudinal`` / ``leakage_lateral`` (particle, energy)
    The same split in two: the longitudinal part is the leakage of a copy of the design made
    transversely 10 times wider (the same events: same seeds), the lateral part the
    difference to the real design (paired, so its error is that of the per-event
    differences). These cost a second simulation of every shower.
``sigma_e_dead`` (particle, energy; ``dead_fraction``, ``pattern``, ``masks``)
    σ/E at X % dead channels: the same measurement as ``resolution`` (the reconstruction
    fitted on the healthy training half, the Gaussian-core σ/μ of the test half) with
    ``dead_fraction`` of the channels dead — ``"random"`` cells or ``"clustered"`` blocks of
    4 × 4 cells of one readout layer — under ``masks`` masks, through
    :func:`calolab.evaluation.dead_channel_resolution` (the detector as calibrated before the
    channels died). The value is the mean over the masks; its error is the statistical error
    of the fit ⊕ the spread over masks / √masks (the error of that mean). The masks are drawn
    from the point's seed (:func:`point_seed` with the tag ``<tag>-dead``): measuring the
    design again draws the same masks.
``resolution`` with ``systematics = true``
    σ/E plus its systematic envelope: the variations of ``[measurement.systematics]``
    (:class:`calolab.evaluation.systematics.SystematicsConfig`; calibration scale, core
    window, dead fraction, noise and light yield of the readout) measured by
    :func:`calolab.evaluation.systematics.measure_systematics` on the test half, their
    shifts added in quadrature (Δ_syst); the objective ``resolution_<particle>_<E>GeV_syst``
    is σ/E + Δ_syst (the upper edge of the envelope), its error the statistical one. A
    design whose σ/E is fragile under the declared variations ranks behind one that is not.
``cost``, ``material_cost``, ``length``, ``channels``
    :attr:`Calorimeter.cost_chf` (CHF: materials plus readout channels),
    :attr:`Calorimeter.material_cost_chf` (CHF: materials only), ``depth_cm`` and
    ``n_channels``: exact, error 0. A space optimises the cost its budget constrains
    (``[constraints] cost``; the space refuses the other one as an objective).

Seeds. Every (design, particle, energy) point has its own simulation seed, derived from the
study seed and the design's identity (:func:`design_key`: its layers, cells and material
properties, not its name) by :func:`point_seed`; measuring a design again reproduces its
numbers exactly, and designs that differ only in an unused parameter (the thickness of an
absent layer) are the same design.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from calolab.core.config import check_float, check_int, from_table, to_table
from calolab.core.errors import ConfigError, DataError
from calolab.core.particles import particle_name, particle_pdg
from calolab.geometry.detector import Calorimeter, Section

if TYPE_CHECKING:
    from calolab.data.showers import Showers
    from calolab.evaluation.systematics import SystematicsConfig

log = logging.getLogger(__name__)

#: Metrics of the menu: name -> (needs a particle, has an energy dimension, unit, label).
METRICS: dict[str, tuple[bool, bool, str, str]] = {
    "resolution": (True, True, "", "σ/E"),
    "rmse": (True, True, "", "RMS of E_reco/E_true − 1"),
    "stochastic": (True, False, "√GeV", "stochastic term a"),
    "linearity": (True, False, "", "max |response − 1|"),
    "leakage": (True, True, "", "leaked fraction"),
    "leakage_longitudinal": (True, True, "", "longitudinal leakage"),
    "leakage_lateral": (True, True, "", "lateral leakage"),
    "sigma_e_dead": (True, True, "", "σ/E with dead channels"),
    "cost": (False, False, "CHF", "total cost"),
    "material_cost": (False, False, "CHF", "material cost"),
    "length": (False, False, "cm", "length"),
    "channels": (False, False, "", "channels"),
}
#: Metrics that describe the detector only (no simulation, error 0).
GEOMETRIC = ("cost", "material_cost", "length", "channels")
RECONSTRUCTIONS = ("per-layer", "mlp")
#: What the reconstruction sees: the digitised cells (the detector's readout: photo-statistics,
#: noise, threshold, saturation; EM scale) or the true visible energies (an ideal readout).
ENERGIES = ("digitized", "true")
#: Dead-channel patterns of ``sigma_e_dead`` (those of :mod:`calolab.evaluation.conditions`).
DEAD_PATTERNS = ("random", "clustered")
#: Masks drawn per ``sigma_e_dead`` objective unless ``masks`` says otherwise.
DEFAULT_DEAD_MASKS = 3
#: Metrics that take ``systematics = true``.
WITH_SYSTEMATICS = ("resolution",)
#: Transverse scale of the copy used for the longitudinal/lateral leakage split.
WIDE_FACTOR = 10.0


# ----------------------------------------------------------------------------- config
@dataclass(frozen=True)
class ObjectiveSpec:
    """One entry of ``objectives`` (or ``recorded``) in a design-space file.

    ``metric`` from :data:`METRICS`; ``particle`` for the metrics measured on showers;
    ``energy_gev`` for those with an energy dimension (omitted: one objective per energy of
    the measurement). ``sigma_e_dead`` takes ``dead_fraction`` (in [0, 1), required),
    ``pattern`` (``"random"``, the default, or ``"clustered"``) and ``masks`` (masks drawn,
    default 3); ``resolution`` takes ``systematics = true`` (rank by σ/E plus its systematic
    envelope).
    """

    metric: str
    particle: str | None = None
    energy_gev: float | None = None
    dead_fraction: float | None = None
    pattern: str | None = None
    masks: int | None = None
    systematics: bool = False

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(
                f"objective metric {self.metric!r} is not in the menu; choose one of "
                f"{', '.join(METRICS)}"
            )
        needs_particle, has_energy, _, _ = METRICS[self.metric]
        if needs_particle and self.particle is None:
            raise ConfigError(
                f"objective '{self.metric}' needs a particle (particle = \"e-\", for example)"
            )
        if not needs_particle and self.particle is not None:
            raise ConfigError(f"objective '{self.metric}' takes no particle")
        if self.particle is not None:
            particle_pdg(self.particle)  # a clear error for an unknown name
        if self.energy_gev is not None:
            if not has_energy:
                raise ConfigError(f"objective '{self.metric}' takes no energy_gev")
            check_float("energy_gev", self.energy_gev, exclusive_minimum=0.0, unit="GeV")
        check_dead_options(
            self.metric, self.dead_fraction, self.pattern, self.masks, f"objective '{self.metric}'"
        )
        if self.systematics and self.metric not in WITH_SYSTEMATICS:
            raise ConfigError(
                f"objective '{self.metric}': systematics = true is for "
                f"{', '.join(WITH_SYSTEMATICS)} objectives; remove it"
            )


def check_dead_options(
    metric: str, fraction: object, pattern: object, masks: object, where: str
) -> None:
    """The ``dead_fraction``/``pattern``/``masks`` of an objective: required and checked for
    ``sigma_e_dead``, refused for any other metric."""
    if metric != "sigma_e_dead":
        for name, value in (("dead_fraction", fraction), ("pattern", pattern), ("masks", masks)):
            if value is not None:
                raise ConfigError(
                    f"{where}: {name} is for the sigma_e_dead objective; remove it (or use "
                    'metric = "sigma_e_dead")'
                )
        return
    if fraction is None:
        raise ConfigError(
            f"{where}: dead_fraction is missing; give the fraction of dead channels in [0, 1) "
            "(dead_fraction = 0.05 for 5 %)"
        )
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not math.isfinite(float(fraction))
        or not 0.0 <= float(fraction) < 1.0
    ):
        raise ConfigError(
            f"{where}: dead_fraction {fraction!r} must be a number in [0, 1) "
            "(0.05 = 5 % of the channels dead)"
        )
    if pattern is not None and pattern not in DEAD_PATTERNS:
        raise ConfigError(
            f"{where}: pattern {pattern!r} is unknown; choose one of {', '.join(DEAD_PATTERNS)} "
            "(random cells, or clustered blocks of 4 x 4 cells of one readout layer)"
        )
    if masks is not None:
        check_int("masks", masks, minimum=1, maximum=100, where=where)


@dataclass(frozen=True)
class Objective:
    """A measured quantity with a unique name, e.g. ``resolution_e-_10GeV`` or
    ``sigma_e_dead_e-_10GeV_20pct_clustered`` (see :func:`objective_name`)."""

    name: str
    metric: str
    particle: str | None = None
    energy_gev: float | None = None
    dead_fraction: float | None = None
    pattern: str | None = None
    masks: int | None = None
    systematics: bool = False

    @property
    def unit(self) -> str:
        return METRICS[self.metric][2]

    @property
    def dead_pattern(self) -> str:
        """The dead-channel pattern of a ``sigma_e_dead`` objective (default random)."""
        return self.pattern or "random"

    @property
    def dead_masks(self) -> int:
        """Masks drawn for a ``sigma_e_dead`` objective."""
        return DEFAULT_DEAD_MASKS if self.masks is None else int(self.masks)

    @property
    def label(self) -> str:
        """Human-readable label, e.g. ``σ/E e- 10 GeV``."""
        if self.metric == "sigma_e_dead":
            head = f"σ/E at {100 * (self.dead_fraction or 0.0):g} % {self.dead_pattern} dead"
        else:
            head = METRICS[self.metric][3] + (" + syst" if self.systematics else "")
        parts = [head]
        if self.particle:
            parts.append(self.particle)
        if self.energy_gev is not None:
            parts.append(f"{self.energy_gev:g} GeV")
        return " ".join(parts) + (f" ({self.unit})" if self.unit else "")

    @property
    def is_geometric(self) -> bool:
        return self.metric in GEOMETRIC

    @property
    def is_fraction(self) -> bool:
        """Dimensionless fractions (shown in %)."""
        return self.metric in ("resolution", "rmse", "linearity", "sigma_e_dead") or (
            self.metric.startswith("leakage")
        )


def objective_name(
    metric: str,
    particle: str | None,
    energy_gev: float | None,
    *,
    dead_fraction: float | None = None,
    pattern: str | None = None,
    systematics: bool = False,
) -> str:
    """The unique name of an objective: ``<metric>_<particle>_<E>GeV``, then for
    ``sigma_e_dead`` ``_<percent>pct_<pattern>`` and for systematics ``_syst``."""
    if metric == "cost":
        return "cost_chf"
    if metric == "material_cost":
        return "material_cost_chf"
    if metric == "length":
        return "length_cm"
    parts = [metric]
    if particle is not None:
        parts.append(particle_name(particle_pdg(particle)))
    if energy_gev is not None:
        parts.append(f"{energy_gev:g}GeV")
    if metric == "sigma_e_dead":
        parts.append(f"{100 * float(dead_fraction or 0.0):g}pct")
        parts.append(pattern or "random")
    if systematics:
        parts.append("syst")
    return "_".join(parts)


@dataclass(frozen=True)
class MeasurementConfig:
    """How a trial measures a design (the ``[measurement]`` table of a space file).

    Parameters
    ----------
    particles:
        Particles shot at the design (names or PDG ids).
    energies_gev:
        Energy points, GeV (every particle at every energy).
    reconstruction:
        ``"per-layer"`` (closed-form per-layer calibration, fast) or ``"mlp"`` (an MLP on
        the layer energies, trained with :func:`calolab.training.train`; needs the ``ml``
        extra and takes much longer).
    energies:
        What the reconstruction sees: ``"digitized"`` (the default: the cells as the
        detector's readout gives them — photo-statistics, electronic noise, threshold,
        saturation, at the EM scale; :mod:`calolab.simulation.digitize`) or ``"true"`` (the
        true visible energies: an ideal readout, which flatters designs whose readout is
        poor, e.g. thin scintillator with few photoelectrons).
    train_fraction:
        Fraction of each energy point's showers used to fit the reconstruction; the rest
        measures it.
    train_spread:
        The training showers of a point at E have energies uniform in
        [E (1 − s), E (1 + s)]; the test showers are at E. A calibration fitted on showers
        of the very energies it is measured at can learn the energies instead of measuring
        them (with one energy point, E_reco = b is exact; with two, a linear combination
        can separate the two clusters with a width below the detector's resolution), so the
        training energies are spread; 0.1 to 0.9, default 0.5.
    theta_deg, position_spread_cm:
        Incidence angle (degrees) and Gaussian spread of the entry point (cm) of the gun,
        which aims at the centre of the front face.
    mlp_hidden, mlp_epochs:
        Hidden widths and maximum epochs of the MLP reconstruction.
    systematics:
        The declared variations of the objectives with ``systematics = true`` (the
        ``[measurement.systematics]`` table: the keys of
        :class:`calolab.evaluation.systematics.SystematicsConfig`); ``None``: its defaults
        (calibration scale 1 %, core windows ±1.5 and ±2.5 σ).
    """

    particles: tuple[str, ...] = ("e-",)
    energies_gev: tuple[float, ...] = (10.0, 50.0)
    reconstruction: str = "per-layer"
    energies: str = "digitized"
    train_fraction: float = 0.5
    train_spread: float = 0.5
    theta_deg: float = 0.0
    position_spread_cm: float = 0.0
    mlp_hidden: tuple[int, ...] = (64, 32)
    mlp_epochs: int = 200
    systematics: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        where = "[measurement]"
        if self.systematics is not None:
            self.systematics_config  # noqa: B018 (validated now, before any simulation)
        if not self.particles:
            raise ConfigError(f"{where}: particles is empty; give at least one particle")
        names = [particle_name(particle_pdg(p)) for p in self.particles]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: particles {list(self.particles)} lists one twice")
        if not self.energies_gev:
            raise ConfigError(f"{where}: energies_gev is empty; give at least one energy")
        for e in self.energies_gev:
            check_float("energies_gev", e, exclusive_minimum=0.0, where=where, unit="GeV")
        if len(set(self.energies_gev)) != len(self.energies_gev):
            raise ConfigError(f"{where}: energies_gev {list(self.energies_gev)} lists one twice")
        if self.reconstruction not in RECONSTRUCTIONS:
            raise ConfigError(
                f"{where}: reconstruction {self.reconstruction!r} must be one of "
                f"{', '.join(RECONSTRUCTIONS)}"
            )
        if self.energies not in ENERGIES:
            raise ConfigError(
                f'{where}: energies {self.energies!r} must be "digitized" (the detector\'s '
                'readout, the default) or "true" (the true visible energies)'
            )
        check_float("train_fraction", self.train_fraction, minimum=0.1, maximum=0.9, where=where)
        check_float("train_spread", self.train_spread, minimum=0.1, maximum=0.9, where=where)
        check_float("theta_deg", self.theta_deg, minimum=0.0, maximum=80.0, where=where)
        check_float("position_spread_cm", self.position_spread_cm, minimum=0.0, where=where)
        check_int("mlp_epochs", self.mlp_epochs, minimum=1, where=where)
        if not self.mlp_hidden or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.mlp_hidden
        ):
            raise ConfigError(f"{where}: mlp_hidden {self.mlp_hidden!r} must be positive widths")

    @property
    def particle_names(self) -> tuple[str, ...]:
        return tuple(particle_name(particle_pdg(p)) for p in self.particles)

    @property
    def systematics_config(self) -> SystematicsConfig:
        """The declared variations (:class:`~calolab.evaluation.systematics.SystematicsConfig`)."""
        from calolab.evaluation.systematics import SystematicsConfig

        return from_table(SystematicsConfig, self.systematics or {}, "[measurement.systematics]")


def expand_objectives(
    specs: Sequence[ObjectiveSpec], measurement: MeasurementConfig, where: str = "objectives"
) -> tuple[Objective, ...]:
    """The objectives named by ``specs`` (metrics with an energy dimension and no
    ``energy_gev`` become one objective per energy of ``measurement``)."""
    out: list[Objective] = []
    particles = measurement.particle_names
    for i, spec in enumerate(specs):
        particle = None
        if spec.particle is not None:
            particle = particle_name(particle_pdg(spec.particle))
            if particle not in particles:
                raise ConfigError(
                    f"{where}[{i}]: particle '{spec.particle}' is not measured; add it to "
                    f"[measurement] particles ({', '.join(particles)})"
                )
        energies: list[float | None] = [None]
        if METRICS[spec.metric][1]:
            if spec.energy_gev is None:
                energies = list(measurement.energies_gev)
            elif spec.energy_gev not in measurement.energies_gev:
                raise ConfigError(
                    f"{where}[{i}]: energy_gev {spec.energy_gev:g} is not an energy point; "
                    f"add it to [measurement] energies_gev "
                    f"({', '.join(f'{e:g}' for e in measurement.energies_gev)})"
                )
            else:
                energies = [spec.energy_gev]
        dead = spec.metric == "sigma_e_dead"
        for e in energies:
            name = objective_name(
                spec.metric,
                particle,
                e,
                dead_fraction=spec.dead_fraction,
                pattern=spec.pattern,
                systematics=spec.systematics,
            )
            if any(o.name == name for o in out):
                raise ConfigError(f"{where}[{i}]: '{name}' is listed twice")
            out.append(
                Objective(
                    name,
                    spec.metric,
                    particle,
                    e,
                    dead_fraction=float(spec.dead_fraction) if dead else None,  # type: ignore[arg-type]
                    pattern=(spec.pattern or "random") if dead else None,
                    masks=spec.masks if dead else None,
                    systematics=spec.systematics,
                )
            )
    return tuple(out)


# ----------------------------------------------------------------------------- identity
def design_key(det: Calorimeter) -> str:
    """SHA-256 of what makes a design: its sections, layers, cells, transverse size and the
    properties of its materials — not its name or description."""
    payload = det.to_dict()
    for k in ("name", "description", "materials"):
        payload.pop(k, None)
    payload["_material_properties"] = {
        layer.material.name: layer.material.to_dict() for s in det.sections for layer in s.layers
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def point_seed(
    study_seed: int, key: str, particle: str, energy_gev: float, tag: str = "search"
) -> int:
    """Simulation seed of one (design, particle, energy) point: a 63-bit number from
    ``SeedSequence((study_seed, sha256(tag, design key, particle, energy)))``."""
    text = f"{tag}|{key}|{particle_name(particle_pdg(particle))}|{float(energy_gev)!r}"
    words = np.frombuffer(hashlib.sha256(text.encode()).digest()[:16], dtype=np.uint32)
    state = np.random.SeedSequence([int(study_seed), *(int(w) for w in words)]).generate_state(
        1, np.uint64
    )
    return int(state[0] >> np.uint64(1))


def design_attributes(det: Calorimeter) -> dict[str, float]:
    """Exact numbers of a design, recorded with every trial: cost, length, depths, channels,
    and per section its depth in X0 and λI, MIP sampling fraction, passive and active
    thickness per period (mm), √(d_active[mm] / f_samp) and the stochastic term it predicts,
    a ≈ 2.7 % √(d/f_samp) (:func:`calolab.physics.sampling.rule_of_thumb_stochastic_term`;
    NaN for a homogeneous section, which has no sampling fluctuations)."""
    from calolab.physics.sampling import rule_of_thumb_stochastic_term

    out: dict[str, float] = {
        "cost_chf": float(det.cost_chf),
        "material_cost_chf": float(det.material_cost_chf),
        "channel_cost_chf": float(det.channel_cost_chf),
        "length_cm": float(det.depth_cm),
        "depth_x0": float(det.depth_x0),
        "depth_lambda_i": float(det.depth_lambda_i),
        "channels": float(det.n_channels),
        "transverse_cm": float(max(det.transverse_size_cm)),
    }
    for s in det.sections:
        f_samp = s.mip_sampling_fraction
        out[f"{s.name}.depth_x0"] = float(s.period_x0 * s.repeat)
        out[f"{s.name}.depth_lambda_i"] = float(s.period_lambda_i * s.repeat)
        out[f"{s.name}.sampling_fraction"] = float(f_samp)
        out[f"{s.name}.passive_mm"] = 10.0 * sum(
            layer.thickness_cm for layer in s.layers if not layer.sensitive
        )
        active_mm = 10.0 * sum(layer.thickness_cm for layer in s.layers if layer.sensitive)
        out[f"{s.name}.active_mm"] = active_mm
        sampling = f_samp > 0 and not s.is_homogeneous and active_mm > 0
        out[f"{s.name}.sqrt_d_over_f"] = (
            float(math.sqrt(active_mm / f_samp)) if sampling else math.nan
        )
        out[f"{s.name}.rule_stochastic"] = (
            float(rule_of_thumb_stochastic_term(s)) if sampling else math.nan
        )
    return out


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Value:
    """A measured number and its statistical error (same unit)."""

    value: float
    error: float

    def to_list(self) -> list[float]:
        return [self.value, self.error]


@dataclass(frozen=True)
class Measurement:
    """What one trial measured.

    ``values``: objective name -> :class:`Value`; ``timings``: wall seconds spent in
    ``simulation``, ``calibration`` (fitting the reconstruction) and ``fit`` (core fits,
    resolution fits), and ``cpu``, the CPU seconds of the whole measurement (what it costs
    one core, whatever else runs); ``showers``: showers simulated; ``details``: per particle the core
    response and resolution at each energy and the reconstruction's fit summary.
    """

    values: dict[str, Value]
    timings: dict[str, float]
    showers: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_table(self) -> dict[str, Any]:
        return {
            "values": {k: v.to_list() for k, v in self.values.items()},
            "timings": dict(self.timings),
            "showers": self.showers,
            "details": self.details,
        }

    @staticmethod
    def from_table(d: Mapping[str, Any]) -> Measurement:
        return Measurement(
            values={k: Value(float(v[0]), float(v[1])) for k, v in d["values"].items()},
            timings={k: float(v) for k, v in d["timings"].items()},
            showers=int(d["showers"]),
            details=dict(d.get("details") or {}),
        )


# ----------------------------------------------------------------------------- measuring
def wide_copy(det: Calorimeter, factor: float = WIDE_FACTOR) -> Calorimeter:
    """The design made ``factor`` times wider transversely, one cell per layer (for the
    longitudinal part of the leakage: nothing leaves through the sides)."""
    size = (det.transverse_size_cm[0] * factor, det.transverse_size_cm[1] * factor)
    sections = [Section(s.name, s.layers, s.repeat, cell_size_cm=size) for s in det.sections]
    return Calorimeter(f"{det.name}-wide", size, sections, description="leakage split copy")


@dataclass
class _Point:
    particle: str
    energy: float
    layers: np.ndarray  # (N, L) GeV
    e_true: np.ndarray  # (N,)
    leaked: np.ndarray  # (N,) fraction
    leaked_wide: np.ndarray | None  # (N,) fraction
    test: Showers | None = None  # the test showers (dead channels, systematics)
    test_seed: int = 0  # their simulation seed


#: Cells (events × channels) simulated at once when a measurement keeps only layer sums.
REDUCE_BATCH_CELLS = 1 << 24


@dataclass
class _Reduced:
    """Showers of one gun reduced to what the per-layer measurement needs."""

    layers: np.ndarray  # (N, L) visible energy per readout layer, GeV
    e_true: np.ndarray  # (N,) GeV
    leaked: np.ndarray  # (N,) GeV
    total_true: float  # summed true visible energy of all events
    showers: Showers | None  # the showers themselves, when kept


def _simulate_reduced(
    det: Calorimeter,
    gun: Any,
    n: int,
    *,
    seed: int,
    digitizer: Any,
    keep: bool,
    sim: Any = None,
) -> _Reduced:
    """Simulate ``n`` events of ``gun`` and reduce them to layer sums in batches of at most
    :data:`REDUCE_BATCH_CELLS` cells (the same events as one call: event i is seeded by
    ``(seed, i)`` whatever the batch), or in one piece when the showers are ``keep``.

    ``sim``: the design's simulator (:func:`calolab.simulation.fast.simulator_for` with
    ``digitizer``), shared by the calls of one measurement. Reduced batches are simulated
    into its reused buffers: a fresh ``(batch, n_cells)`` array per batch cost more in page
    faults than the showers themselves on fine-grained designs (BENCHMARKS.md, issue 17).
    """
    from calolab.simulation import simulate
    from calolab.simulation.fast import simulator_for

    if keep:
        sh = simulate(det, gun, n, seed=seed, digitizer=digitizer)
        return _Reduced(
            sh.layer_energies(digitized=digitizer is not None),
            np.asarray(sh.energy, dtype=np.float64),
            np.asarray(sh.truth["leaked"], dtype=np.float64),
            float(np.sum(sh.total())),
            sh,
        )
    if sim is None:
        sim = simulator_for(det, digitizer=digitizer)
    batch = max(1, min(n, REDUCE_BATCH_CELLS // max(1, det.n_channels)))
    layers, e_true, leaked = [], [], []
    total = 0.0
    for first in range(0, n, batch):
        sh = sim.run(gun, min(batch, n - first), seed=seed, start=first, reuse_buffers=True)
        # copies: the cells are views of the buffers the next batch overwrites
        layers.append(np.array(sh.layer_energies(digitized=digitizer is not None)))
        e_true.append(np.array(sh.energy, dtype=np.float64))
        leaked.append(np.array(sh.truth["leaked"], dtype=np.float64))
        total += float(np.sum(sh.total()))
    return _Reduced(
        np.concatenate(layers), np.concatenate(e_true), np.concatenate(leaked), total, None
    )


def _split(n: int, fraction: float) -> int:
    """Events [0, k) train, [k, n) test."""
    k = int(round(n * fraction))
    return min(max(k, 1), n - 1)


def _mean_error(x: np.ndarray) -> Value:
    n = len(x)
    return Value(float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else math.nan)


def _calibrate_per_layer(
    det: Calorimeter, train: Sequence[_Point], em_scale: bool
) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
    """The per-layer calibration, its ridge pulling towards the simple calibration of the
    energies it sees: weight 1 for digitised cells (already at the EM scale), 1/f_mip for
    true visible energies; times one global scale."""
    from calolab.models.baselines import mip_layer_weights, per_layer_least_squares

    x = np.vstack([p.layers for p in train])
    y = np.concatenate([p.e_true for p in train])
    mip = np.ones(x.shape[1]) if em_scale else mip_layer_weights(det)
    raw = x @ mip
    if not raw.sum() > 0:
        raise DataError(f"design '{det.name}': no visible energy in the training showers")
    prior = mip * float(y.sum() / raw.sum())
    fit = per_layer_least_squares(x, y, prior=prior, sample_weight=1.0 / y**2)
    return fit.predict, {"ridge": fit.ridge, "loo_rms_rel": fit.loo_rms}


def _calibrate_mlp(
    det: Calorimeter,
    train: Sequence[_Point],
    config: MeasurementConfig,
    seed: int,
) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any]]:
    """Train the MLP of :mod:`calolab.models` on the training half with
    :func:`calolab.training.train` (a temporary run directory) and return its predictor."""
    import torch

    from calolab.models.registry import ModelConfig
    from calolab.training import train as train_run
    from calolab.training.config import DataConfig, TrainConfig
    from calolab.training.run import load_run

    x = np.vstack([p.layers for p in train])
    y = np.concatenate([p.e_true for p in train])
    pdg = particle_pdg(train[0].particle)
    with tempfile.TemporaryDirectory(prefix="calolab-mlp-") as tmp:
        path = Path(tmp) / "train.h5"
        _layer_showers(det, x, y, pdg).save(str(path))
        cfg = TrainConfig(
            model=ModelConfig(
                "mlp", {"features": "layers", "hidden": list(config.mlp_hidden), "dropout": 0.0}
            ),
            data=DataConfig(path=str(path), val_fraction=0.2),
            loss="rel",
            epochs=config.mlp_epochs,
            batch_size=128,
            patience=20,
            seed=seed % (2**31),
            device="cpu",
        )
        result = train_run(cfg, Path(tmp) / "run")
        run = load_run(result.run_dir)
        model = run.model

        def predict(layers: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                inputs = {"layers": torch.as_tensor(layers, dtype=torch.float32)}
                mean, _ = model.predict(inputs)
            return mean.double().numpy()

        return predict, {"epochs": int(result.members[0].epochs_run)}


def _layer_showers(det: Calorimeter, layers: np.ndarray, e_true: np.ndarray, pdg: int) -> Any:
    """Showers of the design read out with one cell per layer (the cells are the layer
    energies), for the MLP run."""
    from calolab.data.showers import Showers

    size = det.transverse_size_cm
    one_cell = Calorimeter(
        det.name,
        size,
        [Section(s.name, s.layers, s.repeat, cell_size_cm=size) for s in det.sections],
        description="one cell per layer",
    )
    n, n_layers = layers.shape
    zeros = np.zeros(n)
    return Showers(
        cells=layers.astype(np.float32),
        truth={
            "pdg": np.full(n, pdg, dtype=np.int64),
            "energy": e_true.astype(np.float64),
            "direction": np.tile([0.0, 0.0, 1.0], (n, 1)),
            "entry_point": np.zeros((n, 3)),
            "deposited": zeros,
            "visible": layers.sum(axis=1),
            "leaked": zeros,
            "invisible": zeros,
        },
        detector=one_cell,
    )


def measure(
    det: Calorimeter,
    config: MeasurementConfig,
    objectives: Sequence[Objective],
    *,
    events: int,
    seed: int,
    tag: str = "search",
) -> Measurement:
    """Measure ``objectives`` on the design ``det`` — the pure function of a trial.

    Parameters
    ----------
    det:
        The design.
    config:
        Particles, energies and reconstruction.
    objectives:
        What to measure (see :data:`METRICS`).
    events:
        Showers per particle and energy point (split into training and test halves).
    seed:
        The study seed; each point's simulation seed is :func:`point_seed` of it.
    tag:
        Seed stream (``"search"`` for the study, ``"confirm"`` for re-measurements).

    Raises
    ------
    DataError
        The design gives no usable measurement (no visible energy, a failed fit).
    """
    with single_threaded():
        return _measure(det, config, objectives, events=events, seed=seed, tag=tag)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Limit BLAS/OpenMP thread pools to one thread (a trial is a one-core task; on a
    shared machine a multithreaded BLAS is 10-100 times slower for these small matrices)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with the optuna extra
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _measure(
    det: Calorimeter,
    config: MeasurementConfig,
    objectives: Sequence[Objective],
    *,
    events: int,
    seed: int,
    tag: str,
) -> Measurement:
    from calolab.evaluation.fits import fit_resolution, gaussian_core_fit
    from calolab.simulation import ParticleGun, simulate
    from calolab.simulation.digitize import DEFAULT_DIGITIZER
    from calolab.simulation.fast import simulator_for
    from calolab.simulation.gun import EnergySpectrum

    digitized = config.energies == "digitized"
    digitizer = DEFAULT_DIGITIZER if digitized else None

    events = check_int("events", events, minimum=4)
    key = design_key(det)
    wanted = {o.metric for o in objectives}
    need_showers = bool(wanted - set(GEOMETRIC))
    need_wide = bool(wanted & {"leakage_longitudinal", "leakage_lateral"})
    cpu0 = time.process_time()
    timings = {"simulation": 0.0, "calibration": 0.0, "fit": 0.0}
    points: dict[str, list[_Point]] = {}
    showers = 0
    wide = wide_copy(det) if need_wide else None
    particles = {o.particle for o in objectives if o.particle is not None}
    # particles whose test showers are kept: dead channels and readout variations need cells
    keep_test = {o.particle for o in objectives if o.metric == "sigma_e_dead" or o.systematics}
    sim = simulator_for(det, digitizer=digitizer) if need_showers else None
    if need_showers:
        for particle in config.particle_names:
            if particle not in particles:
                continue
            for energy in config.energies_gev:
                spread = config.train_spread
                guns = [  # training showers spread around the point, test showers at it
                    ParticleGun(
                        particle,
                        e,
                        theta_deg=config.theta_deg,
                        position_spread_cm=config.position_spread_cm,
                    )
                    for e in (
                        EnergySpectrum("uniform", (energy * (1 - spread), energy * (1 + spread))),
                        float(energy),
                    )
                ]
                k = _split(events, config.train_fraction)
                t0 = time.perf_counter()
                # training then test showers, reduced to layer sums batch by batch (a batch
                # of a fine-grained design is a few 100k cells per event); the test showers
                # are kept whole where an objective needs their cells
                batches = [
                    _simulate_reduced(
                        det,
                        g,
                        n,
                        seed=point_seed(seed, key, particle, energy, t),
                        digitizer=digitizer,
                        keep=keep and particle in keep_test,
                        sim=sim,
                    )
                    for g, n, t, keep in (
                        (guns[0], k, f"{tag}-train", False),
                        (guns[1], events - k, tag, True),
                    )
                ]
                if not sum(b.total_true for b in batches) > 0:
                    raise DataError(
                        f"design '{det.name}': no visible energy in the {particle} showers at "
                        f"{energy:g} GeV (nothing reaches a sensitive layer)"
                    )
                leaked_wide = None
                if wide is not None:  # the test showers again, truth only: no readout needed
                    sw = simulate(
                        wide,
                        guns[1],
                        events - k,
                        seed=point_seed(seed, key, particle, energy, tag),
                        digitizer=None,
                    )
                    leaked_wide = np.asarray(sw.truth["leaked"]) / np.asarray(sw.energy)
                    showers += events - k
                timings["simulation"] += time.perf_counter() - t0
                showers += events
                e_true = np.concatenate([b.e_true for b in batches])
                points.setdefault(particle, []).append(
                    _Point(
                        particle,
                        float(energy),
                        np.concatenate([b.layers for b in batches]),
                        e_true,
                        np.concatenate([b.leaked for b in batches]) / e_true,
                        leaked_wide,
                        batches[1].showers,
                        point_seed(seed, key, particle, energy, tag),
                    )
                )
    values: dict[str, Value] = {}
    details: dict[str, Any] = {}
    for particle, pts in points.items():
        k = _split(events, config.train_fraction)
        train = [
            _Point(p.particle, p.energy, p.layers[:k], p.e_true[:k], p.leaked[:k], None)
            for p in pts
        ]
        t0 = time.perf_counter()
        if config.reconstruction == "mlp":
            predict, info = _calibrate_mlp(det, train, config, point_seed(seed, key, particle, 0.0))
        else:
            predict, info = _calibrate_per_layer(det, train, em_scale=digitized)
        timings["calibration"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        energies, res, res_err, mus, mu_errs = [], [], [], [], []
        for p in pts:
            pred = predict(p.layers[k:])
            ratio = pred / p.e_true[k:]
            g = gaussian_core_fit(ratio)
            if g.mu > 0 and math.isfinite(g.sigma):
                r = g.sigma / g.mu
                r_err = math.sqrt((g.sigma_err / g.mu) ** 2 + (g.sigma * g.mu_err / g.mu**2) ** 2)
            else:  # no core at a positive response: σ/E is undefined, the RMS still is
                log.info(
                    "design '%s': %s at %g GeV has no core response (core mean %.3g)",
                    det.name,
                    particle,
                    p.energy,
                    g.mu,
                )
                r = r_err = math.nan
            energies.append(p.energy)
            res.append(r)
            res_err.append(r_err)
            mus.append(g.mu)
            mu_errs.append(g.mu_err)
            values[objective_name("resolution", particle, p.energy)] = Value(r, r_err)
            dev2 = (ratio - 1.0) ** 2
            rmse = float(np.sqrt(np.mean(dev2)))
            rmse_err = (
                float(np.std(dev2, ddof=1) / (2.0 * rmse * math.sqrt(len(dev2))))
                if rmse > 0 and len(dev2) > 1
                else math.nan
            )
            values[objective_name("rmse", particle, p.energy)] = Value(rmse, rmse_err)
            here = [o for o in objectives if o.particle == particle and o.energy_gev == p.energy]
            for o in here:
                if o.metric == "sigma_e_dead":
                    values[o.name] = _dead_value(
                        det, o, p, predict, digitized, seed, key, tag, details
                    )
            if any(o.systematics for o in here):
                v = _systematics_value(det, p, predict, config, r, r_err, pred, details)
                for o in here:
                    if o.systematics:
                        values[o.name] = v
            test_leaked = p.leaked[k:]  # at the energy point
            for metric, frac in (
                ("leakage", test_leaked),
                ("leakage_longitudinal", p.leaked_wide),
                ("leakage_lateral", None if p.leaked_wide is None else test_leaked - p.leaked_wide),
            ):
                if frac is not None:
                    values[objective_name(metric, particle, p.energy)] = _mean_error(frac)
        i = int(np.argmax(np.abs(np.asarray(mus) - 1.0)))
        values[objective_name("linearity", particle, None)] = Value(
            float(abs(mus[i] - 1.0)), float(mu_errs[i])
        )
        if "stochastic" in wanted:
            # a and c need a third point to be measured (two points fix both exactly, and a
            # boundary c = 0 ruins the errors): with fewer energies, a alone (c = 0)
            terms = ("a", "c") if len(energies) >= 3 else ("a",)
            try:
                rf = fit_resolution(
                    np.array(energies), np.array(res), np.array(res_err), terms=terms
                )
                values[objective_name("stochastic", particle, None)] = Value(rf.a, rf.a_err)
            except DataError as exc:
                raise DataError(f"design '{det.name}': {particle}: {exc}") from None
        timings["fit"] += time.perf_counter() - t0
        details.setdefault(particle, {}).update(
            {
                "energies_gev": energies,
                "response": mus,
                "response_err": mu_errs,
                "resolution": res,
                "resolution_err": res_err,
                "reconstruction": {"kind": config.reconstruction, **info},
                "energies": config.energies,
            }
        )
    values["cost_chf"] = Value(float(det.cost_chf), 0.0)
    values["material_cost_chf"] = Value(float(det.material_cost_chf), 0.0)
    values["length_cm"] = Value(float(det.depth_cm), 0.0)
    values["channels"] = Value(float(det.n_channels), 0.0)
    for o in objectives:  # e.g. a stochastic term without finite resolutions
        values.setdefault(o.name, Value(math.nan, math.nan))
    missing = [o.name for o in objectives if o.name not in values]
    if missing:  # pragma: no cover - every metric of the menu is measured above
        raise DataError(f"design '{det.name}': {', '.join(missing)} were not measured")
    # CPU seconds of this process: what the trial costs one core, whatever else runs
    timings["cpu"] = time.process_time() - cpu0
    return Measurement(values=values, timings=timings, showers=showers, details=details)


def _dead_value(
    det: Calorimeter,
    o: Objective,
    p: _Point,
    predict: Callable[[np.ndarray], np.ndarray],
    digitized: bool,
    seed: int,
    key: str,
    tag: str,
    details: dict[str, Any],
) -> Value:
    """``sigma_e_dead``: :func:`calolab.evaluation.dead_channel_resolution` of the test
    showers with the reconstruction calibrated on the healthy training half; the masks from
    the point's seed (tag ``<tag>-dead``)."""
    from calolab.evaluation.conditions import dead_channel_resolution

    assert p.test is not None
    mask_seed = point_seed(seed, key, p.particle, p.energy, f"{tag}-dead")
    try:
        d = dead_channel_resolution(
            p.test,
            float(o.dead_fraction or 0.0),
            reconstruction=lambda sh: predict(sh.layer_energies(digitized=digitized)),
            pattern=o.dead_pattern,
            n_masks=o.dead_masks,
            seed=mask_seed,
            digitized=digitized,
        )
    except DataError as exc:  # no core at a positive response under the masks
        log.info("design '%s': %s: %s", det.name, o.name, exc)
        return Value(math.nan, math.nan)
    n = len(d.per_mask)
    # the value is the mean over the masks: its error is the fits' ⊕ the masks' sampling
    err = math.hypot(d.stat_err, d.mask_spread / math.sqrt(n))
    details.setdefault(p.particle, {}).setdefault("sigma_e_dead", {})[o.name] = {
        "value": d.value,
        "stat_err": d.stat_err,
        "mask_spread": d.mask_spread,
        "per_mask": list(d.per_mask),
        "dead_fraction": d.dead_fraction,
        "response": d.response,
        "mask_seed": mask_seed,
    }
    return Value(d.value, err)


def _systematics_value(
    det: Calorimeter,
    p: _Point,
    predict: Callable[[np.ndarray], np.ndarray],
    config: MeasurementConfig,
    r: float,
    r_err: float,
    pred: np.ndarray,
    details: dict[str, Any],
) -> Value:
    """σ/E + its systematic envelope (:func:`calolab.evaluation.systematics.point_systematics`
    with the declared variations of ``[measurement.systematics]``); error: the statistical."""
    from calolab.data.conditions import apply_conditions, random_dead
    from calolab.evaluation.systematics import point_systematics
    from calolab.simulation.digitize import DEFAULT_DIGITIZER
    from calolab.simulation.readout_variation import redigitize

    if not math.isfinite(r):
        return Value(math.nan, math.nan)
    assert p.test is not None
    test = p.test
    digitized = config.energies == "digitized"
    cfg = config.systematics_config

    def dead_predictions() -> np.ndarray:
        cond = random_dead(test.n_cells, cfg.dead_fraction, cfg.dead_seed)
        return predict(apply_conditions(test, cond).layer_energies(digitized=digitized))

    def readout_predictions(kind: str, scale: float) -> np.ndarray:
        noise, light = (scale, 1.0) if kind == "noise" else (1.0, scale)
        varied = copy.copy(test)
        varied.digitized = redigitize(
            test,
            seed=p.test_seed,
            noise_scale=noise,
            light_yield_scale=light,
            calibration=DEFAULT_DIGITIZER.calibration,
        )
        return predict(varied.layer_energies(digitized=True))

    e_true = np.asarray(test.energy, dtype=np.float64)
    try:
        sy = point_systematics(
            e_true,
            pred,
            cfg,
            dead_predictions=dead_predictions,
            readout_predictions=readout_predictions if digitized else None,
        )
    except DataError as exc:
        log.info("design '%s': no systematic envelope at %g GeV: %s", det.name, p.energy, exc)
        return Value(math.nan, math.nan)
    syst = sy.resolution_syst[0]
    details.setdefault(p.particle, {}).setdefault("systematics", {})[f"{p.energy:g}"] = {
        "resolution": r,
        "stat": r_err,
        "syst": syst,
        "sources": {s.source: s.resolution[0] for s in sy.sources},
        "notes": list(sy.notes),
    }
    return Value(r + syst, r_err)


# ----------------------------------------------------------------------------- payloads
def measurement_from_table(table: Mapping[str, Any]) -> MeasurementConfig:
    return from_table(MeasurementConfig, table, "[measurement]")


def measure_payload(payload: str) -> dict[str, Any]:
    """:func:`measure` on a JSON payload (what a Dask worker runs); returns a plain table.

    The payload holds the detector TOML, the measurement table, the objectives, the number
    of events, the seed and the seed tag.
    """
    from calolab.geometry.io import loads_detector

    d = json.loads(payload)
    det = loads_detector(d["detector"], source="trial design")
    config = measurement_from_table(d["measurement"])
    objectives = [Objective(**o) for o in d["objectives"]]
    t0 = time.perf_counter()
    m = measure(det, config, objectives, events=d["events"], seed=d["seed"], tag=d["tag"])
    out = m.to_table()
    out["seconds"] = time.perf_counter() - t0
    return out


def make_payload(
    det: Calorimeter,
    config: MeasurementConfig,
    objectives: Sequence[Objective],
    *,
    events: int,
    seed: int,
    tag: str = "search",
) -> str:
    """The JSON payload of :func:`measure_payload`."""
    from calolab.geometry.io import dumps_detector

    return json.dumps(
        {
            "detector": dumps_detector(det),
            "measurement": to_table(config),
            "objectives": [to_table(o) for o in objectives],
            "events": int(events),
            "seed": int(seed),
            "tag": tag,
        }
    )
