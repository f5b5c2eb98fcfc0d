import json

import numpy as np
import pytest
from scipy.special import gammainc

from calolab.core.errors import DataError
from calolab.simulation.validation import containment, find_references, fit_gamma_maximum


def test_gamma_fit_recovers_the_maximum():
    a, b = 5.0, 0.6
    i = np.arange(40)
    profile = 0.99 * (gammainc(a, b * (i + 1)) - gammainc(a, b * i))
    assert fit_gamma_maximum(profile, 0.5) == pytest.approx((a - 1) / b * 0.5, rel=1e-4)


def test_containment_counts_cell_centres():
    g = np.zeros((4, 4))
    g[1:3, 1:3] = 1.0  # the four central cells, centres at r = 0.707
    g[0, 0] = 1.0  # a corner cell, centre at r = 2.12
    assert containment(g, 1.0, (0.5, 1.0, 3.0)) == [0.0, 0.8, 1.0]


def test_reference_discovery(g4ref, tmp_path):
    from tests.conftest import geant4_reference_dir

    refs = find_references(geant4_reference_dir())
    assert len(refs) == 17 and refs[0].preset == "geant4_v1"
    with pytest.raises(DataError, match="does not exist"):
        find_references(tmp_path / "nope")
    with pytest.raises(DataError, match="no reference files"):
        find_references(tmp_path)


def test_validate_command(cli, g4ref, tmp_path):
    from tests.conftest import geant4_reference_dir

    out = tmp_path / "v.json"
    r = cli(
        "validate",
        "--reference",
        str(geant4_reference_dir()),
        "--config",
        "V2",
        "--events",
        "60",
        "--json",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res[0]["sample"] == "V2 e- 20 GeV"
    assert res[0]["fast"]["visible_over_e"] == pytest.approx(
        res[0]["reference"]["visible_over_e"], abs=0.005
    )
    bad = cli("validate", "--reference", str(tmp_path / "missing"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr
