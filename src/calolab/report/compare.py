"""Numbers the report compares evaluations on: resolution at a given energy, the ratio of two
models' resolutions over matching energy bins, and a paired comparison of their per-event
errors on the same test events."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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


def _num(x: object) -> float | None:
    if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(float(x)):
        return float(x)
    return None


def corrected(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The bias-corrected metrics of an evaluation (``metrics["corrected"]``, written by
    ``calolab evaluate`` when the run has a bias correction), or ``None``."""
    c = metrics.get("corrected")
    return c if isinstance(c, dict) and isinstance(c.get("bins"), list) and c["bins"] else None


def for_resolution(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics to compare resolutions on: the bias-corrected ones when present (an
    additive offset such as the β of α·sum + β changes σ/⟨E⟩ but not the energy
    measurement; the correction removes it), else the raw ones."""
    return corrected(metrics) or metrics


def fitted_resolution(metrics: dict[str, Any], energy: float) -> float | None:
    """σ/E at ``energy`` (GeV) from the fitted a/√E ⊕ b/E ⊕ c, or ``None`` without a fit."""
    fit = metrics.get("fit")
    if not isinstance(fit, dict):
        return None
    a, b, c = (_num(fit.get(k)) for k in ("a", "b", "c"))
    if a is None or b is None or c is None:
        return None
    return math.sqrt(a * a / energy + (b / energy) ** 2 + c * c)


def binned_resolution(metrics: dict[str, Any], energy: float) -> float | None:
    """σ/E of the energy bin that contains ``energy`` (GeV), or ``None``."""
    for b in metrics.get("bins") or []:
        lo, hi, res = _num(b.get("e_lo")), _num(b.get("e_hi")), _num(b.get("resolution"))
        if lo is not None and hi is not None and res is not None and lo <= energy < hi:
            return res
    return None


def resolution_at(metrics: dict[str, Any], energy: float) -> float | None:
    """σ/E at ``energy`` (GeV) from :func:`for_resolution` metrics: the fitted curve when
    there is one, else the bin's value."""
    m = for_resolution(metrics)
    r = fitted_resolution(m, energy)
    return r if r is not None else binned_resolution(m, energy)


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


def resolution_ratio(model: dict[str, Any], reference: dict[str, Any]) -> ResolutionRatio | None:
    """Compare two regression ``metrics.json`` bin by bin (bins matched by their energy
    range); ``None`` when fewer than two bins match. Bias-corrected metrics are used when
    both evaluations have them, else the raw ones."""
    if corrected(model) is not None and corrected(reference) is not None:
        model, reference = for_resolution(model), for_resolution(reference)

    def key(b: dict[str, Any]) -> tuple[float, float] | None:
        lo, hi = _num(b.get("e_lo")), _num(b.get("e_hi"))
        return (round(lo, 6), round(hi, 6)) if lo is not None and hi is not None else None

    ref = {key(b): b for b in reference.get("bins") or [] if key(b) is not None}
    ratios: list[float] = []
    errors: list[float] = []
    for b in model.get("bins") or []:
        r = ref.get(key(b))
        if r is None:
            continue
        m, s = _num(b.get("resolution")), _num(r.get("resolution"))
        if m is None or s is None or s <= 0:
            continue
        q = m / s
        me, se = _num(b.get("resolution_err")), _num(r.get("resolution_err"))
        err = q * math.hypot(me / m if me and m else 0.0, se / s if se else 0.0)
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
        return -self.diff / self.error if self.error > 0 else math.inf


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
    rm = (model["prediction"][ia].astype(np.float64) - t) / t
    rr = (reference["prediction"][ib].astype(np.float64) - t) / t
    d = rm**2 - rr**2
    return PairedComparison(
        rmse_rel=float(np.sqrt(np.mean(rm**2))),
        ref_rmse_rel=float(np.sqrt(np.mean(rr**2))),
        diff=float(d.mean()),
        error=float(d.std(ddof=1) / math.sqrt(len(d))),
        n_events=int(len(d)),
    )
