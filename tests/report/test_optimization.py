"""The report's section on design studies."""

from __future__ import annotations

import re
import shutil

from calolab.optimization import confirm_study
from calolab.report import ReportOptions, build_report, collect
from tests.optimization.conftest import tiny_study  # noqa: F401 - the shared tiny study
from tests.optimization.tiny import make_study


def test_study_section_with_front_importances_stacks_and_confirmation(
    tmp_path, tiny_study  # noqa: F811
):
    study = tmp_path / "study"
    shutil.copytree(tiny_study, study)
    confirm_study(study, events=60, designs="beating")
    out = tmp_path / "r.html"
    res = build_report(
        [tmp_path],  # found inside a directory; its designs/*.toml are not separate detectors
        out,
        ReportOptions(plots_dir=tmp_path / "png"),
    )
    assert "optimization" in res.sections and "detectors" not in res.sections
    html = out.read_text()
    assert "Study of the space &#x27;tiny&#x27;" in html or "Study of the space 'tiny'" in html
    assert "Confirmation with 60 showers per point" in html
    assert "Ranking by resolution_e-_5GeV" in html and "confirmation</th>" in html
    assert ("agrees" in html) or ("DISAGREES" in html)
    assert "thin" in html  # the reference design
    pngs = {p.name for p in (tmp_path / "png").glob("*.png")}
    assert "pareto-tiny.png" in pngs and "quantities-tiny.png" in pngs
    assert "importances-tiny.png" in pngs  # 9 measured designs: enough for PED-ANOVA
    assert any(re.match(r"stack-tiny-\d+\.png", p) for p in pngs)
    assert any(p.startswith("params-tiny-resolution_e-_5gev") for p in pngs)


def test_a_damaged_study_is_a_note_not_a_failure(tmp_path):
    study = make_study(tmp_path / "study", trials=2, events=20)
    broken = tmp_path / "broken"
    shutil.copytree(study, broken)
    (broken / "study.db").write_bytes(b"not a database")
    found = collect([broken, "course_pbwo4"])
    assert not found.studies
    assert any("study not readable" in n.message for n in found.notes)
