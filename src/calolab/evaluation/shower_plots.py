"""Plots of ``calolab compare``: overlaid distributions of two shower samples with ratio
panels (mplhep style, PNG; matplotlib ``Figure`` objects, no pyplot state)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from calolab.core.files import atomic_output
from calolab.evaluation.plots import hep_style
from calolab.evaluation.shower_compare import (
    ShowerComparison,
    common_bins,
    histogram_features,
    normalised_hist,
)
from calolab.evaluation.shower_features import ShowerSample

#: At most this many layers get their own panel in the per-layer figures.
MAX_LAYER_PANELS = 16
_COLORS = ("black", "tab:red")


def _save(fig: Figure, path: Path) -> Path:
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    return path


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _hist_panel(
    ax: Any,
    rax: Any,
    x: np.ndarray,
    y: np.ndarray,
    labels: tuple[str, str],
    xlabel: str,
    sep: float | None,
) -> None:
    """Unit-normalised histograms of x (reference, black) and y (red) with y/x below."""
    import mplhep

    edges = common_bins(x, y)
    hx, hy = normalised_hist(x, edges), normalised_hist(y, edges)
    ex = np.sqrt(hx * (1 - hx) / max(len(x), 1))
    ey = np.sqrt(hy * (1 - hy) / max(len(y), 1))
    mplhep.histplot(hx, edges, ax=ax, color=_COLORS[0], label=labels[0], yerr=ex)
    mplhep.histplot(hy, edges, ax=ax, color=_COLORS[1], label=labels[1], yerr=ey)
    ax.set_ylabel("fraction", fontsize=9)
    ax.tick_params(labelsize=8)
    rax.tick_params(labelsize=8)
    ax.xaxis.get_offset_text().set_fontsize(8)
    rax.xaxis.get_offset_text().set_fontsize(8)
    if sep is not None:
        ax.text(0.97, 0.88, f"S = {sep:.3f}", transform=ax.transAxes, ha="right", fontsize=8)
    r = _ratio(hy, hx)
    r_err = np.abs(r) * np.sqrt(_ratio(ex, hx) ** 2 + _ratio(ey, hy) ** 2)
    centres = 0.5 * (edges[1:] + edges[:-1])
    rax.errorbar(centres, r, yerr=r_err, fmt="o", ms=2, color=_COLORS[1], lw=0.8)
    rax.axhline(1.0, color="grey", lw=0.8, ls="--")
    rax.set_ylim(0.0, 2.0)
    rax.set_ylabel("ratio", fontsize=9)
    rax.set_xlabel(xlabel, fontsize=10)
    ax.tick_params(labelbottom=False)


def _grid_figure(
    items: Sequence[tuple[np.ndarray, np.ndarray, str, float | None]],
    labels: tuple[str, str],
    title: str,
) -> Figure:
    n = len(items)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(4.2 * cols, 4.0 * rows))
    outer = fig.add_gridspec(rows, cols, hspace=0.45, wspace=0.35)
    for k, (x, y, xlabel, sep) in enumerate(items):
        inner = outer[k // cols, k % cols].subgridspec(2, 1, height_ratios=(3, 1), hspace=0.05)
        ax = fig.add_subplot(inner[0])
        rax = fig.add_subplot(inner[1], sharex=ax)
        _hist_panel(ax, rax, x, y, labels, xlabel, sep)
        if k == 0:
            ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(title, fontsize=13)
    return fig


def _panel_layers(a: ShowerSample, b: ShowerSample) -> list[int]:
    """Layers shown in the per-layer figures: those holding ≥ 0.1 % of the mean visible
    energy of the first sample, at most :data:`MAX_LAYER_PANELS`, evenly spread."""
    mean = a.layers.mean(axis=0)
    keep = np.flatnonzero(mean >= 1e-3 * mean.sum())
    if len(keep) == 0:
        keep = np.arange(a.n_layers)
    if len(keep) > MAX_LAYER_PANELS:
        keep = keep[np.unique(np.linspace(0, len(keep) - 1, MAX_LAYER_PANELS).round().astype(int))]
    return [int(i) for i in keep]


def plot_profile(a: ShowerSample, b: ShowerSample, labels: tuple[str, str]) -> Figure:
    """Mean longitudinal profile ⟨E_layer/E_inc⟩ of both samples and their ratio; the
    shaded bands show the event-by-event spread (± 1 RMS)."""
    fig = Figure(figsize=(8, 6.5))
    ax, rax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05})
    layers = np.arange(a.n_layers)
    means = []
    for s, color, label in ((a, _COLORS[0], labels[0]), (b, _COLORS[1], labels[1])):
        f = s.layers / s.energy[:, None]
        m, sd = f.mean(axis=0), f.std(axis=0)
        err = sd / np.sqrt(len(f))
        ax.errorbar(layers, m, yerr=err, fmt="o-", ms=3, color=color, label=label, lw=1)
        ax.fill_between(layers, m - sd, m + sd, color=color, alpha=0.12, lw=0)
        means.append((m, err))
    ax.set_ylabel(r"$\langle E_{layer}\rangle / E_{inc}$")
    ax.legend(fontsize=10)
    (ma, ea), (mb, eb) = means
    r = _ratio(mb, ma)
    rax.errorbar(
        layers,
        r,
        yerr=np.abs(r) * np.sqrt(_ratio(ea, ma) ** 2 + _ratio(eb, mb) ** 2),
        fmt="o",
        ms=3,
        color=_COLORS[1],
    )
    rax.axhline(1.0, color="grey", lw=0.8, ls="--")
    rax.set_ylim(0.5, 1.5)
    rax.set_xlabel("layer")
    rax.set_ylabel("ratio")
    return fig


def plot_separation(result: ShowerComparison) -> Figure:
    """Separation power of every high-level histogram, with the value expected from
    statistical fluctuations alone."""
    names = list(result.separation)
    s = np.array([result.separation[k] for k in names])
    noise = np.array([result.separation_noise[k] for k in names])
    fig = Figure(figsize=(max(8, 0.12 * len(names)), 5))
    ax = fig.subplots()
    x = np.arange(len(names))
    ax.bar(x, s, color="tab:blue", label="separation power")
    ax.step(x, noise, where="mid", color="black", lw=1, label="expected for identical samples")
    ax.set_yscale("log")
    ax.set_ylabel("separation power")
    step = max(1, len(names) // 40)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([names[i] for i in x[::step]], rotation=90, fontsize=7)
    ax.legend(fontsize=9)
    return fig


def plot_comparison(
    a: ShowerSample, b: ShowerSample, result: ShowerComparison, out_dir: Path
) -> list[Path]:
    """Write the comparison plots into ``out_dir``; returns their paths."""
    labels = (a.name, b.name)
    shapes = result.shape_features
    ha, hb = histogram_features(a, shapes), histogram_features(b, shapes)
    sep = result.separation
    layers = _panel_layers(a, b)
    out: list[Path] = []
    with hep_style():
        fig = _grid_figure(
            [(ha["etot"][0], hb["etot"][0], ha["etot"][1], sep.get("etot"))],
            labels,
            "total visible energy",
        )
        out.append(_save(fig, out_dir / "etot.png"))
        out.append(_save(plot_profile(a, b, labels), out_dir / "profile.png"))
        items = [
            (
                ha[f"e_layer_{i}"][0],
                hb[f"e_layer_{i}"][0],
                ha[f"e_layer_{i}"][1],
                sep[f"e_layer_{i}"],
            )
            for i in layers
        ]
        out.append(_save(_grid_figure(items, labels, "layer energies"), out_dir / "layers.png"))
        for k in shapes:
            items = [
                (ha[f"{k}_{i}"][0], hb[f"{k}_{i}"][0], ha[f"{k}_{i}"][1], sep[f"{k}_{i}"])
                for i in layers
            ]
            out.append(_save(_grid_figure(items, labels, k), out_dir / f"{k}.png"))
        out.append(_save(plot_separation(result), out_dir / "separation.png"))
    return out
