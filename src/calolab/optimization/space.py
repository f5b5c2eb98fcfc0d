"""Design spaces: a parametrised calorimeter, its constraints and its objectives, in TOML.

A design space is a detector file (:mod:`calolab.geometry.io`) in which some values are
parameters, plus what the search must respect and measure::

    name = "course"
    transverse_size_cm = [50.0, 50.0]          # fixed, or { choices = [...] }

    [constraints]                               # all optional
    budget_chf = 50000.0                        # CHF, of the cost named by `cost`:
    cost = "materials"                          # "total" (default): materials + readout
                                                # channels; "materials": materials only
    max_length_cm = 200.0                       # depth along the beam
    max_transverse_cm = 60.0                    # largest transverse size
    min_depth_x0 = 20.0                         # total depth in X0
    min_depth_lambda_i = 7.0                    # total depth in λI
    max_channels = 100000

    [measurement]                               # calolab.optimization.MeasurementConfig
    particles = ["e-", "pi+"]
    energies_gev = [10.0, 50.0]

    objectives = [                              # minimised (menu: objectives.METRICS)
        { metric = "resolution", particle = "e-" },     # one per energy
        { metric = "cost" },
    ]
    recorded = [{ metric = "stochastic", particle = "e-" }]   # measured, not optimised

    [[sections]]
    name = "ecal"
    repeat = { range = [10, 80] }                         # int range of periods (0: no section)
    cell_size_cm = { choices = [1.25, 2.5, 5.0] }         # transverse cell size
    layers = [
      { name = "absorber", material = { choices = ["Pb", "W", "none"] },
        thickness_cm = { range = [0.1, 0.6] } },          # float range, cm
      { name = "active", material = "polystyrene", thickness_cm = 0.2, sensitive = true },
    ]

    [references.course_pbscint]                 # named designs inside the space (the presets)
    "ecal.repeat" = 60
    ...

A value is fixed (a plain value) or a parameter: ``{ range = [lo, hi] }`` (float or int by
the field; optional ``step``, and ``log = true`` for floats) or ``{ choices = [...] }``.
Material ``"none"`` in a choice removes the layer; ``repeat = 0`` removes the section.
Parameters are named ``transverse_size_cm``, ``<section>.repeat``,
``<section>.cell_size_cm`` and ``<section>.<layer>.<field>`` (layers are named by their
``name`` key, else ``layer<i>``).

Validation happens when the file is read, before any simulation: unknown keys, unknown
materials (also inside choices), reversed or empty ranges, references outside the space,
and a space in which no design meets the constraints — that error names the cheapest and the
shortest possible designs.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.config import (
    check_float,
    check_int,
    from_table,
    loads_toml,
    read_toml,
    table_hash,
    to_table,
)
from calolab.core.errors import CalolabError, ConfigError, GeometryError, MaterialError
from calolab.geometry.detector import Calorimeter
from calolab.geometry.io import detector_from_dict
from calolab.geometry.materials import get_material
from calolab.optimization.objectives import (
    MeasurementConfig,
    Objective,
    ObjectiveSpec,
    design_key,
    expand_objectives,
)

log = logging.getLogger(__name__)

#: The material choice that removes a layer.
NONE_MATERIAL = "none"
KINDS = ("float", "int", "categorical")


# ----------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Parameter:
    """One free parameter of a design space.

    Parameters
    ----------
    name:
        ``"ecal.absorber.thickness_cm"``, ``"hcal1.repeat"``, ...
    kind:
        ``"float"`` (a range, continuous unless ``step``), ``"int"`` (a range of integers)
        or ``"categorical"`` (``choices``).
    low, high:
        Bounds of a range (inclusive).
    step:
        Grid step of a range (``None``: continuous floats, step 1 for ints).
    log:
        Log-uniform sampling of a range (floats, or ints without a step).
    choices:
        The values of a categorical parameter.
    unit:
        ``"cm"`` for lengths, ``""`` otherwise.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    unit: str = ""

    @property
    def is_continuous(self) -> bool:
        """A float range without a step: what a gradient-based search can move."""
        return self.kind == "float" and self.step is None

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return any(_same(value, c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        assert self.low is not None and self.high is not None
        v = float(value)
        tol = 1e-9 * max(1.0, abs(self.high))
        if not (self.low - tol <= v <= self.high + tol):
            return False
        if self.kind == "int" and v != int(v):
            return False
        if self.step is not None:
            k = (v - self.low) / self.step
            return abs(k - round(k)) < 1e-6
        return True

    def grid(self) -> tuple[Any, ...]:
        """Every value, for a grid search (refused for a continuous range)."""
        if self.kind == "categorical":
            return self.choices
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            step = int(self.step or 1)
            return tuple(range(int(self.low), int(self.high) + 1, step))
        if self.step is None:
            raise ConfigError(
                f"parameter '{self.name}' is a continuous range [{self.low:g}, {self.high:g}]; "
                "a grid search needs a step (range = [lo, hi], step = s) or choices"
            )
        n = int(math.floor((self.high - self.low) / self.step + 1e-9))
        return tuple(round(self.low + k * self.step, 12) for k in range(n + 1))

    def extremes(self) -> tuple[Any, ...]:
        """Values where a monotonic function of this parameter is smallest or largest."""
        if self.kind == "categorical":
            return self.choices
        return (self._cast(self.low), self._cast(self.high))

    def probe_values(self, n: int = 9) -> tuple[Any, ...]:
        """A few values across the parameter (for the feasibility search)."""
        if self.kind == "categorical":
            return self.choices
        assert self.low is not None and self.high is not None
        if self.step is not None or self.kind == "int":
            values = self.grid()
            if len(values) <= n:
                return values
            idx = np.unique(np.linspace(0, len(values) - 1, n).round().astype(int))
            return tuple(values[i] for i in idx)
        if self.log:
            return tuple(float(v) for v in np.geomspace(self.low, self.high, n))
        return tuple(float(v) for v in np.linspace(self.low, self.high, n))

    def sample(self, rng: np.random.Generator) -> Any:
        """A random value (uniform; log-uniform for ``log``)."""
        if self.kind == "categorical":
            return self.choices[int(rng.integers(len(self.choices)))]
        assert self.low is not None and self.high is not None
        if self.log and self.kind == "int":  # log-uniform on the integers, like Optuna
            x = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
            return int(min(max(round(x), self.low), self.high))
        if self.step is not None or self.kind == "int":
            values = self.grid()
            return values[int(rng.integers(len(values)))]
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def _cast(self, v: float | None) -> Any:
        assert v is not None
        return int(v) if self.kind == "int" else float(v)

    def describe(self) -> str:
        """``[0.1, 0.6] cm``, ``{Pb, W, none}``, ``10..80``."""
        if self.kind == "categorical":
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        u = f" {self.unit}" if self.unit else ""
        step = f" step {self.step:g}" if self.step is not None else ""
        log_ = " log" if self.log else ""
        if self.kind == "int":
            return f"{int(self.low or 0)}..{int(self.high or 0)}{step}{log_}"
        return f"[{self.low:g}, {self.high:g}]{u}{step}{log_}"

    def to_dict(self) -> dict[str, Any]:
        return to_table(self)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a) == list(b)
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)
    except (TypeError, ValueError):
        return a == b


# ----------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class LayerTable:
    """A layer of a space file: ``material`` and ``thickness_cm`` fixed or parameters."""

    material: Any
    thickness_cm: Any
    sensitive: bool = False
    name: str = ""


@dataclass(frozen=True)
class SectionTable:
    """A section of a space file: ``repeat`` and ``cell_size_cm`` fixed or parameters;
    ``readout`` a fixed readout table as in detector files (default: that of the sensitive
    material)."""

    name: str
    layers: tuple[LayerTable, ...]
    repeat: Any = 1
    cell_size_cm: Any = 1.0
    readout: dict[str, Any] | None = None


#: What a budget counts: ``cost`` key of ``[constraints]`` -> (attribute of
#: :class:`Calorimeter` and of :func:`~calolab.optimization.design_attributes`, label).
COST_BASES: dict[str, tuple[str, str]] = {
    "total": ("cost_chf", "total cost (materials + readout channels)"),
    "materials": ("material_cost_chf", "material cost (readout channels not counted)"),
}


@dataclass(frozen=True)
class Constraints:
    """What every design must meet (``None``: no limit).

    ``budget_chf`` applies to the cost named by ``cost``: ``"total"`` (the default,
    :attr:`Calorimeter.cost_chf`: materials plus readout channels) or ``"materials"``
    (:attr:`Calorimeter.material_cost_chf`, what the design course's 50,000 CHF counted).
    The same cost is the one that the ``cost``/``material_cost`` objective, the "at equal or
    lower cost" comparisons with the references, the tables and the plots use, so that like
    is compared with like. ``max_length_cm`` applies to the depth along the beam;
    ``max_transverse_cm`` to the larger transverse size; ``min_depth_x0`` and
    ``min_depth_lambda_i`` to the total depth; ``max_channels`` to the readout channels.
    """

    budget_chf: float | None = None
    cost: str = "total"
    max_length_cm: float | None = None
    max_transverse_cm: float | None = None
    min_depth_x0: float | None = None
    min_depth_lambda_i: float | None = None
    max_channels: int | None = None

    def __post_init__(self) -> None:
        where = "[constraints]"
        for name in (
            "budget_chf",
            "max_length_cm",
            "max_transverse_cm",
            "min_depth_x0",
            "min_depth_lambda_i",
        ):
            v = getattr(self, name)
            if v is not None:
                check_float(name, v, exclusive_minimum=0.0, where=where)
        if self.max_channels is not None:
            check_int("max_channels", self.max_channels, minimum=1, where=where)
        if self.cost not in COST_BASES:
            raise ConfigError(
                f'{where}: cost {self.cost!r} must be "total" (materials + readout channels) '
                f'or "materials" (materials only)'
            )

    # ------------------------------------------------------------------ cost basis
    @property
    def cost_key(self) -> str:
        """``"cost_chf"`` or ``"material_cost_chf"``: the cost that is constrained and
        compared (a key of :func:`~calolab.optimization.design_attributes`)."""
        return COST_BASES[self.cost][0]

    @property
    def cost_label(self) -> str:
        """``"material cost (readout channels not counted)"``, ..."""
        return COST_BASES[self.cost][1]

    @property
    def cost_short(self) -> str:
        """Column header: ``"cost (CHF, materials)"`` or ``"cost (CHF, total)"``."""
        return f"cost (CHF, {self.cost})"

    def cost_of(self, det: Calorimeter) -> float:
        """The constrained cost of a design, CHF."""
        return float(det.material_cost_chf if self.cost == "materials" else det.cost_chf)

    def cost_from(self, attrs: Mapping[str, float]) -> float:
        """The constrained cost from a trial's design attributes (NaN when absent)."""
        return float(attrs.get(self.cost_key, math.nan))

    def violations(self, det: Calorimeter) -> list[str]:
        """Human-readable violations of ``det`` (empty: feasible)."""
        out = det.check_constraints(
            budget_chf=self.budget_chf if self.cost == "total" else None,
            max_depth_cm=self.max_length_cm,
        )
        if self.cost == "materials" and self.budget_chf is not None:
            cost = det.material_cost_chf
            if cost > self.budget_chf:
                out.insert(
                    0,
                    f"material cost {cost:,.0f} CHF exceeds the materials budget of "
                    f"{self.budget_chf:,.0f} CHF by {cost - self.budget_chf:,.0f} CHF "
                    f"(readout channels, {det.channel_cost_chf:,.0f} CHF, not counted)",
                )
        size = max(det.transverse_size_cm)
        if self.max_transverse_cm is not None and size > self.max_transverse_cm + 1e-9:
            out.append(
                f"transverse size {size:g} cm exceeds the maximum of {self.max_transverse_cm:g} cm"
            )
        if self.min_depth_x0 is not None and det.depth_x0 < self.min_depth_x0 - 1e-9:
            out.append(f"depth {det.depth_x0:.1f} X0 is below the minimum of {self.min_depth_x0:g}")
        if self.min_depth_lambda_i is not None and det.depth_lambda_i < self.min_depth_lambda_i:
            out.append(
                f"depth {det.depth_lambda_i:.2f} λI is below the minimum of "
                f"{self.min_depth_lambda_i:g}"
            )
        if self.max_channels is not None and det.n_channels > self.max_channels:
            out.append(f"{det.n_channels:,} channels exceed the maximum of {self.max_channels:,}")
        return out

    def margins(self, det: Calorimeter) -> dict[str, float]:
        """Relative margin of every constraint (``<= 0``: met), for Optuna's
        ``set_constraint``."""
        values: dict[str, float] = {}
        if self.budget_chf is not None:
            values["budget"] = self.cost_of(det) / self.budget_chf - 1.0
        if self.max_length_cm is not None:
            values["length"] = det.depth_cm / self.max_length_cm - 1.0
        if self.max_transverse_cm is not None:
            values["transverse"] = max(det.transverse_size_cm) / self.max_transverse_cm - 1.0
        if self.min_depth_x0 is not None:
            values["depth_x0"] = 1.0 - det.depth_x0 / self.min_depth_x0
        if self.min_depth_lambda_i is not None:
            values["depth_lambda_i"] = 1.0 - det.depth_lambda_i / self.min_depth_lambda_i
        if self.max_channels is not None:
            values["channels"] = det.n_channels / self.max_channels - 1.0
        return values

    def excess(self, det: Calorimeter) -> float:
        """Sum of the relative violations (0 when feasible): a distance to feasibility."""
        return float(sum(max(0.0, v) for v in self.margins(det).values()))

    def describe(self) -> str:
        parts = []
        if self.budget_chf is not None:
            what = "materials budget" if self.cost == "materials" else "total budget"
            parts.append(f"{what} {self.budget_chf:,.0f} CHF")
        if self.max_length_cm is not None:
            parts.append(f"length ≤ {self.max_length_cm:g} cm")
        if self.max_transverse_cm is not None:
            parts.append(f"transverse size ≤ {self.max_transverse_cm:g} cm")
        if self.min_depth_x0 is not None:
            parts.append(f"depth ≥ {self.min_depth_x0:g} X0")
        if self.min_depth_lambda_i is not None:
            parts.append(f"depth ≥ {self.min_depth_lambda_i:g} λI")
        if self.max_channels is not None:
            parts.append(f"≤ {self.max_channels:,} channels")
        return ", ".join(parts) or "no constraints"


@dataclass(frozen=True)
class SpaceTable:
    """The whole space file, as read (values not yet interpreted)."""

    name: str
    transverse_size_cm: Any
    sections: tuple[SectionTable, ...]
    objectives: tuple[ObjectiveSpec, ...]
    description: str = ""
    constraints: Constraints = field(default_factory=Constraints)
    measurement: MeasurementConfig = field(default_factory=MeasurementConfig)
    recorded: tuple[ObjectiveSpec, ...] = ()
    references: dict[str, dict[str, Any]] = field(default_factory=dict)
    materials: dict[str, dict[str, Any]] = field(default_factory=dict)


# ----------------------------------------------------------------------------- templates
Spec = Any  # a fixed value or a Parameter


@dataclass(frozen=True)
class _Layer:
    name: str
    material: Spec
    thickness_cm: Spec
    sensitive: bool


@dataclass(frozen=True)
class _Section:
    name: str
    layers: tuple[_Layer, ...]
    repeat: Spec
    cell_size_cm: Spec
    readout: dict[str, Any] | None = None


@dataclass(frozen=True)
class DesignCheck:
    """A design built from parameters: the detector (``None`` if it cannot be built) and
    why it is not feasible (empty: feasible)."""

    params: dict[str, Any]
    detector: Calorimeter | None
    violations: tuple[str, ...]

    @property
    def feasible(self) -> bool:
        return self.detector is not None and not self.violations


class DesignSpace:
    """A validated design space (build with :func:`load_space` or :meth:`from_table`).

    Attributes
    ----------
    name, description:
        From the file.
    parameters:
        The free parameters, in file order.
    constraints:
        :class:`Constraints`.
    measurement:
        :class:`~calolab.optimization.MeasurementConfig`.
    objectives:
        The minimised :class:`~calolab.optimization.Objective` s.
    recorded:
        Further measured quantities, stored with every trial but not optimised.
    references:
        Named designs inside the space: name -> parameters.
    table:
        The canonical table of the file (what a study directory stores and compares).
    source:
        Where the space came from (a built-in name or a path).
    """

    def __init__(self, raw: SpaceTable, *, source: str = "<table>", check: bool = True):
        self.source = source
        self.text: str | None = None
        where = f"design space '{source}'"
        self._where = where
        self.name = raw.name
        self.description = raw.description
        self.constraints = raw.constraints
        self.measurement = raw.measurement
        self.table: dict[str, Any] = _without_unset_options(to_table(raw))
        self._material_specs = {k: dict(v) for k, v in raw.materials.items()}
        self._user_materials = _user_materials(self._material_specs, where)
        params: list[Parameter] = []
        self._transverse = self._spec(
            params, where, "transverse_size_cm", raw.transverse_size_cm, "pair"
        )
        sections: list[_Section] = []
        names: set[str] = set()
        for st in raw.sections:
            if st.name in names:
                raise ConfigError(f"{where}: section name '{st.name}' is used twice")
            names.add(st.name)
            swhere = f"{where}, section '{st.name}'"
            if not st.layers:
                raise ConfigError(f"{swhere}: layers is empty; give at least one layer")
            repeat = self._spec(params, swhere, f"{st.name}.repeat", st.repeat, "repeat")
            cell = self._spec(params, swhere, f"{st.name}.cell_size_cm", st.cell_size_cm, "pair")
            layers = []
            lnames: set[str] = set()
            for li, lt in enumerate(st.layers):
                lname = lt.name or f"layer{li}"
                if lname in lnames:
                    raise ConfigError(f"{swhere}: layer name '{lname}' is used twice")
                lnames.add(lname)
                lwhere = f"{swhere}, layer '{lname}'"
                prefix = f"{st.name}.{lname}"
                material = self._spec(params, lwhere, f"{prefix}.material", lt.material, "material")
                thickness = self._spec(
                    params, lwhere, f"{prefix}.thickness_cm", lt.thickness_cm, "length"
                )
                layers.append(_Layer(lname, material, thickness, lt.sensitive))
            readout = None
            if st.readout is not None:
                from calolab.geometry.readout import Readout

                if not isinstance(st.readout, Mapping):
                    raise ConfigError(f"{swhere}: readout must be a table, as in detector files")
                from_table(Readout, st.readout, f"{swhere}, readout")  # validated now
                readout = dict(st.readout)
            sections.append(_Section(st.name, tuple(layers), repeat, cell, readout))
        if not sections:
            raise ConfigError(f"{where}: sections is empty; give at least one [[sections]] table")
        self._sections = tuple(sections)
        self.parameters: tuple[Parameter, ...] = tuple(params)
        self._by_name = {p.name: p for p in params}
        self.objectives: tuple[Objective, ...] = expand_objectives(
            raw.objectives, raw.measurement, f"{where}: objectives"
        )
        if not self.objectives:
            raise ConfigError(f"{where}: objectives is empty; choose at least one from the menu")
        other = {"total": "material_cost", "materials": "cost"}[self.constraints.cost]
        wrong = [o.name for o in self.objectives if o.metric == other]
        if wrong:
            right = "material_cost" if other == "cost" else "cost"
            raise ConfigError(
                f"{where}: the objective {wrong[0]} is not the cost the budget counts "
                f'([constraints] cost = "{self.constraints.cost}": '
                f'{self.constraints.cost_label}); optimise {{ metric = "{right}" }} or change '
                "[constraints] cost, so that designs are compared at equal cost of one kind "
                "(the other cost can be recorded)"
            )
        self.recorded: tuple[Objective, ...] = tuple(
            o
            for o in expand_objectives(raw.recorded, raw.measurement, f"{where}: recorded")
            if o.name not in {x.name for x in self.objectives}
        )
        self.references: dict[str, dict[str, Any]] = {}
        for rname, rparams in raw.references.items():
            self.references[rname] = self._reference(rname, rparams)
        if check:
            self.check_feasible()

    # ------------------------------------------------------------------ parsing
    def _spec(self, params: list[Parameter], where: str, pname: str, raw: Any, what: str) -> Spec:
        """A fixed value or a new :class:`Parameter` from a value of the file."""
        if isinstance(raw, Mapping):
            unknown = sorted(set(raw) - {"range", "choices", "step", "log"})
            if unknown:
                raise ConfigError(
                    f"{where}: {_field(pname)} has unknown key(s) {', '.join(unknown)}; a "
                    "parameter is { range = [lo, hi] } (optional step, log) or "
                    "{ choices = [...] }"
                )
            if ("range" in raw) == ("choices" in raw):
                raise ConfigError(
                    f"{where}: {_field(pname)} {dict(raw)!r} must have either range or choices"
                )
            if "choices" in raw:
                if "step" in raw or "log" in raw:
                    raise ConfigError(f"{where}: {_field(pname)}: step and log apply to ranges")
                p = self._choices(where, pname, raw["choices"], what)
            else:
                p = self._range(where, pname, raw, what)
            params.append(p)
            return p
        return self._fixed(where, pname, raw, what)

    def _fixed(self, where: str, pname: str, raw: Any, what: str) -> Any:
        f = _field(pname)
        if what == "material":
            if raw == NONE_MATERIAL:
                raise ConfigError(
                    f"{where}: material 'none' as a fixed value removes the layer for good; "
                    "delete the layer instead (use 'none' among choices)"
                )
            return self._material(where, raw)
        if what == "repeat":
            return check_int(f, raw, minimum=1, where=where)
        if what == "length":
            return check_float(f, raw, exclusive_minimum=0.0, where=where, unit="cm")
        # a pair (transverse size, cell size): one number (square) or [x, y]
        if isinstance(raw, (list, tuple)):
            if len(raw) != 2:
                raise ConfigError(f"{where}: {f} {raw!r} must be a number or [x, y] in cm")
            return tuple(
                check_float(f"{f}[{i}]", v, exclusive_minimum=0.0, where=where, unit="cm")
                for i, v in enumerate(raw)
            )
        v = check_float(f, raw, exclusive_minimum=0.0, where=where, unit="cm")
        return (v, v)

    def _material(self, where: str, name: Any) -> str:
        if not isinstance(name, str):
            raise ConfigError(f"{where}: material {name!r} must be a material name")
        try:
            return get_material(name, self._user_materials).name
        except MaterialError as exc:
            raise MaterialError(f"{where}: {exc}") from None

    def _choices(self, where: str, pname: str, raw: Any, what: str) -> Parameter:
        f = _field(pname)
        if not isinstance(raw, (list, tuple)) or not raw:
            raise ConfigError(f"{where}: {f} choices {raw!r} must be a non-empty list")
        values: list[Any] = []
        for v in raw:
            value: Any
            if what == "material":
                value = NONE_MATERIAL if v == NONE_MATERIAL else self._material(where, v)
            elif what == "repeat":
                value = check_int(f"{f} choice", v, minimum=0, where=where)
            else:
                value = check_float(f"{f} choice", v, exclusive_minimum=0.0, where=where, unit="cm")
            if any(_same(value, x) for x in values):
                raise ConfigError(f"{where}: {f} choices {list(raw)!r} list {v!r} twice")
            values.append(value)
        if what == "material" and all(v == NONE_MATERIAL for v in values):
            raise ConfigError(f"{where}: {f} choices are all 'none'; delete the layer instead")
        unit = "cm" if what in ("length", "pair") else ""
        return Parameter(pname, "categorical", choices=tuple(values), unit=unit)

    def _range(self, where: str, pname: str, raw: Mapping[str, Any], what: str) -> Parameter:
        f = _field(pname)
        rng = raw["range"]
        if what == "material":
            raise ConfigError(f'{where}: {f} cannot be a range; give choices = ["Pb", "W", ...]')
        if not isinstance(rng, (list, tuple)) or len(rng) != 2:
            raise ConfigError(f"{where}: {f} range {rng!r} must be [lo, hi]")
        lo: float
        hi: float
        if what == "repeat":
            lo = check_int(f"{f} range[0]", rng[0], minimum=0, where=where)
            hi = check_int(f"{f} range[1]", rng[1], minimum=0, where=where)
        else:
            lo = check_float(f"{f} range[0]", rng[0], exclusive_minimum=0.0, where=where, unit="cm")
            hi = check_float(f"{f} range[1]", rng[1], exclusive_minimum=0.0, where=where, unit="cm")
        if lo > hi:
            raise ConfigError(
                f"{where}: {f} range [{rng[0]}, {rng[1]}] is reversed; write [{rng[1]}, {rng[0]}]"
            )
        if lo == hi:
            raise ConfigError(
                f"{where}: {f} range [{rng[0]}, {rng[1]}] is empty; give a fixed value instead"
            )
        step = raw.get("step")
        if step is not None:
            if what == "repeat":
                step = check_int(f"{f} step", step, minimum=1, where=where)
            else:
                step = check_float(f"{f} step", step, exclusive_minimum=0.0, where=where)
            if step > hi - lo:
                raise ConfigError(
                    f"{where}: {f} step {step:g} is larger than the range [{lo:g}, {hi:g}]"
                )
        log_ = raw.get("log", False)
        if not isinstance(log_, bool):
            raise ConfigError(f"{where}: {f} log {log_!r} must be true or false")
        if log_ and step is not None:
            raise ConfigError(f"{where}: {f}: log and step cannot be combined")
        if log_ and lo <= 0:
            raise ConfigError(f"{where}: {f}: a log range needs lo > 0, got {lo:g}")
        if what == "pair" and step is None:
            raise ConfigError(
                f"{where}: {f} range needs a step (a cell size must divide the transverse "
                "size, so the values must be few and chosen); or give choices"
            )
        kind = "int" if what == "repeat" else "float"
        return Parameter(
            pname,
            kind,
            low=lo,
            high=hi,
            step=step,
            log=log_,
            unit="" if kind == "int" else "cm",
        )

    def _reference(self, rname: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        where = f"{self._where}, [references.{rname}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be a table of parameter = value")
        unknown = sorted(set(raw) - set(self._by_name))
        if unknown:
            raise ConfigError(
                f"{where}: unknown parameter(s) {', '.join(unknown)}; parameters of this "
                f"space: {', '.join(self._by_name)}"
            )
        params: dict[str, Any] = {}
        for p in self.parameters:
            if p.name in raw:
                v = raw[p.name]
                if p.kind == "categorical" and p.name.endswith(".material") and isinstance(v, str):
                    v = v if v == NONE_MATERIAL else self._material(where, v)
                if not p.contains(v):
                    raise ConfigError(
                        f"{where}: {p.name} = {v!r} is outside the parameter's values "
                        f"{p.describe()}; widen the range or fix the reference"
                    )
                params[p.name] = int(v) if p.kind == "int" else v
        missing = [p.name for p in self.parameters if p.name not in params]
        # the thickness of a removed layer does not matter: its lower bound
        for name in list(missing):
            if name.endswith(".thickness_cm"):
                mat = name[: -len(".thickness_cm")] + ".material"
                if params.get(mat) == NONE_MATERIAL:
                    params[name] = self._by_name[name].extremes()[0]
                    missing.remove(name)
        if missing:
            raise ConfigError(f"{where}: missing parameter(s) {', '.join(missing)}")
        try:
            det = self.design(params, name=rname)
        except (GeometryError, ConfigError) as exc:
            raise ConfigError(f"{where}: the design cannot be built: {exc}") from None
        from calolab.geometry.presets import PRESETS

        if rname in PRESETS:
            preset = PRESETS[rname]()
            if design_key(preset) != design_key(det):
                raise ConfigError(
                    f"{where}: the parameters do not build the preset '{rname}': "
                    + _detector_difference(preset, det)
                )
        return params

    # ------------------------------------------------------------------ designs
    def design(self, params: Mapping[str, Any], name: str | None = None) -> Calorimeter:
        """The :class:`Calorimeter` of one point of the space.

        Raises
        ------
        ConfigError
            A parameter is missing or outside its values, or the design cannot be built
            (e.g. a cell size that does not divide the transverse size).
        """
        for p in self.parameters:
            if p.name not in params:
                raise ConfigError(f"{self._where}: parameter '{p.name}' has no value")
        unknown = sorted(set(params) - set(self._by_name))
        if unknown:
            raise ConfigError(f"{self._where}: unknown parameter(s) {', '.join(unknown)}")

        def value(spec: Spec) -> Any:
            return params[spec.name] if isinstance(spec, Parameter) else spec

        def pair(spec: Spec) -> list[float]:
            v = value(spec)
            if isinstance(v, (list, tuple)):
                return [float(v[0]), float(v[1])]
            return [float(v), float(v)]

        sections = []
        for s in self._sections:
            repeat = int(value(s.repeat))
            if repeat == 0:
                continue
            layers = []
            for layer in s.layers:
                material = value(layer.material)
                if material == NONE_MATERIAL:
                    continue
                layers.append(
                    {
                        "material": material,
                        "thickness_cm": float(value(layer.thickness_cm)),
                        "sensitive": layer.sensitive,
                    }
                )
            if layers:
                section: dict[str, Any] = {
                    "name": s.name,
                    "cell_size_cm": pair(s.cell_size_cm),
                    "repeat": repeat,
                    "layers": layers,
                }
                if s.readout is not None:
                    section["readout"] = dict(s.readout)
                sections.append(section)
        if not sections:
            raise GeometryError("every section is removed (repeat 0 or no layer)")
        data: dict[str, Any] = {
            "name": name or f"{self.name}-design",
            "description": f"a design of the space '{self.name}'",
            "transverse_size_cm": pair(self._transverse),
            "sections": sections,
        }
        if self._material_specs:
            data["materials"] = self._material_specs
        return detector_from_dict(data)

    def layout(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The sections and their layers' names, in file order: ``((section, (layer, ...)),
        ...)`` (a design built from a point drops removed layers and sections)."""
        return tuple((s.name, tuple(layer.name for layer in s.layers)) for s in self._sections)

    def check(self, params: Mapping[str, Any], name: str | None = None) -> DesignCheck:
        """Build the design of ``params`` and list its constraint violations (no simulation)."""
        try:
            det = self.design(params, name=name)
        except CalolabError as exc:
            return DesignCheck(dict(params), None, (f"cannot be built: {exc}",))
        return DesignCheck(dict(params), det, tuple(self.constraints.violations(det)))

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """A random point of the space (feasible or not)."""
        return {p.name: p.sample(rng) for p in self.parameters}

    def grid_size(self) -> int:
        return int(np.prod([len(p.grid()) for p in self.parameters])) if self.parameters else 1

    @property
    def all_objectives(self) -> tuple[Objective, ...]:
        """Objectives, then recorded quantities."""
        return self.objectives + self.recorded

    @property
    def hash(self) -> str:
        return table_hash(self.table)

    def reference_designs(self) -> dict[str, Calorimeter]:
        return {n: self.design(p, name=n) for n, p in self.references.items()}

    # ------------------------------------------------------------------ feasibility
    def _descend(
        self, start: Mapping[str, Any], key: Callable[[Calorimeter], float], probe: bool
    ) -> tuple[dict[str, Any], Calorimeter | None, float]:
        """Coordinate descent of ``key`` over the parameters (extremes, or probe values)."""
        params = dict(start)
        best_det: Calorimeter | None = None
        best = math.inf
        try:
            best_det = self.design(params)
            best = key(best_det)
        except CalolabError:
            pass
        for _ in range(8):
            improved = False
            for p in self.parameters:
                for v in p.probe_values() if probe else p.extremes():
                    if _same(v, params[p.name]):
                        continue
                    trial = {**params, p.name: v}
                    try:
                        det = self.design(trial)
                    except CalolabError:
                        continue
                    k = key(det)
                    if k < best - 1e-12 * max(1.0, abs(best)):
                        params, best, best_det, improved = trial, k, det, True
            if not improved:
                break
        return params, best_det, best

    def _start(self) -> dict[str, Any]:
        return {p.name: p.extremes()[0] for p in self.parameters}

    def cheapest(self) -> tuple[dict[str, Any], Calorimeter | None]:
        """The cheapest design of the space (coordinate descent over the parameters' extremes:
        cost is a sum of non-negative terms, each monotonic in one parameter)."""
        params, det, _ = self._descend(self._start(), self.constraints.cost_of, probe=False)
        return params, det

    def shortest(self) -> tuple[dict[str, Any], Calorimeter | None]:
        """The shortest design of the space."""
        params, det, _ = self._descend(self._start(), lambda d: d.depth_cm, probe=False)
        return params, det

    def find_feasible(self, n_random: int = 400, seed: int = 0) -> dict[str, Any] | None:
        """Parameters of a design that meets every constraint, or ``None`` if none was found
        (the extremes, ``n_random`` random designs, then a coordinate descent of the total
        relative violation from the closest ones)."""
        candidates: list[tuple[float, dict[str, Any]]] = []
        starts = [self._start(), self.cheapest()[0], self.shortest()[0]]
        starts += list(self.references.values())
        rng = np.random.default_rng(seed)
        starts += [self.sample(rng) for _ in range(n_random)]
        for params in starts:
            c = self.check(params)
            if c.feasible:
                return dict(params)
            if c.detector is not None:
                candidates.append((self.constraints.excess(c.detector), params))
        candidates.sort(key=lambda t: t[0])
        for _, params in candidates[:3]:
            found, det, excess = self._descend(params, self.constraints.excess, probe=True)
            if det is not None and excess <= 0 and not self.constraints.violations(det):
                return found
        return None

    def check_feasible(self) -> None:
        """Raise :class:`ConfigError` when no design of the space meets the constraints,
        naming the cheapest and the shortest designs and what they violate."""
        if self.find_feasible() is not None:
            return
        lines = []
        for what, (params, det) in (("cheapest", self.cheapest()), ("shortest", self.shortest())):
            if det is None:
                lines.append(f"the {what} design cannot be built")
                continue
            problems = self.constraints.violations(det) or ["meets the constraints alone"]
            lines.append(
                f"the {what} design ({_fmt_params(params)}) has a {self.constraints.cost} cost "
                f"of {self.constraints.cost_of(det):,.0f} CHF and is "
                f"{det.depth_cm:.1f} cm long: {'; '.join(problems)}"
            )
        raise ConfigError(
            f"{self._where}: no design meets the constraints ({self.constraints.describe()}); "
            + "; ".join(lines)
            + ". Relax the constraints or change the parameter ranges"
        )

    # ------------------------------------------------------------------ files
    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], source: str = "<table>", check: bool = True
    ) -> DesignSpace:
        raw = from_table(SpaceTable, table, f"design space '{source}'")
        return cls(raw, source=source, check=check)

    def describe(self) -> dict[str, Any]:
        """Plain-data summary: parameters, constraints, objectives, references."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "parameters": [
                {"name": p.name, "kind": p.kind, "values": p.describe()} for p in self.parameters
            ],
            "constraints": self.constraints.describe(),
            "objectives": [o.name for o in self.objectives],
            "recorded": [o.name for o in self.recorded],
            "references": list(self.references),
            "particles": list(self.measurement.particle_names),
            "energies_gev": list(self.measurement.energies_gev),
            "energies": self.measurement.energies,
            "cost": self.constraints.cost,
        }


#: Keys of an objective and of [measurement] added after studies were stored, with the value
#: that means "not used": left out of the canonical table, so that the studies made before
#: they existed can still be resumed (their stored tables do not have them).
_UNSET_OBJECTIVE = {"dead_fraction": None, "pattern": None, "masks": None, "systematics": False}
_UNSET_MEASUREMENT = {"systematics": None}


def _without_unset_options(table: dict[str, Any]) -> dict[str, Any]:
    for key in ("objectives", "recorded"):
        for spec in table.get(key) or ():
            for k, unset in _UNSET_OBJECTIVE.items():
                if k in spec and spec[k] is unset:
                    del spec[k]
    measurement = table.get("measurement") or {}
    for k, unset in _UNSET_MEASUREMENT.items():
        if k in measurement and measurement[k] is unset:
            del measurement[k]
    return table


def _field(pname: str) -> str:
    return pname.rsplit(".", 1)[-1]


def _fmt_params(params: Mapping[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k} = {fmt(v)}" for k, v in params.items())


def _user_materials(specs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The materials of a ``[materials]`` table, validated by the detector-file reader."""
    if not specs:
        return {}
    probe = {
        "name": "materials-probe",
        "transverse_size_cm": [1.0, 1.0],
        "materials": specs,
        "sections": [
            {
                "name": "probe",
                "layers": [{"material": n, "thickness_cm": 1.0, "sensitive": True} for n in specs],
            }
        ],
    }
    try:
        det = detector_from_dict(probe)
    except (GeometryError, MaterialError) as exc:
        raise ConfigError(f"{where}, [materials]: {exc}") from None
    return {layer.material.name: layer.material for layer in det.sections[0].layers}


def _detector_difference(a: Calorimeter, b: Calorimeter) -> str:
    """The first difference between two detectors' descriptions."""
    da, db = a.to_dict(), b.to_dict()
    if da["transverse_size_cm"] != db["transverse_size_cm"]:
        return f"transverse size {da['transverse_size_cm']} vs {db['transverse_size_cm']}"
    sa, sb = da["sections"], db["sections"]
    if len(sa) != len(sb):
        return f"{len(sa)} sections vs {len(sb)}"
    for x, y in zip(sa, sb):
        for k in ("name", "cell_size_cm", "repeat", "readout"):
            if x.get(k) != y.get(k):
                return f"section '{x['name']}' {k} {x[k]} vs {y[k]}"
        if len(x["layers"]) != len(y["layers"]):
            return f"section '{x['name']}' has {len(x['layers'])} layers vs {len(y['layers'])}"
        for i, (la, lb) in enumerate(zip(x["layers"], y["layers"])):
            if la != lb:
                return f"section '{x['name']}' layer {i}: {la} vs {lb}"
    return "material properties differ"


def table_differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Differences between two plain tables, one line each: ``path: old -> new``."""
    out: list[str] = []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for k in sorted(set(old) | set(new), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in new:
                out.append(f"{p}: {_short(old[k])} -> (absent)")
            elif k not in old:
                out.append(f"{p}: (absent) -> {_short(new[k])}")
            else:
                out.extend(table_differences(old[k], new[k], p))
        return out
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            out.extend(table_differences(a, b, f"{path}[{i}]"))
        return out
    if old != new:
        out.append(f"{path}: {_short(old)} -> {_short(new)}")
    return out


def _short(v: Any, limit: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------- loading
def builtin_spaces() -> list[str]:
    """Names of the design spaces shipped with calolab."""
    root = resources.files("calolab.optimization").joinpath("spaces")
    return sorted(p.name[: -len(".toml")] for p in root.iterdir() if p.name.endswith(".toml"))


def _builtin_text(name: str) -> str:
    return (
        resources.files("calolab.optimization")
        .joinpath("spaces", f"{name}.toml")
        .read_text(encoding="utf-8")
    )


def space_text(spec: str | os.PathLike[str]) -> tuple[str, str]:
    """``(TOML text, source)`` of a built-in space name or a space file."""
    s = os.fspath(spec)
    if s in builtin_spaces():
        return _builtin_text(s), s
    p = Path(s)
    if p.suffix == ".toml" or p.exists():
        read_toml(p, "design space")  # bounded size and nesting, the project's messages
        return p.read_text(encoding="utf-8"), str(p)
    raise ConfigError(
        f"unknown design space '{s}'; built-in spaces: {', '.join(builtin_spaces())} "
        "(or give the path of a .toml space file)"
    )


def load_space(spec: str | os.PathLike[str] | DesignSpace, check: bool = True) -> DesignSpace:
    """A built-in space by name (``course``, ``endcap``, ``muon-block``), a space file, or
    a :class:`DesignSpace` (returned as is).

    Raises
    ------
    ConfigError
        An invalid file (see the module docstring) or a space without feasible designs.
    """
    if isinstance(spec, DesignSpace):
        return spec
    text, source = space_text(spec)
    return loads_space(text, source, check=check)


def loads_space(text: str, source: str = "<string>", check: bool = True) -> DesignSpace:
    """A design space from TOML text (kept as :attr:`DesignSpace.text`)."""
    table = loads_toml(text, f"design space '{source}'")
    space = DesignSpace.from_table(table, source=source, check=check)
    space.text = text
    return space


def iter_points(space: DesignSpace) -> Iterator[dict[str, Any]]:
    """Every point of a space whose parameters all have finite values (grid order)."""
    import itertools

    names = [p.name for p in space.parameters]
    for values in itertools.product(*(p.grid() for p in space.parameters)):
        yield dict(zip(names, values))


__all__ = [
    "Constraints",
    "DesignCheck",
    "DesignSpace",
    "Parameter",
    "builtin_spaces",
    "iter_points",
    "load_space",
    "loads_space",
    "table_differences",
]
