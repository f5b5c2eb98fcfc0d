"""The report's evaluation plots: no missing-glyph boxes, measured points, robust axes."""

from __future__ import annotations

import dataclasses

from calolab.evaluation.tracker import TrackerBin, TrackerResult
from calolab.report import plots
from tests.evaluation.test_plots import glyph_problems
from tests.results import classification_result, regression_metrics


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
