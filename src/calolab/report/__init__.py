"""The HTML report: detectors, datasets, training curves, response and resolution,
classification metrics and a 3D event display, in one self-contained page.

>>> from calolab.report import build_report
>>> build_report(["photons.h5", "run/", "eval/"], "report.html")  # doctest: +SKIP
"""

from calolab.report.build import SECTIONS, ReportOptions, ReportResult, build_report, render
from calolab.report.compare import ResolutionRatio, resolution_at, resolution_ratio
from calolab.report.inputs import ReportInputs, collect

__all__ = [
    "SECTIONS",
    "ReportInputs",
    "ReportOptions",
    "ReportResult",
    "ResolutionRatio",
    "build_report",
    "collect",
    "render",
    "resolution_at",
    "resolution_ratio",
]
