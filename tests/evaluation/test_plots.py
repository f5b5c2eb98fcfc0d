"""Legible plots (issue 12, item 8): no missing-glyph boxes in mplhep's fonts, robust axes."""

from __future__ import annotations

import contextlib
import logging
import warnings

import numpy as np
import pytest

from calolab.evaluation import EnergyBinning, measure_regression
from calolab.evaluation.plots import (
    OPLUS,
    RESOLUTION_FORMULA,
    plot_efficiency,
    plot_resolution,
    plot_response,
    plot_tracker,
    robust_range,
)
from calolab.evaluation.tracker import TrackerBin, TrackerResult
from tests.results import classification_result


@contextlib.contextmanager
def glyph_problems():
    """Collect matplotlib's reports of glyphs its fonts lack (drawn as boxes)."""
    found: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record.getMessage())

    handler = Catch()
    logger = logging.getLogger("matplotlib")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield found
        found.extend(str(w.message) for w in caught)
    finally:
        logger.removeHandler(handler)
    found[:] = [m for m in found if "Glyph" in m or "No TeX to Unicode" in m]


@pytest.fixture(scope="module")
def measured():
    rng = np.random.default_rng(0)
    e = rng.uniform(1, 100, 3000)
    p = e * (1 + 0.1 / np.sqrt(e) * rng.standard_normal(len(e)))
    p[(e > 40) & (e < 50)] *= 1 + 2.0 * rng.standard_normal(((e > 40) & (e < 50)).sum())
    return measure_regression(e, p, EnergyBinning().edges_for(e))


def test_the_formula_uses_drawable_glyphs():
    assert "⊕" not in RESOLUTION_FORMULA and OPLUS in RESOLUTION_FORMULA


def test_evaluation_plots_have_no_missing_glyphs(tmp_path, measured):
    tr = TrackerResult(
        0.2,
        0,
        "corrected",
        "fit",
        tuple(
            TrackerBin(
                e,
                e * 1.2,
                e * 1.1,
                100,
                0.05,
                0.2 * e / 1000,
                0.2 * e / 1000,
                0.02,
                0.001,
                1.0,
                0.03,
                0.02,
            )
            for e in (100.0, 500.0, 2000.0)
        ),
    )
    pairs = classification_result("x.h5").classification.pairs
    with glyph_problems() as problems:
        plot_resolution(
            {"MLP": measured.bins},
            tmp_path / "resolution.png",
            fits={"MLP": measured.fit},
            extra={"calo ⊕ tracker": (np.array([10.0, 50.0]), np.array([0.05, 0.04]))},
            title="σ/E",
        )
        plot_response({"MLP": measured.bins}, tmp_path / "response.png")
        plot_tracker(tr, tmp_path / "tracker.png")
        plot_efficiency(pairs, tmp_path / "eff.png")
    # the legend label above uses a raw ⊕ on purpose: it must be the only complaint
    assert problems and all("8853" in p or "CIRCLED PLUS" in p for p in problems)
    with glyph_problems() as problems:
        plot_resolution({"MLP": measured.bins}, tmp_path / "r2.png", fits={"MLP": measured.fit})
        plot_tracker(tr, tmp_path / "t2.png")
        plot_efficiency(pairs, tmp_path / "e2.png")
    assert problems == []


def test_one_outlier_does_not_stretch_the_axis(measured):
    """Issue 12, item 8: one 205 % bin stretched the σ/E axis to 350 %."""
    values = [5.0, 4.2, 3.9, 3.5, 3.3, 3.0, 2.9, 205.0]
    lo, hi = robust_range(values, floor=0.0)
    assert lo == 0.0 and 5.0 < hi < 10.0
    lo, hi = robust_range([1.01, 0.99, 1.0, 4.5, 0.98], anchor=1.0)
    assert lo < 0.98 and 1.01 < hi < 1.2
    # the measured curve with its broken bin: the axis stays on the bulk
    r = [100 * b.resolution for b in measured.bins]
    assert max(r) > 3 * np.median(r)
    assert robust_range(r, floor=0.0)[1] < max(r)
