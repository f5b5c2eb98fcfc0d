"""Results of a study: the trials, the Pareto front, the designs as detector files.

:func:`load_study` reads a study directory into :class:`StudyResults` (the Optuna database is
the source of truth); :func:`write_results` writes, next to it:

``trials.csv``
    One row per trial: number, state (``complete``, ``infeasible``, ``failed``,
    ``running``), reference name, ``duplicate_of``, every parameter, every measured
    quantity and its error (``<name>`` and ``<name>_err``), the design's exact numbers
    (cost, length, depths, sampling fractions...), seconds, showers, and why a design was
    infeasible or failed.
``pareto.json``
    The objective names and units, and for every non-dominated feasible design (one entry
    per distinct design): trial number, parameters, each objective and recorded quantity as
    ``{"value", "error"}``, ``cost_chf`` (total) and ``material_cost_chf``, ``length_cm``,
    the path of its detector file under
    ``designs/`` and which reference designs it beats; the reference designs themselves;
    the totals (trials, showers, wall time).
``importances.json``
    Optuna's parameter importances (PED-ANOVA) for each objective.
``designs/``
    ``trial-<number>.toml`` for every front design and ``<reference>.toml`` for the
    references: detector files that ``calolab simulate`` takes.

A design *beats* a reference when it is feasible, costs no more — the cost the space's
budget counts, total or materials (``pareto.json`` ``cost_basis``) — and has a lower value of
every objective other than cost, length and channel count.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calolab.core.errors import CalolabError, DataError
from calolab.core.files import write_json, write_text
from calolab.geometry.detector import Calorimeter
from calolab.optimization.objectives import GEOMETRIC, Objective, Value, design_attributes
from calolab.optimization.space import DesignSpace
from calolab.optimization.study import (
    STUDY_NAME,
    _quiet_optuna,
    load_study_space,
    storage_url,
)

log = logging.getLogger(__name__)

PARETO_FORMAT = "calolab-pareto"
DESIGNS_DIR = "designs"
_DESIGN_FILE = re.compile(r"^trial-\d+\.toml$")


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a study, read back from the database.

    ``state``: ``complete``, ``infeasible`` (not measured), ``failed`` or ``running``;
    ``values``: every measured quantity (objectives and recorded ones) with its error;
    ``design``: the design's exact numbers (:func:`design_attributes`); ``violations``: the
    constraints it does not meet (references can be measured anyway).
    """

    number: int
    state: str
    params: dict[str, Any]
    values: dict[str, Value] = field(default_factory=dict)
    design: dict[str, float] = field(default_factory=dict)
    reference: str | None = None
    duplicate_of: int | None = None
    violations: tuple[str, ...] = ()
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    showers: int = 0
    seconds: float = 0.0
    design_key: str = ""
    started: str = ""
    completed: str = ""

    @property
    def feasible(self) -> bool:
        return self.state == "complete" and not self.violations

    def value(self, name: str) -> float:
        v = self.values.get(name)
        return v.value if v is not None else math.nan

    def error_of(self, name: str) -> float:
        v = self.values.get(name)
        return v.error if v is not None else math.nan


@dataclass
class StudyResults:
    """A study read from its directory."""

    directory: Path
    space: DesignSpace
    info: dict[str, Any]
    trials: list[TrialRecord]

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return self.space.objectives

    @property
    def recorded(self) -> tuple[Objective, ...]:
        return self.space.recorded

    @property
    def complete(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.state == "complete"]

    @property
    def performance_objectives(self) -> tuple[Objective, ...]:
        """Objectives measured on showers (not cost, length, channels)."""
        return tuple(o for o in self.objectives if not o.is_geometric)

    def design(self, trial: TrialRecord) -> Calorimeter:
        """The detector of a trial."""
        name = trial.reference or f"{self.space.name}-trial-{trial.number}"
        return self.space.design(trial.params, name=name)

    def front(self) -> list[TrialRecord]:
        """Non-dominated feasible designs (one per distinct design, the first trial)."""
        feasible = [t for t in self.complete if t.feasible and t.duplicate_of is None]
        names = [o.name for o in self.objectives]
        vecs = [[t.value(n) for n in names] for t in feasible]
        out = []
        for i, t in enumerate(feasible):
            a = vecs[i]
            dominated = any(
                all(b_k <= a_k for a_k, b_k in zip(a, b))
                and any(b_k < a_k for a_k, b_k in zip(a, b))
                for j, b in enumerate(vecs)
                if j != i
            )
            if not dominated:
                out.append(t)
        return out

    def references(self) -> list[TrialRecord]:
        """The measured reference designs (first measurement of each)."""
        seen: dict[str, TrialRecord] = {}
        for t in self.complete:
            if t.reference and t.reference not in seen:
                seen[t.reference] = t
        return list(seen.values())

    def cost(self, trial: TrialRecord) -> float:
        """The cost of a trial's design that the space constrains and compares, CHF
        (total or materials: ``space.constraints.cost``)."""
        return self.space.constraints.cost_from(trial.design)

    def beats(self, design: TrialRecord, reference: TrialRecord) -> bool:
        """Feasible, no more expensive (the constrained cost), and lower on every
        performance objective."""
        if not design.feasible:
            return False
        if not self.cost(design) <= self.cost(reference):
            return False
        perf = self.performance_objectives
        return bool(perf) and all(design.value(o.name) < reference.value(o.name) for o in perf)

    @property
    def wall_seconds(self) -> float:
        return float(sum(s.get("wall_seconds", 0.0) for s in self.info.get("sessions", [])))

    @property
    def showers(self) -> int:
        return int(sum(t.showers for t in self.trials))

    def importances(self) -> dict[str, dict[str, float]]:
        """Optuna's parameter importances for each objective (``{}`` when too few trials)."""
        path = self.directory / "importances.json"
        if path.exists():
            from calolab.core.config import read_json

            data = read_json(path, "importances file")
            if isinstance(data, dict):
                return {k: dict(v) for k, v in data.get("importances", {}).items()}
        return compute_importances(self)


def _state(optuna: Any, t: Any) -> str:
    TS = optuna.trial.TrialState
    if t.state == TS.COMPLETE:
        return "complete"
    if t.state == TS.PRUNED:
        return "infeasible"
    if t.state == TS.FAIL:
        return "failed"
    return "running"


def load_study(directory: str | os.PathLike[str]) -> StudyResults:
    """Read a study directory written by :func:`calolab.optimization.run_study`.

    Raises
    ------
    ConfigError
        Not a study directory.
    DataError
        The database is missing or unreadable.
    """
    d = Path(directory)
    space, info = load_study_space(d)
    if not (d / "study.db").is_file():
        raise DataError(f"'{d}' has no study.db; the study was never run or the file was removed")
    with _quiet_optuna() as optuna:
        try:
            study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(d))
        except Exception as exc:  # a damaged or foreign database
            raise DataError(f"cannot read the study database in '{d}': {exc}") from None
        records = []
        for t in study.get_trials(deepcopy=False):
            ua = t.user_attrs
            values = {k: Value(float(v[0]), float(v[1])) for k, v in ua.get("values", {}).items()}
            design = {k: float(v) for k, v in ua.get("design", {}).items()}
            if t.state == optuna.trial.TrialState.COMPLETE:
                # recomputed from the parameters: exact, and current with calolab's definitions
                with contextlib.suppress(CalolabError):
                    design = design_attributes(space.design(t.params))
            records.append(
                TrialRecord(
                    number=t.number,
                    state=_state(optuna, t),
                    params=dict(t.params),
                    values=values,
                    design=design,
                    reference=ua.get("reference"),
                    duplicate_of=ua.get("duplicate_of"),
                    violations=tuple(ua.get("violations", ())),
                    error=str(ua.get("error", "")),
                    timings={k: float(v) for k, v in ua.get("timings", {}).items()},
                    showers=int(ua.get("showers", 0)),
                    seconds=float(ua.get("seconds", 0.0)),
                    design_key=str(ua.get("design_key", "")),
                    started=t.datetime_start.isoformat() if t.datetime_start else "",
                    completed=t.datetime_complete.isoformat() if t.datetime_complete else "",
                )
            )
    return StudyResults(d, space, info, records)


def compute_importances(results: StudyResults) -> dict[str, dict[str, float]]:
    """PED-ANOVA importances of the parameters for each objective (Optuna's default
    evaluator), over the complete, distinct trials; ``{}`` with fewer than 8 of them."""
    trials = [t for t in results.complete if t.duplicate_of is None]
    if len(trials) < 8:
        return {}
    out: dict[str, dict[str, float]] = {}
    with _quiet_optuna() as optuna, warnings.catch_warnings():
        # PED-ANOVA reminds that it ranks parameters for *low* values: what we minimise
        warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator")
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(results.directory))
        for i, o in enumerate(results.objectives):
            try:
                imp = optuna.importance.get_param_importances(
                    study, target=lambda t, i=i: t.values[i]
                )
            except Exception as exc:  # e.g. a parameter that never varied
                log.warning("importances of %s: %s", o.name, exc)
                continue
            out[o.name] = {k: float(v) for k, v in imp.items()}
    return out


# ----------------------------------------------------------------------------- writing
def _number_text(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else repr(x)


def trials_table(results: StudyResults) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of ``trials.csv``."""
    params = [p.name for p in results.space.parameters]
    measured = [o.name for o in results.space.all_objectives]
    design_cols: list[str] = []
    for t in results.trials:
        for k in t.design:
            if k not in design_cols:
                design_cols.append(k)
    header = ["trial", "state", "reference", "duplicate_of", *params]
    for m in measured:
        header += [m, f"{m}_err"]
    header += [f"design.{k}" for k in design_cols]
    header += ["seconds", "showers", "t_simulation", "t_calibration", "t_fit", "t_cpu", "why"]
    rows = []
    for t in results.trials:
        row: list[Any] = [t.number, t.state, t.reference or "", _opt(t.duplicate_of)]
        row += [t.params.get(p, "") for p in params]
        for m in measured:
            v = t.values.get(m)
            row += [_number_text(v.value), _number_text(v.error)] if v else ["", ""]
        row += [_number_text(t.design[k]) if k in t.design else "" for k in design_cols]
        row += [
            f"{t.seconds:.3f}",
            t.showers,
            *(f"{t.timings.get(k, 0.0):.3f}" for k in ("simulation", "calibration", "fit", "cpu")),
            "; ".join(t.violations) if t.violations else t.error,
        ]
        rows.append(row)
    return header, rows


def _opt(x: Any) -> Any:
    return "" if x is None else x


def _entry(results: StudyResults, t: TrialRecord, design_file: str | None) -> dict[str, Any]:
    return {
        "trial": t.number,
        "reference": t.reference,
        "params": t.params,
        "objectives": {
            o.name: {"value": t.value(o.name), "error": t.error_of(o.name)}
            for o in results.objectives
        },
        "recorded": {
            o.name: {"value": t.value(o.name), "error": t.error_of(o.name)}
            for o in results.recorded
        },
        "cost_chf": t.design.get("cost_chf"),
        "material_cost_chf": t.design.get("material_cost_chf"),
        "length_cm": t.design.get("length_cm"),
        "depth_x0": t.design.get("depth_x0"),
        "depth_lambda_i": t.design.get("depth_lambda_i"),
        "channels": t.design.get("channels"),
        "feasible": t.feasible,
        "violations": list(t.violations),
        "design": design_file,
    }


def pareto_table(results: StudyResults) -> dict[str, Any]:
    """The content of ``pareto.json``."""
    front = results.front()
    refs = results.references()
    states: dict[str, int] = {}
    for t in results.trials:
        states[t.state] = states.get(t.state, 0) + 1
    objectives = [
        {"name": o.name, "label": o.label, "unit": o.unit, "direction": "minimize"}
        for o in results.objectives
    ]
    entries = []
    for t in sorted(front, key=lambda t: t.number):
        e = _entry(results, t, f"{DESIGNS_DIR}/trial-{t.number}.toml")
        e["beats"] = [r.reference for r in refs if results.beats(t, r)]
        entries.append(e)
    references = []
    for r in refs:
        e = _entry(results, r, f"{DESIGNS_DIR}/{_safe(r.reference or 'reference')}.toml")
        e["name"] = r.reference
        e["beaten_by"] = [t.number for t in front if results.beats(t, r)]
        references.append(e)
    return {
        "format": PARETO_FORMAT,
        "version": 1,
        "space": results.space.name,
        "objectives": objectives,
        "recorded": [{"name": o.name, "label": o.label, "unit": o.unit} for o in results.recorded],
        "constraints": results.space.constraints.describe(),
        "cost_basis": {
            "cost": results.space.constraints.cost,
            "key": results.space.constraints.cost_key,
            "label": results.space.constraints.cost_label,
        },
        "events": results.info.get("events"),
        "seed": results.info.get("seed"),
        "method": results.info.get("method"),
        "trials": states,
        "showers": results.showers,
        "wall_seconds": results.wall_seconds,
        "front": entries,
        "references": references,
    }


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", name) or "design"


def write_results(directory: str | os.PathLike[str]) -> StudyResults:
    """Write ``trials.csv``, ``pareto.json``, ``importances.json`` and ``designs/`` of a
    study directory (atomically, file by file); returns the results."""
    from calolab.geometry.io import dumps_detector

    results = load_study(directory)
    d = results.directory
    header, rows = trials_table(results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    write_text(d / "trials.csv", buf.getvalue())
    designs = d / DESIGNS_DIR
    designs.mkdir(exist_ok=True)
    front = results.front()
    keep = set()
    for t in front:
        name = f"trial-{t.number}.toml"
        keep.add(name)
        write_text(designs / name, dumps_detector(results.design(t)))
    for r in results.references():
        name = f"{_safe(r.reference or 'reference')}.toml"
        keep.add(name)
        write_text(designs / name, dumps_detector(results.design(r)))
    for f in designs.iterdir():  # designs that left the front
        if _DESIGN_FILE.match(f.name) and f.name not in keep:
            f.unlink()
    write_json(d / "pareto.json", pareto_table(results))
    imps = compute_importances(results)
    write_json(d / "importances.json", {"importances": imps})
    return results


def front_table(results: StudyResults, trials: Sequence[TrialRecord]) -> list[dict[str, Any]]:
    """Rows for printing: trial, cost, length and each objective as value ± error."""
    rows = []
    for t in trials:
        row: dict[str, Any] = {
            "trial": t.number,
            "reference": t.reference or "",
            "cost_chf": t.design.get("cost_chf"),
            "material_cost_chf": t.design.get("material_cost_chf"),
            "length_cm": t.design.get("length_cm"),
        }
        for o in results.objectives:
            if o.metric in GEOMETRIC:
                continue
            row[o.name] = (t.value(o.name), t.error_of(o.name))
        rows.append(row)
    return rows


__all__ = [
    "StudyResults",
    "TrialRecord",
    "front_table",
    "load_study",
    "pareto_table",
    "trials_table",
    "write_results",
]
