"""Confirm a front: measure its designs and the references again with more statistics.

The search picks the front from noisy measurements, so its best numbers are biased low (a
design that was lucky looks better than it is). ``calolab optimize confirm DIR --events N``
measures every front design and every reference design again with ``N`` showers per point,
on an independent seed stream (tag ``"confirm"``), and writes ``confirm.json``:

* for every design: the search value and the confirmed value of each objective and recorded
  quantity, with errors, and their difference in standard deviations (the *pull*);
* for every reference: which front designs beat it (feasible, no more expensive, lower on
  every performance objective) in the search and in the confirmation, with, per objective,
  the difference and its significance;
* whether the ranking holds, per performance objective: Kendall's τ between the search and
  the confirmed values of the confirmed designs, the pairs whose order the confirmation
  reverses significantly (the confirmed difference beyond :data:`REVERSAL_SIGMA` standard
  deviations the other way), and which design is best in each;
* for every design whether its confirmation *agrees*: each performance objective within
  :data:`PULL_LIMIT` standard deviations of its search value, and every claim that it beats a
  reference still true. A design that disagrees is marked in the tables and the report.

The confirmation seeds are fresh: the stream ``"confirm"`` of the study seed (or of
``seed``), independent of the search's; the same seed measures the same showers again.

Each confirmed design is stored in ``confirm/<design key>-<events>.json`` as soon as it is
measured, so an interrupted confirmation resumes where it stopped.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calolab.core.config import check_int, read_json
from calolab.core.errors import CalolabError, ConfigError, DataError
from calolab.core.files import write_json
from calolab.optimization.objectives import Measurement, Value, make_payload, measure_payload
from calolab.optimization.results import StudyResults, TrialRecord, load_study
from calolab.optimization.study import _locked

log = logging.getLogger(__name__)

CONFIRM_DIR = "confirm"
CONFIRM_FILE = "confirm.json"
TAG = "confirm"
#: |pull| above which a confirmed value disagrees with its search value.
PULL_LIMIT = 3.0
#: Significance (standard deviations) of a confirmed difference that reverses a search order.
REVERSAL_SIGMA = 2.0


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

    def disagreements(self, names: list[str], limit: float = PULL_LIMIT) -> list[str]:
        """``"<objective>: pull +4.1"`` for each of ``names`` whose confirmed value is more
        than ``limit`` standard deviations from the search value."""
        out = []
        for n in names:
            pull = self.pull(n)
            if math.isfinite(pull) and abs(pull) > limit:
                out.append(f"{n}: pull {pull:+.1f}")
        return out

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
    ranking: dict[str, dict[str, Any]] = field(default_factory=dict)
    disagreements: dict[int, list[str]] = field(default_factory=dict)
    seed: int = 0

    @property
    def ranking_holds(self) -> bool:
        """No performance objective has a significantly reversed pair."""
        return all(r["holds"] for r in self.ranking.values())


#: What ``designs`` of :func:`confirm_study` may name.
DESIGN_CHOICES = ("front", "beating", "best")


def best_designs(results: StudyResults) -> list[TrialRecord]:
    """The front design with the lowest value of each performance objective, and the
    cheapest front design (the constrained cost), each once, in trial order."""
    front = results.front()
    picks: dict[int, TrialRecord] = {}
    for o in results.performance_objectives:
        finite = [t for t in front if math.isfinite(t.value(o.name))]
        if finite:
            best = min(finite, key=lambda t: t.value(o.name))
            picks.setdefault(best.number, best)
    if front:
        cheapest = min(front, key=results.cost)
        picks.setdefault(cheapest.number, cheapest)
    return [picks[n] for n in sorted(picks)]


def chosen_trials(results: StudyResults, designs: str) -> list[TrialRecord]:
    """The measured, feasible trials named by ``designs``: a comma-separated list of trial
    numbers (``"401,365"``); any other word is an error that lists the choices."""
    words = [w.strip() for w in str(designs).split(",") if w.strip()]
    if not words or not all(w.isdigit() for w in words):
        raise ConfigError(
            f"--designs: {designs!r} is neither one of {', '.join(DESIGN_CHOICES)} nor a "
            "comma-separated list of trial numbers (e.g. --designs 12,40)"
        )
    measured = {t.number: t for t in results.complete}
    picked = []
    for n in dict.fromkeys(int(w) for w in words):
        t = measured.get(n)
        if t is None or not t.feasible or t.duplicate_of is not None:
            state = (
                results.trials[n].state
                if 0 <= n < len(results.trials)
                else f"not in the study (trials 0-{len(results.trials) - 1})"
            )
            raise ConfigError(
                f"--designs: trial {n} is not a measured, feasible design of this study "
                f"({state}); `calolab optimize show DIR` lists the front"
            )
        picked.append(t)
    return picked


def _cache_path(directory: Path, key: str, events: int, seed: int) -> Path:
    return directory / CONFIRM_DIR / f"{key[:20]}-{events}-s{seed}.json"


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
    seed: int | None = None,
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
        reference in the search (the claims to check, when the front is large); ``"best"``:
        the best front design for each performance objective and the cheapest one
        (:func:`best_designs`); or trial numbers, ``"401,365"`` (measured, feasible
        designs, on the front or not). The references are always measured again.
    seed:
        Seed of the confirmation stream (default: the study's; the stream differs from the
        search's either way). Another seed measures other showers.
    progress:
        Called with ``(designs done, designs in all)``.
    """
    d = Path(directory)
    events = check_int("--events", events, minimum=4, maximum=100_000_000)
    if workers is not None:
        workers = check_int("--workers", workers, minimum=1, maximum=1024)
    if workers is not None and scheduler is not None:
        raise ConfigError("give either --workers (a local Dask cluster) or --scheduler, not both")
    results = load_study(d)
    front = results.front()
    if designs == "beating":
        refs = results.references()
        front = [t for t in front if any(results.beats(t, r) for r in refs)]
    elif designs == "best":
        front = best_designs(results)
    elif designs != "front":
        front = chosen_trials(results, designs)
    if not results.front():
        raise DataError(
            f"the study in '{d}' has no feasible measured design yet; run more trials first"
        )
    in_front = {t.number for t in front}
    by_number = {t.number: t for t in [*results.references(), *front]}
    targets: list[TrialRecord] = [by_number[n] for n in sorted(by_number)]
    seed = int(results.info["seed"]) if seed is None else check_int("--seed", seed, minimum=0)
    t0 = time.perf_counter()
    with _locked(d):
        (d / CONFIRM_DIR).mkdir(exist_ok=True)
        todo = []
        for t in targets:
            path = _cache_path(d, t.design_key, events, seed)
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
                _cache_path(d, t.design_key, events, seed),
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
            cached = read_json(_cache_path(d, t.design_key, events, seed), "confirmation")
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
        ranking = _ranking(results, confirmed)
        names = [o.name for o in results.performance_objectives]
        disagree = {}
        for x in confirmed:
            why = x.disagreements(names, PULL_LIMIT)
            for c in comparisons:
                for row in c["candidates"]:
                    if row["trial"] == x.trial and row["beats_in_search"]:
                        if not row["beats_confirmed"]:
                            why.append(f"no longer beats {c['reference']}")
            disagree[x.trial] = why
        wall = time.perf_counter() - t0
        table = _table(results, confirmed, comparisons, events, showers, wall)
        table.update(
            seed=seed,
            pull_limit=PULL_LIMIT,
            reversal_sigma=REVERSAL_SIGMA,
            ranking=ranking,
            ranking_holds=all(r["holds"] for r in ranking.values()),
        )
        for entry in table["designs"]:
            entry["disagreements"] = disagree[entry["trial"]]
            entry["agrees"] = not disagree[entry["trial"]]
        path = write_json(d / CONFIRM_FILE, table)
    return ConfirmResult(
        path, events, confirmed, comparisons, showers, wall, ranking, disagree, seed
    )


def _ranking(results: StudyResults, designs: list[ConfirmedDesign]) -> dict[str, dict[str, Any]]:
    """Whether the search's order of the confirmed designs holds, per performance objective."""
    from scipy.stats import kendalltau

    out: dict[str, dict[str, Any]] = {}
    for o in results.performance_objectives:
        xs = [
            x
            for x in designs
            if math.isfinite(x.search[o.name].value) and math.isfinite(x.confirm[o.name].value)
        ]
        a = [x.search[o.name].value for x in xs]
        b = [x.confirm[o.name].value for x in xs]
        reversed_pairs = []
        for i in range(len(xs)):
            for j in range(len(xs)):
                if a[i] < a[j] and b[i] > b[j]:  # i better in the search, worse confirmed
                    err = math.hypot(xs[i].confirm[o.name].error, xs[j].confirm[o.name].error)
                    sig = (b[i] - b[j]) / err if err > 0 else math.inf
                    if sig > REVERSAL_SIGMA:
                        reversed_pairs.append(
                            {
                                "better_in_search": xs[i].trial,
                                "better_confirmed": xs[j].trial,
                                "significance": sig,
                            }
                        )
        tau = p_value = math.nan
        if len(xs) >= 3:
            res = kendalltau(a, b)
            tau, p_value = float(res.statistic), float(res.pvalue)
        best_search = xs[int(min(range(len(xs)), key=lambda k: a[k]))].trial if xs else None
        best_confirmed = xs[int(min(range(len(xs)), key=lambda k: b[k]))].trial if xs else None
        out[o.name] = {
            "designs": len(xs),
            "kendall_tau": tau,
            "p_value": p_value,
            "reversed_pairs": reversed_pairs,
            "holds": not reversed_pairs,
            "best_in_search": best_search,
            "best_confirmed": best_confirmed,
        }
    return out


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


__all__ = [
    "DESIGN_CHOICES",
    "PULL_LIMIT",
    "REVERSAL_SIGMA",
    "ConfirmResult",
    "ConfirmedDesign",
    "best_designs",
    "confirm_study",
    "read_confirmation",
]
