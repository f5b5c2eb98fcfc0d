"""Classification metrics: accuracy, confusion matrix, ROC/AUC per class pair, rejection.

For a pair of classes (a, b) only the events of class a or b are used, with the score
p_a / (p_a + p_b); class a is the signal. Background rejection at signal efficiency ε is
1/ε_b at the score threshold that keeps a fraction ε of the signal (the usual figure of merit
of particle-identification and jet-tagging papers).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from calolab.core.errors import DataError

DEFAULT_EFFICIENCIES = (0.5, 0.9)


def _check(labels: np.ndarray, probs: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape != (len(y), n_classes):
        raise DataError(
            f"probabilities have shape {p.shape}, expected ({len(y)}, {n_classes}) for "
            f"{n_classes} classes"
        )
    if len(y) == 0:
        raise DataError("no events to evaluate")
    if np.any((y < 0) | (y >= n_classes)):
        raise DataError(f"labels must be in [0, {n_classes}), got {np.unique(y).tolist()}")
    if not np.isfinite(p).all():
        raise DataError("class probabilities contain NaN or infinite values")
    return y, p


def accuracy(labels: np.ndarray, probs: np.ndarray) -> float:
    """Fraction of events whose most probable class is the true one."""
    y, p = _check(labels, probs, np.asarray(probs).shape[-1])
    return float(np.mean(p.argmax(axis=1) == y))


def confusion_matrix(labels: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(n_classes, n_classes)``: row = true class, column = predicted class."""
    y = np.asarray(labels).astype(np.int64)
    q = np.asarray(pred).astype(np.int64)
    return np.bincount(y * n_classes + q, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def roc_curve(
    signal_scores: np.ndarray, background_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(signal efficiency, background efficiency) for every threshold, from (0,0) to (1,1)."""
    s = np.asarray(signal_scores, dtype=np.float64)
    b = np.asarray(background_scores, dtype=np.float64)
    scores = np.concatenate([s, b])
    is_sig = np.concatenate([np.ones(len(s)), np.zeros(len(b))])
    order = np.argsort(-scores, kind="stable")
    scores, is_sig = scores[order], is_sig[order]
    # keep the last index of each distinct score (ties move together)
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(is_sig)[last]
    fp = np.cumsum(1 - is_sig)[last]
    eff_s = np.r_[0.0, tp / max(len(s), 1)]
    eff_b = np.r_[0.0, fp / max(len(b), 1)]
    return eff_s, eff_b


def auc(signal_scores: np.ndarray, background_scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score_signal > score_background) (+ half the ties)."""
    s = np.asarray(signal_scores, dtype=np.float64)
    b = np.asarray(background_scores, dtype=np.float64)
    if len(s) == 0 or len(b) == 0:
        return math.nan
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([s, b]))
    return float((ranks[: len(s)].sum() - len(s) * (len(s) + 1) / 2) / (len(s) * len(b)))


def rejection_at(
    signal_scores: np.ndarray, background_scores: np.ndarray, efficiency: float
) -> float:
    """Background rejection 1/ε_b at signal efficiency ``efficiency`` (inf if ε_b = 0)."""
    s = np.sort(np.asarray(signal_scores, dtype=np.float64))[::-1]
    b = np.asarray(background_scores, dtype=np.float64)
    if len(s) == 0 or len(b) == 0:
        return math.nan
    k = max(1, int(math.ceil(efficiency * len(s))))
    threshold = s[k - 1]
    eff_b = float(np.mean(b >= threshold))
    return math.inf if eff_b == 0 else 1.0 / eff_b


def pair_scores(
    labels: np.ndarray, probs: np.ndarray, a: int, b: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores p_a/(p_a+p_b) of the class-a events and of the class-b events."""
    y = np.asarray(labels)
    p = np.asarray(probs, dtype=np.float64)
    denom = p[:, a] + p[:, b]
    score = np.where(denom > 0, p[:, a] / np.where(denom > 0, denom, 1.0), 0.5)
    return score[y == a], score[y == b]


def classification_metrics(
    labels: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    efficiencies: Sequence[float] = DEFAULT_EFFICIENCIES,
) -> dict[str, Any]:
    """JSON-ready classification metrics.

    Parameters
    ----------
    labels:
        True class indices ``(N,)``.
    probs:
        Class probabilities ``(N, C)``.
    classes:
        Class names, ``C`` of them.
    efficiencies:
        Signal efficiencies at which the background rejection is quoted.

    Returns
    -------
    dict
        ``{"task": "classification", "classes", "n_events", "accuracy",
        "confusion_matrix" (rows true, columns predicted), "auc": {"a_vs_b": ...},
        "rejection": {"a_vs_b": {"0.5": ..., ...}}}``. A rejection is ``inf`` when no
        background event passes (written as ``null`` in ``metrics.json``: larger than the
        number of background events).
    """
    classes = list(classes)
    y, p = _check(labels, probs, len(classes))
    cm = confusion_matrix(y, p.argmax(axis=1), len(classes))
    aucs: dict[str, float] = {}
    rej: dict[str, dict[str, float]] = {}
    for a, b in itertools.permutations(range(len(classes)), 2):
        if a > b and len(classes) == 2:
            continue
        sa, sb = pair_scores(y, p, a, b)
        key = f"{classes[a]}_vs_{classes[b]}"
        aucs[key] = auc(sa, sb)
        rej[key] = {f"{e:g}": rejection_at(sa, sb, e) for e in efficiencies}
    return {
        "task": "classification",
        "classes": classes,
        "n_events": int(len(y)),
        "accuracy": float(np.mean(p.argmax(axis=1) == y)),
        "confusion_matrix": cm.tolist(),
        "auc": aucs,
        "rejection": rej,
    }


# ----------------------------------------------------------------------------- typed results
@dataclass(frozen=True)
class WorkingPoint:
    """A score threshold of a class pair chosen to keep a fraction ``efficiency`` of the
    signal: the efficiencies reached there on the test events and the background rejection
    1/ε_b. ``rejection`` is infinite when no background event passes; it is then only known
    to exceed ``n_background`` (:meth:`rejection_text`)."""

    efficiency: float
    threshold: float
    signal_efficiency: float
    background_efficiency: float
    n_background: int

    @property
    def rejection(self) -> float:
        return math.inf if self.background_efficiency == 0 else 1.0 / self.background_efficiency

    def rejection_text(self, digits: int = 4) -> str:
        """``"12.5"``, or ``"> 1000"`` when none of the 1000 background events passes."""
        if self.background_efficiency == 0:
            return f"> {self.n_background:,}"
        return f"{self.rejection:.{digits}g}"


@dataclass(frozen=True)
class EfficiencyBin:
    """Signal and background efficiency in one bin of true energy at a working point's
    threshold (``None`` without signal or background events in the bin)."""

    e_lo: float
    e_hi: float
    e_mean: float
    n_signal: int
    n_background: int
    signal_efficiency: float | None
    background_efficiency: float | None

    def rejection_text(self, digits: int = 3) -> str:
        if self.background_efficiency is None:
            return "–"
        if self.background_efficiency == 0:
            return f"> {self.n_background:,}"
        return f"{1.0 / self.background_efficiency:.{digits}g}"


@dataclass(frozen=True)
class EnergyDependence:
    """Efficiency and rejection vs true energy at the threshold of the working point of
    signal efficiency ``efficiency`` (fixed over all energies)."""

    efficiency: float
    threshold: float
    bins: tuple[EfficiencyBin, ...]


@dataclass(frozen=True)
class PairResult:
    """Signal ``signal`` against background ``background`` (score p_s / (p_s + p_b))."""

    signal: str
    background: str
    n_signal: int
    n_background: int
    auc: float | None
    working_points: tuple[WorkingPoint, ...]
    by_energy: tuple[EnergyDependence, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.signal} vs {self.background}"


@dataclass(frozen=True)
class ClassificationResult:
    """Accuracy, confusion matrix (rows true, columns predicted class) and, per class pair,
    the AUC, working points and their energy dependence."""

    classes: tuple[str, ...]
    n_events: int
    accuracy: float
    confusion_matrix: tuple[tuple[int, ...], ...]
    pairs: tuple[PairResult, ...]


def working_point(
    signal_scores: np.ndarray, background_scores: np.ndarray, efficiency: float
) -> WorkingPoint | None:
    """The threshold that keeps ``efficiency`` of the signal and the efficiencies there."""
    s = np.sort(np.asarray(signal_scores, dtype=np.float64))[::-1]
    b = np.asarray(background_scores, dtype=np.float64)
    if len(s) == 0 or len(b) == 0:
        return None
    k = max(1, int(math.ceil(efficiency * len(s))))
    threshold = float(s[k - 1])
    return WorkingPoint(
        efficiency=float(efficiency),
        threshold=threshold,
        signal_efficiency=float(np.mean(s >= threshold)),
        background_efficiency=float(np.mean(b >= threshold)),
        n_background=int(len(b)),
    )


def measure_classification(
    labels: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    energies: np.ndarray | None = None,
    edges: np.ndarray | None = None,
    efficiencies: Sequence[float] = DEFAULT_EFFICIENCIES,
) -> ClassificationResult:
    """Typed classification metrics, with efficiency and rejection in bins of true energy
    (``energies`` in GeV, bin ``edges``) at the working points' thresholds."""
    classes = list(classes)
    y, p = _check(labels, probs, len(classes))
    cm = confusion_matrix(y, p.argmax(axis=1), len(classes))
    e = None if energies is None else np.asarray(energies, dtype=np.float64).reshape(-1)
    pairs = []
    for a, b in itertools.permutations(range(len(classes)), 2):
        if a > b and len(classes) == 2:
            continue
        sa, sb = pair_scores(y, p, a, b)
        wps = [w for eff in efficiencies if (w := working_point(sa, sb, eff)) is not None]
        by_energy = []
        if e is not None and edges is not None and wps:
            ea, eb = e[y == a], e[y == b]
            for w in wps:
                rows = []
                for lo, hi in zip(edges[:-1], edges[1:]):
                    ma, mb = (ea >= lo) & (ea < hi), (eb >= lo) & (eb < hi)
                    if not (ma.any() or mb.any()):
                        continue
                    both = np.concatenate([ea[ma], eb[mb]])
                    rows.append(
                        EfficiencyBin(
                            e_lo=float(lo),
                            e_hi=float(hi),
                            e_mean=float(both.mean()),
                            n_signal=int(ma.sum()),
                            n_background=int(mb.sum()),
                            signal_efficiency=(
                                float(np.mean(sa[ma] >= w.threshold)) if ma.any() else None
                            ),
                            background_efficiency=(
                                float(np.mean(sb[mb] >= w.threshold)) if mb.any() else None
                            ),
                        )
                    )
                by_energy.append(EnergyDependence(w.efficiency, w.threshold, tuple(rows)))
        a_val = auc(sa, sb)
        pairs.append(
            PairResult(
                signal=classes[a],
                background=classes[b],
                n_signal=int(len(sa)),
                n_background=int(len(sb)),
                auc=a_val if math.isfinite(a_val) else None,
                working_points=tuple(wps),
                by_energy=tuple(by_energy),
            )
        )
    return ClassificationResult(
        classes=tuple(classes),
        n_events=int(len(y)),
        accuracy=float(np.mean(p.argmax(axis=1) == y)),
        confusion_matrix=tuple(tuple(int(v) for v in row) for row in cm),
        pairs=tuple(pairs),
    )
