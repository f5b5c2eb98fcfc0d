"""Evaluate a trained run on a test file: ``metrics.json``, plots and per-event predictions.

:func:`evaluate_run` predicts the test file with a :class:`~calolab.training.run.TrainedRun`
and returns an :class:`~calolab.evaluation.result.EvaluationResult`, which it also writes as
``metrics.json`` (see :mod:`calolab.evaluation.result` for the layout) next to
``predictions.h5`` and the plots.

For regression:

1. the true energies are binned (:class:`~calolab.evaluation.regression.EnergyBinning`,
   equal-population bins by default) and the raw predictions measured per bin (Gaussian-core
   response and σ/E) with the fit of σ/E = a/√E ⊕ b/E ⊕ c;
2. the bias correction is fitted on the run's held-out predictions (out-of-fold or validation
   events: never the test events), checked, and applied only when it is well conditioned
   (:func:`calolab.evaluation.checks.check_bias_correction`); the corrected predictions are
   measured the same way;
3. with ``by``, the same per group of a truth field (``particle``, ...);
4. with ``tracker``, the calorimeter is combined with a toy tracker event by event;
5. every part goes through the sanity checks of :mod:`calolab.evaluation.checks`, whose
   warnings land in ``metrics.json``.

For classification: accuracy, confusion matrix, AUC and working points per class pair, and
efficiency and rejection per bin of true energy at the working points' thresholds.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from calolab.core.config import check_float, check_int
from calolab.core.errors import ConfigError, DataError, OutputError
from calolab.core.files import check_output_dir
from calolab.data.hdf5 import H5Output
from calolab.evaluation.checks import check_bias_correction, check_regression, check_tracker
from calolab.evaluation.classification import measure_classification
from calolab.evaluation.fits import RESOLUTION_TERMS, check_terms, resolution_curve
from calolab.evaluation.plots import (
    OPLUS,
    plot_confusion,
    plot_efficiency,
    plot_pred_vs_true,
    plot_resolution,
    plot_response,
    plot_roc,
    plot_tracker,
    plot_weight_trajectories,
)
from calolab.evaluation.regression import (
    BiasCorrection,
    EnergyBinning,
    RegressionResult,
    fit_bias_correction,
    measure_regression,
)
from calolab.evaluation.result import (
    BiasCorrectionStatus,
    EnsembleSpread,
    EvaluationResult,
    EvaluationWarning,
    GroupResult,
    InferenceInfo,
)
from calolab.evaluation.systematics import SystematicsConfig, measure_systematics
from calolab.evaluation.tracker import (
    TRACKER_REL_AT_1TEV,
    TrackerResult,
    combine_with_tracker,
    simulate_tracker,
    tracker_resolution,
    tracker_table,
)

if TYPE_CHECKING:
    from calolab.training.run import TrainedRun

log = logging.getLogger(__name__)

#: Continuous truth fields with more distinct values than this are split into ranges by ``by``.
MAX_GROUP_VALUES = 12
#: Default number of equal-population ranges of a continuous ``by`` field.
DEFAULT_GROUP_RANGES = 4
#: Groups with fewer events are not measured.
MIN_GROUP_EVENTS = 20


def _prepare_output(output: str | Path, inputs: tuple[str | Path, ...] = ()) -> Path:
    out = check_output_dir(output, inputs=inputs)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create '{out}': {exc}") from None
    if not os.access(out, os.W_OK):
        raise OutputError(f"output directory '{out}' is not writable")
    return out


def calo_resolution_function(
    res: RegressionResult, use_fit: bool = True
) -> Callable[[np.ndarray], np.ndarray]:
    """σ/E(E) of the calorimeter: the fitted curve (when ``use_fit`` and there is one), else
    the measured bins interpolated in log E (constant beyond the first and last bin)."""
    fit = res.fit
    if use_fit and fit is not None:
        return lambda e: resolution_curve(e, fit.a, fit.b, fit.c)
    ok = [b for b in res.bins if b.resolution is not None and b.resolution > 0]
    if not ok:
        raise DataError("no bin with a positive σ/E: the calorimeter resolution is undefined")
    e = np.log([b.e_mean for b in ok])
    r = np.array([b.resolution for b in ok], dtype=np.float64)
    return lambda x: np.interp(np.log(np.clip(np.asarray(x, dtype=np.float64), 1e-9, None)), e, r)


def tracker_combination(
    e_true: np.ndarray,
    e_calo: np.ndarray,
    calo: RegressionResult,
    *,
    seed: int = 0,
    rel_at_1tev: float = TRACKER_REL_AT_1TEV,
    source: str = "raw",
    use_fit: bool = True,
) -> tuple[TrackerResult, np.ndarray]:
    """Combine the calorimeter with a toy tracker (σ/E = rel_at_1tev × E/1 TeV) per event.

    The calorimeter's σ/E for the weights comes from ``calo`` (its fit, or its bins when
    ``use_fit`` is false or there is no fit). Returns the per-bin table (Gaussian-core σ/E of
    the calorimeter, the tracker and the combination, and the ideal expectation) and the
    combined energies (GeV).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x7A0C,)))
    e_trk = simulate_tracker(e_true, rng, rel_at_1tev)
    use_fit = use_fit and calo.fit is not None
    e_comb = combine_with_tracker(
        e_calo, e_trk, calo_resolution_function(calo, use_fit), rel_at_1tev
    )
    rows = tracker_table(
        e_true, e_calo, e_trk, e_comb, [(b.e_lo, b.e_hi) for b in calo.bins], rel_at_1tev
    )
    result = TrackerResult(
        rel_at_1tev=float(rel_at_1tev),
        seed=int(seed),
        source=source,
        calo_resolution="fit" if use_fit else "bins",
        bins=tuple(rows),
    )
    return result, e_comb


def bias_correction_of(run: Any) -> BiasCorrection | None:
    """The bias correction of a regression run, fitted on its held-out predictions (those of
    a model that did not train on the event); ``None`` when it has none or the fit fails.
    It is not checked: :func:`bias_correction_status` decides whether it may be applied."""
    held = run.held_out_predictions()
    if held is None:
        return None
    try:
        return fit_bias_correction(*held)
    except DataError as exc:
        log.warning("no bias correction: %s", exc)
        return None


def bias_correction_status(
    run: Any, raw_calibrated: bool = False
) -> tuple[BiasCorrectionStatus, list[EvaluationWarning]]:
    """Fit the run's bias correction on its held-out predictions and decide whether it may be
    applied (:func:`~calolab.evaluation.checks.check_bias_correction`). ``raw_calibrated``:
    the raw predictions passed the response check, so a correction that cannot be fitted
    precisely (too few held-out events) is left out without a warning."""
    held = run.held_out_predictions()
    source = str((run.summary or {}).get("bias_correction_source") or "held-out predictions")
    if held is None:
        return (
            BiasCorrectionStatus(None, False, "none", "the run stored no held-out predictions"),
            [],
        )
    try:
        bc = fit_bias_correction(*held)
    except DataError as exc:
        if raw_calibrated and "needs 2 energy bins" in str(exc):
            return BiasCorrectionStatus(None, False, source, str(exc)), []
        why = str(exc).removeprefix("bias correction: ")
        warning = EvaluationWarning(
            "bias-refused", f"bias correction not applied: {why}", "bias correction"
        )
        return BiasCorrectionStatus(None, False, source, str(exc)), [warning]
    ok, reason, warnings = check_bias_correction(bc, *held, raw_calibrated=raw_calibrated)
    return BiasCorrectionStatus(bc, ok, source, reason), warnings


# ----------------------------------------------------------------------------- grouping
def _truth_field(truth: dict[str, np.ndarray], by: str) -> tuple[str, np.ndarray]:
    name = "pdg" if by == "particle" else by
    if name not in truth:
        avail = ["particle", *sorted(k for k in truth if k != "pdg")]
        raise ConfigError(
            f"--by {by!r}: the test file has no truth field '{name}'; available: "
            f"{', '.join(avail)}"
        )
    v = np.asarray(truth[name])
    if v.ndim != 1:
        raise ConfigError(
            f"--by {by!r}: truth field '{name}' has {v.shape[1:]} values per event; choose a "
            "scalar field (e.g. particle, energy, theta)"
        )
    return name, v


def group_events(truth: dict[str, np.ndarray], by: str) -> list[tuple[str, np.ndarray]]:
    """``(label, mask)`` per group of the truth field ``by``.

    ``particle`` groups by particle name; a field with at most :data:`MAX_GROUP_VALUES`
    distinct values by value; a continuous field into :data:`DEFAULT_GROUP_RANGES`
    equal-population ranges (``FIELD:N`` for N ranges).
    """
    from calolab.core.config import check_int
    from calolab.core.particles import particle_name

    field, _, n_text = by.partition(":")
    n_ranges = DEFAULT_GROUP_RANGES
    if n_text:
        try:
            n_ranges = check_int("--by ranges", int(n_text), minimum=2, maximum=100)
        except ValueError:
            raise ConfigError(
                f"--by {by!r}: the number of ranges after ':' must be an integer"
            ) from None
    name, v = _truth_field(truth, field)
    if name == "pdg":
        out = []
        for code in np.unique(v):
            try:
                label = particle_name(int(code))
            except Exception:  # unknown code: show the number
                label = f"pdg {int(code)}"
            out.append((label, v == code))
        return out
    values = np.unique(v)
    if len(values) <= MAX_GROUP_VALUES and not n_text:
        return [
            (f"{x:g}" if np.issubdtype(values.dtype, np.number) else str(x), v == x) for x in values
        ]
    edges = np.unique(np.quantile(v.astype(np.float64), np.linspace(0, 1, n_ranges + 1)))
    out = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == len(edges) - 2
        mask = (v >= a) & ((v <= b) if last else (v < b))
        out.append((f"{a:.4g}–{b:.4g}", mask))
    return out


# ----------------------------------------------------------------------------- the run
def evaluate_run(
    run: TrainedRun,
    data: str | Path,
    output: str | Path,
    *,
    binning: EnergyBinning | str | int | None = None,
    n_bins: int | None = None,
    by: str | None = None,
    fit_terms: Sequence[str] | str | None = None,
    max_events: int | None = None,
    tracker: bool = False,
    tracker_rel_at_1tev: float = TRACKER_REL_AT_1TEV,
    batch_size: int = 1024,
    plots: bool = True,
    progress: Callable[[int], None] | None = None,
    source: Any = None,
    systematics: SystematicsConfig | None = SystematicsConfig(),  # noqa: B008 (frozen)
    timing: bool = False,
) -> EvaluationResult:
    """Evaluate a run on ``data``; write ``metrics.json``, plots and ``predictions.h5``.

    Parameters
    ----------
    run:
        The trained run (:func:`calolab.training.load_run`).
    data:
        Test file (same detector as the training file).
    output:
        Output directory (created).
    binning:
        Bins of true energy: an :class:`EnergyBinning`, a number of equal-population bins, or
        ``--bins`` text (``"10"`` or edges ``"1,5,10,50,100"``). Default: 10 equal-population
        bins (``n_bins`` of them when given).
    by:
        Also measure per group of a truth field (``"particle"``, ``"energy"``, ``"theta"``,
        ...; ``"FIELD:N"`` for N ranges of a continuous field).
    fit_terms:
        Terms of the resolution fit (e.g. ``"a,c"``); default a, b, c with a term that ends
        at 0 fixed to 0 (then a term at a limit is a warning only when asked for).
    max_events:
        Evaluate only the first events of the file.
    tracker:
        Also combine with a toy tracker of σ/E = ``tracker_rel_at_1tev`` × E/1 TeV.
    source:
        An already opened :class:`~calolab.training.datasets.TrainingSource` of ``data``
        (e.g. one feature pass shared by several runs); it is checked and not closed.
    systematics:
        The declared variations (:class:`~calolab.evaluation.systematics.SystematicsConfig`;
        default: 1 % energy scale, core windows ±1.5/2.5 σ, the bias-correction fit ±1σ);
        ``None``: statistical errors only. The result is ``EvaluationResult.systematics``.
    timing:
        Also measure the timing resolution σ_t(E) = A/√E ⊕ B of the test file's digitised
        cell times (:func:`calolab.evaluation.timing.timing_resolution`).

    Raises
    ------
    ConfigError
        Bad options (binning, fit terms, truth field).
    DataError
        Another detector than the training one, unreadable data.
    """
    from calolab.core.provenance import package_version
    from calolab.training.datasets import inference_batch_size
    from calolab.training.run import TrainedRun
    from calolab.training.trainer import peak_memory_mb

    if not isinstance(run, TrainedRun):
        raise ConfigError(
            f"evaluate_run needs a TrainedRun (calolab.training.load_run(dir)), got "
            f"{type(run).__name__}"
        )
    if binning is None:
        if n_bins is not None:
            check_int("n_bins", n_bins, minimum=1, maximum=1000, hint=" (--bins)")
        binning = EnergyBinning(n_bins=n_bins) if n_bins is not None else EnergyBinning()
    elif not isinstance(binning, EnergyBinning):
        binning = EnergyBinning.parse(binning)
    explicit_terms = fit_terms is not None
    terms = check_terms(fit_terms, "fit terms") if explicit_terms else RESOLUTION_TERMS
    check_int("batch_size", batch_size, minimum=1, maximum=1 << 20, hint=" (--batch-size)")
    if tracker:
        check_float("tracker resolution at 1 TeV", tracker_rel_at_1tev, exclusive_minimum=0.0)
    if max_events is not None:
        check_int("max events", max_events, minimum=1)
    out = _prepare_output(output, (data,))

    own = source is None
    if own:
        source = run.open_data(data, max_events=max_events)
    else:
        run.check_source(source)
    try:
        fp = source.fingerprint()
        if by is not None and run.task == "regression":  # a bad field fails before predicting
            group_events(source.truth(np.arange(min(source.n_events, 1000))), by)
        t0 = time.perf_counter()
        preds = run.predict(source, batch_size=batch_size, progress=progress)
        t_pred = time.perf_counter() - t0
        batch = inference_batch_size(source, batch_size)
    finally:
        if own:
            source.close()
    if by is not None and run.task == "regression":
        groups = group_events(preds.truth, by)  # refuse a bad field before writing anything
    common: dict[str, Any] = {
        "task": run.task,
        "model": run.config.model.name,
        "model_config": run.config.model.to_dict(),
        "dataset": str(data),
        "detector": fp.get("detector_name"),
        "run": str(run.run_dir),
        "n_events": int(len(preds.index)),
        "calolab_version": package_version(),
        "data_hash": fp.get("data_hash"),
        "run_config_hash": run.meta.get("config_hash"),
        "members": len(run.model),
        "inference": InferenceInfo(
            seconds=t_pred,
            events_per_second=len(preds.index) / t_pred if t_pred > 0 else None,
            batch_size=batch,
            device=str(run.device),
            note="model forward passes incl. reading the inputs; the feature pass over the "
            "file (scalar inputs) is done when the file is opened and not included",
        ),
        "peak_memory_mb": peak_memory_mb(),
        "binning": binning,
    }
    if run.task == "classification":
        energy = np.asarray(preds.truth.get("energy", np.zeros(0)), dtype=np.float64)
        edges = binning.edges_for(energy) if len(energy) else None
        cls = measure_classification(
            preds.target, preds.value, run.classes, energy if len(energy) else None, edges
        )
        result = EvaluationResult(**common, classification=cls)
        if plots:
            plot_roc(preds.target, preds.value, run.classes, out / "roc.png")
            plot_confusion(np.array(cls.confusion_matrix), run.classes, out / "confusion.png")
            if any(p.by_energy for p in cls.pairs):
                plot_efficiency(cls.pairs, out / "efficiency.png", title=run.config.model.name)
        _write_predictions(out / "predictions.h5", preds, classes=run.classes)
        result.to_json(out / "metrics.json")
        return result

    t = preds.target.astype(np.float64)
    p = preds.value.astype(np.float64)
    edges = binning.edges_for(t)

    def measure(tt: np.ndarray, pp: np.ndarray) -> RegressionResult:
        return measure_regression(
            tt, pp, binning.edges_for(tt), terms=terms, drop_at_zero=not explicit_terms
        )

    warnings: list[EvaluationWarning] = []
    raw = measure_regression(t, p, edges, terms=terms, drop_at_zero=not explicit_terms)
    warnings += check_regression(raw, "raw", raw=True, explicit_terms=explicit_terms)
    calibrated = not any(w.code in ("response", "energy-scale") for w in warnings)
    status, bias_warnings = bias_correction_status(run, raw_calibrated=calibrated)
    warnings += bias_warnings
    corrected = None
    p_corr = None
    if status.applied and status.fit is not None:
        p_corr = status.fit.apply(p)
        corrected = measure_regression(
            t, p_corr, edges, terms=terms, drop_at_zero=not explicit_terms
        )
        warnings += check_regression(
            corrected, "corrected", raw=False, explicit_terms=explicit_terms
        )
    group_results = []
    if by is not None:
        for label, mask in groups:
            part = f"{by.partition(':')[0]}={label}"
            if int(mask.sum()) < MIN_GROUP_EVENTS:
                warnings.append(
                    EvaluationWarning(
                        "few-events",
                        f"{int(mask.sum())} events (fewer than {MIN_GROUP_EVENTS}): not measured",
                        part,
                    )
                )
                continue
            g_raw = measure(t[mask], p[mask])
            warnings += check_regression(
                g_raw, f"{part} raw", raw=True, explicit_terms=explicit_terms
            )
            g_corr = None
            if p_corr is not None:
                g_corr = measure(t[mask], p_corr[mask])
                warnings += check_regression(
                    g_corr, f"{part} corrected", raw=False, explicit_terms=explicit_terms
                )
            group_results.append(
                GroupResult(by.partition(":")[0], label, int(mask.sum()), g_raw, g_corr)
            )
    trk = None
    comb = None
    if tracker:
        calo = corrected if corrected is not None else raw
        calo_e = p_corr if p_corr is not None else p
        part = "corrected" if corrected is not None else "raw"
        fit_ok = calo.fit is not None and not any(
            w.code in ("fit-quality", "fit-limit") for w in warnings if w.part == part
        )
        try:
            trk, comb = tracker_combination(
                t,
                calo_e,
                calo,
                seed=run.config.seed,
                rel_at_1tev=tracker_rel_at_1tev,
                source=part,
                use_fit=fit_ok,
            )
            warnings += check_tracker(trk)
        except DataError as exc:
            warnings.append(
                EvaluationWarning("non-physical", f"no tracker combination: {exc}", "tracker")
            )
    syst = None
    if systematics is not None:
        best = corrected if corrected is not None else raw
        applied = p_corr is not None and status.fit is not None

        def dead_predictions() -> np.ndarray:
            assert systematics is not None
            return _dead_predictions(
                run, data, out, systematics, preds.index, max_events, batch_size
            )

        digitized_inputs = bool(dict(run.config.data.options).get("digitized", False))

        def readout_predictions(kind: str, scale: float) -> np.ndarray:
            return _readout_predictions(
                run, data, out, kind, scale, preds.index, max_events, batch_size
            )

        try:
            syst = measure_systematics(
                t,
                p_corr if p_corr is not None else p,
                edges,
                best,
                systematics,
                part="corrected" if corrected is not None else "raw",
                e_raw=p if applied else None,
                bias=status.fit if applied else None,
                dead_predictions=dead_predictions if run.config.data.kind == "showers" else None,
                readout_predictions=(
                    readout_predictions
                    if digitized_inputs and run.config.data.kind == "showers"
                    else None
                ),
            )
        except DataError as exc:
            log.warning("no systematic uncertainties: %s", exc)
    timing_result = None
    if timing:
        from calolab.evaluation.timing import timing_resolution

        timing_result = timing_resolution(data, edges=np.asarray(edges))
    spread = np.asarray(preds.spread, dtype=np.float64)
    result = EvaluationResult(
        **common,
        warnings=tuple(warnings),
        raw=raw,
        corrected=corrected,
        bias_correction=status,
        ensemble=EnsembleSpread(
            members=len(run.model),
            mean_spread=float(np.mean(spread)) if len(spread) else 0.0,
            mean_rel_spread=(
                float(np.mean(spread / np.abs(p))) if len(p) and np.all(np.abs(p) > 0) else None
            ),
        ),
        tracker=trk,
        by=by.partition(":")[0] if by else None,
        groups=tuple(group_results),
        systematics=syst,
        timing=timing_result,
    )
    for w in warnings:  # the caller shows them (the CLI prints them once)
        log.info("evaluate %s: %s", run.config.model.name, w)
    if plots:
        _regression_plots(run, result, t, p, out, fp.get("detector_name") or "")
    _write_predictions(out / "predictions.h5", preds, corrected=p_corr, combined=comb)
    result.to_json(out / "metrics.json")
    return result


def _dead_predictions(
    run: TrainedRun,
    data: str | Path,
    out: Path,
    config: SystematicsConfig,
    index: np.ndarray,
    max_events: int | None,
    batch_size: int,
) -> np.ndarray:
    """Raw predictions of the events ``index`` of ``data`` with ``config.dead_fraction`` of the
    channels dead (a masked copy of the file, written in ``out`` and removed)."""
    from calolab.data.conditions import apply_conditions_to_file, random_dead
    from calolab.data.hdf5 import ShowerFile

    with ShowerFile(data) as f:
        n_cells = f.n_cells
    cond = random_dead(n_cells, config.dead_fraction, config.dead_seed)
    return _predict_varied(
        run,
        out / ".systematics-dead.h5",
        lambda tmp: apply_conditions_to_file(data, tmp, cond),
        index,
        max_events,
        batch_size,
    )


def _predict_varied(
    run: TrainedRun,
    tmp: Path,
    write: Callable[[Path], object],
    index: np.ndarray,
    max_events: int | None,
    batch_size: int,
) -> np.ndarray:
    """Raw predictions of the events ``index`` of a varied copy of the data that ``write``
    puts at ``tmp`` (removed afterwards, also on failure); NaN for events not predicted."""
    tmp.unlink(missing_ok=True)
    try:
        write(tmp)
        src = run.open_data(tmp, max_events=max_events)
        try:
            pred = run.predict(src, batch_size=batch_size)
        finally:
            src.close()
    finally:
        tmp.unlink(missing_ok=True)
    by_index = np.full(int(max(pred.index.max(), index.max())) + 1, np.nan)
    by_index[pred.index] = pred.value
    return by_index[index]


def _readout_predictions(
    run: TrainedRun,
    data: str | Path,
    out: Path,
    kind: str,
    scale: float,
    index: np.ndarray,
    max_events: int | None,
    batch_size: int,
) -> np.ndarray:
    """Raw predictions of the events ``index`` of ``data`` digitised again with the noise or
    the light yield scaled (a temporary file in ``out``, removed)."""
    from calolab.simulation.readout_variation import redigitize_file

    noise, light = (scale, 1.0) if kind == "noise" else (1.0, scale)
    return _predict_varied(
        run,
        out / f".systematics-{kind}.h5",
        lambda tmp: redigitize_file(
            data, tmp, noise_scale=noise, light_yield_scale=light, max_events=max_events
        ),
        index,
        max_events,
        batch_size,
    )


def _regression_plots(
    run: TrainedRun,
    result: EvaluationResult,
    t: np.ndarray,
    p: np.ndarray,
    out: Path,
    detector: str,
) -> None:
    name = run.config.model.name
    title = f"{name} on {detector}" + ("  [flagged]" if result.flagged else "")
    assert result.raw is not None
    plot_pred_vs_true(t, p, out / "pred_vs_true.png", title=title)
    curves = {name: result.raw.bins}
    fits = {name: result.raw.fit}
    if result.corrected is not None:
        curves[f"{name} (bias-corrected)"] = result.corrected.bins
        fits[f"{name} (bias-corrected)"] = result.corrected.fit
    for g in result.groups:
        best = g.corrected or g.raw
        curves[f"{name}, {g.label}"] = best.bins
        fits[f"{name}, {g.label}"] = best.fit
    plot_response(
        {k: v for k, v in curves.items() if "bias-corrected" not in k},
        out / "response.png",
        title=title,
    )
    extra = None
    if result.tracker is not None:
        tr = result.tracker
        e = np.array([b.e_mean for b in tr.bins])
        extra = {
            f"tracker {100 * tr.rel_at_1tev:.0f}% × E/TeV": (
                e,
                tracker_resolution(e, tr.rel_at_1tev),
            ),
            f"calo {OPLUS} tracker (combined)": (
                e,
                np.array([math.nan if b.combined is None else b.combined for b in tr.bins]),
            ),
        }
        plot_tracker(tr, out / "tracker.png", title=title)
    bands = None
    sy = result.systematics
    if sy is not None:
        ok = [i for i, r in enumerate(sy.resolution) if r is not None]
        bands = {
            f"systematic uncertainty ({sy.part})": (
                np.array([sy.e_mean[i] for i in ok]),
                np.array([sy.resolution[i] for i in ok], dtype=np.float64),
                np.array([sy.resolution_syst[i] for i in ok]),
            )
        }
    plot_resolution(
        curves, out / "resolution.png", fits=fits, extra=extra, title=title, bands=bands
    )
    weights = run.run_dir / "weights.csv"
    if not weights.exists():
        weights = run.run_dir / "member_0" / "weights.csv"
    if weights.exists():
        from calolab.training.checkpoint import read_csv

        rows = read_csv(weights)
        if rows and any(k.startswith("w") for k in rows[0]):
            plot_weight_trajectories(rows, out / "weights.png", title=title)


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
