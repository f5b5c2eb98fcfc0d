"""The report's evaluation plots: no missing-glyph boxes, measured points, robust axes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from calolab.evaluation.tracker import TrackerBin, TrackerResult
from calolab.report import plots
from tests.evaluation.test_plots import glyph_problems
from tests.results import classification_result, regression_metrics, systematics_of


def test_report_plots_draw_every_glyph():
    good = regression_metrics("mlp", 0.1, 0.05, 0.01, "x.h5")
    bins = list(good.raw.bins)
    bins[1] = dataclasses.replace(bins[1], resolution=2.05, response=4.5)  # one broken bin
    broken = dataclasses.replace(good, raw=dataclasses.replace(good.raw, bins=tuple(bins)))
    tr = TrackerResult(
        0.2,
        0,
        "raw",
        "fit",
        (TrackerBin(2, 20, 9, 100, 0.05, 0.002, 0.002, 0.0019, 1e-4, 1.0, 0.01, 0.0019),),
    )
    with glyph_problems() as problems:
        figs = [
            plots.response_resolution("tiny · e-", [("MLP", good), ("3D CNN", broken)]),
            plots.design_comparison(
                [("a", "a · MLP", good.raw.bins, good.raw.fit)], [("a", 100.0), ("b", 300.0)]
            ),
            plots.tracker_combination("tiny", tr),
            plots.efficiency_vs_energy("tiny", classification_result("x").classification.pairs),
        ]
        for fig in figs:
            plots.to_png(fig)
    assert problems == []
    # the broken bin does not stretch the resolution axis (issue 12, item 8)
    ax = figs[0].axes[1]
    assert ax.get_ylim()[1] < 50


def test_the_systematic_band_is_drawn_when_the_evaluation_has_systematics():
    plain = regression_metrics("mlp", 0.1, 0.05, 0.01, "x.h5")
    with_syst = dataclasses.replace(plain, systematics=systematics_of(plain.raw, 0.2))
    assert plots.systematic_band(plain) is None

    def bands(result):
        fig = plots.response_resolution("tiny · e-", [("MLP", result)])
        return [c for c in fig.axes[1].collections if isinstance(c, PolyCollection)], fig

    none, fig = bands(plain)
    assert none == [] and "systematic" not in fig.legends[0].get_title().get_text()
    drawn, fig = bands(with_syst)
    assert len(drawn) == 1
    # the band spans σ/E ± 20 % of it (in %), at the bins' energies
    y = drawn[0].get_paths()[0].vertices[:, 1]
    res = 100 * np.array([b.resolution for b in plain.raw.bins])
    assert np.nanmax(y) == pytest.approx(1.2 * res.max(), rel=1e-6)
    assert np.nanmin(y) == pytest.approx(0.8 * res.min(), rel=1e-6)
    assert "bands: systematic uncertainty" in fig.legends[0].get_title().get_text()
    # the statistical error bars are still there
    assert fig.axes[1].containers
