"""``calolab report`` from the command line."""

from __future__ import annotations

import pytest

from calolab.simulation import ParticleGun, simulate_to_file
from tests.report.conftest import small_detector, write_run


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "tiny.h5"
    guns = [ParticleGun("e-", "2:20"), ParticleGun("gamma", "2:20")]
    simulate_to_file(path, small_detector(), guns, 20, seed=2)
    return path


def test_report_command(cli, tmp_path, dataset):
    run = write_run(tmp_path / "run", "mlp", 5, str(dataset))
    out = tmp_path / "r.html"
    r = cli(
        "report",
        str(dataset),
        str(run),
        "course_pbwo4",
        "-o",
        str(out),
        "--title",
        "my study",
        "--events",
        "2",
        "--plots-dir",
        str(tmp_path / "png"),
    )
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert "<title>my study</title>" in html and "course_pbwo4" in html and "tiny" in html
    assert "omitted" in r.stdout and "Response and resolution" in r.stdout
    assert len(list((tmp_path / "png").glob("*.png"))) >= 4
    # four events: two per species
    assert html.count('"particle":"e-"') == 2 and html.count('"particle":"gamma"') == 2
    # events only from matching files: none here
    r = cli("report", str(dataset), "-o", str(out), "--events-from", "test_*.h5")
    assert r.returncode == 0 and "Event display" in r.stdout  # listed as omitted


def test_report_command_errors(cli, tmp_path):
    r = cli("report", str(tmp_path / "nope"), "-o", str(tmp_path / "r.html"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "does not exist" in r.stderr
    # the report's directory is created, like a run directory
    r = cli("report", "course_pbwo4", "-o", str(tmp_path / "new" / "dir" / "r.html"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "new" / "dir" / "r.html").stat().st_size > 0
    # ... unless it cannot be: a file stands in the way, nothing is created
    (tmp_path / "afile").write_text("x")
    r = cli("report", "course_pbwo4", "-o", str(tmp_path / "afile" / "sub" / "r.html"))
    assert r.returncode == 2 and "not a directory" in r.stderr.lower()
    assert r.stderr.strip().count("\n") == 0
