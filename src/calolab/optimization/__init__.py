"""Design optimisation: search calorimeter designs for the best resolution under a budget.

The loop back from evaluation to design. A *design space* (:mod:`.space`, TOML) is a detector
file whose values may be parameters — thicknesses as float ranges in cm, numbers of periods
as int ranges, materials as choices from the material table, transverse cell sizes — with
constraints (budget in CHF, length, transverse size, minimum depth in X0 or λI) and
objectives chosen from a menu (:mod:`.objectives`: σ/E at chosen energies, stochastic term,
linearity, leakage, cost, length, channels), each measured with its statistical error by
simulating showers in the design. A *study* (:mod:`.study`) searches the space with Optuna
(NSGA-II, TPE, Gaussian process, random or grid; further methods plug into the registry of
:mod:`.methods`, such as the gradient-based ``gradient`` of :mod:`.gradient`, which trains
the design through the torch simulator; :mod:`.gradcheck` checks its derivatives), stores everything in an SQLite file in its
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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, imported on first use (``calolab`` commands stay fast)
    from calolab.optimization.confirm import (
        ConfirmedDesign,
        ConfirmResult,
        confirm_study,
        read_confirmation,
    )
    from calolab.optimization.gradcheck import GradCheck, gradcheck
    from calolab.optimization.gradspace import GradientView, relax
    from calolab.optimization.methods import (
        Method,
        SamplerOptions,
        get_method,
        method_names,
        register_method,
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
        StudyDriverContext,
        StudyProgress,
        StudyRun,
        make_sampler,
        read_study_info,
        run_study,
    )

#: Public name -> the module that defines it.
_EXPORTS = {
    "ConfirmedDesign": "calolab.optimization.confirm",
    "ConfirmResult": "calolab.optimization.confirm",
    "confirm_study": "calolab.optimization.confirm",
    "read_confirmation": "calolab.optimization.confirm",
    "GradCheck": "calolab.optimization.gradcheck",
    "gradcheck": "calolab.optimization.gradcheck",
    "GradientView": "calolab.optimization.gradspace",
    "relax": "calolab.optimization.gradspace",
    "Method": "calolab.optimization.methods",
    "SamplerOptions": "calolab.optimization.methods",
    "get_method": "calolab.optimization.methods",
    "method_names": "calolab.optimization.methods",
    "register_method": "calolab.optimization.methods",
    "METRICS": "calolab.optimization.objectives",
    "Measurement": "calolab.optimization.objectives",
    "MeasurementConfig": "calolab.optimization.objectives",
    "Objective": "calolab.optimization.objectives",
    "ObjectiveSpec": "calolab.optimization.objectives",
    "Value": "calolab.optimization.objectives",
    "design_attributes": "calolab.optimization.objectives",
    "design_key": "calolab.optimization.objectives",
    "measure": "calolab.optimization.objectives",
    "point_seed": "calolab.optimization.objectives",
    "StudyResults": "calolab.optimization.results",
    "TrialRecord": "calolab.optimization.results",
    "load_study": "calolab.optimization.results",
    "pareto_table": "calolab.optimization.results",
    "write_results": "calolab.optimization.results",
    "Constraints": "calolab.optimization.space",
    "DesignCheck": "calolab.optimization.space",
    "DesignSpace": "calolab.optimization.space",
    "Parameter": "calolab.optimization.space",
    "builtin_spaces": "calolab.optimization.space",
    "load_space": "calolab.optimization.space",
    "loads_space": "calolab.optimization.space",
    "table_differences": "calolab.optimization.space",
    "METHODS": "calolab.optimization.study",
    "StudyDriverContext": "calolab.optimization.study",
    "StudyProgress": "calolab.optimization.study",
    "StudyRun": "calolab.optimization.study",
    "make_sampler": "calolab.optimization.study",
    "read_study_info": "calolab.optimization.study",
    "run_study": "calolab.optimization.study",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'calolab.optimization' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "METHODS",
    "METRICS",
    "ConfirmResult",
    "ConfirmedDesign",
    "Constraints",
    "DesignCheck",
    "DesignSpace",
    "GradCheck",
    "GradientView",
    "Measurement",
    "MeasurementConfig",
    "Method",
    "Objective",
    "ObjectiveSpec",
    "Parameter",
    "SamplerOptions",
    "StudyDriverContext",
    "StudyProgress",
    "StudyResults",
    "StudyRun",
    "TrialRecord",
    "Value",
    "builtin_spaces",
    "confirm_study",
    "design_attributes",
    "design_key",
    "get_method",
    "gradcheck",
    "load_space",
    "load_study",
    "loads_space",
    "make_sampler",
    "measure",
    "method_names",
    "pareto_table",
    "point_seed",
    "read_confirmation",
    "read_study_info",
    "register_method",
    "relax",
    "run_study",
    "table_differences",
    "write_results",
]
