"""Hand-made evaluation results with known numbers (for the evaluation and report tests)."""

from __future__ import annotations

import math

from calolab.evaluation.classification import (
    ClassificationResult,
    EfficiencyBin,
    EnergyDependence,
    PairResult,
    WorkingPoint,
)
from calolab.evaluation.fits import ResolutionFit
from calolab.evaluation.regression import BinMetrics, RegressionResult
from calolab.evaluation.result import EvaluationResult, EvaluationWarning
from calolab.evaluation.systematics import SourceShift, Systematics, SystematicsConfig


def resolution(e: float, a: float, b: float, c: float) -> float:
    return math.sqrt(a * a / e + (b / e) ** 2 + c * c)


def regression_part(a: float, b: float, c: float, response: float = 0.98) -> RegressionResult:
    """A measurement whose binned resolution follows a/√E ⊕ b/E ⊕ c exactly."""
    edges = [2.0, 4.0, 7.0, 12.0, 20.0]
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        e = 0.5 * (lo + hi)
        res = resolution(e, a, b, c)
        bins.append(
            BinMetrics(
                e_lo=lo,
                e_hi=hi,
                e_mean=e,
                n=100,
                response=response,
                response_err=0.005,
                resolution=res,
                resolution_err=0.05 * res,
                mu=-0.02 * e,
                sigma=res * e,
                mu_rel=-0.02,
                sigma_rel=res,
                rmse_rel=math.hypot(0.02, res),
                fit_method="core-fit",
            )
        )
    fit = ResolutionFit(a, 0.01, b, 0.01, c, 0.001, 1.5, 1, e_min=3.0, e_max=16.0)
    return RegressionResult(
        n_events=400,
        rmse=0.5,
        mae=0.4,
        mu=-0.1,
        sigma=0.5,
        mu_rel=-0.02,
        sigma_rel=0.05,
        rmse_rel=0.054,
        bins=tuple(bins),
        fit=fit,
        scale_slope=response,
        scale_slope_err=0.01,
        scale_exponent=1.0,
        scale_exponent_err=0.01,
    )


def regression_metrics(
    model: str,
    a: float,
    b: float,
    c: float,
    dataset: str,
    *,
    corrected: RegressionResult | None = None,
    warnings: tuple[EvaluationWarning, ...] = (),
) -> EvaluationResult:
    """The result of a regression evaluation whose bins follow a/√E ⊕ b/E ⊕ c."""
    return EvaluationResult(
        task="regression",
        model=model,
        dataset=dataset,
        run=f"runs/{model}",
        n_events=400,
        raw=regression_part(a, b, c),
        corrected=corrected,
        warnings=warnings,
    )


def classification_result(dataset: str) -> EvaluationResult:
    wp = WorkingPoint(0.9, 0.4, 0.9, 0.0, 50)
    bins = (
        EfficiencyBin(2.0, 10.0, 6.0, 25, 25, 0.88, 0.0),
        EfficiencyBin(10.0, 20.0, 15.0, 25, 25, 0.92, 0.04),
    )
    pair = PairResult("e-", "gamma", 50, 50, 0.95, (wp,), (EnergyDependence(0.9, 0.4, bins),))
    return EvaluationResult(
        task="classification",
        model="pid-mlp",
        dataset=dataset,
        run="runs/pid",
        n_events=100,
        classification=ClassificationResult(("e-", "gamma"), 100, 0.9, ((45, 5), (5, 45)), (pair,)),
    )


def systematics_of(part: RegressionResult, rel: float = 0.2) -> Systematics:
    """Systematics of a hand-made measurement: two sources, ``energy_scale`` (no shift of
    σ/E) and ``core_range`` (``rel`` × σ/E in every bin), so the total is ``rel`` × σ/E."""
    res = tuple(b.resolution for b in part.bins)
    shifts = tuple(rel * (r or 0.0) for r in res)
    core = sum(r or 0.0 for r in res) / len(res)
    fit = part.fit
    assert fit is not None
    return Systematics(
        part="raw",
        config=SystematicsConfig(),
        e_mean=tuple(b.e_mean for b in part.bins),
        resolution=res,
        resolution_stat=tuple(b.resolution_err or 0.0 for b in part.bins),
        resolution_syst=shifts,
        response=tuple(b.response for b in part.bins),
        response_stat=tuple(b.response_err or 0.0 for b in part.bins),
        response_syst=tuple(0.01 for _ in part.bins),
        core_resolution=core,
        core_resolution_stat=0.05 * core,
        core_resolution_syst=rel * core,
        sources=(
            SourceShift(
                "energy_scale",
                (0.0,) * len(res),
                (0.01,) * len(res),
                0.0,
                0.0,
                0.0,
                0.0,
                "predictions × (1 ± 0.01)",
            ),
            SourceShift(
                "core_range",
                shifts,
                (0.0,) * len(res),
                rel * core,
                0.02,
                0.01,
                0.001,
                "core window ±1.5, ±2.5 σ",
            ),
        ),
        a=fit.a,
        a_stat=fit.a_err,
        a_syst=0.02,
        b=fit.b,
        b_stat=fit.b_err,
        b_syst=0.01,
        c=fit.c,
        c_stat=fit.c_err,
        c_syst=0.001,
        notes=("bias_correction: no correction applied, nothing to vary",),
    )
