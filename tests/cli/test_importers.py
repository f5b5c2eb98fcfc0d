"""``calolab import edm4hep``, run as a user would."""

import json
from pathlib import Path

import numpy as np

from calolab.data import Showers
from calolab.simulation import ParticleGun, simulate
from tests.data.edm4hep_files import write_edm4hep

EXAMPLE = (
    Path(__file__).parents[1] / "data" / "edm4hep" / "edm4hep_example_v01-01_podio_v01-07.root"
)


def test_import_edm4hep_commands(cli, tmp_path):
    listed = json.loads(cli("import", "edm4hep", EXAMPLE, "--list", "--json", check=True).stdout)
    assert listed[0]["podio_version"] == "1.7.99"
    assert "SimCalorimeterHitCollection" in listed[0]["hit_collections"]
    out = tmp_path / "hits.h5"
    r = cli(
        "import",
        "edm4hep",
        EXAMPLE,
        "-c",
        "SimCalorimeterHitCollection",
        "-o",
        out,
        "--primary-status",
        "43",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["n_events"] == 3 and res["n_hits"] == 3 and res["energy_gev"] == 3 * 43.0
    assert "hits" in Showers.load(out).records
    # a realistic file mapped into calolab cells by position
    s = simulate("course_pbscint", ParticleGun("e-", 10.0), 3, seed=1, digitizer=None)
    root = write_edm4hep(tmp_path / "sim.root", s, collection="Calo", origin_mm=(0, 0, 2000))
    cells = tmp_path / "cells.h5"
    cli(
        "import",
        "edm4hep",
        root,
        "-c",
        "Calo",
        "--detector",
        "course_pbscint",
        "--origin",
        "0,0,2000",
        "-o",
        cells,
        "-q",
        check=True,
    )
    np.testing.assert_allclose(Showers.load(cells).cells, s.cells, rtol=2e-7)
    # mistakes: one line, exit 2, no file
    for args, message in (
        (["-c", "Nope"], "no calorimeter-hit collection 'Nope'"),
        (["-c", "Calo", "--map", "layer=layer,ix=x,iy=y"], "--map needs --detector"),
        (
            ["-c", "Calo", "--detector", "course_pbscint", "--map", "layer=layer-1"],
            "ix, iy missing",
        ),
        (["-c", "Calo", "--origin", "1,2"], "--origin '1,2' must be three numbers"),
    ):
        bad = tmp_path / "bad.h5"
        r = cli("import", "edm4hep", root, "-o", bad, "-q", *args)
        assert r.returncode == 2 and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not bad.exists()
    r = cli("import", "edm4hep", root, "-c", "Calo", "-o", root, "-q")
    assert r.returncode == 2 and "is also an input" in r.stderr
