"""Resolution and response against the fraction of dead channels.

Two entry points:

* :func:`dead_channel_resolution` — **σ/E at X % dead channels** for showers in memory and a
  reconstruction (``"sum"``: one calibration factor; ``"layers"``: per-layer weights by
  weighted least squares; a callable ``Showers → GeV``; or a trained run). The calibration of
  a baseline is fitted on healthy showers (the detector as calibrated before channels died),
  then ``n_masks`` random (or clustered) masks of the asked fraction are applied and the
  Gaussian-core σ/E measured under each: the result carries the statistical error and the
  spread over masks. This is the function the optimiser calls for a "σ/E at X % dead"
  objective (one line: ``dead_channel_resolution(showers, 0.05).value``).
* :func:`dead_scan` — a trained run on a test file: the full evaluation
  (:func:`calolab.evaluation.evaluate.evaluate_run`: binning, bias correction, resolution
  fit) repeated on copies of the test file with dead channels (random and clustered, several
  masks per fraction), and the regions of the detector ranked by the resolution lost when
  each of them alone is dead (:func:`detector_regions`). Written as ``dead_scan.json`` and
  ``dead_scan.png`` (``calolab conditions scan``).

The resolution of one measurement is the mean over energy bins of the Gaussian-core σ/E of
the best predictions (bias-corrected when the correction was applied), as
:attr:`EvaluationResult.core_resolution`; at a single beam energy it is the core σ/E of
E_pred/E_true.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from calolab.core.config import from_table, read_json, to_table
from calolab.core.errors import ConfigError, DataError
from calolab.core.files import write_json
from calolab.data.conditions import (
    DEFAULT_BLOCK,
    ChannelConditions,
    apply_conditions,
    apply_conditions_to_file,
    check_fraction,
    clustered_dead,
    random_dead,
)
from calolab.data.showers import Showers
from calolab.evaluation.fits import gaussian_core_fit
from calolab.geometry.detector import Calorimeter

if TYPE_CHECKING:
    from calolab.training.run import TrainedRun

log = logging.getLogger(__name__)

PATTERNS = ("random", "clustered")
#: Version of ``dead_scan.json``.
SCAN_FORMAT_VERSION = 1


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class DeadResolution:
    """σ/E (and response) with a fraction of dead channels.

    ``value``: mean over the masks of the core σ/E; ``stat_err``: its statistical error (the
    fits' errors averaged over masks — not divided by √n_masks: every mask is applied to the
    same events, so averaging over masks does not average their fluctuations away);
    ``mask_spread``: the standard
    deviation of σ/E over masks (how much depends on which channels die; a systematic, not
    reduced by more events); ``per_mask``: each mask's σ/E.
    """

    fraction: float
    pattern: str
    dead_fraction: float
    value: float
    stat_err: float
    mask_spread: float
    response: float
    response_err: float
    per_mask: tuple[float, ...]
    n_events: int

    @property
    def total_err(self) -> float:
        """Statistical error and mask spread in quadrature."""
        return math.hypot(self.stat_err, self.mask_spread)


@dataclass(frozen=True)
class RegionDamage:
    """The resolution with one region of the detector dead, and what it costs.

    ``loss`` = σ/E(region dead) / σ/E(nothing dead) − 1, with its error ``loss_err``."""

    region: str
    n_cells: int
    resolution: float
    resolution_err: float
    response: float
    loss: float
    loss_err: float


@dataclass(frozen=True)
class DeadScanResult:
    """What ``calolab conditions scan`` measured (``dead_scan.json``)."""

    run: str
    model: str
    dataset: str
    detector: str | None
    n_events: int
    nominal: DeadResolution
    points: tuple[DeadResolution, ...]
    regions: tuple[RegionDamage, ...] = ()
    n_masks: int = 3
    seed: int = 0
    block: tuple[int, int] = DEFAULT_BLOCK
    format_version: int = SCAN_FORMAT_VERSION

    def curve(self, pattern: str) -> list[DeadResolution]:
        return [self.nominal] + sorted(
            (p for p in self.points if p.pattern == pattern), key=lambda p: p.fraction
        )

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        return write_json(path, to_table(self), what="dead-channel scan")

    @staticmethod
    def from_json(path: str | os.PathLike[str]) -> DeadScanResult:
        table = read_json(path, "dead-channel scan")
        if not isinstance(table, dict) or table.get("format_version") != SCAN_FORMAT_VERSION:
            raise DataError(
                f"'{path}' is not a dead-channel scan of format {SCAN_FORMAT_VERSION}; run "
                "'calolab conditions scan' again"
            )
        return from_table(DeadScanResult, table, f"dead-channel scan '{path}'")


# ----------------------------------------------------------------------------- helpers
def core_resolution(e_true: np.ndarray, e_pred: np.ndarray, n_bins: int = 5) -> tuple[float, ...]:
    """``(σ/E, error, response, response error)`` of predictions: Gaussian-core fit of
    E_pred/E_true per equal-population bin of true energy (one bin at a single energy),
    averaged over bins."""
    t = np.asarray(e_true, dtype=np.float64)
    p = np.asarray(e_pred, dtype=np.float64)
    if len(t) < 10:
        raise DataError(f"{len(t)} events: too few to measure a resolution (need >= 10)")
    single = np.ptp(t) <= 1e-9 * max(float(np.max(np.abs(t))), 1.0)
    if single:
        groups = [np.ones(len(t), dtype=bool)]
    else:
        edges = np.quantile(t, np.linspace(0, 1, n_bins + 1))
        idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n_bins - 1)
        groups = [idx == k for k in range(n_bins)]
    res, res_err, resp, resp_err = [], [], [], []
    for g in groups:
        if g.sum() < 10:
            continue
        fit = gaussian_core_fit(p[g] / t[g])
        if not fit.mu > 0:
            continue
        r = fit.sigma / fit.mu
        res.append(r)
        rel_sigma = fit.sigma_err / fit.sigma if fit.sigma > 0 else 0.0
        res_err.append(r * math.hypot(rel_sigma, fit.mu_err / fit.mu))
        resp.append(fit.mu)
        resp_err.append(fit.mu_err)
    if not res:
        raise DataError("no energy bin with a positive response: σ/E is undefined")
    k = len(res)
    return (
        float(np.mean(res)),
        float(math.sqrt(np.sum(np.square(res_err))) / k),
        float(np.mean(resp)),
        float(math.sqrt(np.sum(np.square(resp_err))) / k),
    )


def make_mask(
    detector: Calorimeter | None,
    n_cells: int,
    fraction: float,
    pattern: str,
    seed: int,
    block: tuple[int, int] = DEFAULT_BLOCK,
) -> ChannelConditions:
    """A random or clustered mask of ``fraction`` (see :mod:`calolab.data.conditions`)."""
    if pattern not in PATTERNS:
        raise ConfigError(f"dead-channel pattern {pattern!r} must be one of {', '.join(PATTERNS)}")
    if pattern == "clustered":
        if detector is None:
            raise DataError("clustered dead channels need the detector description")
        return clustered_dead(detector, fraction, seed, block)
    return random_dead(n_cells, fraction, seed)


def _predictor(
    reconstruction: object, calibration: Showers, digitized: bool
) -> Callable[[Showers], np.ndarray]:
    """A function Showers → energies (GeV): a baseline calibrated on healthy showers."""
    if callable(reconstruction) and not isinstance(reconstruction, str):
        return reconstruction  # type: ignore[return-value]
    y = np.asarray(calibration.energy, dtype=np.float64)
    w = 1.0 / y  # least squares of the relative residuals
    if reconstruction == "sum":
        s = calibration.total(digitized)
        alpha = float(np.sum(w * w * s * y) / np.sum(w * w * s * s))
        return lambda sh: alpha * sh.total(digitized)
    if reconstruction == "layers":
        x = calibration.layer_energies(digitized)
        used = x.any(axis=0)
        coef = np.zeros(x.shape[1])
        coef[used] = np.linalg.lstsq(x[:, used] * w[:, None], y * w, rcond=None)[0]
        return lambda sh: sh.layer_energies(digitized) @ coef
    raise ConfigError(
        f"reconstruction {reconstruction!r} must be 'sum', 'layers', a function Showers → GeV "
        "or a trained run"
    )


def dead_channel_resolution(
    showers: Showers,
    fraction: float,
    *,
    reconstruction: str | Callable[[Showers], np.ndarray] | TrainedRun = "layers",
    calibration: Showers | None = None,
    pattern: str = "random",
    n_masks: int = 3,
    seed: int = 0,
    block: tuple[int, int] = DEFAULT_BLOCK,
    digitized: bool | None = None,
) -> DeadResolution:
    """σ/E of ``showers`` with ``fraction`` of the channels dead.

    Parameters
    ----------
    showers:
        Test showers (healthy; the masks are applied here), with their detector.
    fraction:
        Fraction of dead channels, in [0, 1).
    reconstruction:
        ``"layers"`` (default: per-layer weights), ``"sum"`` (one calibration factor), a
        function ``Showers → energies (GeV)``, or a :class:`~calolab.training.run.TrainedRun`
        (its predictions on a temporary file).
    calibration:
        Healthy showers on which a baseline is calibrated (default: ``showers`` themselves;
        give a separate sample for an unbiased number).
    pattern:
        ``"random"`` cells or ``"clustered"`` blocks of ``block`` cells of one readout layer.
    n_masks, seed:
        Masks drawn (seeds ``seed … seed + n_masks − 1``); one when ``fraction`` is 0.
    digitized:
        Use the digitised cells (default: when the showers have them).

    Returns
    -------
    DeadResolution
        ``.value`` is σ/E; ``.stat_err`` and ``.mask_spread`` its uncertainties.
    """
    f = check_fraction(fraction)
    if isinstance(n_masks, bool) or not isinstance(n_masks, int) or n_masks < 1:
        raise ConfigError(f"n_masks {n_masks!r} must be an integer >= 1")
    if pattern not in PATTERNS:
        raise ConfigError(f"dead-channel pattern {pattern!r} must be one of {', '.join(PATTERNS)}")
    dig = showers.digitized is not None if digitized is None else bool(digitized)
    run = _as_run(reconstruction)
    predict = (
        _run_predictor(run)
        if run is not None
        else _predictor(reconstruction, calibration or showers, dig)
    )
    masks = 1 if f == 0.0 else n_masks
    vals, errs, resps, resp_errs, fracs = [], [], [], [], []
    for k in range(masks):
        cond = make_mask(showers.detector, showers.n_cells, f, pattern, seed + k, block)
        sh = apply_conditions(showers, cond) if f > 0 else showers
        r, re, m, me = core_resolution(showers.energy, predict(sh))
        vals.append(r)
        errs.append(re)
        resps.append(m)
        resp_errs.append(me)
        fracs.append(cond.dead_fraction)
    return DeadResolution(
        fraction=f,
        pattern=pattern,
        dead_fraction=float(np.mean(fracs)),
        value=float(np.mean(vals)),
        stat_err=float(np.mean(errs)),  # the same events under every mask
        mask_spread=float(np.std(vals, ddof=1)) if masks > 1 else 0.0,
        response=float(np.mean(resps)),
        response_err=float(np.mean(resp_errs)),
        per_mask=tuple(float(v) for v in vals),
        n_events=len(showers),
    )


def _as_run(obj: object) -> TrainedRun | None:
    from calolab.training.run import TrainedRun

    return obj if isinstance(obj, TrainedRun) else None


def _run_predictor(run: TrainedRun) -> Callable[[Showers], np.ndarray]:
    import tempfile

    from calolab.data.hdf5 import write_showers

    def predict(sh: Showers) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="calolab-dead-") as d:
            path = Path(d) / "showers.h5"
            write_showers(path, sh)
            src = run.open_data(path)
            try:
                pred = run.predict(src)
            finally:
                src.close()
            out = np.empty(len(sh))
            out[pred.index] = pred.value
            return out

    return predict


# ----------------------------------------------------------------------------- regions
def detector_regions(detector: Calorimeter, depth_groups: int = 3) -> list[tuple[str, np.ndarray]]:
    """Regions whose loss :func:`dead_scan` ranks: per section, ``depth_groups`` groups of
    consecutive readout layers (front to back), each split transversely into the core (the
    central half of the cells in x and in y, a quarter of the area) and the periphery.
    Returns ``(name, cells)``."""
    out = []
    for s in detector.sections:
        layers = [r for r in detector.readout_layers if r.section == s.name]
        if not layers:
            continue
        k = max(1, min(depth_groups, len(layers)))
        for part in np.array_split(np.arange(len(layers)), k):
            core_cells, outer_cells = [], []
            for li in part:
                r = layers[int(li)]
                ix, iy = np.meshgrid(np.arange(r.nx), np.arange(r.ny), indexing="ij")
                core = (
                    (ix >= r.nx // 4)
                    & (ix < r.nx - r.nx // 4)
                    & (iy >= r.ny // 4)
                    & (iy < r.ny - r.ny // 4)
                ).reshape(-1)
                cells = r.offset + np.arange(r.n_cells)
                core_cells.append(cells[core])
                outer_cells.append(cells[~core])
            span = f"layers {layers[int(part[0])].index}-{layers[int(part[-1])].index}"
            for name, cells_ in (("core", core_cells), ("periphery", outer_cells)):
                c = np.concatenate(cells_)
                if len(c):
                    out.append((f"{s.name} {span} {name}", c))
    return out


# ----------------------------------------------------------------------------- the scan
def dead_scan(
    run: TrainedRun,
    data: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    fractions: Sequence[float] = (0.01, 0.05, 0.1, 0.2),
    patterns: Sequence[str] = PATTERNS,
    n_masks: int = 3,
    seed: int = 0,
    block: tuple[int, int] = DEFAULT_BLOCK,
    rank_regions: bool = True,
    depth_groups: int = 3,
    max_events: int | None = None,
    binning: Any = None,
    plots: bool = True,
    progress: Callable[[str], None] | None = None,
) -> DeadScanResult:
    """Evaluate ``run`` on ``data`` with dead channels (see the module docstring).

    Every point is a full :func:`~calolab.evaluation.evaluate.evaluate_run` (its
    ``metrics.json`` kept under ``output/points/``) on a copy of the test file with the mask
    applied (written to ``output/.masked`` and removed afterwards). Returns and writes
    ``output/dead_scan.json``.
    """
    from calolab.data.hdf5 import ShowerFile
    from calolab.evaluation.evaluate import _prepare_output, evaluate_run

    fr = [check_fraction(f, "dead fraction") for f in fractions]
    for p in patterns:
        if p not in PATTERNS:
            raise ConfigError(f"pattern {p!r} must be one of {', '.join(PATTERNS)}")
    if isinstance(n_masks, bool) or not isinstance(n_masks, int) or n_masks < 1:
        raise ConfigError(f"--masks {n_masks!r} must be an integer >= 1")
    out = _prepare_output(Path(output), (Path(data),))
    with ShowerFile(data) as f:
        det, n_cells = f.detector, f.n_cells
        n_events = min(len(f), max_events or len(f))
    if det is None and ("clustered" in patterns or rank_regions):
        raise DataError(f"'{data}' has no calolab detector: clustered masks and regions need one")
    tmp = out / ".masked"
    tmp.mkdir(exist_ok=True)

    def measure(cond: ChannelConditions | None, name: str) -> tuple[float, float, float, float]:
        if progress is not None:
            progress(name)
        path = Path(data)
        if cond is not None:
            path = tmp / f"{name}.h5"
            apply_conditions_to_file(data, path, cond)
        try:
            res = evaluate_run(
                run,
                path,
                out / "points" / name,
                binning=binning,
                max_events=max_events,
                plots=False,
            )
        finally:
            if cond is not None:
                path.unlink(missing_ok=True)
        best = res.best
        assert best is not None
        ok = [b for b in best.bins if b.resolution is not None]
        if not ok:
            raise DataError(f"{name}: no energy bin with a σ/E")
        k = len(ok)
        errs = [b.resolution_err or 0.0 for b in ok]
        resp_errs = [b.response_err or 0.0 for b in ok]
        return (
            float(np.mean([b.resolution for b in ok])),  # type: ignore[misc]
            float(math.sqrt(np.sum(np.square(errs))) / k),
            float(np.mean([b.response for b in ok])),
            float(math.sqrt(np.sum(np.square(resp_errs))) / k),
        )

    def point(fraction: float, pattern: str) -> DeadResolution:
        masks = 1 if fraction == 0 else n_masks
        vals = []
        fracs = []
        for k in range(masks):
            cond = make_mask(det, n_cells, fraction, pattern, seed + k, block) if fraction else None
            vals.append(measure(cond, f"{pattern}_{fraction:g}_mask{k}"))
            fracs.append(cond.dead_fraction if cond is not None else 0.0)
        v = np.array(vals)
        return DeadResolution(
            fraction=fraction,
            pattern=pattern if fraction else "none",
            dead_fraction=float(np.mean(fracs)),
            value=float(v[:, 0].mean()),
            stat_err=float(v[:, 1].mean()),  # the same events under every mask
            mask_spread=float(v[:, 0].std(ddof=1)) if masks > 1 else 0.0,
            response=float(v[:, 2].mean()),
            response_err=float(v[:, 3].mean()),
            per_mask=tuple(float(x) for x in v[:, 0]),
            n_events=n_events,
        )

    try:
        nominal = point(0.0, "none")
        points = [point(f, p) for p in patterns for f in fr if f > 0]
        regions = []
        if rank_regions:
            assert det is not None
            for name, cells in detector_regions(det, depth_groups):
                dead = np.zeros(n_cells, dtype=bool)
                dead[cells] = True
                cond = ChannelConditions(dead, None, {"kind": "region", "region": name})
                r, re, m, _ = measure(cond, "region_" + name.replace(" ", "_"))
                loss = r / nominal.value - 1.0
                loss_err = (r / nominal.value) * math.hypot(
                    re / r if r else 0.0, nominal.stat_err / nominal.value
                )
                regions.append(RegionDamage(name, int(len(cells)), r, re, m, loss, loss_err))
            regions.sort(key=lambda x: -x.loss)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = DeadScanResult(
        run=str(run.run_dir),
        model=run.config.model.name,
        dataset=str(data),
        detector=det.name if det is not None else None,
        n_events=n_events,
        nominal=nominal,
        points=tuple(points),
        regions=tuple(regions),
        n_masks=n_masks,
        seed=seed,
        block=tuple(block),  # type: ignore[arg-type]
    )
    result.to_json(out / "dead_scan.json")
    if plots:
        from calolab.evaluation.plots import plot_dead_scan

        plot_dead_scan(result, out / "dead_scan.png")
    return result


__all__ = [
    "PATTERNS",
    "DeadResolution",
    "DeadScanResult",
    "RegionDamage",
    "core_resolution",
    "dead_channel_resolution",
    "dead_scan",
    "detector_regions",
    "make_mask",
]
