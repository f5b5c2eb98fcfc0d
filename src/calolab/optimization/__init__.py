"""Design optimisation: search calorimeter designs for the best resolution under a budget.

The loop back from evaluation to design. A *design space* (:mod:`.space`, TOML) is a detector
file whose values may be parameters — thicknesses as float ranges in cm, numbers of periods
as int ranges, materials as choices from the material table, transverse cell sizes — with
constraints (budget in CHF, length, transverse size, minimum depth in X0 or λI) and
objectives chosen from a menu (:mod:`.objectives`: σ/E at chosen energies, stochastic term,
linearity, leakage, cost, length, channels), each measured with its statistical error by
simulating showers in the design. A *study* (:mod:`.study`) searches the space with Optuna
(NSGA-II, TPE, Gaussian process or grid), stores everything in an SQLite file in its
directory, resumes after a crash, and runs trials on Dask; :mod:`.results` writes the Pareto
front and the designs as detector files, and :mod:`.confirm` measures the front again with
more statistics.

Python API (mirrors ``calolab optimize``)::

    from calolab.optimization import load_space, run_study, load_study, confirm_study

    space = load_space("course")                  # or a TOML file
    run_study(space, "study", trials=300, events=1000, seed=1, workers=2)
    results = load_study("study")
    results.front()                               # non-dominated feasible designs
    confirm_study("study", events=10000)          # -> study/confirm.json

Needs the ``optuna`` extra (and ``dask`` for workers, ``ml`` for the calibration fit's
package and the MLP reconstruction).
"""

from calolab.optimization.confirm import (
    ConfirmedDesign,
    ConfirmResult,
    confirm_study,
    read_confirmation,
)
from calolab.optimization.objectives import (
    METRICS,
    Measurement,
    MeasurementConfig,
    Objective,
    ObjectiveSpec,
    Value,
    design_attributes,
    design_key,
    measure,
    point_seed,
)
from calolab.optimization.results import (
    StudyResults,
    TrialRecord,
    load_study,
    pareto_table,
    write_results,
)
from calolab.optimization.space import (
    Constraints,
    DesignCheck,
    DesignSpace,
    Parameter,
    builtin_spaces,
    load_space,
    loads_space,
    table_differences,
)
from calolab.optimization.study import (
    METHODS,
    StudyProgress,
    StudyRun,
    make_sampler,
    read_study_info,
    run_study,
)

__all__ = [
    "METHODS",
    "METRICS",
    "ConfirmResult",
    "ConfirmedDesign",
    "Constraints",
    "DesignCheck",
    "DesignSpace",
    "Measurement",
    "MeasurementConfig",
    "Objective",
    "ObjectiveSpec",
    "Parameter",
    "StudyProgress",
    "StudyResults",
    "StudyRun",
    "TrialRecord",
    "Value",
    "builtin_spaces",
    "confirm_study",
    "design_attributes",
    "design_key",
    "load_space",
    "load_study",
    "loads_space",
    "make_sampler",
    "measure",
    "pareto_table",
    "point_seed",
    "read_confirmation",
    "read_study_info",
    "run_study",
    "table_differences",
    "write_results",
]
