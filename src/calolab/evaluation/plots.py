"""Plots in mplhep style (PNG), drawn on ``matplotlib.figure.Figure`` objects (no pyplot, no
global backend or state changes)."""

from __future__ import annotations

import contextlib
import itertools
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from calolab.core.files import atomic_output
from calolab.evaluation.classification import pair_scores, roc_curve
from calolab.evaluation.fits import resolution_curve

log = logging.getLogger(__name__)


@contextlib.contextmanager
def hep_style() -> Iterator[None]:
    """mplhep's ROOT-like style for the duration of the block."""
    import matplotlib.style
    import mplhep

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
        with matplotlib.style.context(mplhep.style.ROOT):
            yield


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


def plot_response(
    curves: Mapping[str, Sequence[Mapping[str, Any]]], path: Path, title: str = ""
) -> Path:
    """Response ⟨E_pred/E_true⟩ (Gaussian core) vs true energy, one curve per label."""
    with hep_style():
        fig = Figure(figsize=(7, 5))
        ax = fig.subplots()
        for label, bins in curves.items():
            e = np.array([b["e_mean"] for b in bins])
            r = np.array([b["response"] for b in bins])
            err = np.array([b["response_err"] for b in bins])
            ax.errorbar(e, r, yerr=err, fmt="o-", ms=4, capsize=2, label=label)
        ax.axhline(1.0, color="gray", ls="--", lw=1)
        ax.set_xlabel("$E_{true}$ [GeV]")
        ax.set_ylabel(r"response $\langle E_{pred}/E_{true} \rangle$")
        if _log_range(curves):
            _log_x(ax)
        ax.legend()
        if title:
            ax.set_title(title, fontsize=12)
        return _save(fig, path)


def _log_range(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> bool:
    es = [b["e_mean"] for bins in curves.values() for b in bins]
    return bool(es) and max(es) / max(min(es), 1e-9) > 20


def plot_resolution(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    path: Path,
    fits: Mapping[str, Mapping[str, float] | None] | None = None,
    extra: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    title: str = "",
) -> Path:
    """σ/E vs true energy with the fitted a/√E ⊕ b/E ⊕ c curve for each label.

    ``extra``: further curves ``label -> (E, σ/E)`` drawn as lines (e.g. a tracker).
    """
    with hep_style():
        fig = Figure(figsize=(7, 5))
        ax = fig.subplots()
        colors = itertools.cycle(f"C{i}" for i in range(10))
        shown: list[float] = []
        for label, bins in curves.items():
            c = next(colors)
            e = np.array([b["e_mean"] for b in bins])
            r = np.array([b["resolution"] for b in bins])
            err = np.array([b["resolution_err"] for b in bins])
            fit = (fits or {}).get(label)
            lab = label
            if fit:
                lab += (
                    f": a = {100 * fit['a']:.1f}%, b = {fit['b']:.2f} GeV, "
                    f"c = {100 * fit['c']:.2f}%"
                )
            ax.errorbar(e, 100 * r, yerr=100 * err, fmt="o", ms=4, capsize=2, color=c, label=lab)
            shown += [float(v) for v in 100 * r if np.isfinite(v)]
            if fit and len(e):
                x = np.geomspace(e.min(), e.max(), 200)
                ax.plot(x, 100 * resolution_curve(x, fit["a"], fit["b"], fit["c"]), "-", color=c)
        for label, (e, r) in (extra or {}).items():
            ax.plot(e, 100 * np.asarray(r), "--", color=next(colors), label=label)
            shown += [float(v) for v in 100 * np.asarray(r) if np.isfinite(v)]
        ax.set_xlabel("$E_{true}$ [GeV]")
        ax.set_ylabel(r"$\sigma_E / E$ [%]")
        if _log_range(curves):
            _log_x(ax)
        # a badly trained model's outliers must not squash the other curves
        top = 1.3 * float(np.percentile(shown, 90)) if shown else 1.0
        ax.set_ylim(0, max(top, 1e-3))
        ax.legend(
            fontsize=9,
            title=r"fit: $\sigma/E = a/E^{1/2} \oplus b/E \oplus c$",
            title_fontsize=9,
        )
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
    names = [k for k in rows[0] if k.startswith("w")]
    epochs = np.array([float(r["epoch"]) for r in rows])
    with hep_style():
        fig = Figure(figsize=(7, 5))
        ax = fig.subplots()
        cmap = __import__("matplotlib").colormaps["viridis"]
        for i, k in enumerate(names):
            ax.plot(
                epochs, [float(r[k]) for r in rows], color=cmap(i / max(len(names) - 1, 1)), lw=1
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("layer weight (× global calibration)")
        sm = __import__("matplotlib").cm.ScalarMappable(
            cmap=cmap, norm=__import__("matplotlib").colors.Normalize(0, len(names) - 1)
        )
        fig.colorbar(sm, ax=ax, label="layer")
        if title:
            ax.set_title(title, fontsize=12)
        return _save(fig, path)
