"""The HTML report: sections, self-containment, robustness to missing or damaged inputs."""

from __future__ import annotations

import base64
import json
import re

import pytest

from calolab.core.errors import DataError, OutputError
from calolab.report import ReportOptions, build_report, collect


def _sections(html: str) -> set[str]:
    return set(re.findall(r'<section class="card" id="([a-z]+)"', html))


def test_full_report_has_every_section(outputs, tmp_path):
    out = tmp_path / "r.html"
    res = build_report([outputs], out, ReportOptions(plots_dir=tmp_path / "plots"))
    html = out.read_text()
    expected = {
        "summary",
        "events",
        "performance",
        "classification",
        "training",
        "datasets",
        "detectors",
    }
    assert expected <= set(res.sections) and expected <= _sections(html)
    # everything but a design study (tests/report/test_optimization.py) is among the inputs
    assert [title for title, _ in res.omitted] == ["Design optimisation"]
    assert not [n for n in res.notes if "section omitted" in n.message]
    # the evaluations are tied to the detector of the dataset they name (by file name)
    assert "tiny · e- + gamma" in html
    # μ/σ table with the fitted terms; the MLP is compared with the sum of cells
    assert "a (% √GeV)" in html and "÷ sum of cells" in html
    # paired comparison of the hand-made predictions: the MLP's relative errors are half
    assert re.search(r"0\.500 \(\+\d+ s\.e\.\)", html)
    # predictions.h5 of an evaluation is not mistaken for a dataset
    assert not [n for n in res.notes if "predictions.h5" in n.source]
    # one event per species (e-, gamma) in the display, with cells
    data = json.loads(re.search(r'id="evd-data">(.*?)</script>', html, re.S).group(1))
    assert [e["particle"] for e in data["events"]] == ["e-", "gamma"]
    assert all(len(e["e"]) > 0 for e in data["events"]) and res.n_events == 2
    # the per-layer calibration's weight trajectories are drawn
    assert 'alt="weight trajectories of tiny · per-layer calibration"' in html
    # every plot also as a PNG file
    pngs = sorted((tmp_path / "plots").glob("*.png"))
    assert len(pngs) == res.n_plots >= 7
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_report_is_self_contained(outputs, tmp_path):
    out = tmp_path / "r.html"
    build_report([outputs], out)
    html = out.read_text()
    # no external resource: every src/href is a data URI or an in-page anchor
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), [
        r for r in refs if not r.startswith(("data:", "#"))
    ]
    assert '<link rel="stylesheet"' not in html and "@import" not in html
    assert "http://" not in html and "https://" not in html
    # embedded images decode as PNG
    for uri in re.findall(r'src="data:image/png;base64,([^"]+)"', html)[:5]:
        assert base64.b64decode(uri)[:4] == b"\x89PNG"
    # the script blocks are inline, and the JSON cannot close its <script> early
    assert "<script src" not in html
    assert not (tmp_path / "r.html.partial").exists()


def test_missing_pieces_are_omitted_with_a_note(tmp_path, outputs):
    only_run = outputs / "runs" / "mlp"
    res = build_report([only_run], tmp_path / "r.html")
    assert "training" in res.sections and "summary" in res.sections
    omitted = dict(res.omitted)
    for title in (
        "Event display",
        "Response and resolution",
        "Classification",
        "Datasets",
        "Detectors",
    ):
        assert title in omitted
    html = (tmp_path / "r.html").read_text()
    assert "Sections not in this report" in html and "no regression evaluation" in html


def test_damaged_inputs_become_notes(tmp_path, outputs):
    (outputs / "eval" / "sum" / "metrics.json").write_text("{not json")
    (outputs / "eval" / "mlp" / "metrics.json").write_text(
        json.dumps({"task": "regression", "model": "mlp", "mu": 0.1, "sigma": 1.0})
    )
    (outputs / "runs" / "sum" / "history.csv").write_text("epoch,train_loss\n1,abc\n")
    (outputs / "broken.h5").write_bytes(b"not an hdf5 file")
    (outputs / "eval" / "pid" / "metrics.json").write_text(
        json.dumps(
            {
                "task": "classification",
                "classes": ["a", "b"],
                "accuracy": 0.5,
                "confusion_matrix": [[1, 2, 3]],
            }
        )
    )
    res = build_report([outputs], tmp_path / "r.html")
    notes = " | ".join(f"{n.source}: {n.message}" for n in res.notes)
    assert "not valid JSON" in notes
    assert "no 'bins'" in notes
    assert "line 2: column 'train_loss' value 'abc' is not a number" in notes
    assert "broken.h5" in notes
    assert "confusion_matrix does not match the classes" in notes
    # what could be used still is
    assert {"performance", "training", "datasets", "classification"} <= set(res.sections)
    html = (tmp_path / "r.html").read_text()
    assert "Inputs that could not be used in full" in html


def test_detector_presets_alone(tmp_path):
    res = build_report(["course_pbwo4", "course_pbscint"], tmp_path / "r.html")
    assert res.sections == ("summary", "detectors", "notes")
    html = (tmp_path / "r.html").read_text()
    assert "course_pbscint" in html and "2,317" in html  # the Pb/scintillator design's cost


def test_bad_inputs_and_outputs_are_errors(tmp_path, outputs):
    with pytest.raises(DataError, match="'nope.h5' does not exist"):
        collect(["nope.h5"])
    with pytest.raises(DataError, match="no inputs"):
        collect([])
    with pytest.raises(OutputError, match="does not exist"):
        build_report([outputs], tmp_path / "missing" / "r.html")
    with pytest.raises(OutputError, match="is a directory"):
        build_report([outputs], tmp_path)
    with pytest.raises(Exception, match="max_events"):
        ReportOptions(max_events=-1)
