"""``calolab events`` from the command line, as a user runs it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calolab.events.hdf5 import ImageFile

pytest.importorskip("pythia8mc")
pytest.importorskip("uproot")


@pytest.fixture
def delphes_file() -> str:
    """The offline Delphes tt̄ file of scikit-hep-testdata 0.3.12."""
    skhep_testdata = pytest.importorskip("skhep_testdata")
    return str(skhep_testdata.data_path("uproot-issue513.root"))


def test_generate_info_merge_show(cli, tmp_path):
    tt = tmp_path / "ttbar.h5"
    r = cli(
        "events",
        "generate",
        "--process",
        "ttbar",
        "--events",
        "4",
        "--pthat-min",
        "1000",
        "--resolution",
        "20x24",
        "--chunk-size",
        "2",
        "--seed",
        "1",
        "-q",
        "-o",
        str(tt),
        check=True,
    )
    qcd = tmp_path / "qcd.h5"
    cli(
        "events",
        "generate",
        "--process",
        "qcd",
        "--events",
        "3",
        "--pthat-min",
        "1000",
        "--resolution",
        "20x24",
        "--set",
        "PartonLevel:MPI = off",
        "-o",
        str(qcd),
        check=True,
    )
    with ImageFile(tt) as f:
        assert len(f) == 4 and f.config.shape == (3, 20, 24) and f.classes == ["ttbar"]
        assert (f.read().info["pthat"] >= 1000).all()
    with ImageFile(qcd) as f:
        assert "PartonLevel:MPI = off" in f.provenance["config"]["pythia_settings"][0]
    r = cli("events", "info", str(tt), "--json", check=True)
    info = json.loads(r.stdout)
    assert info["classes"] == {"ttbar": 4} and info["image"]["n_phi"] == 24
    mixed = tmp_path / "mixed.h5"
    r = cli("events", "merge", str(tt), str(qcd), "-o", str(mixed), check=True)
    out = " ".join(r.stdout.split())  # rich wraps long lines
    assert "'ttbar': 4" in out and "'qcd': 3" in out
    png = tmp_path / "ev.png"
    cli("events", "show", str(mixed), "--event", "2", "-o", str(png), check=True)
    assert png.stat().st_size > 10_000


def test_import_states_branches(cli, tmp_path, delphes_file):
    out = tmp_path / "images.h5"
    r = cli("events", "import", delphes_file, "-o", str(out), "--label", "ttbar", check=True)
    assert (
        "EFlowPhoton" in r.stderr and "EFlowNeutralHadron" in r.stderr and "EFlowTrack" in r.stderr
    )
    assert "skipped 0 invalid towers and 374 invalid tracks" in " ".join(r.stdout.split())
    with ImageFile(out) as f:
        assert len(f) == 10 and f.classes == ["ttbar"]
    r2 = cli(
        "events",
        "reimage",
        str(out),
        "--resolution",
        "50",
        "--eta-range=-1:1",
        "-o",
        str(tmp_path / "r.h5"),
        check=True,
    )
    with ImageFile(tmp_path / "r.h5") as f:
        assert f.config.shape == (3, 50, 50) and f.config.eta_min == -1.0
        assert np.isfinite(f.read().images).all()
    assert r2.returncode == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["events", "generate", "--process", "susy", "--events", "2", "-o", "x.h5"],
            "unknown process 'susy'",
        ),
        (
            [
                "events",
                "generate",
                "--process",
                "qcd",
                "--events",
                "2",
                "--resolution",
                "ten",
                "-o",
                "x.h5",
            ],
            "--resolution",
        ),
        (
            [
                "events",
                "generate",
                "--process",
                "qcd",
                "--events",
                "2",
                "--saturation",
                "1,2",
                "-o",
                "x.h5",
            ],
            "saturation_gev has 2 values",
        ),
        (
            [
                "events",
                "generate",
                "--process",
                "custom",
                "--events",
                "2",
                "--set",
                "Foo:bar = 1",
                "-o",
                "x.h5",
            ],
            "rejected the setting",
        ),
        (["events", "import", "missing.root", "-o", "x.h5"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, args, message):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "x.h5.partial").exists()
