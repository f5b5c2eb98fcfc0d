"""Evaluation: response and resolution fits, bias correction, tracker combination,
classification metrics, plots.

Public API
----------
Result: :class:`EvaluationResult` (``metrics.json``; :meth:`EvaluationResult.from_json`),
:class:`EvaluationWarning`, :class:`GroupResult`, :class:`BiasCorrectionStatus`.
Regression: :func:`measure_regression` (→ :class:`RegressionResult` of :class:`BinMetrics`),
:class:`EnergyBinning`, :func:`energy_bins`, :func:`summary_stats`, :func:`binned_metrics`,
:func:`fit_bias_correction` (→ :class:`BiasCorrection`), :func:`gaussian_core_fit`,
:func:`fit_resolution` (→ :class:`ResolutionFit`), :func:`regression_metrics` (a plain dict).
Checks: :mod:`calolab.evaluation.checks` (the thresholds of the warnings).
Tracker: :func:`tracker_resolution`, :func:`combine_inverse_variance`,
:func:`combine_with_tracker`, :func:`expected_combined_resolution` (→ :class:`TrackerResult`).
Classification: :func:`measure_classification` (→ :class:`ClassificationResult`),
:func:`classification_metrics`, :func:`roc_curve`, :func:`auc`, :func:`rejection_at`,
:func:`confusion_matrix`.
Runs: :func:`evaluate_run` (needs the ``ml`` extra).
"""

from __future__ import annotations

from typing import Any

from calolab.evaluation.classification import (
    ClassificationResult,
    accuracy,
    auc,
    classification_metrics,
    confusion_matrix,
    measure_classification,
    rejection_at,
    roc_curve,
)
from calolab.evaluation.conditions import (
    DeadResolution,
    DeadScanResult,
    dead_channel_resolution,
    dead_scan,
)
from calolab.evaluation.fits import (
    GaussianFit,
    ResolutionFit,
    check_terms,
    fit_line,
    fit_resolution,
    gaussian_core_fit,
    resolution_curve,
)
from calolab.evaluation.regression import (
    BiasCorrection,
    BinMetrics,
    EnergyBinning,
    RegressionResult,
    binned_metrics,
    energy_bins,
    fit_bias_correction,
    measure_regression,
    regression_metrics,
    summary_stats,
)
from calolab.evaluation.result import (
    BiasCorrectionStatus,
    EvaluationResult,
    EvaluationWarning,
    GroupResult,
)
from calolab.evaluation.systematics import (
    Systematics,
    SystematicsConfig,
    measure_systematics,
    point_systematics,
)
from calolab.evaluation.timing import TimingResolution, timing_resolution
from calolab.evaluation.tracker import (
    TRACKER_REL_AT_1TEV,
    TrackerResult,
    combine_inverse_variance,
    combine_with_tracker,
    expected_combined_resolution,
    simulate_tracker,
    tracker_resolution,
)


def evaluate_run(*args: Any, **kwargs: Any) -> EvaluationResult:
    """See :func:`calolab.evaluation.evaluate.evaluate_run`."""
    from calolab.evaluation.evaluate import evaluate_run as _evaluate_run

    return _evaluate_run(*args, **kwargs)


__all__ = [
    "DeadResolution",
    "DeadScanResult",
    "Systematics",
    "SystematicsConfig",
    "TimingResolution",
    "dead_channel_resolution",
    "dead_scan",
    "measure_systematics",
    "point_systematics",
    "timing_resolution",
    "TRACKER_REL_AT_1TEV",
    "BiasCorrection",
    "BiasCorrectionStatus",
    "BinMetrics",
    "ClassificationResult",
    "EnergyBinning",
    "EvaluationResult",
    "EvaluationWarning",
    "GaussianFit",
    "GroupResult",
    "RegressionResult",
    "ResolutionFit",
    "TrackerResult",
    "check_terms",
    "measure_classification",
    "measure_regression",
    "accuracy",
    "auc",
    "binned_metrics",
    "classification_metrics",
    "combine_inverse_variance",
    "combine_with_tracker",
    "confusion_matrix",
    "energy_bins",
    "evaluate_run",
    "expected_combined_resolution",
    "fit_bias_correction",
    "fit_line",
    "fit_resolution",
    "gaussian_core_fit",
    "regression_metrics",
    "rejection_at",
    "resolution_curve",
    "roc_curve",
    "simulate_tracker",
    "summary_stats",
    "tracker_resolution",
]
