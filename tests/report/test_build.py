"""The HTML report: sections, self-containment, robustness to missing or damaged inputs."""

from __future__ import annotations

import base64
import dataclasses
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
        "showers",
        "datasets",
        "readout",
        "detectors",
    }
    assert expected <= set(res.sections) and expected <= _sections(html)
    # every report states which energies its results are made of
    assert "Readout and digitisation" in html and "trained on" in html
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
    mlp = outputs / "eval" / "mlp" / "metrics.json"
    m = json.loads(mlp.read_text())
    m["raw"]["bins"][1]["response"] = "high"  # edited by hand
    mlp.write_text(json.dumps(m))
    old = outputs / "eval" / "old"
    old.mkdir()
    (old / "metrics.json").write_text(json.dumps({"task": "regression", "mu": 0.1}))
    (outputs / "runs" / "sum" / "history.csv").write_text("epoch,train_loss\n1,abc\n")
    (outputs / "broken.h5").write_bytes(b"not an hdf5 file")
    pid = outputs / "eval" / "pid" / "metrics.json"
    c = json.loads(pid.read_text())
    c["classification"]["confusion_matrix"] = [[1, 2, "x"]]
    pid.write_text(json.dumps(c))
    res = build_report([outputs], tmp_path / "r.html")
    notes = " | ".join(f"{n.source}: {n.message}" for n in res.notes)
    assert "not valid JSON" in notes
    # the field, the value and what is expected
    assert "raw.bins[1]" in notes
    assert "response 'high' must be a number" in notes
    assert "has no format_version" in notes and "run 'calolab evaluate' again" in notes
    assert "line 2: column 'train_loss' value 'abc' is not a number" in notes
    assert "broken.h5" in notes
    assert "confusion_matrix[0][2] 'x' must be an integer" in notes
    # what could be used still is
    assert {"training", "datasets"} <= set(res.sections)
    html = (tmp_path / "r.html").read_text()
    assert "Inputs that could not be used in full" in html


def test_nulls_in_metrics_do_not_break_the_report(tmp_path, outputs):
    """Issue 12, item 3: an undefined σ/E (response ≤ 0) or a missing fit is ``null`` in
    metrics.json; the report shows "–" there and keeps every section."""
    path = outputs / "eval" / "mlp" / "metrics.json"
    m = json.loads(path.read_text())
    for b in m["raw"]["bins"][:2]:
        b["resolution"] = b["resolution_err"] = b["response_err"] = None
    m["raw"]["fit"] = None
    m["inference"] = None
    path.write_text(json.dumps(m))
    res = build_report([outputs], tmp_path / "r.html")
    assert "performance" in res.sections and "summary" in res.sections
    assert not [n for n in res.notes if "omitted" in n.message], res.notes
    html = (tmp_path / "r.html").read_text()
    assert "no resolution fit" in html


def test_detector_presets_alone(tmp_path):
    res = build_report(["course_pbwo4", "course_pbscint"], tmp_path / "r.html")
    assert res.sections == ("summary", "readout", "detectors", "notes")
    html = (tmp_path / "r.html").read_text()
    assert "course_pbscint" in html and "2,317" in html  # the Pb/scintillator design's cost
    # materials 2,317 + 26,400 SiPM channels at 5 CHF
    assert "132,000" in html and "134,317" in html
    # the readout of each section is stated: CMS-like APDs, CALICE-like SiPM tiles
    assert "apd" in html and "sipm" in html


def test_bad_inputs_and_outputs_are_errors(tmp_path, outputs):
    with pytest.raises(DataError, match="'nope.h5' does not exist"):
        collect(["nope.h5"])
    with pytest.raises(DataError, match="no inputs"):
        collect([])
    # a missing directory is created; a file in the way of one is an error
    assert build_report([outputs], tmp_path / "missing" / "r.html").path.exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="(?i)not a directory"):
        build_report([outputs], tmp_path / "afile" / "sub" / "r.html")
    with pytest.raises(OutputError, match="is a directory"):
        build_report([outputs], tmp_path)
    with pytest.raises(Exception, match="max_events"):
        ReportOptions(max_events=-1)


def test_shower_comparison_section(tmp_path):
    """A compare.json of calolab compare becomes the report's shower-comparison section."""
    from calolab.evaluation.shower_compare import compare_samples, write_comparison
    from calolab.evaluation.shower_features import sample_from_batches
    from calolab.geometry import Calorimeter, Layer, Section
    from calolab.report import ReportOptions, build_report
    from calolab.simulation import ParticleGun, simulate

    det = Calorimeter("blk", 12.0, [Section("b", [Layer("PbWO4", 0.89, True)], 10, 2.0)])
    sims = [simulate(det, ParticleGun("e-", 5.0), 60, seed=s) for s in (1, 2)]
    a, b = (sample_from_batches([s], name=n, source=n) for s, n in zip(sims, ("A", "B")))
    res = compare_samples(a, b, feature_sets=("total",), seed=0, depth_bounds=(0.5,))
    write_comparison(res, a, b, tmp_path / "cmp")
    out = build_report([tmp_path / "cmp"], tmp_path / "r.html", ReportOptions())
    assert "showers" in out.sections
    page = (tmp_path / "r.html").read_text()
    assert "A vs B" in page and "profile.png" in page
    # the depth windows: their classifier rows and the shares of A's energy they hold
    first, second = res.depth_windows
    assert f"<td>{first.features}</td>" in page and f"{second.features}: 0.50–1.00" in page
    assert "Response matched" not in page
    # with the response matched, the factor is stated
    res = compare_samples(a, b.scaled(1.2), feature_sets=("total",), seed=0, match_response=True)
    write_comparison(res, a, b.scaled(1.2), tmp_path / "matched")
    build_report([tmp_path / "matched"], tmp_path / "m.html", ReportOptions())
    assert res.response_match is not None
    assert f"× {res.response_match.factor:.4f} ±" in (tmp_path / "m.html").read_text()


def test_flagged_models_are_marked_and_never_best(tmp_path, outputs):
    """Issue 12, items 1 and 4: a broken model with the narrowest core is flagged in the
    report and the "best" badge goes to the best model that passes the response check;
    σ/E at an energy names its measured bin; the tracker combination has a table."""
    from calolab.evaluation.result import EvaluationWarning
    from calolab.evaluation.tracker import TrackerBin, TrackerResult
    from tests.results import regression_metrics

    d = outputs / "eval" / "cnn3d"
    d.mkdir()
    warn = EvaluationWarning("response", "core response 4.51 at 65 GeV", "raw", 50, 80, 4.51, 1.25)
    tr = TrackerResult(
        0.2,
        0,
        "raw",
        "fit",
        (TrackerBin(2.0, 20.0, 9.0, 100, 0.05, 0.002, 0.0018, 0.0019, 0.0001, 1.0, 0.01, 0.0019),),
    )
    broken = regression_metrics("cnn3d", 0.01, 0.0, 0.0, "tiny.h5", warnings=(warn,))
    import dataclasses

    dataclasses.replace(broken, tracker=tr).to_json(d / "metrics.json")
    build_report([outputs], tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)
    summary = [r for r in rows if "tiny · e- + gamma" not in r and "badge" in r]
    best = [r for r in summary if 'badge good">best' in r]
    assert len(best) == 1 and "MLP" in best[0] and "3D CNN" not in best[0]
    flagged = [r for r in summary if "3D CNN" in r]
    assert flagged and all("flagged: response" in r for r in flagged)
    assert '<tr class="flagged">' in html and "core response 4.51 at 65 GeV" in html
    # σ/E quoted at 10 GeV from the bin 7–12 GeV (inside the 2–20 GeV sample)
    assert "at 10 GeV (bin 7–12)" in html
    assert "combination with a tracker" in html and "ideal combination" in html
    # classification: typed tables, a lower limit for an infinite rejection, no raw dict
    assert "&gt; 50" in html and "{" not in re.sub(
        r"<script.*?</script>|<style.*?</style>", "", html, flags=re.S
    )


def test_the_systematic_table_and_band_appear_only_with_systematics(tmp_path, outputs):
    from calolab.evaluation.result import EvaluationResult
    from tests.results import systematics_of

    plain = tmp_path / "plain.html"
    build_report([outputs], plain, ReportOptions())
    html = plain.read_text()
    assert "systematic uncertainties:" not in html and "shaded bands" not in html
    path = outputs / "eval" / "mlp" / "metrics.json"
    m = EvaluationResult.from_json(path)
    dataclasses.replace(m, systematics=systematics_of(m.raw, 0.2)).to_json(path)
    out = tmp_path / "syst.html"
    build_report([outputs], out, ReportOptions())
    html = out.read_text()
    assert html.count("systematic uncertainties:") == 1  # the MLP only, not the sum
    assert "shaded bands: σ/E ± its systematic uncertainty" in html
    table = html[html.index("systematic uncertainties:") :]
    for text in ("energy_scale", "core_range", "total (quadrature)", "core window ±1.5, ±2.5 σ"):
        assert text in table
    # σ/E (mean over bins) ± stat ± syst, and the per-bin table (20 % of σ/E)
    core = m.raw.core_resolution
    assert f"± {100 * 0.2 * core:.2g} (syst) %" in table
    assert "bias_correction: no correction applied" in table
