"""Feature builders: layer sums, high-level features, grids."""

from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError
from calolab.data.showers import Showers
from calolab.models.features import (
    HighLevelFeatures,
    default_grid_section,
    grid_shape,
    layer_sums,
    section_grid,
    total_energy,
)
from tests.synthetic import synthetic_showers, tiny_detector, uniform_detector


def _one_event(det, deposits):
    """A single event with ``deposits`` = {(layer, ix, iy): GeV}."""
    cells = np.zeros((1, det.n_channels), dtype=np.float32)
    for (layer, ix, iy), e in deposits.items():
        r = det.readout_layers[layer]
        cells[0, r.offset + ix * r.ny + iy] = e
    return Showers(cells, {"energy": np.array([10.0]), "pdg": np.array([22])}, detector=det)


def test_layer_sums_and_total_match_the_cells():
    s = synthetic_showers(50, 1)
    ls = layer_sums(s)
    assert ls.shape == (50, s.detector.n_readout_layers)
    manual = [
        s.cells[:, r.offset : r.offset + r.n_cells].sum(axis=1) for r in s.detector.readout_layers
    ]
    np.testing.assert_allclose(ls, np.stack(manual, axis=1), rtol=1e-5)
    np.testing.assert_allclose(total_energy(s), ls.sum(axis=1), rtol=1e-6)


def test_high_level_features_of_a_known_event():
    det = uniform_detector()
    # two separated deposits in layer 1: 3 GeV at cell (0, 0) and 1 GeV at cell (3, 3)
    s = _one_event(det, {(1, 0, 0): 3.0, (1, 3, 3): 1.0, (4, 0, 0): 0.005})
    hl = HighLevelFeatures(thresholds_gev=(0.01, 2.0), cluster_threshold_gev=0.5)
    f = dict(zip(hl.names, hl(s)[0]))
    assert f["total"] == pytest.approx(4.005, rel=1e-6)
    assert f["e_above_0.01"] == pytest.approx(4.0, rel=1e-6)
    assert f["e_above_2"] == pytest.approx(3.0, rel=1e-6)
    assert f["n_above_0.01"] == 2 and f["n_above_2"] == 1
    assert f["max_cell"] == pytest.approx(3.0) and f["max_cell_frac"] == pytest.approx(3 / 4.005)
    assert f["n_clusters"] == 2  # the two deposits are not neighbours
    assert f["n_layers_hit"] == 2
    # cell centres: (0,0) -> (-1.5, -1.5) cm, (3,3) -> (1.5, 1.5) cm
    w = np.array([3.0, 1.0, 0.005]) / 4.005
    xm = w @ np.array([-1.5, 1.5, -1.5])
    assert f["x_mean"] == pytest.approx(xm, rel=1e-6)
    assert f["y_mean"] == pytest.approx(xm, rel=1e-6)
    r = det.readout_layers
    d1 = 0.5 * (r[1].depth_x0_start + r[1].depth_x0_end)
    d4 = 0.5 * (r[4].depth_x0_start + r[4].depth_x0_end)
    assert f["depth_x0_mean"] == pytest.approx((4.0 * d1 + 0.005 * d4) / 4.005, rel=1e-6)
    assert f["depth_x0_rms"] > 0


def test_clusters_touching_cells_form_one_cluster_and_events_stay_separate():
    det = uniform_detector()
    a = _one_event(det, {(0, 1, 1): 1.0, (0, 1, 2): 1.0, (1, 1, 2): 1.0})  # one 3D cluster
    b = _one_event(det, {(0, 0, 0): 1.0, (5, 3, 3): 1.0})  # two clusters
    both = Showers.concatenate([a, b, a])
    f = HighLevelFeatures(cluster_threshold_gev=0.5)(both)
    assert f[:, HighLevelFeatures().names.index("n_clusters")].tolist() == [1, 2, 1]


def test_empty_event_gives_finite_features():
    det = tiny_detector()
    s = _one_event(det, {})
    assert np.isfinite(HighLevelFeatures()(s)).all()


def test_grid_section_and_shapes():
    det = tiny_detector()
    assert default_grid_section(det) == "ecal"
    assert default_grid_section(uniform_detector()) is None
    assert grid_shape(det, "ecal") == (4, 4, 4)
    assert grid_shape(det, "hcal") == (3, 2, 2)
    s = synthetic_showers(5, 2, detector=det)
    g = section_grid(s, "ecal")
    assert g.shape == (5, 4, 4, 4)
    np.testing.assert_allclose(g.sum(axis=(2, 3)), layer_sums(s)[:, :4], rtol=1e-5)
    with pytest.raises(ConfigError, match="different grids"):
        grid_shape(det, None)
    with pytest.raises(ConfigError, match="no section"):
        grid_shape(det, "muon")


def test_features_need_a_detector_and_valid_thresholds():
    s = synthetic_showers(3, 3)
    bare = Showers(s.cells, s.truth, detector=None, layer_sizes=s.layer_sizes)
    with pytest.raises(DataError, match="detector description"):
        HighLevelFeatures()(bare)
    with pytest.raises(ConfigError, match="thresholds_gev"):
        HighLevelFeatures(thresholds_gev=(-1.0,))
