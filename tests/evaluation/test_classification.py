"""Classification metrics."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.evaluation import (
    auc,
    classification_metrics,
    confusion_matrix,
    rejection_at,
    roc_curve,
)


def test_auc_matches_the_pair_counting_definition():
    rng = np.random.default_rng(0)
    s = rng.normal(1, 1, 300)
    b = rng.normal(0, 1, 400)
    pairs = (s[:, None] > b[None, :]).mean()
    assert auc(s, b) == pytest.approx(pairs, abs=1e-12)
    es, eb = roc_curve(s, b)
    assert np.trapezoid(es, eb) == pytest.approx(pairs, abs=1e-12)
    assert auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0


def test_rejection_at_fixed_efficiency():
    s = np.linspace(0.5, 1.0, 100)
    b = np.linspace(0.0, 0.6, 100)
    # 50 % signal efficiency keeps s >= 0.75: no background passes
    assert rejection_at(s, b, 0.5) == np.inf
    # 100 % efficiency: threshold 0.5, background above: (0.6-0.5)/0.6 of events ≈ 1/6
    assert rejection_at(s, b, 1.0) == pytest.approx(100 / np.sum(b >= 0.5))


def test_metrics_layout():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.6, 0.3, 0.1],
            [0.2, 0.7, 0.1],
            [0.5, 0.4, 0.1],
            [0.1, 0.1, 0.8],
            [0.2, 0.2, 0.6],
        ]
    )
    m = classification_metrics(y, p, ["gamma", "pi0", "n"])
    assert m["task"] == "classification" and m["accuracy"] == pytest.approx(5 / 6)
    assert m["confusion_matrix"] == confusion_matrix(y, p.argmax(1), 3).tolist()
    assert m["confusion_matrix"][1] == [1, 1, 0]
    assert set(m["auc"]) == {
        f"{a}_vs_{b}" for a in ("gamma", "pi0", "n") for b in ("gamma", "pi0", "n") if a != b
    }
    assert set(m["rejection"]["gamma_vs_pi0"]) == {"0.5", "0.9"}
