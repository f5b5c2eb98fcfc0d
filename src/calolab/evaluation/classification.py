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
