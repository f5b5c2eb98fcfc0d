"""The search: a multi-objective Optuna study of a design space, resumable, on Dask.

A study lives in one directory the user owns::

    study/
        study.json       what made it: the space (its canonical table), events, seed, method,
                         the sampler's settings, calolab's version; the sessions that ran it
        study.db         the Optuna study (SQLite): every trial's parameters, values,
                         constraints and measurements (user attributes) — open it with
                         ``optuna.load_study(study_name="calolab", storage="sqlite:///...")``
        space.toml       the design-space file as given
        trials.csv, pareto.json, importances.json, designs/*.toml   (calolab.optimization.results)

How a trial runs (ask-and-tell, so that only this process writes the database):

1. the sampler proposes parameters (``study.ask``); the first trials are the space's
   reference designs (the presets), enqueued when the study is created;
2. the design is built and checked against the constraints — an infeasible design is told
   ``PRUNED`` with its violations, without any simulation, and does not count as a trial;
3. a design already measured in this study reuses its numbers (they would be identical:
   the seeds come from the study seed and the design), marked ``duplicate_of``;
4. otherwise :func:`~calolab.optimization.objectives.measure` runs — in this process, or on
   a Dask worker (``workers`` / ``scheduler``), several trials at a time;
5. its measurements are stored as user attributes, its constraint values with
   ``set_constraint``, and the objective values told (``COMPLETE``); a design the simulation
   cannot measure is told ``FAIL`` with the reason.

Resuming (``resume=True``) after a crash or ``kill -9``: a lock file guarantees that no other
process runs the study, so a trial still ``RUNNING`` in the database was interrupted; it is
measured again with the same parameters and told under its own number — no trial is lost,
none is counted twice. The number of trials asked for counts the measured trials
(``COMPLETE`` and ``FAIL``), so a resumed study stops at the same total.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calolab.core.config import check_int, read_json
from calolab.core.errors import CalolabError, ConfigError, OutputError, require
from calolab.core.files import check_output_dir, write_json, write_text
from calolab.optimization.methods import (
    METHODS,
    SamplerOptions,
    get_method,
    reseed_for_trial,
)
from calolab.optimization.objectives import (
    Measurement,
    Objective,
    design_attributes,
    design_key,
    make_payload,
    measure_payload,
)
from calolab.optimization.space import DesignSpace, Parameter, load_space, table_differences

log = logging.getLogger(__name__)

STUDY_NAME = "calolab"
STUDY_FILE = "study.json"
DB_FILE = "study.db"
SPACE_FILE = "space.toml"
LOCK_FILE = ".study.lock"
FORMAT = "calolab-study"
FORMAT_VERSION = 1
#: Infeasible proposals allowed per measured trial before the search gives up.
MAX_REJECTIONS_PER_TRIAL = 200
#: Consecutive failed trials after which the study stops (something is wrong everywhere).
MAX_CONSECUTIVE_FAILURES = 5


@dataclass(frozen=True)
class StudyProgress:
    """Where a running study stands (given to the ``progress`` callback after each event)."""

    done: int
    total: int
    infeasible: int
    failed: int
    duplicates: int
    running: int
    last: str = ""


@dataclass(frozen=True)
class StudySettings:
    """What defines a study, stored in ``study.json`` and compared on ``--resume``."""

    space: dict[str, Any]
    space_hash: str
    events: int
    seed: int
    method: str
    population: int | None = None
    method_options: dict[str, Any] | None = None

    def comparable(self) -> dict[str, Any]:
        out = {
            "space": self.space,
            "events": self.events,
            "seed": self.seed,
            "method": self.method,
        }
        if self.method_options:  # a driver's settings (e.g. the gradient method's)
            out["method_options"] = self.method_options
        return out


@dataclass
class _Pending:
    number: int
    trial_id: int
    params: dict[str, Any]
    key: str
    detector: Any


def _optuna() -> Any:
    return require("optuna", "optuna", "design optimisation (calolab optimize)")


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[Any]:
    """Optuna without its INFO lines and experimental warnings (calolab reports progress)."""
    optuna = _optuna()
    old = optuna.logging.get_verbosity()
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield optuna
    finally:
        optuna.logging.set_verbosity(old)


# ----------------------------------------------------------------------------- samplers
def distributions(space: DesignSpace) -> dict[str, Any]:
    """Optuna distributions of the space's parameters."""
    optuna = _optuna()
    out: dict[str, Any] = {}
    for p in space.parameters:
        out[p.name] = _distribution(optuna, p)
    return out


def _distribution(optuna: Any, p: Parameter) -> Any:
    d = optuna.distributions
    if p.kind == "categorical":
        return d.CategoricalDistribution(list(p.choices))
    assert p.low is not None and p.high is not None
    if p.kind == "int":
        return d.IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    return d.FloatDistribution(float(p.low), float(p.high), log=p.log, step=p.step)


def default_population(trials: int) -> int:
    """NSGA-II population: a sixth of the trials, between 8 and 50 (Optuna's default)."""
    return int(min(50, max(8, trials // 6)))


def make_sampler(
    method: str, space: DesignSpace, seed: int, *, population: int | None = None
) -> Any:
    """The Optuna sampler of a sampler ``method`` of the registry
    (:mod:`calolab.optimization.methods`: ``nsga2``, ``tpe``, ``gp``, ``random``, ``grid``, and
    whatever another package registered)."""
    m = get_method(method)
    if m.sampler is None:
        raise ConfigError(f"--method {method} runs its own search; it has no Optuna sampler")
    return m.sampler(space, SamplerOptions(seed=seed, population=population))


# ----------------------------------------------------------------------------- directory
def _settings_from(data: Mapping[str, Any]) -> StudySettings:
    return StudySettings(
        space=data["space"],
        space_hash=data["space_hash"],
        events=int(data["events"]),
        seed=int(data["seed"]),
        method=str(data["method"]),
        population=data.get("population"),
        method_options=data.get("method_options") or None,
    )


def read_study_info(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``study.json`` of a study directory."""
    d = Path(directory)
    path = d / STUDY_FILE
    if not path.is_file():
        raise ConfigError(
            f"'{d}' is not a calolab study directory (no {STUDY_FILE}); give the --output "
            "directory of 'calolab optimize run'"
        )
    data = read_json(path, "study file")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"'{path}' is not a calolab study file (format {FORMAT!r} expected)")
    if int(data.get("version", 0)) > FORMAT_VERSION:
        raise ConfigError(
            f"'{path}' was written by a newer calolab (study format {data.get('version')}); "
            "upgrade calolab to read it"
        )
    return data


def storage_url(directory: str | os.PathLike[str]) -> str:
    """The SQLite URL of a study directory's database."""
    return f"sqlite:///{(Path(directory) / DB_FILE).resolve()}"


def open_storage(directory: str | os.PathLike[str]) -> Any:
    optuna = _optuna()
    return optuna.storages.RDBStorage(
        storage_url(directory), engine_kwargs={"connect_args": {"timeout": 60}}
    )


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    import fcntl

    path = directory / LOCK_FILE
    try:
        fh = open(path, "a+")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise OutputError(f"cannot create the lock file '{path}': {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(
                f"another calolab process is running the study in '{directory}' (its lock "
                f"'{path}' is held); wait for it to finish or choose another --output"
            ) from None
        yield
    finally:
        fh.close()


def _prepare_directory(
    out: Path, space: DesignSpace, settings: StudySettings, resume: bool
) -> tuple[bool, dict[str, Any]]:
    """Check the output directory; returns ``(existing study?, study.json data)``."""
    check_output_dir(out, what="--output")
    has_info = (out / STUDY_FILE).exists()
    has_db = (out / DB_FILE).exists()
    if has_db and not has_info:
        raise OutputError(
            f"'{out}' holds {DB_FILE} but no {STUDY_FILE}; it was not made by calolab "
            "optimize (or is damaged); choose another --output"
        )
    if has_info:
        info = read_study_info(out)
        if not resume:
            raise OutputError(
                f"'{out}' already holds a study of the space '{info['space'].get('name')}'; "
                "pass --resume to continue it or choose another --output"
            )
        old = _settings_from(info)
        diffs = table_differences(old.comparable(), settings.comparable())
        if diffs:
            shown = diffs[:12] + ([f"... and {len(diffs) - 12} more"] if len(diffs) > 12 else [])
            raise ConfigError(
                f"the study in '{out}' was made with another space or settings; it cannot be "
                f"resumed with these: {'; '.join(shown)}. Resume with the same space, --events, "
                "--seed and --method, or choose another --output"
            )
        return True, info
    if out.exists() and any(out.iterdir()):
        raise OutputError(
            f"--output '{out}' exists and is not empty, and holds no study; choose a new or "
            "empty directory"
        )
    return False, {}


# ----------------------------------------------------------------------------- the run
class _Run:
    """One session of a study: ask, check, measure, tell."""

    def __init__(
        self,
        optuna: Any,
        study: Any,
        storage: Any,
        space: DesignSpace,
        settings: StudySettings,
        trials: int,
        progress: Callable[[StudyProgress], None] | None,
        on_trial: Callable[[], None] = lambda: None,
    ):
        self.on_trial = on_trial
        self.optuna = optuna
        self.study = study
        self.storage = storage
        self.space = space
        self.settings = settings
        self.trials = trials
        self.progress = progress
        self.objectives: tuple[Objective, ...] = space.objectives
        self.dists = distributions(space)
        self.measured: dict[str, int] = {}  # design key -> trial number
        self.study_id = storage.get_study_id_from_name(STUDY_NAME)
        self.done = self.infeasible = self.failed = self.duplicates = 0
        self.consecutive_failures = 0
        self.session_showers = 0
        self.session_trials = 0
        self.last_error = ""
        TS = optuna.trial.TrialState
        for t in study.get_trials(deepcopy=False):
            if t.state == TS.COMPLETE:
                self.done += 1
                key = t.user_attrs.get("design_key")
                if key and "duplicate_of" not in t.user_attrs:
                    self.measured.setdefault(key, t.number)
            elif t.state == TS.FAIL:
                self.done += 1
                self.failed += 1
            elif t.state == TS.PRUNED:
                self.infeasible += 1

    # ------------------------------------------------------------------ helpers
    def _trial(self, trial_id: int) -> Any:
        return self.optuna.trial.Trial(self.study, trial_id)

    def _id(self, number: int) -> int:
        return int(self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number))

    def _report(self, running: int, last: str = "") -> None:
        if self.progress is not None:
            self.progress(
                StudyProgress(
                    done=self.done,
                    total=self.trials,
                    infeasible=self.infeasible,
                    failed=self.failed,
                    duplicates=self.duplicates,
                    running=running,
                    last=last,
                )
            )

    def _check(self, number: int, params: dict[str, Any]) -> _Pending | None:
        """Build and check a design; tell an infeasible one PRUNED (returns ``None``)."""
        trial_id = self._id(number)
        trial = self._trial(trial_id)
        missing = [n for n in self.dists if n not in params]
        if missing:  # interrupted while its parameters were drawn
            trial.set_user_attr("violations", ["interrupted before its parameters were drawn"])
            self.study.tell(number, state=self.optuna.trial.TrialState.PRUNED)
            return None
        c = self.space.check(params, name=f"{self.space.name}-trial-{number}")
        reference = self.storage.get_trial(trial_id).user_attrs.get("reference")
        if c.detector is None or (c.violations and reference is None):
            trial.set_user_attr("violations", list(c.violations))
            if c.detector is not None:
                trial.set_user_attr("design", design_attributes(c.detector))
            self.study.tell(number, state=self.optuna.trial.TrialState.PRUNED)
            self.infeasible += 1
            return None
        key = design_key(c.detector)
        trial.set_user_attr("design_key", key)
        trial.set_user_attr("design", design_attributes(c.detector))
        if c.violations:  # a reference outside the constraints: measured, never in the front
            trial.set_user_attr("violations", list(c.violations))
        return _Pending(number, trial_id, params, key, c.detector)

    def _constraints(self, trial: Any, det: Any) -> None:
        for k, v in self.space.constraints.margins(det).items():
            trial.set_constraint(k, float(v))

    def complete(self, p: _Pending, result: Mapping[str, Any], duplicate_of: int | None) -> None:
        m = Measurement.from_table(result)
        trial = self._trial(p.trial_id)
        trial.set_user_attr("values", {k: v.to_list() for k, v in m.values.items()})
        trial.set_user_attr("timings", m.timings)
        trial.set_user_attr("showers", 0 if duplicate_of is not None else m.showers)
        trial.set_user_attr("seconds", float(result.get("seconds", 0.0)))
        trial.set_user_attr("details", m.details)
        if duplicate_of is not None:
            trial.set_user_attr("duplicate_of", duplicate_of)
        self._constraints(trial, p.detector)
        values = [m.values[o.name].value for o in self.objectives]
        bad = [o.name for o, v in zip(self.objectives, values) if not math.isfinite(v)]
        if bad:
            self.fail(
                p,
                f"the design gives no measurement of {', '.join(bad)} (no response, or no "
                "Gaussian core: consider the rmse metric)",
            )
            return
        self.study.tell(p.number, values)
        self.done += 1
        self.consecutive_failures = 0
        if duplicate_of is None:
            self.measured.setdefault(p.key, p.number)
            self.session_showers += m.showers
            self.session_trials += 1
        else:
            self.duplicates += 1
        self.on_trial()

    def fail(self, p: _Pending, message: str) -> None:
        trial = self._trial(p.trial_id)
        trial.set_user_attr("error", message[:2000])
        self.study.tell(p.number, state=self.optuna.trial.TrialState.FAIL)
        log.warning("trial %d failed: %s", p.number, message)
        self.done += 1
        self.failed += 1
        self.session_trials += 1
        self.on_trial()
        self.consecutive_failures += 1
        self.last_error = message
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            raise CalolabError(
                f"{self.consecutive_failures} trials in a row failed; the last one: {message}. "
                "The finished trials are kept: fix the problem and run again with --resume"
            )

    def payload(self, p: _Pending) -> str:
        return make_payload(
            p.detector,
            self.space.measurement,
            self.space.all_objectives,
            events=self.settings.events,
            seed=self.settings.seed,
        )

    # ------------------------------------------------------------------ proposals
    def stale(self) -> list[_Pending]:
        """Trials left RUNNING by an interrupted session (re-measured under their numbers)."""
        TS = self.optuna.trial.TrialState
        out = []
        for t in self.study.get_trials(deepcopy=False, states=(TS.RUNNING,)):
            p = self._check(t.number, dict(t.params))
            if p is not None:
                out.append(p)
        return out

    def propose(self) -> _Pending | None:
        """Ask the sampler until a feasible design comes (``None``: the grid is exhausted)."""
        rejected = 0
        limit = MAX_REJECTIONS_PER_TRIAL * max(1, self.trials)
        while True:
            if self.settings.method == "grid" and self._grid_exhausted():
                return None
            # the proposal depends on the seed, the trial number and the database only, so
            # a resumed study proposes what the uninterrupted one would have
            number = int(self.storage.get_n_trials(self.study_id))
            reseed_for_trial(self.study.sampler, self.settings.seed, number)
            trial = self.study.ask(self.dists)
            p = self._check(trial.number, dict(trial.params))
            if p is not None:
                return p
            rejected += 1
            if rejected % 50 == 0:
                self._report(0, f"{self.infeasible} infeasible proposals so far")
            if self.infeasible > limit:
                raise CalolabError(
                    f"the sampler proposed {self.infeasible:,} infeasible designs for "
                    f"{self.done} measured ones; the feasible part of the space is too small "
                    f"for it ({self.space.constraints.describe()}); narrow the parameter ranges"
                )

    def _grid_exhausted(self) -> bool:
        sampler = self.study.sampler
        try:
            return bool(sampler.is_exhausted(self.study))
        except AttributeError:  # pragma: no cover - older Optuna
            return False

    def duplicate_of(self, p: _Pending) -> int | None:
        return self.measured.get(p.key)

    def reuse(self, p: _Pending, number: int) -> None:
        t = self.study.get_trials(deepcopy=False)[number]
        result = {
            "values": t.user_attrs["values"],
            "timings": {k: 0.0 for k in t.user_attrs.get("timings", {})},
            "showers": 0,
            "details": t.user_attrs.get("details", {}),
            "seconds": 0.0,
        }
        self.complete(p, result, duplicate_of=number)


def _measure_here(payload: str) -> dict[str, Any]:
    return measure_payload(payload)


def _run_serial(run: _Run) -> None:
    for p in run.stale():
        _evaluate_inline(run, p)
    while run.done < run.trials:
        nxt = run.propose()
        if nxt is None:
            break
        _evaluate_inline(run, nxt)


def _evaluate_inline(run: _Run, p: _Pending) -> None:
    dup = run.duplicate_of(p)
    if dup is not None and dup != p.number:
        run.reuse(p, dup)
        run._report(0, f"trial {p.number}: same design as trial {dup}")
        return
    run._report(1, f"trial {p.number} running")
    try:
        result = _measure_here(run.payload(p))
    except CalolabError as exc:
        run.fail(p, str(exc))
        run._report(0, f"trial {p.number} failed")
        return
    run.complete(p, result, duplicate_of=None)
    run._report(0, f"trial {p.number} done ({result.get('seconds', 0):.1f} s)")


def _run_dask(run: _Run, client: Any) -> None:
    from distributed import wait

    capacity = max(1, sum(client.nthreads().values()))
    futures: dict[Any, _Pending] = {}
    queue = run.stale()
    token = run.settings.space_hash[:12]

    def submit(p: _Pending) -> None:
        dup = run.duplicate_of(p)
        if dup is not None and dup != p.number:
            run.reuse(p, dup)
            return
        key = f"calolab-trial-{token}-{p.number}-{os.urandom(4).hex()}"
        fut = client.submit(_measure_here, run.payload(p), key=key, pure=False)
        futures[fut] = p

    try:
        while True:
            while queue and len(futures) < capacity:
                submit(queue.pop(0))
            while not queue and len(futures) < capacity and run.done + len(futures) < run.trials:
                p = run.propose()
                if p is None:
                    break
                submit(p)
            if not futures:
                if queue:
                    continue
                break
            run._report(len(futures))
            done, _ = wait(list(futures), return_when="FIRST_COMPLETED")
            for fut in done:
                p = futures.pop(fut)
                try:
                    result = fut.result()
                except CalolabError as exc:
                    run.fail(p, str(exc))
                    continue
                except Exception as exc:  # a worker died, an unexpected error
                    run.fail(p, f"{type(exc).__name__}: {exc}")
                    continue
                run.complete(p, result, duplicate_of=None)
                run._report(len(futures), f"trial {p.number} done")
    finally:
        if futures:
            client.cancel(list(futures))


class StudyDriverContext:
    """What a driver method (:class:`~calolab.optimization.methods.Method` with a ``driver``)
    gets: the space, the study's settings, and :meth:`evaluate`, which measures a design as
    a trial of the study (feasibility checked first, duplicates reused, stored in
    ``study.db`` like any trial: resumable, in ``trials.csv``, ``pareto.json`` and the
    report)."""

    def __init__(self, run: _Run):
        self._run = run
        self.space: DesignSpace = run.space
        self.events: int = run.settings.events
        self.seed: int = run.settings.seed
        self.trials: int = run.trials
        #: The method's own settings (``run_study(method_options=...)``), stored with the
        #: study and compared on resume.
        self.options: dict[str, Any] = dict(run.settings.method_options or {})

    @property
    def remaining(self) -> int:
        """Measured trials still allowed by ``--trials``."""
        return max(0, self.trials - self._run.done)

    @property
    def optuna_study(self) -> Any:
        """The Optuna study (read the trials measured so far, e.g. after a resume)."""
        return self._run.study

    def evaluate(
        self, params: Mapping[str, Any], user_attrs: Mapping[str, Any] | None = None
    ) -> Measurement | None:
        """Measure the design of ``params`` as the next trial of the study.

        Returns its :class:`~calolab.optimization.Measurement`, or ``None`` when the design is
        infeasible (told ``PRUNED`` without simulation) or its measurement failed (``FAIL``).
        """
        run = self._run
        if self.remaining <= 0:
            raise CalolabError(f"the study already holds its {self.trials} measured trials")
        run.study.enqueue_trial(dict(params), user_attrs=dict(user_attrs or {}))
        trial = run.study.ask(run.dists)
        p = run._check(trial.number, dict(trial.params))
        if p is None:
            return None
        _evaluate_inline(run, p)
        t = run.storage.get_trial(p.trial_id)
        if t.state != run.optuna.trial.TrialState.COMPLETE:
            return None
        return Measurement.from_table(
            {
                "values": t.user_attrs["values"],
                "timings": t.user_attrs.get("timings", {}),
                "showers": t.user_attrs.get("showers", 0),
                "details": t.user_attrs.get("details", {}),
            }
        )


def _run_driver(run: _Run, driver: Callable[[StudyDriverContext], None]) -> None:
    for p in run.stale():
        _evaluate_inline(run, p)
    waiting = (run.optuna.trial.TrialState.WAITING,)
    while run.done < run.trials and run.study.get_trials(deepcopy=False, states=waiting):
        ref = run.propose()  # the references, enqueued when the study was created
        if ref is not None:
            _evaluate_inline(run, ref)
    driver(StudyDriverContext(run))


# ----------------------------------------------------------------------------- public API
@dataclass(frozen=True)
class StudyRun:
    """What :func:`run_study` did in this session."""

    directory: Path
    trials: int
    measured: int
    infeasible: int
    failed: int
    duplicates: int
    showers: int
    wall_seconds: float
    resumed: bool


def run_study(
    space: DesignSpace | str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    trials: int | None = None,
    events: int,
    seed: int = 0,
    method: str = "nsga2",
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    resume: bool = False,
    progress: Callable[[StudyProgress], None] | None = None,
    write: bool = True,
    method_options: Mapping[str, Any] | None = None,
) -> StudyRun:
    """Search a design space: a multi-objective Optuna study stored in ``output``.

    Parameters
    ----------
    space:
        A :class:`DesignSpace`, a built-in space name or a space file.
    output:
        The study directory (created; it must be new or empty unless ``resume``).
    trials:
        Measured trials in total (references and duplicates included, infeasible proposals
        not); ``None`` with ``method="grid"``: the whole grid.
    events:
        Showers per particle and energy point of each trial.
    seed:
        Study seed: the sampler's, and (with the design) every trial's simulation seed.
    method:
        A registered search method (:mod:`calolab.optimization.methods`): ``nsga2``,
        ``tpe``, ``gp``, ``random``, ``grid``, or one another package registered.
    workers, scheduler, client:
        Run trials on a local Dask cluster of ``workers`` processes, on an existing cluster
        (``tcp://host:8786``), or on an existing ``distributed.Client``; several trials in
        flight at once. None of them: one trial at a time in this process.
    resume:
        Continue the study in ``output`` (refused if it was made with another space,
        events, seed or method; the differences are listed).
    progress:
        Called with a :class:`StudyProgress` after every event.
    write:
        Write ``trials.csv``, ``pareto.json``, ``importances.json`` and ``designs/`` at the
        end (:func:`calolab.optimization.results.write_results`).
    method_options:
        Settings of a driver method (e.g. ``{"steps_per_trial": 5}`` for ``gradient``),
        given to it as :attr:`StudyDriverContext.options`; stored with the study.

    Raises
    ------
    ConfigError
        Bad options, a space without feasible designs, a study made with other settings.
    OutputError
        The directory cannot be used (another process runs the study, it is not empty...).
    """
    space = load_space(space)
    events = check_int("--events", events, minimum=4, maximum=10_000_000)
    seed = check_int("--seed", seed, minimum=0, maximum=2**63 - 1)
    chosen = get_method(method)
    if workers is not None:
        workers = check_int("--workers", workers, minimum=1, maximum=1024)
    if workers is not None and scheduler is not None:
        raise ConfigError("give either --workers (a local Dask cluster) or --scheduler, not both")
    if chosen.whole_grid:
        grid = space.grid_size()  # refuses continuous ranges, naming them
        full = grid + len(space.references)
        trials = full if trials is None else min(trials, full)
    if trials is None:
        raise ConfigError("--trials is required (the number of designs to measure)")
    trials = check_int("--trials", trials, minimum=1, maximum=1_000_000)
    out = Path(output)
    population = default_population(trials) if chosen.population else None
    settings = StudySettings(
        space=space.table,
        space_hash=space.hash,
        events=events,
        seed=seed,
        method=method,
        population=population,
        method_options=dict(method_options) if method_options else None,
    )
    if method_options and chosen.driver is None:
        raise ConfigError(f"--method {method} takes no method options")
    existing, info = _prepare_directory(out, space, settings, resume)
    if existing and info.get("population") is not None:
        settings = StudySettings(**{**settings.__dict__, "population": info["population"]})
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    with _locked(out), _quiet_optuna() as optuna:
        if not existing:
            info = _new_info(space, settings)
            write_json(out / STUDY_FILE, info)
            if space.text is not None:
                write_text(out / SPACE_FILE, space.text)
        storage = open_storage(out)
        if chosen.sampler is not None:
            sampler = make_sampler(method, space, seed, population=settings.population)
        else:  # a driver proposes its own designs: the sampler only serves enqueued trials
            sampler = optuna.samplers.RandomSampler(seed=seed)
        study = optuna.create_study(
            storage=storage,
            study_name=STUDY_NAME,
            directions=["minimize"] * len(space.objectives),
            sampler=sampler,
            load_if_exists=True,
        )
        if not existing or not study.get_trials(deepcopy=False):
            study.set_metric_names([o.name for o in space.objectives])
            for name, params in space.references.items():
                study.enqueue_trial(params, user_attrs={"reference": name})
        session = {
            "started": started,
            "wall_seconds": 0.0,
            "trials_measured": 0,
            "showers": 0,
            "workers": workers,
            "scheduler": scheduler,
            "resumed": existing,
        }
        info = read_study_info(out)
        info.setdefault("sessions", []).append(session)

        def record_session() -> None:
            # rewritten after every trial, so a killed session still counts its time
            session.update(
                wall_seconds=round(time.perf_counter() - t0, 3),
                trials_measured=run.session_trials,
                showers=run.session_showers,
            )
            write_json(out / STUDY_FILE, info)

        run = _Run(optuna, study, storage, space, settings, trials, progress, record_session)
        record_session()
        run._report(0, "resuming" if existing else "starting")
        try:
            if chosen.driver is not None:
                if workers is not None or scheduler is not None or client is not None:
                    raise ConfigError(
                        f"--method {method} runs its own search in this process; drop "
                        "--workers and --scheduler"
                    )
                _run_driver(run, chosen.driver)
            elif workers is None and scheduler is None and client is None:
                _run_serial(run)
            elif client is not None:
                _run_dask(run, client)
            else:
                from calolab.simulation.campaign import dask_client

                with dask_client(workers, scheduler) as cl:
                    _run_dask(run, cl)
        finally:
            record_session()
        if write:
            from calolab.optimization.results import write_results

            write_results(out)
    return StudyRun(
        directory=out,
        trials=trials,
        measured=run.done,
        infeasible=run.infeasible,
        failed=run.failed,
        duplicates=run.duplicates,
        showers=run.session_showers,
        wall_seconds=time.perf_counter() - t0,
        resumed=existing,
    )


def _new_info(space: DesignSpace, settings: StudySettings) -> dict[str, Any]:
    from calolab.core.provenance import package_version
    from calolab.physics.versions import MODEL_VERSIONS

    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "calolab_version": package_version(),
        "physics": dict(MODEL_VERSIONS),
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "space_name": space.name,
        "space_source": space.source,
        "space": settings.space,
        "space_hash": settings.space_hash,
        "events": settings.events,
        "seed": settings.seed,
        "method": settings.method,
        "population": settings.population,
        "method_options": settings.method_options,
        "objectives": [o.name for o in space.objectives],
        "recorded": [o.name for o in space.recorded],
        "sessions": [],
    }


def load_study_space(directory: str | os.PathLike[str]) -> tuple[DesignSpace, dict[str, Any]]:
    """The design space and ``study.json`` of a study directory."""
    info = read_study_info(directory)
    space = DesignSpace.from_table(info["space"], source=str(info.get("space_source")))
    return space, info


__all__ = [
    "METHODS",
    "StudyDriverContext",
    "StudyProgress",
    "StudyRun",
    "default_population",
    "distributions",
    "load_study_space",
    "make_sampler",
    "read_study_info",
    "run_study",
    "storage_url",
]
