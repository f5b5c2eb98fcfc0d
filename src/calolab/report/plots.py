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


def _bins(metrics: dict[str, Any]) -> dict[str, np.ndarray]:
    rows = metrics.get("bins") or []
    keys = ("e_mean", "response", "response_err", "resolution", "resolution_err")
    return {k: np.array([float(r.get(k, np.nan)) for r in rows], dtype=float) for k in keys}


def response_resolution(
    title: str,
    series: Sequence[tuple[str, dict[str, Any], dict[str, Any]]],
    resolution_label: str = r"resolution $\sigma_E/E$ (%)",
) -> Figure:
    """Response ⟨E_pred/E_true⟩ and resolution σ/E vs true energy, one series per model, with
    the fitted a/√E ⊕ b/E ⊕ c when the metrics hold it.

    Parameters
    ----------
    series:
        ``(name, metrics for the response, metrics for the resolution)`` per model (the
        resolution may come from bias-corrected predictions).
    """
    with style():
        fig = Figure(figsize=(12.5, 4.4), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        emin, emax = math.inf, 0.0
        for i, (name, metrics, res_metrics) in enumerate(series):
            col = COLOURS[i % len(COLOURS)]
            b = _bins(metrics)
            br = _bins(res_metrics)
            ok = np.isfinite(b["e_mean"]) & np.isfinite(b["response"])
            if not ok.any():
                continue
            shift = 1 + 0.012 * (i - (len(series) - 1) / 2)  # keep error bars apart (log x)
            x = b["e_mean"] * shift
            emin, emax = min(emin, float(b["e_mean"][ok].min())), max(
                emax, float(b["e_mean"][ok].max())
            )
            ax1.errorbar(
                x[ok],
                b["response"][ok],
                yerr=np.nan_to_num(b["response_err"][ok]),
                fmt="o",
                color=col,
                label=name,
            )
            okr = np.isfinite(br["e_mean"]) & np.isfinite(br["resolution"])
            xr = br["e_mean"] * shift
            fit = res_metrics.get("fit") or {}
            lab = name
            if all(isinstance(fit.get(k), int | float) for k in ("a", "b", "c")):
                lab = (
                    f"{name}: {100 * abs(fit['a']):.1f}%/√E $\\oplus$ "
                    f"{100 * abs(fit['b']):.1f}%/E $\\oplus$ {100 * abs(fit['c']):.1f}%"
                )
            ax2.errorbar(
                xr[okr],
                100 * br["resolution"][okr],
                yerr=100 * np.nan_to_num(br["resolution_err"][okr]),
                fmt="o",
                color=col,
                label=lab,
            )
            if lab != name:
                ee = np.geomspace(br["e_mean"][okr].min() * 0.8, br["e_mean"][okr].max() * 1.2, 200)
                ax2.plot(
                    ee, 100 * resolution_curve(ee, fit["a"], fit["b"], fit["c"]), color=col, lw=1.5
                )
        ax1.axhline(1.0, color="grey", lw=1, ls="--")
        for ax in (ax1, ax2):
            ax.set_xlabel(r"$E_\mathrm{true}$ (GeV)")
            if emax > 0:
                _energy_axis(ax, emin * 0.7, emax * 1.4)
        ax1.set_ylabel(r"response $\langle E_\mathrm{pred}/E_\mathrm{true}\rangle$")
        ax2.set_ylabel(resolution_label)
        ax2.set_ylim(0, None)
        ax1.legend()
        ax2.legend(fontsize=9.5)
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
    curves: Sequence[tuple[str, str, float, float, float]],
    costs: Sequence[tuple[str, float]],
    title: str = "",
    energy_range: tuple[float, float] = (1.0, 100.0),
) -> Figure:
    """Fitted resolution curves of several designs (left) and their cost (right).

    Parameters
    ----------
    curves:
        ``(design, label, a, b, c)`` per curve; one colour per design, one line style per
        curve of the same design.
    costs:
        ``(design, cost in CHF)`` per design.
    energy_range:
        Energies (GeV) over which the curves are drawn (the range of the evaluations).
    """
    with style():
        fig = Figure(figsize=(12.5, 4.2), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
        e = np.geomspace(*energy_range, 200)
        styles = ("-", "--", ":", "-.")
        designs = list(dict.fromkeys([d for d, _ in costs] + [c[0] for c in curves]))
        seen: dict[str, int] = {}
        for design, label, a, b, c in curves:
            k = seen.get(design, 0)
            seen[design] = k + 1
            ax1.plot(
                e,
                100 * resolution_curve(e, a, b, c),
                color=COLOURS[designs.index(design) % len(COLOURS)],
                ls=styles[k % len(styles)],
                label=label,
            )
        _energy_axis(ax1, *energy_range)
        ax1.set_xlabel(r"$E$ (GeV)")
        ax1.set_ylabel(r"fitted $\sigma_E/E$ (%)")
        ax1.set_ylim(0, None)
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
