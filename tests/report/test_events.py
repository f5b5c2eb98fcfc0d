"""Event display data: cell positions and the choice of events."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import DataError
from calolab.data import Showers
from calolab.report.events import cell_geometry, check_payload, event_payload, select_events

from .conftest import small_detector


def test_cell_geometry_follows_the_readout_layout():
    det = small_detector()
    geo = cell_geometry(det)
    assert len(geo.x) == det.n_channels
    # ECAL: 10 layers of 4 × 4 cells of 2 cm; cell (ix=3, iy=1) of layer 2 sits at
    # x = -4 + 3.5·2 = 3, y = -4 + 1.5·2 = -1, z = 2.5·2 = 5 cm
    k = 2 * 16 + 3 * 4 + 1
    assert (geo.x[k], geo.y[k], geo.z[k], geo.dz[k], geo.layer[k]) == (3.0, -1.0, 5.0, 2.0, 2)
    # HCAL: 2 × 2 cells of 4 cm; boxes span the 3 cm period (2 cm Fe + 1 cm scintillator)
    first_hcal = 10 * 16
    assert geo.dx[first_hcal] == 4.0 and geo.dz[first_hcal] == 3.0
    assert geo.z[first_hcal] == pytest.approx(20.0 + 1.5)
    assert geo.z.max() == pytest.approx(20.0 + 4 * 3.0 + 1.5)


def test_payload_places_energy_where_it_was(tmp_path):
    det = small_detector()
    cells = np.zeros((1, det.n_channels), dtype=np.float32)
    cells[0, 2 * 16 + 3 * 4 + 1] = 1.5  # the cell of the test above
    cells[0, 10 * 16 + 3] = 0.25  # HCAL layer 0, ix = 1, iy = 1
    truth = {
        "pdg": np.array([11]),
        "energy": np.array([2.0]),
        "direction": np.array([[0.0, 0.0, 1.0]]),
        "entry_point": np.array([[0.5, -0.5, 0.0]]),
    }
    path = tmp_path / "one.h5"
    Showers(cells, truth, det).save(str(path))
    p = event_payload(path, 0)
    check_payload(p)
    assert p["n_hit"] == 2 and p["visible"] == pytest.approx(1.75)
    assert list(zip(p["x"], p["y"], p["z"], p["e"])) == [
        (3.0, -1.0, 5.0, 1.5),
        (2.0, 2.0, 21.5, 0.25),
    ]
    assert p["particle"] == "e-" and p["entry"] == [0.5, -0.5]
    assert [s["name"] for s in p["sections"]] == ["ecal", "hcal"]
    with pytest.raises(DataError, match="out of range"):
        event_payload(path, 1)


def test_payload_keeps_the_hottest_cells(dataset):
    full = event_payload(dataset, 0)
    few = event_payload(dataset, 0, max_cells=5)
    assert len(few["e"]) == 5 and few["n_hit"] == full["n_hit"]
    assert sorted(few["e"]) == sorted(full["e"])[-5:]


def test_select_events_per_species(dataset):
    s = Showers.load(str(dataset))
    idx = select_events(dataset, per_species=2, energy=10.0)
    assert len(idx) == 4
    for pdg in (11, 22):
        mine = np.flatnonzero(s.pdg == pdg)
        best = mine[np.argsort(np.abs(s.energy[mine] - 10.0))[:2]]
        assert set(best) <= set(idx)
    # an energy outside the sample falls back to its median
    assert len(select_events(dataset, energy=5000.0)) == 2
