"""Plots in mplhep style (PNG), drawn on ``matplotlib.figure.Figure`` objects (no pyplot, no
global backend or state changes).

Legibility rules shared with the report (:mod:`calolab.report.plots`):

* text uses only glyphs that mplhep's fonts have: plain "√" and "σ", and mathtext for ⊕
  (``$\\oplus$``; TeX Gyre Heros has no U+2295 and mathtext's ``\\sqrt`` has no glyph in
  mplhep's custom font set) — :data:`OPLUS`;
* y ranges are robust (:func:`robust_range`): one broken bin cannot squash the others; points
  beyond the range are drawn as arrows at the edge, labelled with their value;
* legends sit outside the axes (``bbox_inches="tight"`` keeps them in the file).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from calolab.core.files import atomic_output
from calolab.evaluation.classification import PairResult, pair_scores, roc_curve
from calolab.evaluation.fits import ResolutionFit, resolution_curve
from calolab.evaluation.regression import BinMetrics
from calolab.evaluation.tracker import TrackerResult

log = logging.getLogger(__name__)

#: ⊕ as mplhep's fonts can draw it.
OPLUS = r"$\oplus$"
#: The resolution function in legend text.
RESOLUTION_FORMULA = f"σ/E = a/√E {OPLUS} b/E {OPLUS} c"


@contextlib.contextmanager
def hep_style() -> Iterator[None]:
    """mplhep's ROOT-like style for the duration of the block."""
    import matplotlib.style
    import mplhep

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    with matplotlib.style.context(mplhep.style.ROOT):
        yield


def robust_range(
    values: Sequence[float] | np.ndarray,
    *,
    anchor: float | None = None,
    factor: float = 3.0,
    floor: float | None = None,
    pad: float = 0.12,
) -> tuple[float, float]:
    """A y range that shows the bulk of ``values``: values further than ``factor`` times the
    median distance from the median (at least 5 % of the median's size) are left out, so a
    single broken bin cannot squash the others. ``anchor`` (e.g. a response of 1) is always
    inside; ``floor`` fixes the lower edge (e.g. 0 for a resolution)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    if anchor is not None:
        v = np.append(v, anchor)
    if len(v) == 0:
        return (0.0 if floor is None else floor, 1.0)
    med = float(np.median(v))
    dev = np.abs(v - med)
    spread = max(factor * float(np.median(dev)), 0.05 * abs(med), 1e-12)
    if floor is not None and floor <= med:
        spread = max(spread, factor * (med - floor))  # everything up to factor × median
    keep = v[dev <= spread]
    if anchor is not None:
        keep = np.append(keep, anchor)
    lo, hi = float(keep.min()), float(keep.max())
    width = max(hi - lo, 0.05 * max(abs(hi), abs(lo), 1e-12))
    lo, hi = lo - pad * width, hi + pad * width
    if floor is not None:
        lo = floor
    return lo, hi


def mark_off_scale(ax: Any, x: np.ndarray, y: np.ndarray, color: str, fmt: str = "{:.3g}") -> None:
    """Draw points outside the y range as arrows at the edge, labelled with their value."""
    lo, hi = ax.get_ylim()
    for xi, yi in zip(x, y):
        if not np.isfinite(yi) or lo <= yi <= hi:
            continue
        top = yi > hi
        edge = hi - 0.04 * (hi - lo) if top else lo + 0.04 * (hi - lo)
        ax.plot([xi], [edge], marker="^" if top else "v", color=color, ms=7, ls="none")
        ax.annotate(
            fmt.format(yi),
            (xi, edge),
            textcoords="offset points",
            xytext=(4, -10 if top else 4),
            fontsize=8,
            color=color,
        )


def _log_x(ax: Any) -> None:
    """Log x axis with plain numbers on the major ticks and no minor labels."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(NullFormatter())


def _save(fig: Figure, path: Path) -> Path:
    """Save ``fig`` atomically (through :mod:`calolab.core.files`) in the format of the suffix."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    with atomic_output(path, what="plot") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=fmt)
    return path


def _outside_legend(ax: Any, **kw: Any) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)


def plot_pred_vs_true(e_true: np.ndarray, e_pred: np.ndarray, path: Path, title: str = "") -> Path:
    """2D histogram of predicted vs true energy with the diagonal."""
    with hep_style():
        fig = Figure(figsize=(7, 6))
        ax = fig.subplots()
        lo = float(min(e_true.min(), np.percentile(e_pred, 0.5)))
        hi = float(max(e_true.max(), np.percentile(e_pred, 99.5)))
        log_axes = e_true.max() / max(e_true.min(), 1e-9) > 20
        if log_axes:
            lo = max(lo, e_true.min() * 0.5)
            bins = np.geomspace(lo, hi, 80)
            _log_x(ax)
            ax.set_yscale("log")
        else:
            bins = np.linspace(lo, hi, 80)
        h = ax.hist2d(e_true, np.clip(e_pred, lo, hi), bins=[bins, bins], cmin=1, cmap="viridis")
        fig.colorbar(h[3], ax=ax, label="events")
        ax.plot([lo, hi], [lo, hi], "r--", lw=1, label="$E_{pred} = E_{true}$")
        ax.set_xlabel("$E_{true}$ [GeV]")
        ax.set_ylabel("$E_{pred}$ [GeV]")
        ax.legend(loc="upper left")
        if title:
            ax.set_title(title, fontsize=12)
        return _save(fig, path)


def _log_range(curves: Mapping[str, Sequence[BinMetrics]]) -> bool:
    es = [b.e_mean for bins in curves.values() for b in bins]
    return bool(es) and max(es) / max(min(es), 1e-9) > 20


def plot_response(curves: Mapping[str, Sequence[BinMetrics]], path: Path, title: str = "") -> Path:
    """Response ⟨E_pred/E_true⟩ (Gaussian core) vs true energy, one curve per label."""
    with hep_style():
        fig = Figure(figsize=(8.5, 5))
        ax = fig.subplots()
        colors = [f"C{i}" for i in range(10)]
        series = []
        for (label, bins), c in zip(curves.items(), itertools.cycle(colors)):
            e = np.array([b.e_mean for b in bins])
            r = np.array([b.response for b in bins])
            err = np.array([b.response_err or 0.0 for b in bins])
            ax.errorbar(e, r, yerr=err, fmt="o-", ms=4, capsize=2, label=label, color=c)
            series.append((e, r, c))
        ax.axhline(1.0, color="gray", ls="--", lw=1)
        ax.set_ylim(*robust_range([v for _, r, _ in series for v in r], anchor=1.0))
        for e, r, c in series:
            mark_off_scale(ax, e, r, c)
        ax.set_xlabel("$E_{true}$ [GeV]")
        ax.set_ylabel(r"response $\langle E_{pred}/E_{true} \rangle$")
        if _log_range(curves):
            _log_x(ax)
        _outside_legend(ax, fontsize=9)
        if title:
            ax.set_title(title, fontsize=12)
        return _save(fig, path)


def fit_label(fit: ResolutionFit) -> str:
    """``a = 10.2 %, b = 0.31 GeV, c = 0.52 % (χ²/ndf 4.1/5)`` — the fitted terms only."""
    parts = []
    if "a" in fit.terms:
        parts.append(f"a = {100 * fit.a:.1f}%")
    if "b" in fit.terms:
        parts.append(f"b = {fit.b:.2f} GeV")
    if "c" in fit.terms:
        parts.append(f"c = {100 * fit.c:.2f}%")
    return ", ".join(parts) + f" (χ²/ndf {fit.chi2:.1f}/{fit.ndf})"


def plot_resolution(
    curves: Mapping[str, Sequence[BinMetrics]],
    path: Path,
    fits: Mapping[str, ResolutionFit | None] | None = None,
    extra: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    title: str = "",
) -> Path:
    """Measured σ/E per bin vs true energy with the fitted a/√E ⊕ b/E ⊕ c curve for each
    label, drawn only over the measured range.

    ``extra``: further curves ``label -> (E, σ/E)`` drawn as dashed lines (e.g. a tracker).
    """
    with hep_style():
        fig = Figure(figsize=(8.5, 5))
        ax = fig.subplots()
        colors = itertools.cycle(f"C{i}" for i in range(10))
        shown: list[float] = []
        points = []
        for label, bins in curves.items():
            c = next(colors)
            ok = [b for b in bins if b.resolution is not None]
            e = np.array([b.e_mean for b in ok])
            r = 100 * np.array([b.resolution for b in ok], dtype=np.float64)
            err = 100 * np.array([b.resolution_err or 0.0 for b in ok])
            fit = (fits or {}).get(label)
            lab = f"{label}: {fit_label(fit)}" if fit else label
            ax.errorbar(e, r, yerr=err, fmt="o", ms=4, capsize=2, color=c, label=lab)
            shown += [float(v) for v in r]
            points.append((e, r, c))
            if fit and len(e):
                lo = fit.e_min if fit.e_min is not None else float(e.min())
                hi = fit.e_max if fit.e_max is not None else float(e.max())
                x = np.geomspace(lo, hi, 200)
                ax.plot(x, 100 * resolution_curve(x, fit.a, fit.b, fit.c), "-", color=c)
        for label, (e, r) in (extra or {}).items():
            rr = 100 * np.asarray(r, dtype=np.float64)
            ax.plot(e, rr, "--", color=next(colors), label=label)
            shown += [float(v) for v in rr if np.isfinite(v)]
        ax.set_xlabel("$E_{true}$ [GeV]")
        ax.set_ylabel(r"$\sigma_E / E$ [%]")
        if _log_range(curves):
            _log_x(ax)
        ax.set_ylim(*robust_range(shown, floor=0.0))
        for e, r, c in points:
            mark_off_scale(ax, e, r, c, "{:.0f} %")
        _outside_legend(
            ax,
            fontsize=8.5,
            title=f"points: measured bins; lines: {RESOLUTION_FORMULA}",
            title_fontsize=8.5,
        )
        if title:
            ax.set_title(title, fontsize=12)
        return _save(fig, path)


def plot_tracker(tr: TrackerResult, path: Path, title: str = "") -> Path:
    """σ/E of the calorimeter, the tracker and their combination per bin of true energy,
    with the ideal inverse-variance expectation."""
    e = np.array([b.e_mean for b in tr.bins])

    def col(name: str) -> np.ndarray:
        return 100 * np.array(
            [np.nan if getattr(b, name) is None else getattr(b, name) for b in tr.bins],
            dtype=np.float64,
        )

    with hep_style():
        fig = Figure(figsize=(8.5, 5))
        ax = fig.subplots()
        series = [
            ("calorimeter (measured)", col("calo"), "o", "C0"),
            (f"tracker {100 * tr.rel_at_1tev:.0f}% × E/TeV (measured)", col("tracker"), "s", "C1"),
            ("combined (measured)", col("combined"), "D", "C2"),
        ]
        for label, y, m, c in series:
            ax.plot(e, y, m, color=c, label=label)
        ax.plot(e, col("expected"), "--", color="C2", label="ideal combination 1/√(1/σ²+1/σ²)")
        ax.plot(e, col("tracker_nominal"), ":", color="C1", label="tracker (nominal)")
        ax.set_xlabel("$E_{true}$ [GeV]")
        ax.set_ylabel(r"$\sigma_E / E$ [%]")
        if len(e) and e.max() / max(e.min(), 1e-9) > 20:
            _log_x(ax)
        ax.set_ylim(*robust_range([v for _, y, _, _ in series for v in y], floor=0.0))
        for _, y, _, c in series:
            mark_off_scale(ax, e, y, c, "{:.0f} %")
        _outside_legend(ax, fontsize=8.5)
        if title:
            ax.set_title(title, fontsize=12)
        return _save(fig, path)


def plot_roc(labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], path: Path) -> Path:
    """ROC curves (background rejection vs signal efficiency) for every class pair a vs b."""
    with hep_style():
        fig = Figure(figsize=(7, 5))
        ax = fig.subplots()
        for a, b in itertools.combinations(range(len(classes)), 2):
            sa, sb = pair_scores(labels, probs, a, b)
            if len(sa) == 0 or len(sb) == 0:
                continue
            es, eb = roc_curve(sa, sb)
            ok = eb > 0
            ax.plot(es[ok], 1 / eb[ok], label=f"{classes[a]} vs {classes[b]}")
        ax.set_yscale("log")
        ax.set_xlabel("signal efficiency")
        ax.set_ylabel("background rejection $1/\\epsilon_b$")
        ax.legend(fontsize=9)
        return _save(fig, path)


def plot_efficiency(pairs: Sequence[PairResult], path: Path, title: str = "") -> Path:
    """Signal efficiency (left) and background rejection (right) vs true energy at each
    working point's threshold; rejections with no background passing are drawn as arrows
    at the lower limit (the number of background events)."""
    with hep_style():
        fig = Figure(figsize=(12, 4.6))
        ax1, ax2 = fig.subplots(1, 2)
        colors = itertools.cycle(f"C{i}" for i in range(10))
        log_x = False
        limit_label = "no background passes: > number of background events"
        for p in pairs:
            for dep in p.by_energy:
                c = next(colors)
                label = f"{p.name}, ε = {dep.efficiency:g}"
                e = np.array([b.e_mean for b in dep.bins])
                log_x |= bool(len(e)) and e.max() / max(e.min(), 1e-9) > 20
                eff = np.array(
                    [
                        np.nan if b.signal_efficiency is None else b.signal_efficiency
                        for b in dep.bins
                    ]
                )
                ax1.plot(e, eff, "o-", color=c, label=label)
                rej, lim = [], []
                for b in dep.bins:
                    be = b.background_efficiency
                    rej.append(np.nan if be is None or be == 0 else 1.0 / be)
                    lim.append(float(b.n_background) if be == 0 else np.nan)
                ax2.plot(e, rej, "o-", color=c, label=label)
                if np.isfinite(lim).any():
                    ax2.plot(e, lim, "^", color=c, ms=8, ls="none", label=limit_label)
                    limit_label = "_nolegend_"
        for ax in (ax1, ax2):
            ax.set_xlabel("$E_{true}$ [GeV]")
            if log_x:
                _log_x(ax)
        ax1.set_ylabel("signal efficiency")
        ax1.set_ylim(0, 1.05)
        ax2.set_ylabel("background rejection $1/\\epsilon_b$")
        ax2.set_yscale("log")
        _outside_legend(ax2, fontsize=8.5)
        if title:
            ax1.set_title(title, fontsize=12)
        return _save(fig, path)


def plot_confusion(matrix: np.ndarray, classes: Sequence[str], path: Path) -> Path:
    """Confusion matrix normalised per true class (rows)."""
    m = np.asarray(matrix, dtype=np.float64)
    frac = m / np.clip(m.sum(axis=1, keepdims=True), 1, None)
    with hep_style():
        fig = Figure(figsize=(1.2 * len(classes) + 3, 1.2 * len(classes) + 2))
        ax = fig.subplots()
        im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(
                    j,
                    i,
                    f"{frac[i, j]:.2f}",
                    ha="center",
                    va="center",
                    color="white" if frac[i, j] > 0.5 else "black",
                    fontsize=10,
                )
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        fig.colorbar(im, ax=ax)
        return _save(fig, path)


def plot_weight_trajectories(
    rows: Sequence[Mapping[str, Any]], path: Path, title: str = ""
) -> Path:
    """Per-layer calibration weights vs epoch (``weights.csv`` of a per-layer run)."""
    import matplotlib

    names = [k for k in rows[0] if k.startswith("w")]
    epochs = np.array([float(r["epoch"]) for r in rows])
    with hep_style():
        fig = Figure(figsize=(7, 5))
        ax = fig.subplots()
        cmap = matplotlib.colormaps["viridis"]
        for i, k in enumerate(names):
            ax.plot(
                epochs, [float(r[k]) for r in rows], color=cmap(i / max(len(names) - 1, 1)), lw=1
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("layer weight (× global calibration)")
        sm = matplotlib.cm.ScalarMappable(
            cmap=cmap, norm=matplotlib.colors.Normalize(0, len(names) - 1)
        )
        fig.colorbar(sm, ax=ax, label="layer")
        if title:
            ax.set_title(title, fontsize=12)
        return _save(fig, path)
