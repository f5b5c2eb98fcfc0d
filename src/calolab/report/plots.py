"""The report's static plots (matplotlib + mplhep style), rendered to PNG bytes.

Figures are made with :class:`matplotlib.figure.Figure` on the Agg canvas — no pyplot, so no
global figure state and no display is needed. Each function takes plain data from
:mod:`calolab.report.inputs` and returns a :class:`matplotlib.figure.Figure`; :func:`to_png`
renders it.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from calolab.evaluation.classification import PairResult
from calolab.evaluation.fits import ResolutionFit
from calolab.evaluation.plots import OPLUS, mark_off_scale, robust_range
from calolab.evaluation.regression import BinMetrics
from calolab.evaluation.result import EvaluationResult
from calolab.evaluation.tracker import TrackerResult
from calolab.geometry.detector import Calorimeter

#: Colours of the plotted series (matplotlib's tab10, in the order mplhep's styles use).
COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
MATERIAL_COLOURS = {
    "PbWO4": "#7fb3d5",
    "Pb": "#5d6d7e",
    "W": "#34495e",
    "Fe": "#a04000",
    "Cu": "#d35400",
    "brass": "#d4ac0d",
    "Al": "#aab7b8",
    "polystyrene": "#58d68d",
    "LAr": "#85c1e9",
    "Si": "#af7ac5",
    "air": "#f2f3f4",
}
DPI = 110


def _truncated_inferno() -> Any:
    """matplotlib's inferno without its darkest 15 %, so faint cells stay visible on the
    event display's dark background."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps["inferno"](np.linspace(0.15, 1.0, 256)), name="calolab_inferno")


_EVENT_CMAP = _truncated_inferno()


@contextlib.contextmanager
def style() -> Iterator[None]:
    """mplhep's CMS style, scaled down for figures embedded in a web page."""
    import matplotlib
    import mplhep
    from matplotlib import style as mpl_style

    with (
        mpl_style.context(mplhep.style.CMS),
        matplotlib.rc_context(
            {
                "font.size": 12,
                "axes.labelsize": 13,
                "axes.titlesize": 13,
                "legend.fontsize": 10.5,
                "xtick.labelsize": 11,
                "ytick.labelsize": 11,
                "xtick.major.size": 6,
                "ytick.major.size": 6,
                "xtick.minor.size": 3,
                "ytick.minor.size": 3,
                "lines.linewidth": 1.8,
                "lines.markersize": 5,
                "axes.linewidth": 1.2,
                "legend.frameon": False,
                "savefig.dpi": DPI,
            }
        ),
    ):
        yield


def to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with style():  # text is laid out at draw time, with the rcParams in force then
        fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _energy_axis(ax: Any, lo: float, hi: float) -> None:
    """Log energy axis with plain tick labels (1, 2, 5, 10, ... GeV) between lo and hi."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ticks = [m * 10.0**k for k in range(-2, 5) for m in (1, 2, 5)]
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if lo <= t <= hi]))
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(NullFormatter())


def _label(ax: Any, text: str = "") -> None:
    """The experiment label of mplhep's styles ("calolab Simulation", bold + italic) above the
    top-left corner, and ``text`` above the top-right corner. Placed with annotations
    (positioned at draw time) rather than :func:`mplhep.label.exp_label`, which draws the
    whole figure once more to measure the text."""
    first = ax.text(
        0.0,
        1.015,
        "calolab",
        transform=ax.transAxes,
        fontsize=14,
        fontweight="bold",
        va="bottom",
        ha="left",
    )
    ax.annotate(
        "Simulation",
        xy=(1.0, 0.0),
        xycoords=first,
        xytext=(5, 0),
        textcoords="offset points",
        fontsize=12,
        fontstyle="italic",
        va="bottom",
        ha="left",
    )
    if text:
        ax.text(1.0, 1.015, text, transform=ax.transAxes, fontsize=12, va="bottom", ha="right")


# ---------------------------------------------------------------------------- detectors
def detector_layout(det: Calorimeter) -> Figure:
    """The stack along z: every physical layer coloured by material (top) and the cumulative
    depth in X0 and λI (bottom)."""
    with style():
        fig = Figure(figsize=(9.5, 4.2), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
        z = 0.0
        zs, x0s, lams = [0.0], [0.0], [0.0]
        used: dict[str, str] = {}
        for s in det.sections:
            z_start = z
            for _ in range(s.repeat):
                for layer in s.layers:
                    name = layer.material.name
                    col = MATERIAL_COLOURS.get(name, COLOURS[len(used) % len(COLOURS)])
                    used.setdefault(name, col)
                    top.axvspan(z, z + layer.thickness_cm, color=used[name], lw=0)
                    z += layer.thickness_cm
                    zs.append(z)
                    x0s.append(x0s[-1] + layer.x0)
                    lams.append(lams[-1] + layer.lambda_i)
            top.axvline(z_start, color="black", lw=1)
            top.text(
                (z_start + z) / 2,
                0.5,
                s.name,
                ha="center",
                va="center",
                fontsize=10,
                bbox={"facecolor": "white", "alpha": 0.85, "lw": 0, "pad": 1.5},
            )
        top.axvline(z, color="black", lw=1)
        top.set_yticks([])
        top.set_ylim(0, 1)
        top.legend(
            handles=[_patch(c, n) for n, c in used.items()],
            loc="lower center",
            bbox_to_anchor=(0.5, 1.02),
            ncol=min(6, len(used)),
            fontsize=10,
        )
        bottom.plot(zs, x0s, color=COLOURS[0], label=r"depth in $X_0$")
        bottom.set_ylabel(r"depth ($X_0$)", color=COLOURS[0])
        twin = bottom.twinx()
        twin.plot(zs, lams, color=COLOURS[1], label=r"depth in $\lambda_I$")
        twin.set_ylabel(r"depth ($\lambda_I$)", color=COLOURS[1])
        bottom.set_xlabel("z (cm)")
        bottom.set_xlim(0, z)
        bottom.set_ylim(0, None)
        twin.set_ylim(0, None)
        engine: Any = fig.get_layout_engine()
        engine.set(hspace=0.0, h_pad=0.02)
    return fig


def _patch(colour: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(facecolor=colour, edgecolor="black", lw=0.5, label=label)


# ---------------------------------------------------------------------------- datasets
def dataset_overview(
    title: str,
    energy: np.ndarray,
    visible: np.ndarray,
    species: np.ndarray,
    profiles: dict[str, tuple[np.ndarray, np.ndarray]],
) -> Figure:
    """Three panels: the energy spectrum, the visible fraction vs energy and the mean
    longitudinal profile, per particle species.

    Parameters
    ----------
    energy, visible:
        True and summed visible energy (GeV), shape (N,).
    species:
        Particle name of each event, shape (N,).
    profiles:
        Per species: layer centres z (cm) and mean visible energy per cm (fraction of the
        event's visible energy), both shape (layers,).
    """
    import mplhep

    with style():
        fig = Figure(figsize=(14, 4.2), layout="constrained")
        ax1, ax2, ax3 = fig.subplots(1, 3)
        names = list(dict.fromkeys(species.tolist()))
        lo, hi = float(energy.min()), float(energy.max())
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        for i, name in enumerate(names):
            m = species == name
            col = COLOURS[i % len(COLOURS)]
            h, _ = np.histogram(energy[m], bins=bins)
            mplhep.histplot(h, bins, ax=ax1, label=f"{name} ({m.sum():,})", color=col, yerr=True)
            cx, mean, err = _profile(energy[m], visible[m] / np.maximum(energy[m], 1e-12), bins)
            ax2.errorbar(cx, mean, yerr=err, fmt="o", color=col, label=name)
            if name in profiles:
                z, prof = profiles[name]
                ax3.step(z, prof, where="mid", color=col, label=name)
        ax1.set_xlabel(r"$E_\mathrm{true}$ (GeV)")
        ax1.set_ylabel("events / bin")
        ax1.set_ylim(0, None)
        ax1.legend()
        ax2.set_xlabel(r"$E_\mathrm{true}$ (GeV)")
        ax2.set_ylabel(r"$E_\mathrm{visible} / E_\mathrm{true}$")
        ax2.legend()
        ax3.set_xlabel("z (cm)")
        ax3.set_ylabel("visible energy fraction per cm")
        ax3.set_yscale("log")
        top = max((float(np.nanmax(p)) for _, p in profiles.values() if len(p)), default=1.0)
        ax3.set_ylim(top * 1e-6, top * 3)
        ax3.legend()
        _label(ax1, title)
    return fig


def _profile(
    x: np.ndarray, y: np.ndarray, bins: np.ndarray, min_count: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of y and its standard error in bins of x (bins with fewer than ``min_count``
    entries dropped)."""
    idx = np.digitize(x, bins) - 1
    cx, mean, err = [], [], []
    for b in range(len(bins) - 1):
        v = y[idx == b]
        if len(v) >= min_count:
            cx.append(0.5 * (bins[b] + bins[b + 1]))
            mean.append(v.mean())
            err.append(v.std(ddof=1) / math.sqrt(len(v)))
    return np.array(cx), np.array(mean), np.array(err)


# ---------------------------------------------------------------------------- training
def training_curves(runs: Sequence[tuple[str, dict[str, list[float]]]]) -> Figure:
    """Training and validation loss per epoch, one panel per run (log scale when the
    losses are positive); the best validation epoch is marked."""
    n = len(runs)
    ncol = min(3, n)
    nrow = math.ceil(n / ncol)
    with style():
        fig = Figure(figsize=(4.8 * ncol, 3.6 * nrow), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
        for ax, (label, h) in zip(axes, runs):
            ep = np.asarray(h["epoch"], dtype=float)
            positive = True
            for key, col, name in (
                ("train_loss", COLOURS[0], "training"),
                ("val_loss", COLOURS[1], "validation"),
            ):
                if key in h:
                    y = np.asarray(h[key], dtype=float)
                    ok = np.isfinite(y)
                    if ok.any():
                        ax.plot(
                            ep[ok],
                            y[ok],
                            color=col,
                            label=name,
                            marker="." if ok.sum() < 30 else None,
                        )
                        positive &= bool((y[ok] > 0).all())
            if "val_loss" in h:
                v = np.asarray(h["val_loss"], dtype=float)
                if np.isfinite(v).any():
                    b = int(np.nanargmin(v))
                    ax.axvline(ep[b], color="grey", ls="--", lw=1)
                    ax.plot(
                        [ep[b]],
                        [v[b]],
                        "*",
                        color=COLOURS[3],
                        ms=11,
                        label=f"best (epoch {ep[b]:g})",
                    )
            if positive:
                ax.set_yscale("log")
            ax.set_title(label, fontsize=12)
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss")
            ax.legend(fontsize=9.5)
        for ax in axes[n:]:
            ax.set_visible(False)
    return fig


def weight_trajectories(title: str, weights: dict[str, list[float]]) -> Figure:
    """Per-layer calibration weights during training (left, one line per layer coloured by
    its depth) and at the last epoch (right)."""
    from matplotlib import colormaps

    names = [k for k in weights if k.startswith("w") and k[1:].isdigit()]
    names.sort(key=lambda k: int(k[1:]))
    ep = np.asarray(weights["epoch"], dtype=float)
    w = np.array([weights[k] for k in names], dtype=float)  # (layers, epochs)
    cmap = colormaps["viridis"]
    with style():
        fig = Figure(figsize=(12.5, 3.8), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        for i, row in enumerate(w):
            ax1.plot(ep, row, color=cmap(i / max(len(w) - 1, 1)), lw=0.8)
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("layer weight")
        ax1.set_title(title, fontsize=11, loc="right")
        ax2.step(np.arange(len(w)), w[:, -1], where="mid", color=COLOURS[0])
        ax2.axhline(1.0, color="grey", ls="--", lw=1)
        ax2.set_xlabel("readout layer (front to back)")
        ax2.set_ylabel("weight at the last epoch")
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        fig.colorbar(
            ScalarMappable(norm=Normalize(0, len(w) - 1), cmap=cmap), ax=ax1, label="layer"
        )
    return fig


# ---------------------------------------------------------------------------- evaluation
def resolution_curve(e: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """σ/E = a/√E ⊕ b/E ⊕ c (E in GeV, a in √GeV, b in GeV, c dimensionless)."""
    return np.sqrt((a / np.sqrt(e)) ** 2 + (b / e) ** 2 + c**2)


def _arr(bins: Sequence[BinMetrics], key: str) -> np.ndarray:
    return np.array(
        [np.nan if getattr(b, key) is None else getattr(b, key) for b in bins], dtype=float
    )


def fit_legend(fit: ResolutionFit) -> str:
    """The fitted terms and χ²/ndf, in glyphs mplhep's fonts have (⊕ through mathtext)."""
    parts = []
    if "a" in fit.terms:
        parts.append(f"{100 * fit.a:.1f}%/√E")
    if "b" in fit.terms:
        parts.append(f"{fit.b:.2g} GeV/E")
    if "c" in fit.terms:
        parts.append(f"{100 * fit.c:.1f}%")
    return f" {OPLUS} ".join(parts) + f", χ²/ndf {fit.chi2:.1f}/{fit.ndf}"


def systematic_band(
    res: EvaluationResult,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(⟨E⟩ (GeV), σ/E, systematic uncertainty of σ/E)`` per measured bin of the
    evaluation's systematics (the measurement they belong to: bias-corrected where the
    correction was applied), or ``None`` without systematics."""
    sy = res.systematics
    if sy is None:
        return None
    ok = [i for i, r in enumerate(sy.resolution) if r is not None]
    if not ok:
        return None
    return (
        np.array([sy.e_mean[i] for i in ok], dtype=np.float64),
        np.array([sy.resolution[i] for i in ok], dtype=np.float64),
        np.array([sy.resolution_syst[i] for i in ok], dtype=np.float64),
    )


def response_resolution(
    title: str,
    series: Sequence[tuple[str, EvaluationResult]],
    resolution_label: str = r"resolution $\sigma_E/E$ (%)",
) -> Figure:
    """Response ⟨E_pred/E_true⟩ of the raw predictions (left) and the measured σ/E per bin
    with the fitted a/√E ⊕ b/E ⊕ c over the fitted range (right), one series per model; σ/E
    after the bias correction where it was applied. The error bars are the statistical
    errors; where the evaluation carries systematic uncertainties
    (``EvaluationResult.systematics``), σ/E ± the systematic uncertainty is a shaded band of
    the model's colour. Flagged models are drawn with open markers and marked in the legend.
    Both y ranges are robust: points beyond them are arrows at the edge with their value."""
    with style():
        fig = Figure(figsize=(12.5, 4.6), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        emin, emax = math.inf, 0.0
        drawn = []
        bands = 0
        for i, (name, res) in enumerate(series):
            raw, best = res.raw, res.best
            if raw is None or best is None or not raw.bins:
                continue
            col = COLOURS[i % len(COLOURS)]
            face = "none" if res.flagged else col
            label = f"{name} (flagged)" if res.flagged else name
            shift = 1 + 0.012 * (i - (len(series) - 1) / 2)  # keep error bars apart (log x)
            e = _arr(raw.bins, "e_mean")
            r = _arr(raw.bins, "response")
            emin, emax = min(emin, float(e.min())), max(emax, float(e.max()))
            ax1.errorbar(
                e * shift,
                r,
                yerr=np.nan_to_num(_arr(raw.bins, "response_err")),
                fmt="o",
                color=col,
                mfc=face,
                label=label,
            )
            er = _arr(best.bins, "e_mean")
            rr = 100 * _arr(best.bins, "resolution")
            fit = best.fit
            lab = f"{label}: {fit_legend(fit)}" if fit is not None else label
            ax2.errorbar(
                er * shift,
                rr,
                yerr=100 * np.nan_to_num(_arr(best.bins, "resolution_err")),
                fmt="o",
                color=col,
                mfc=face,
                label=lab,
            )
            band = systematic_band(res)
            if band is not None:
                eb, rb, db = band
                ax2.fill_between(
                    eb * shift,
                    100 * (rb - db),
                    100 * (rb + db),
                    color=col,
                    alpha=0.2,
                    lw=0,
                    label=f"{label}: systematic uncertainty",
                )
                bands += 1
            if fit is not None:
                lo = fit.e_min if fit.e_min is not None else float(np.nanmin(er))
                hi = fit.e_max if fit.e_max is not None else float(np.nanmax(er))
                ee = np.geomspace(lo, hi, 200)
                ax2.plot(ee, 100 * resolution_curve(ee, fit.a, fit.b, fit.c), color=col, lw=1.5)
            drawn.append((e * shift, r, er * shift, rr, col))
        ax1.axhline(1.0, color="grey", lw=1, ls="--")
        ax1.set_ylim(*robust_range([v for d in drawn for v in d[1]], anchor=1.0))
        ax2.set_ylim(*robust_range([v for d in drawn for v in d[3]], floor=0.0))
        for e, r, er, rr, col in drawn:
            mark_off_scale(ax1, e, r, col)
            mark_off_scale(ax2, er, rr, col, "{:.0f} %")
        for ax in (ax1, ax2):
            ax.set_xlabel(r"$E_\mathrm{true}$ (GeV)")
            if emax > 0:
                _energy_axis(ax, emin * 0.7, emax * 1.4)
        ax1.set_ylabel(r"response $\langle E_\mathrm{pred}/E_\mathrm{true}\rangle$")
        ax2.set_ylabel(resolution_label)
        ax1.legend(fontsize=9.5)
        fig.legend(
            *ax2.get_legend_handles_labels(),
            loc="outside lower center",
            ncols=min(2, max(1, len(drawn))),
            fontsize=9,
            title=(
                "points: measured bins, bars: statistical errors; "
                + ("bands: systematic uncertainty; " if bands else "")
                + f"lines: fit σ/E = a/√E {OPLUS} b/E {OPLUS} c"
            ),
            title_fontsize=9,
        )
        _label(ax1, "")
        ax2.set_title(title, fontsize=12, loc="right")
    return fig


def confusion_matrix(title: str, classes: Sequence[str], matrix: np.ndarray) -> Figure:
    """Confusion matrix, normalised per true class (rows), with the counts written in."""
    m = np.asarray(matrix, dtype=float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1e-12)
    k = len(classes)
    with style():
        fig = Figure(figsize=(1.3 * k + 3.2, 1.1 * k + 2.4), layout="constrained")
        ax = fig.subplots()
        im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    f"{100 * norm[i, j]:.1f}%\n({m[i, j]:g})",
                    ha="center",
                    va="center",
                    fontsize=9.5,
                    color="white" if norm[i, j] > 0.55 else "black",
                )
        ax.set_xticks(range(k), list(classes), rotation=30, ha="right")
        ax.set_yticks(range(k), list(classes))
        ax.minorticks_off()
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=11)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    return fig


def design_comparison(
    curves: Sequence[tuple[str, str, Sequence[BinMetrics], ResolutionFit | None]],
    costs: Sequence[tuple[str, float]],
    title: str = "",
    energy_range: tuple[float, float] = (1.0, 100.0),
) -> Figure:
    """Measured core resolution of several designs (left: the bins as points, the fit as a
    line over the fitted range only) and their cost (right).

    Parameters
    ----------
    curves:
        ``(design, label, bins, fit)`` per curve; one colour per design, one line style per
        curve of the same design.
    costs:
        ``(design, cost in CHF)`` per design.
    energy_range:
        Energies (GeV) of the axis (the range of the evaluations).
    """
    with style():
        fig = Figure(figsize=(12.5, 4.2), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
        styles = ("-", "--", ":", "-.")
        markers = ("o", "s", "D", "^")
        designs = list(dict.fromkeys([d for d, _ in costs] + [c[0] for c in curves]))
        seen: dict[str, int] = {}
        values: list[float] = []
        for design, label, bins, fit in curves:
            k = seen.get(design, 0)
            seen[design] = k + 1
            col = COLOURS[designs.index(design) % len(COLOURS)]
            e = _arr(bins, "e_mean")
            r = 100 * _arr(bins, "resolution")
            ax1.errorbar(
                e,
                r,
                yerr=100 * np.nan_to_num(_arr(bins, "resolution_err")),
                fmt=markers[k % len(markers)],
                color=col,
                label=label,
            )
            values += [float(v) for v in r if np.isfinite(v)]
            if fit is not None and fit.e_min is not None and fit.e_max is not None:
                ee = np.geomspace(fit.e_min, fit.e_max, 200)
                ax1.plot(
                    ee,
                    100 * resolution_curve(ee, fit.a, fit.b, fit.c),
                    color=col,
                    ls=styles[k % len(styles)],
                )
        _energy_axis(ax1, *energy_range)
        ax1.set_xlabel(r"$E$ (GeV)")
        ax1.set_ylabel(r"measured core $\sigma_E/E$ (%)")
        ax1.set_ylim(*robust_range(values, floor=0.0))
        ax1.legend(fontsize=9.5)
        _label(ax1, title)
        names = [d for d, _ in costs]
        vals = [c for _, c in costs]
        bars = ax2.barh(
            names, vals, color=[COLOURS[designs.index(n) % len(COLOURS)] for n in names]
        )
        for bar, v in zip(bars, vals):
            ax2.text(
                bar.get_width(),
                bar.get_y() + bar.get_height() / 2,
                f" {v:,.0f} CHF",
                va="center",
                fontsize=10,
            )
        ax2.set_xlabel("material cost (CHF)")
        if vals and min(vals) > 0 and max(vals) / min(vals) > 20:
            ax2.set_xscale("log")  # designs that differ by orders of magnitude
            ax2.set_xlim(min(vals) / 3, max(vals) * 12)
        else:
            ax2.set_xlim(0, max(vals) * 1.45 if vals else 1)
        ax2.invert_yaxis()
        ax2.minorticks_off()
    return fig


def tracker_combination(title: str, tr: TrackerResult) -> Figure:
    """σ/E of the calorimeter, the tracker and their combination per bin (measured), with
    the ideal inverse-variance expectation."""
    e = np.array([b.e_mean for b in tr.bins])

    def col(name: str) -> np.ndarray:
        return 100 * np.array(
            [np.nan if getattr(b, name) is None else getattr(b, name) for b in tr.bins],
            dtype=float,
        )

    with style():
        fig = Figure(figsize=(8, 4.4), layout="constrained")
        ax = fig.subplots()
        series = [
            ("calorimeter", col("calo"), "o", COLOURS[0]),
            (f"tracker ({100 * tr.rel_at_1tev:.0f}% × E/TeV)", col("tracker"), "s", COLOURS[1]),
            (f"calorimeter {OPLUS} tracker", col("combined"), "D", COLOURS[2]),
        ]
        for label, y, m, c in series:
            ax.plot(e, y, m, color=c, label=f"{label} (measured)")
        ax.plot(e, col("expected"), "--", color=COLOURS[2], label="ideal combination")
        if len(e):
            _energy_axis(ax, float(e.min()) * 0.7, float(e.max()) * 1.4)
        ax.set_ylim(*robust_range([v for _, y, _, _ in series for v in y], floor=0.0))
        for _, y, _, c in series:
            mark_off_scale(ax, e, y, c, "{:.0f} %")
        ax.set_xlabel(r"$E_\mathrm{true}$ (GeV)")
        ax.set_ylabel(r"$\sigma_E/E$ (%)")
        ax.legend(fontsize=9)
        _label(ax, title)
    return fig


def efficiency_vs_energy(title: str, pairs: Sequence[PairResult]) -> Figure:
    """Signal efficiency and background rejection vs true energy at the working points'
    thresholds (see :func:`calolab.evaluation.plots.plot_efficiency`)."""
    with style():
        fig = Figure(figsize=(12.5, 4.2), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        k = 0
        limit_label = "no background passes: > background events"
        lo, hi = math.inf, 0.0
        for p in pairs:
            for dep in p.by_energy:
                c = COLOURS[k % len(COLOURS)]
                k += 1
                e = np.array([b.e_mean for b in dep.bins])
                if len(e):
                    lo, hi = min(lo, float(e.min())), max(hi, float(e.max()))
                eff = np.array(
                    [
                        np.nan if b.signal_efficiency is None else b.signal_efficiency
                        for b in dep.bins
                    ]
                )
                rej = np.array(
                    [
                        (
                            np.nan
                            if b.background_efficiency in (None, 0)
                            else 1.0 / b.background_efficiency
                        )  # type: ignore[operator]
                        for b in dep.bins
                    ]
                )
                lim = np.array(
                    [b.n_background if b.background_efficiency == 0 else np.nan for b in dep.bins],
                    dtype=float,
                )
                label = f"{p.name}, ε = {dep.efficiency:g}"
                ax1.plot(e, 100 * eff, "o-", color=c, label=label)
                ax2.plot(e, rej, "o-", color=c, label=label)
                if np.isfinite(lim).any():
                    ax2.plot(e, lim, "^", color=c, ms=8, ls="none", label=limit_label)
                    limit_label = "_nolegend_"
        for ax in (ax1, ax2):
            ax.set_xlabel(r"$E_\mathrm{true}$ (GeV)")
            if hi > 0:
                _energy_axis(ax, lo * 0.7, hi * 1.4)
        ax1.set_ylabel("signal efficiency (%)")
        ax1.set_ylim(0, 105)
        ax2.set_ylabel(r"background rejection $1/\epsilon_b$")
        ax2.set_yscale("log")
        ax1.legend(fontsize=9)
        ax2.legend(fontsize=9)
        _label(ax1, title)
    return fig


# ---------------------------------------------------------------------------- events
def event_static(payload: dict[str, Any]) -> Figure:
    """Static picture of one event (the fallback of the interactive display): a 3D view and
    the z–x and z–y projections (cell energies summed over the third axis), cells coloured by
    energy on a log scale."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    x, y, z, dx, dy, dz, e = (
        np.asarray(payload[k], dtype=float) for k in ("x", "y", "z", "dx", "dy", "dz", "e")
    )
    with style():
        fig = Figure(figsize=(14, 4.6), layout="constrained")
        gs = fig.add_gridspec(1, 3, width_ratios=[1.15, 1, 1])
        ax3d = fig.add_subplot(gs[0], projection="3d")
        ax_zx = fig.add_subplot(gs[1])
        ax_zy = fig.add_subplot(gs[2])
        if len(e):
            lo, hi = max(float(e.min()), float(e.max()) * 1e-4), float(e.max())
            norm = LogNorm(vmin=lo, vmax=hi)
            order = np.argsort(e)
            span = max(np.log10(hi / lo), 1e-9)
            size = 3 + 50 * np.clip(np.log10(e[order] / lo) / span, 0, 1)
            ax3d.scatter(
                z[order],
                x[order],
                y[order],
                c=e[order],
                norm=norm,
                cmap=_EVENT_CMAP,
                s=size,
                alpha=0.85,
                depthshade=False,
                edgecolors="none",
            )
            ax3d.set_xlabel("z (cm)", labelpad=6)
            ax3d.set_ylabel("x (cm)", labelpad=6)
            ax3d.set_zlabel("y (cm)", labelpad=6)
            ax3d.view_init(elev=20, azim=-60)
            for pane in (ax3d.xaxis.pane, ax3d.yaxis.pane, ax3d.zaxis.pane):
                pane.set_facecolor("#10131a")
            vmax = 0.0
            for ax, v, dv, name in ((ax_zx, x, dx, "x"), (ax_zy, y, dy, "y")):
                keys = np.stack([z, v, dz, dv], axis=1)
                uniq, inv = np.unique(keys, axis=0, return_inverse=True)
                summed = np.bincount(inv.ravel(), weights=e, minlength=len(uniq))
                vmax = max(vmax, float(summed.max()))
                rects = [Rectangle((zz - a / 2, vv - b / 2), a, b) for zz, vv, a, b in uniq]
                ax.add_collection(
                    PatchCollection(rects, array=summed, cmap=_EVENT_CMAP, norm=norm, lw=0)
                )
                ax.set_xlim(min(0.0, float((z - dz / 2).min())) - 2, float((z + dz / 2).max()) + 2)
                ax.set_ylim(float((v - dv / 2).min()) - 2, float((v + dv / 2).max()) + 2)
                ax.set_xlabel("z (cm)")
                ax.set_ylabel(f"{name} (cm)")
                ax.set_facecolor("#10131a")
            norm.vmax = max(hi, vmax)
            from matplotlib.cm import ScalarMappable

            fig.colorbar(
                ScalarMappable(norm=norm, cmap=_EVENT_CMAP),
                ax=[ax_zy],
                label="energy (GeV)",
                pad=0.02,
            )
        what = "sum of digitised cells" if payload.get("digitized") else "visible energy"
        fig.suptitle(f"{payload['label']}: {what} {payload['visible']:.3g} GeV", fontsize=12)
    return fig
