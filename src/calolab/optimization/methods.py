"""Search methods of ``calolab optimize run --method``: a registry.

A method is either an **Optuna sampler** plugged into the study's ask-and-tell loop
(:mod:`calolab.optimization.study`: feasibility before simulation, duplicates, Dask, resuming
— all for free), or a **driver** that runs the search itself and measures every design it
wants through :meth:`StudyDriverContext.evaluate`, which stores each one as a trial of the
same study (same ``study.db``, ``trials.csv``, ``pareto.json``, report). The built-in
methods are samplers:

``nsga2``
    :class:`optuna.samplers.NSGAIISampler`, population max(8, min(50, trials/6)) — large
    budgets of trials.
``tpe``
    multivariate :class:`~optuna.samplers.TPESampler` with the constant liar (several trials
    in flight) — small budgets.
``gp``
    :class:`~optuna.samplers.GPSampler` (log expected hypervolume improvement) — small
    budgets, continuous parameters.
``random``
    :class:`~optuna.samplers.RandomSampler` — the baseline every other method must beat.
``grid``
    :class:`~optuna.samplers.GridSampler` over every value of every parameter (ranges need
    a ``step``); ``--trials`` defaults to the whole grid.

Adding a method from another package (e.g. the gradient-based ``gradient`` of issue 20)::

    from calolab.optimization.methods import Method, register_method

    def run_gradient(ctx):                       # a StudyDriverContext
        params = start_point(ctx.space)
        while ctx.remaining > 0:
            result = ctx.evaluate(params)        # simulated, stored as a trial
            ...

    register_method(Method("gradient", "gradient descent through the torch simulator",
                           driver=run_gradient))

and, for the command line, the module's name in ``calolab.cli.optimize.METHOD_MODULES`` (one
line): the CLI imports those modules before it lists the ``--method`` choices.

Reproducibility: before every proposal the sampler's random state is reseeded from the study
seed and the number of the trial it proposes (:func:`reseed_for_trial`), so a one-process
study resumed after ``kill -9`` proposes exactly what the uninterrupted study proposes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from calolab.core.errors import ConfigError

if TYPE_CHECKING:
    from calolab.optimization.space import DesignSpace


@dataclass(frozen=True)
class SamplerOptions:
    """What a sampler factory gets besides the space: the study seed and, for population
    methods, the population size."""

    seed: int
    population: int | None = None


@dataclass(frozen=True)
class Method:
    """A search method.

    Parameters
    ----------
    name:
        The ``--method`` value.
    summary:
        One line for ``--help`` and the docs.
    sampler:
        ``factory(space, options) -> optuna.samplers.BaseSampler``: the method is a sampler
        of the ask-and-tell loop.
    driver:
        ``driver(context)``: the method runs the search itself
        (:class:`StudyDriverContext`); exactly one of ``sampler`` and ``driver``.
    whole_grid:
        ``--trials`` may be omitted: the method knows how many designs it measures (grid).
    population:
        The method uses a population size (NSGA-II): stored with the study.
    """

    name: str
    summary: str
    sampler: Callable[[DesignSpace, SamplerOptions], Any] | None = None
    driver: Callable[[Any], None] | None = None
    whole_grid: bool = False
    population: bool = False

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"method name {self.name!r} must be a word (letters, digits, - _)")
        if (self.sampler is None) == (self.driver is None):
            raise ConfigError(f"method '{self.name}': give exactly one of sampler and driver")


#: The registered methods, by name (in registration order).
METHODS: dict[str, Method] = {}


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Add a search method (refused if the name is taken, unless ``replace``)."""
    if method.name in METHODS and not replace:
        raise ConfigError(f"a search method named '{method.name}' is already registered")
    METHODS[method.name] = method
    return method


def method_names() -> list[str]:
    return list(METHODS)


#: Methods of calolab registered by a module of their own, imported on first use.
PLUGINS: dict[str, str] = {"gradient": "calolab.optimization.gradient"}


def get_method(name: str) -> Method:
    """The method called ``name``; a clear error listing the others."""
    if name not in METHODS and name in PLUGINS:
        import importlib

        importlib.import_module(PLUGINS[name])
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(
            f"--method {name!r} is not a search method; choose one of {', '.join(METHODS)}"
        ) from None


def _optuna() -> Any:
    from calolab.core.errors import require

    return require("optuna", "optuna", "design optimisation (calolab optimize)")


# ----------------------------------------------------------------------------- reseeding
def trial_seed(seed: int, number: int) -> int:
    """A 32-bit seed from the study seed and a trial number."""
    import numpy as np

    state = np.random.SeedSequence([int(seed), int(number)]).generate_state(1, np.uint32)
    return int(state[0])


def reseed_for_trial(sampler: Any, seed: int, number: int) -> None:
    """Reseed every random state of an Optuna sampler (and of the samplers inside it) from
    the study seed and the number of the trial about to be proposed.

    Optuna's samplers draw from one random stream that starts at the seed when the sampler
    is created; a resumed study creates a new sampler, whose stream would restart and
    propose other designs than the uninterrupted study. Reseeded per trial, what a sampler
    proposes depends only on the seed, the trial number and the trials in the database.
    """
    import numpy as np

    optuna = _optuna()
    lazy = optuna.samplers._lazy_random_state.LazyRandomState
    s = trial_seed(seed, number)
    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > 3:
            return
        seen.add(id(obj))
        for value in vars(obj).values():
            if isinstance(value, lazy):
                value.rng.seed(s)
            elif isinstance(value, np.random.RandomState):
                value.seed(s)
            elif isinstance(value, optuna.samplers.BaseSampler):
                visit(value, depth + 1)

    visit(sampler, 0)


# ----------------------------------------------------------------------------- built-ins
def _nsga2(space: DesignSpace, o: SamplerOptions) -> Any:
    return _optuna().samplers.NSGAIISampler(population_size=o.population or 50, seed=o.seed)


def _tpe(space: DesignSpace, o: SamplerOptions) -> Any:
    return _optuna().samplers.TPESampler(seed=o.seed, multivariate=True, constant_liar=True)


def _gp(space: DesignSpace, o: SamplerOptions) -> Any:
    return _optuna().samplers.GPSampler(seed=o.seed)


def _random(space: DesignSpace, o: SamplerOptions) -> Any:
    return _optuna().samplers.RandomSampler(seed=o.seed)


def _grid(space: DesignSpace, o: SamplerOptions) -> Any:
    s = _optuna().samplers

    class GridSampler(s.GridSampler):  # type: ignore[misc,name-defined]
        """Optuna's grid sampler without its ``study.stop()`` after the last point (which
        only works inside ``study.optimize``); the ask-and-tell loop asks
        :meth:`is_exhausted` instead."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return GridSampler({p.name: list(p.grid()) for p in space.parameters}, seed=o.seed)


for _m in (
    Method("nsga2", "NSGA-II (Optuna), for budgets of hundreds of trials", _nsga2, population=True),
    Method("tpe", "multivariate TPE with the constant liar, for small budgets", _tpe),
    Method("gp", "Gaussian process (log EHVI), small budgets, continuous parameters", _gp),
    Method("random", "uniform random proposals: the baseline", _random),
    Method("grid", "every value of every parameter (ranges need a step)", _grid, whole_grid=True),
):
    register_method(_m)


__all__ = [
    "METHODS",
    "Method",
    "SamplerOptions",
    "get_method",
    "method_names",
    "register_method",
    "reseed_for_trial",
    "trial_seed",
]
