"""Numbers the report compares evaluations on, read from
:class:`~calolab.evaluation.result.EvaluationResult` objects: the measured resolution of the
bin at a given energy, the best model of a test sample, the ratio of two models' resolutions
over matching energy bins, and a paired comparison of their per-event errors on the same test
events."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calolab.evaluation.regression import BinMetrics
from calolab.evaluation.result import EvaluationResult

#: Models in the order the report lists them, with the names it shows.
MODEL_NAMES = {
    "sum": "sum of cells",
    "linear": "α·sum + β",
    "per-layer": "per-layer calibration",
    "mlp": "MLP",
    "cnn3d": "3D CNN",
}


def model_order(model: str) -> tuple[int, str]:
    keys = list(MODEL_NAMES)
    return (keys.index(model) if model in keys else len(keys), model)


def model_title(model: str) -> str:
    return MODEL_NAMES.get(model, model)


def reference_energies(lo: float, hi: float) -> tuple[float, ...]:
    """Round energies (GeV) inside ``[lo, hi)``, away from its edges, at which a summary
    quotes the measured σ/E: the decades (1, 10, 100 … GeV) between 1.5·lo and hi/1.5 (the
    lowest and the highest), completed by the largest 2 or 5 × 10ᵏ there when only one decade
    fits — e.g. 10 and 50 GeV for a 1–100 GeV sample, 100 and 200 GeV for 50–500 GeV. A
    number is never quoted outside the sample."""
    if not (hi > lo > 0):
        return ()
    a, b = 1.5 * lo, hi / 1.5
    if not b > a:
        return (math.sqrt(lo * hi),)
    series = [m * 10.0**k for k in range(-3, 6) for m in (1, 2, 5) if a <= m * 10.0**k <= b]
    decades = [v for v in series if math.isclose(math.log10(v) % 1.0, 0.0, abs_tol=1e-9)]
    if len(decades) >= 2:
        return (decades[0], decades[-1])
    if len(decades) == 1:
        others = [v for v in series if v != decades[0]]
        above = [v for v in others if v > decades[0]]
        extra = above[-1] if above else (others[0] if others else None)
        return tuple(sorted({decades[0], *([extra] if extra else [])}))
    if series:
        return (series[0], series[-1]) if len(series) > 1 else (series[0],)
    return (math.sqrt(lo * hi),)


def resolution_at(result: EvaluationResult, energy: float) -> tuple[float, BinMetrics] | None:
    """Measured σ/E of the bin that contains ``energy`` (GeV) in :attr:`EvaluationResult.best`
    (bias-corrected when the correction was applied), with that bin; ``None`` outside the
    sample or without a measured σ/E there. Never the fitted curve, never an extrapolation."""
    best = result.best
    if best is None:
        return None
    b = best.bin_at(energy)
    if b is None or b.resolution is None:
        return None
    return b.resolution, b


def choose_best(results: Sequence[EvaluationResult]) -> EvaluationResult | None:
    """The model with the lowest bias-corrected core σ/E (mean over the bins) among those
    that pass the response check; flagged models that fail it are never chosen."""
    ok = [
        r
        for r in results
        if r.task == "regression" and r.passes_response_check and r.core_resolution is not None
    ]
    return min(ok, key=lambda r: r.core_resolution or math.inf, default=None)


@dataclass(frozen=True)
class ResolutionRatio:
    """Weighted mean over matching energy bins of resolution(model) / resolution(reference).

    ``ratio < 1`` means the model resolves energy better. ``error`` is the standard error of
    the weighted mean (from the per-bin uncertainties when present, otherwise from the
    scatter of the per-bin ratios); ``n_bins`` bins were compared.
    """

    ratio: float
    error: float
    n_bins: int
    per_bin: tuple[float, ...]

    @property
    def significance(self) -> float:
        """How many standard errors the ratio lies below 1."""
        return (1.0 - self.ratio) / self.error if self.error > 0 else math.inf


def resolution_ratio(
    model: EvaluationResult, reference: EvaluationResult
) -> ResolutionRatio | None:
    """Compare two regression results bin by bin (bins matched by their energy range);
    ``None`` when fewer than two bins match. The bias-corrected bins are used when both
    evaluations have them, else the raw ones."""
    if model.corrected is not None and reference.corrected is not None:
        mb, rb = model.corrected.bins, reference.corrected.bins
    elif model.raw is not None and reference.raw is not None:
        mb, rb = model.raw.bins, reference.raw.bins
    else:
        return None

    def key(b: BinMetrics) -> tuple[float, float]:
        return (round(b.e_lo, 6), round(b.e_hi, 6))

    ref = {key(b): b for b in rb}
    ratios: list[float] = []
    errors: list[float] = []
    for b in mb:
        r = ref.get(key(b))
        if r is None:
            continue
        m, s = b.resolution, r.resolution
        if m is None or s is None or s <= 0 or m <= 0:
            continue
        q = m / s
        me, se = b.resolution_err, r.resolution_err
        err = q * math.hypot(me / m if me else 0.0, se / s if se else 0.0)
        ratios.append(q)
        errors.append(err)
    if len(ratios) < 2:
        return None
    qa = np.array(ratios)
    ea = np.array(errors)
    if np.all(ea > 0):
        w = 1.0 / ea**2
        mean = float(np.sum(w * qa) / np.sum(w))
        err = float(1.0 / math.sqrt(np.sum(w)))
    else:
        mean = float(qa.mean())
        err = float(qa.std(ddof=1) / math.sqrt(len(qa)))
    return ResolutionRatio(mean, err, len(qa), tuple(ratios))


@dataclass(frozen=True)
class PairedComparison:
    """A model against a reference on the same test events (paired).

    With r = (E_pred − E_true)/E_true per event: ``rmse_rel`` and ``ref_rmse_rel`` are
    √⟨r²⟩ of the model and of the reference, ``ratio`` their quotient, and ``diff`` ± ``error``
    the mean over events of r²_model − r²_ref with its standard error (the events are the same,
    so their correlation cancels in the difference). ``diff + 3·error < 0`` means the model
    measures the energy better than the reference at more than three standard errors.
    """

    rmse_rel: float
    ref_rmse_rel: float
    diff: float
    error: float
    n_events: int

    @property
    def ratio(self) -> float:
        return self.rmse_rel / self.ref_rmse_rel if self.ref_rmse_rel > 0 else math.inf

    @property
    def significance(self) -> float:
        """How many standard errors the model's mean squared error lies below the reference's."""
        if self.error > 0:
            return -self.diff / self.error
        return 0.0 if self.diff == 0 else math.copysign(math.inf, -self.diff)


def read_predictions(eval_dir: str | os.PathLike[str]) -> dict[str, np.ndarray] | None:
    """``index``, ``prediction`` and ``target`` (GeV) from ``predictions.h5`` of a
    ``calolab evaluate`` output directory, or ``None`` when absent or unreadable."""
    from calolab.core.errors import CalolabError
    from calolab.data.hdf5 import ReadLimits, open_hdf5, read_rows

    path = Path(eval_dir) / "predictions.h5"
    if not path.exists():
        return None
    try:
        f = open_hdf5(path, ReadLimits.from_env(), what="predictions file")
    except CalolabError:
        return None
    try:
        return {
            k: np.asarray(read_rows(f[k], 0, f[k].shape[0]))
            for k in ("index", "prediction", "target")
        }
    except (CalolabError, OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError):
        return None
    finally:
        f.close()


def paired_comparison(
    model: dict[str, np.ndarray], reference: dict[str, np.ndarray]
) -> PairedComparison | None:
    """Compare per-event predictions of two models on the same events (matched by
    ``index``); ``None`` when they share fewer than 10 events or the targets differ."""
    common, ia, ib = np.intersect1d(model["index"], reference["index"], return_indices=True)
    if len(common) < 10:
        return None
    t = model["target"][ia].astype(np.float64)
    if not np.allclose(t, reference["target"][ib], rtol=1e-6) or np.any(t <= 0):
        return None
    pm = model["prediction"][ia].astype(np.float64)
    pr = reference["prediction"][ib].astype(np.float64)
    rm, rr = (pm - t) / t, (pr - t) / t
    d = rm**2 - rr**2
    # Predictions equal to the precision they were stored with are the same prediction:
    # their difference is rounding, and its "significance" would be noise divided by noise.
    eps = max(
        (
            float(np.finfo(model["prediction"].dtype).eps)
            if np.issubdtype(model["prediction"].dtype, np.floating)
            else 0.0
        ),
        (
            float(np.finfo(reference["prediction"].dtype).eps)
            if np.issubdtype(reference["prediction"].dtype, np.floating)
            else 0.0
        ),
    )
    d[np.abs(pm - pr) <= 8 * eps * np.maximum(np.abs(pm), np.abs(pr))] = 0.0
    return PairedComparison(
        rmse_rel=float(np.sqrt(np.mean(rm**2))),
        ref_rmse_rel=float(np.sqrt(np.mean(rr**2))),
        diff=float(d.mean()),
        error=float(d.std(ddof=1) / math.sqrt(len(d))),
        n_events=int(len(d)),
    )
