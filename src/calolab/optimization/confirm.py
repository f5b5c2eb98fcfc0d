"""Confirm a front: measure its designs and the references again with more statistics.

The search picks the front from noisy measurements, so its best numbers are biased low (a
design that was lucky looks better than it is). ``calolab optimize confirm DIR --events N``
measures every front design and every reference design again with ``N`` showers per point,
on an independent seed stream (tag ``"confirm"``), and writes ``confirm.json``:

* for every design: the search value and the confirmed value of each objective and recorded
  quantity, with errors, and their difference in standard deviations (the *pull*);
* for every reference: which front designs beat it (feasible, no more expensive, lower on
  every performance objective) in the search and in the confirmation, with, per objective,
  the difference and its significance.

Each confirmed design is stored in ``confirm/<design key>-<events>.json`` as soon as it is
measured, so an interrupted confirmation resumes where it stopped.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calolab.core.config import check_choice, check_int, read_json
from calolab.core.errors import CalolabError, ConfigError, DataError
from calolab.core.files import write_json
from calolab.optimization.objectives import Measurement, Value, make_payload, measure_payload
from calolab.optimization.results import StudyResults, TrialRecord, load_study
from calolab.optimization.study import _locked

log = logging.getLogger(__name__)

CONFIRM_DIR = "confirm"
CONFIRM_FILE = "confirm.json"
TAG = "confirm"


@dataclass(frozen=True)
class ConfirmedDesign:
    """One design measured in the search and again in the confirmation."""

    trial: int
    reference: str | None
    search: dict[str, Value]
    confirm: dict[str, Value]
    cost_chf: float
    length_cm: float
    feasible: bool
    in_front: bool
    material_cost_chf: float = math.nan
    cost: float = math.nan  # the cost the space constrains (total or materials), CHF

    def pull(self, name: str) -> float:
        a, b = self.search.get(name), self.confirm.get(name)
        if a is None or b is None:
            return math.nan
        err = math.hypot(a.error, b.error)
        return (b.value - a.value) / err if err > 0 else math.nan


@dataclass(frozen=True)
class ConfirmResult:
    """What :func:`confirm_study` measured and wrote."""

    path: Path
    events: int
    designs: list[ConfirmedDesign]
    comparisons: list[dict[str, Any]]
    showers: int
    wall_seconds: float


def _cache_path(directory: Path, key: str, events: int) -> Path:
    return directory / CONFIRM_DIR / f"{key[:20]}-{events}.json"


def _values(d: Any) -> dict[str, Value]:
    return {k: Value(float(v[0]), float(v[1])) for k, v in d.items()}


def confirm_study(
    directory: str | os.PathLike[str],
    *,
    events: int,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    designs: str = "front",
    progress: Callable[[int, int], None] | None = None,
) -> ConfirmResult:
    """Measure the front and the references of a study again with ``events`` showers per
    point and write ``confirm.json`` (see the module docstring).

    Parameters
    ----------
    directory:
        A study directory (``calolab optimize run --output``).
    events:
        Showers per particle and energy point; typically 10 times the study's.
    workers, scheduler, client:
        As for :func:`~calolab.optimization.run_study`.
    designs:
        ``"front"``: every front design; ``"beating"``: only the front designs that beat a
        reference in the search (the claims to check, when the front is large). The
        references are always measured again.
    progress:
        Called with ``(designs done, designs in all)``.
    """
    d = Path(directory)
    events = check_int("--events", events, minimum=4, maximum=100_000_000)
    if workers is not None:
        workers = check_int("--workers", workers, minimum=1, maximum=1024)
    if workers is not None and scheduler is not None:
        raise ConfigError("give either --workers (a local Dask cluster) or --scheduler, not both")
    check_choice("designs", designs, ("front", "beating"))
    results = load_study(d)
    front = results.front()
    if designs == "beating":
        refs = results.references()
        front = [t for t in front if any(results.beats(t, r) for r in refs)]
    if not results.front():
        raise DataError(
            f"the study in '{d}' has no feasible measured design yet; run more trials first"
        )
    in_front = {t.number for t in front}
    by_number = {t.number: t for t in [*results.references(), *front]}
    targets: list[TrialRecord] = [by_number[n] for n in sorted(by_number)]
    seed = int(results.info["seed"])
    t0 = time.perf_counter()
    with _locked(d):
        (d / CONFIRM_DIR).mkdir(exist_ok=True)
        todo = []
        for t in targets:
            path = _cache_path(d, t.design_key, events)
            if path.exists():
                try:
                    cached = read_json(path, "confirmation")
                    if cached.get("seed") == seed and cached.get("events") == events:
                        continue
                except CalolabError:
                    pass  # damaged: measure again
            todo.append(t)
        n_all, n_done = len(targets), len(targets) - len(todo)
        if progress is not None:
            progress(n_done, n_all)
        showers = 0

        def store(t: TrialRecord, result: dict[str, Any]) -> None:
            nonlocal n_done, showers
            write_json(
                _cache_path(d, t.design_key, events),
                {"trial": t.number, "seed": seed, "events": events, **result},
            )
            showers += int(result["showers"])
            n_done += 1
            if progress is not None:
                progress(n_done, n_all)

        def payload(t: TrialRecord) -> str:
            return make_payload(
                results.design(t),
                results.space.measurement,
                results.space.all_objectives,
                events=events,
                seed=seed,
                tag=TAG,
            )

        if todo:
            if workers is None and scheduler is None and client is None:
                for t in todo:
                    store(t, measure_payload(payload(t)))
            else:
                _confirm_dask(todo, payload, store, workers, scheduler, client)
        confirmed: list[ConfirmedDesign] = []
        for t in targets:
            cached = read_json(_cache_path(d, t.design_key, events), "confirmation")
            m = Measurement.from_table(cached)
            confirmed.append(
                ConfirmedDesign(
                    trial=t.number,
                    reference=t.reference,
                    search=dict(t.values),
                    confirm=m.values,
                    cost_chf=t.design.get("cost_chf", math.nan),
                    material_cost_chf=t.design.get("material_cost_chf", math.nan),
                    cost=results.cost(t),
                    length_cm=t.design.get("length_cm", math.nan),
                    feasible=t.feasible,
                    in_front=t.number in in_front,
                )
            )
        comparisons = _comparisons(results, confirmed)
        wall = time.perf_counter() - t0
        table = _table(results, confirmed, comparisons, events, showers, wall)
        path = write_json(d / CONFIRM_FILE, table)
    return ConfirmResult(path, events, confirmed, comparisons, showers, wall)


def _confirm_dask(
    todo: list[TrialRecord],
    payload: Callable[[TrialRecord], str],
    store: Callable[[TrialRecord, dict[str, Any]], None],
    workers: int | None,
    scheduler: str | None,
    client: Any,
) -> None:
    from distributed import as_completed

    from calolab.simulation.campaign import dask_client

    def run(cl: Any) -> None:
        futures = {
            cl.submit(
                measure_payload,
                payload(t),
                pure=False,
                key=f"calolab-confirm-{t.number}-" f"{os.urandom(4).hex()}",
            ): t
            for t in todo
        }
        try:
            for fut in as_completed(futures):
                store(futures[fut], fut.result())
        finally:
            cl.cancel(list(futures))

    if client is not None:
        run(client)
    else:
        with dask_client(workers, scheduler) as cl:
            run(cl)


def _comparisons(results: StudyResults, designs: list[ConfirmedDesign]) -> list[dict[str, Any]]:
    perf = results.performance_objectives
    refs = [x for x in designs if x.reference is not None]
    front = [x for x in designs if x.in_front]
    out = []
    for r in refs:
        rows = []
        for x in front:
            if x is r or not x.feasible or not x.cost <= r.cost:
                continue
            per: dict[str, Any] = {}
            for o in perf:
                a, b = x.confirm[o.name], r.confirm[o.name]
                err = math.hypot(a.error, b.error)
                per[o.name] = {
                    "design": a.value,
                    "reference": b.value,
                    "difference": a.value - b.value,
                    "significance": (b.value - a.value) / err if err > 0 else math.nan,
                }
            beats_search = all(x.search[o.name].value < r.search[o.name].value for o in perf)
            beats_confirm = all(x.confirm[o.name].value < r.confirm[o.name].value for o in perf)
            rows.append(
                {
                    "trial": x.trial,
                    "cost": x.cost,
                    "cost_chf": x.cost_chf,
                    "material_cost_chf": x.material_cost_chf,
                    "length_cm": x.length_cm,
                    "beats_in_search": beats_search,
                    "beats_confirmed": beats_confirm,
                    "min_significance": min(
                        (v["significance"] for v in per.values()), default=math.nan
                    ),
                    "objectives": per,
                }
            )
        out.append(
            {
                "reference": r.reference,
                "cost": r.cost,
                "cost_chf": r.cost_chf,
                "material_cost_chf": r.material_cost_chf,
                "length_cm": r.length_cm,
                "feasible": r.feasible,
                "candidates": rows,
                "beaten_by_confirmed": [row["trial"] for row in rows if row["beats_confirmed"]],
            }
        )
    return out


def _table(
    results: StudyResults,
    designs: list[ConfirmedDesign],
    comparisons: list[dict[str, Any]],
    events: int,
    showers: int,
    wall: float,
) -> dict[str, Any]:
    names = [o.name for o in results.space.all_objectives]

    def block(values: dict[str, Value]) -> dict[str, Any]:
        return {
            n: {"value": values[n].value, "error": values[n].error} for n in names if n in values
        }

    return {
        "format": "calolab-confirm",
        "version": 1,
        "space": results.space.name,
        "cost_basis": results.space.constraints.cost,
        "constraints": results.space.constraints.describe(),
        "objectives": [o.name for o in results.objectives],
        "performance_objectives": [o.name for o in results.performance_objectives],
        "events_search": results.info.get("events"),
        "events_confirm": events,
        "seed": results.info.get("seed"),
        "showers_this_run": showers,
        "wall_seconds_this_run": wall,
        "designs": [
            {
                "trial": x.trial,
                "reference": x.reference,
                "cost": x.cost,
                "cost_chf": x.cost_chf,
                "material_cost_chf": x.material_cost_chf,
                "length_cm": x.length_cm,
                "feasible": x.feasible,
                "in_front": x.in_front,
                "search": block(x.search),
                "confirm": block(x.confirm),
                "pull": {n: x.pull(n) for n in names if n in x.search and n in x.confirm},
            }
            for x in designs
        ],
        "comparisons": comparisons,
    }


def read_confirmation(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``confirm.json`` of a study directory, or ``None``."""
    path = Path(directory) / CONFIRM_FILE
    if not path.exists():
        return None
    data = read_json(path, "confirmation file")
    return data if isinstance(data, dict) else None


__all__ = ["ConfirmResult", "ConfirmedDesign", "confirm_study", "read_confirmation"]
