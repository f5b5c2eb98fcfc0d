"""Evaluate a trained run on a test file: ``metrics.json``, plots and per-event predictions.

``metrics.json`` for regression::

    {"task": "regression", "model", "dataset", "detector", "run", "n_events",
     "rmse", "mae", "mu", "sigma", "mu_rel", "sigma_rel", "rmse_rel",
     "bins": [{"e_lo", "e_hi", "e_mean", "n", "response", "response_err", "resolution",
               "resolution_err", "mu", "sigma", "mu_rel", "sigma_rel", "rmse_rel",
               "fit_method"}, ...],
     "fit": {"a", "a_err", "b", "b_err", "c", "c_err", "chi2", "ndf"} | null,
     "bias_correction": {...fit parameters...} | null,
     "corrected": {same global keys, "bins", "fit"} | null,
     "ensemble": {"members", "mean_spread", "mean_rel_spread"},
     "tracker": {...} (with tracker=True),
     "calolab_version", "data_hash", "run_config_hash"}

The top-level numbers describe the raw predictions (what the model outputs; the sum-of-cells
baseline keeps its scale); ``corrected`` holds the same after the bias correction fitted on the
run's validation (or out-of-fold) predictions. For classification: ``{"task":
"classification", "classes", "accuracy", "confusion_matrix", "auc", "rejection", ...}`` with
``roc.png`` and ``confusion.png``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.config import check_int
from calolab.core.errors import DataError, OutputError
from calolab.core.files import check_output_dir
from calolab.data.hdf5 import H5Output
from calolab.evaluation.classification import classification_metrics
from calolab.evaluation.fits import gaussian_core_fit, resolution_curve
from calolab.evaluation.plots import (
    plot_confusion,
    plot_pred_vs_true,
    plot_resolution,
    plot_response,
    plot_roc,
    plot_weight_trajectories,
)
from calolab.evaluation.regression import (
    BiasCorrection,
    energy_bins,
    fit_bias_correction,
    regression_metrics,
)
from calolab.evaluation.tracker import (
    TRACKER_REL_AT_1TEV,
    combine_with_tracker,
    expected_combined_resolution,
    simulate_tracker,
    tracker_resolution,
)

log = logging.getLogger(__name__)


def _prepare_output(output: str | Path, inputs: tuple[str | Path, ...] = ()) -> Path:
    out = check_output_dir(output, inputs=inputs)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create '{out}': {exc}") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"output directory '{out}' is not writable")
    return out


def calo_resolution_function(metrics: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """σ/E(E) of the calorimeter from the metrics: the fitted curve, else the binned values
    interpolated in log E."""
    fit = metrics.get("fit")
    if fit:
        return lambda e: resolution_curve(e, fit["a"], fit["b"], fit["c"])
    e = np.array([b["e_mean"] for b in metrics["bins"]])
    r = np.array([b["resolution"] for b in metrics["bins"]])
    return lambda x: np.interp(np.log(np.asarray(x)), np.log(e), r)


def tracker_combination(
    e_true: np.ndarray,
    e_calo: np.ndarray,
    calo_metrics: dict[str, Any],
    *,
    seed: int = 0,
    rel_at_1tev: float = TRACKER_REL_AT_1TEV,
) -> tuple[dict[str, Any], np.ndarray]:
    """Combine the calorimeter with a toy tracker (σ/E = rel_at_1tev × E/1 TeV) per event.

    Returns the combined energies (GeV) and, per bin of true energy the calorimeter, tracker and combined σ/E (Gaussian-core
    fits of E/E_true) and the expectation 1/√(1/σ_c² + 1/σ_t²).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x7A0C,)))
    e_trk = simulate_tracker(e_true, rng, rel_at_1tev)
    e_comb = combine_with_tracker(
        e_calo, e_trk, calo_resolution_function(calo_metrics), rel_at_1tev
    )
    rows = []
    for b in calo_metrics["bins"]:
        sel = (e_true >= b["e_lo"]) & (e_true < b["e_hi"])
        fc = gaussian_core_fit(e_calo[sel] / e_true[sel])
        ft = gaussian_core_fit(e_trk[sel] / e_true[sel])
        fb = gaussian_core_fit(e_comb[sel] / e_true[sel])
        res_c = fc.sigma / fc.mu
        rows.append(
            {
                "e_mean": b["e_mean"],
                "n": int(sel.sum()),
                "calo": res_c,
                "tracker": ft.sigma / ft.mu,
                "tracker_nominal": float(tracker_resolution(b["e_mean"], rel_at_1tev)),
                "combined": fb.sigma / fb.mu,
                "combined_err": fb.sigma_err / fb.mu,
                "combined_response": fb.mu,
                "combined_rmse_rel": float(np.sqrt(np.mean((e_comb[sel] / e_true[sel] - 1) ** 2))),
                "expected": float(expected_combined_resolution(res_c, b["e_mean"], rel_at_1tev)),
            }
        )
    return {"rel_at_1tev": rel_at_1tev, "seed": seed, "bins": rows}, e_comb


def bias_correction_of(run: Any) -> BiasCorrection | None:
    """The bias correction of a regression run, fitted on its held-out predictions (those of
    a model that did not train on the event); ``None`` when it has none or the fit fails."""
    held = run.held_out_predictions()
    if held is None:
        return None
    try:
        return fit_bias_correction(*held)
    except DataError as exc:
        log.warning("no bias correction: %s", exc)
        return None


def evaluate_run(
    run: Any,
    data: str | Path,
    output: str | Path,
    *,
    n_bins: int = 10,
    max_events: int | None = None,
    tracker: bool = False,
    tracker_rel_at_1tev: float = TRACKER_REL_AT_1TEV,
    batch_size: int = 1024,
    device: str = "cpu",
    plots: bool = True,
    progress: Callable[[int], None] | None = None,
    source: Any = None,
) -> dict[str, Any]:
    """Evaluate a run on ``data`` and write ``metrics.json``, plots and ``predictions.h5``.

    Parameters
    ----------
    run:
        A run directory or a :class:`~calolab.training.run.TrainedRun`.
    data:
        Test file (same detector as the training file).
    output:
        Output directory (created).
    n_bins:
        Bins of true energy (log-spaced for ranges wider than a factor 20).
    max_events:
        Evaluate only the first events of the file.
    tracker:
        Also combine with a toy tracker of σ/E = ``tracker_rel_at_1tev`` × E/1 TeV.
    source:
        An already opened :class:`~calolab.training.datasets.TrainingSource` of ``data``
        (e.g. one feature pass shared by several runs); it is checked and not closed.
    """
    from calolab.core.provenance import package_version

    __version__ = package_version()
    from calolab.training.checkpoint import write_json
    from calolab.training.run import TrainedRun

    check_int("n_bins", n_bins, minimum=1, maximum=1000, hint=" (--bins)")
    check_int("batch_size", batch_size, minimum=1, maximum=1 << 20, hint=" (--batch-size)")
    if not isinstance(run, TrainedRun):
        run = TrainedRun(run, device=device)
    out = _prepare_output(output, (data,))
    import time

    from calolab.training.datasets import inference_batch_size
    from calolab.training.trainer import peak_memory_mb

    own = source is None
    if own:
        source = run.open_data(data, max_events=max_events)
    else:
        run.check_source(source)
    try:
        fp = source.fingerprint()
        t0 = time.perf_counter()
        preds = run.predict(source, batch_size=batch_size, progress=progress)
        t_pred = time.perf_counter() - t0
    finally:
        if own:
            source.close()
    base: dict[str, Any] = {
        "task": run.task,
        "model": run.config.model.name,
        "model_config": run.config.model.to_dict(),
        "dataset": str(data),
        "detector": fp["detector_name"],
        "run": str(run.run_dir),
        "calolab_version": __version__,
        "data_hash": fp["data_hash"],
        "run_config_hash": run.meta.get("config_hash"),
        "members": len(run.model),
        "inference": {
            "seconds": t_pred,
            "events_per_second": len(preds.index) / t_pred if t_pred > 0 else None,
            "batch_size": inference_batch_size(source, batch_size),
            "device": str(run.device),
            "note": "model forward passes incl. reading the inputs; the feature pass over "
            "the file (scalar inputs) is done when the file is opened and not included",
        },
        "peak_memory_mb": peak_memory_mb(),
    }
    if run.task == "classification":
        metrics = {**base, **classification_metrics(preds.target, preds.value, run.classes)}
        if plots:
            plot_roc(preds.target, preds.value, run.classes, out / "roc.png")
            plot_confusion(
                np.array(metrics["confusion_matrix"]), run.classes, out / "confusion.png"
            )
        _write_predictions(out / "predictions.h5", preds, classes=run.classes)
        write_json(out / "metrics.json", metrics)
        return metrics

    t = preds.target.astype(np.float64)
    p = preds.value.astype(np.float64)
    edges = energy_bins(t, n_bins)
    metrics = {**base, **regression_metrics(t, p, edges=edges)}
    metrics["ensemble"] = {
        "members": len(run.model),
        "mean_spread": float(np.mean(preds.spread)),
        "mean_rel_spread": float(np.mean(preds.spread / np.clip(p, 1e-9, None))),
    }
    bc = bias_correction_of(run)
    corrected = None
    if bc is not None:
        corrected = bc.apply(p)
        metrics["bias_correction"] = bc.to_dict()
        metrics["corrected"] = regression_metrics(t, corrected, edges=edges)
    else:
        metrics["bias_correction"] = None
        metrics["corrected"] = None
    comb = None
    if tracker:
        calo = corrected if corrected is not None else p
        calo_m = metrics["corrected"] if corrected is not None else metrics
        metrics["tracker"], comb = tracker_combination(
            t, calo, calo_m, seed=run.config.seed, rel_at_1tev=tracker_rel_at_1tev
        )
    if plots:
        name = run.config.model.name
        title = f"{name} on {fp['detector_name']}"
        plot_pred_vs_true(t, p, out / "pred_vs_true.png", title=title)
        curves = {name: metrics["bins"]}
        fits = {name: metrics["fit"]}
        if metrics["corrected"] is not None:
            curves[f"{name} (bias-corrected)"] = metrics["corrected"]["bins"]
        plot_response(curves, out / "response.png", title=title)
        extra = None
        res_curves = {name: metrics["bins"]}
        if metrics["corrected"] is not None:
            res_curves[f"{name} (bias-corrected)"] = metrics["corrected"]["bins"]
            fits[f"{name} (bias-corrected)"] = metrics["corrected"]["fit"]
        if tracker:
            e = np.array([b["e_mean"] for b in metrics["tracker"]["bins"]])
            extra = {
                f"tracker {100 * tracker_rel_at_1tev:.0f}% × E/TeV": (
                    e,
                    tracker_resolution(e, tracker_rel_at_1tev),
                ),
                "calo ⊕ tracker (combined)": (
                    e,
                    np.array([b["combined"] for b in metrics["tracker"]["bins"]]),
                ),
            }
        plot_resolution(res_curves, out / "resolution.png", fits=fits, extra=extra, title=title)
        weights = run.run_dir / "weights.csv"
        if not weights.exists():
            weights = run.run_dir / "member_0" / "weights.csv"
        if weights.exists():
            from calolab.training.checkpoint import read_csv

            rows = read_csv(weights)
            if rows and any(k.startswith("w") for k in rows[0]):
                plot_weight_trajectories(rows, out / "weights.png", title=title)
    _write_predictions(out / "predictions.h5", preds, corrected=corrected, combined=comb)
    write_json(out / "metrics.json", metrics)
    return metrics


def _write_predictions(
    path: Path,
    preds: Any,
    *,
    classes: tuple[str, ...] = (),
    corrected: np.ndarray | None = None,
    combined: np.ndarray | None = None,
) -> None:
    """Per-event predictions (HDF5, written atomically through calolab.core.files)."""
    with H5Output(path, what="predictions file", lock=False) as f:
        f.create_dataset("index", data=preds.index)
        f.create_dataset("prediction", data=preds.value)
        f.create_dataset("spread", data=preds.spread)
        f.create_dataset("target", data=preds.target)
        for k, v in preds.truth.items():
            f.create_dataset(f"truth/{k}", data=v)
        if corrected is not None:
            f.create_dataset("corrected", data=corrected)
        if combined is not None:
            f.create_dataset("combined_with_tracker", data=combined)
        if classes:
            f.attrs["classes"] = list(classes)
