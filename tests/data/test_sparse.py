"""The sparse cell layout: the same arrays as the dense layout from every reader; the auto rule."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.data import ShowerFile, Showers, ShowerWriter, read_showers
from calolab.data.merge import merge_files
from calolab.data.sparse import (
    AUTO_SAMPLE_EVENTS,
    SPARSE_CHUNK,
    SPARSE_MAX_OCCUPANCY,
    SPARSE_MIN_CELLS,
    check_layout,
    choose_layout,
    encode,
    occupancy,
    scatter,
)
from calolab.geometry import Calorimeter, Layer, Section
from calolab.geometry.readout import Readout
from calolab.simulation import Digitizer, ParticleGun, simulate, simulate_to_file

DET = "course_pbscint"  # 26,400 cells


@pytest.fixture(scope="module")
def showers() -> Showers:
    """γ and π0 showers (ragged decay records), digitised with the detector's readout (noise
    hits above threshold); one event without any energy, one with negative digitised values,
    one with every cell lit."""
    guns = [ParticleGun("gamma", "5:40"), ParticleGun("pi0", "5:40", vertex_distance_cm=30)]
    s = simulate(DET, guns, 40, seed=5, digitizer=Digitizer())
    cells, digi = s.cells.copy(), s.digitized.copy()
    cells[3] = 0.0
    digi[3] = 0.0
    digi[5, :100] = -0.01
    cells[7] = np.linspace(1e-4, 1.0, s.n_cells, dtype=np.float32)
    return dataclasses.replace(s, cells=cells, digitized=digi)


def _write(path, s: Showers, layout: str, parts=((0, None),)) -> None:
    with ShowerWriter(path, s.detector, s.provenance, layout=layout) as w:
        for a, b in parts:
            w.append(s.subset(slice(a, b)))


def test_every_reader_gives_identical_arrays_from_both_layouts(tmp_path, showers):
    dense, sparse = tmp_path / "d.h5", tmp_path / "s.h5"
    _write(dense, showers, "dense")
    _write(sparse, showers, "sparse", parts=((0, 13), (13, 14), (14, None)))  # 3 batches
    with ShowerFile(dense) as d, ShowerFile(sparse) as s:
        assert (d.layout, s.layout) == ("dense", "sparse")
        assert s.n_cells == d.n_cells == showers.n_cells and len(s) == len(d) == 40
        assert s.has_digitized and s.cell_chunk_rows is None
        a, b = d.read(), s.read()
        for field in ("cells", "digitized"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
        mev = showers.cells * np.float32(1000)  # as stored, then read back in GeV
        np.testing.assert_array_equal(b.cells, mev / np.float32(1000))
        for k in a.truth:
            np.testing.assert_array_equal(a.truth[k], b.truth[k])
        np.testing.assert_array_equal(
            a.records["decay_photons"].offsets, b.records["decay_photons"].offsets
        )
        spans = [(0, 7), (3, 4), (12, 15), (39, 40), (5, 5), (30, 99)]
        for columns in (None, (0, 1), (100, 9000), (s.n_cells - 3, s.n_cells)):
            for digitized in (False, True):
                got = s.read_cell_spans(spans, columns, digitized)
                want = d.read_cell_spans(spans, columns, digitized)
                for g, w in zip(got, want):
                    np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(s.cell_rows(2, 30), d.cell_rows(2, 30))  # MeV as stored
        np.testing.assert_array_equal(s.cell_rows(0, 9, True), d.cell_rows(0, 9, True))
        for x, y in zip(s.iter_batches(16), d.iter_batches(16)):
            np.testing.assert_array_equal(x.cells, y.cells)
        with h5py.File(sparse) as f:  # padded to whole HDF5 chunks, nothing else stored
            assert f["calolab/sparse/index"].shape[0] % SPARSE_CHUNK == 0
            assert f["calolab/sparse/index"].dtype == np.int32
            assert "showers" not in f and f["calolab"].attrs["layout"] == "sparse"
            starts, stops = f["calolab/sparse/starts"][()], f["calolab/sparse/stops"][()]
            assert stops[3] == starts[3] and stops[7] - starts[7] == showers.n_cells
    np.testing.assert_allclose(read_showers(sparse).digitized[5, :100], -0.01, rtol=1e-6)


def test_merged_sparse_files_copy_compressed_chunks(tmp_path, showers):
    parts = [(0, 11), (11, 30), (30, 40)]
    paths = []
    for i, (a, b) in enumerate(parts):
        paths.append(tmp_path / f"p{i}.h5")
        _write(paths[-1], showers.subset(slice(a, b)), "sparse")
    merged = merge_files(paths, tmp_path / "m.h5")
    _write(tmp_path / "one.h5", showers, "sparse")
    with ShowerFile(merged) as m, ShowerFile(tmp_path / "one.h5") as one:
        np.testing.assert_array_equal(m.read().cells, one.read().cells)
        np.testing.assert_array_equal(m.read().digitized, one.read().digitized)
        assert m.read_cell_spans([(9, 13)])[0].shape == (4, showers.n_cells)
    stored = []
    for p in paths:
        with h5py.File(p) as f:
            stored.append(f["calolab/sparse/energy"].id.get_storage_size())
    with h5py.File(merged) as f:
        # the chunks of every part, as they were compressed: nothing inflated and deflated
        assert f["calolab/sparse/energy"].id.get_storage_size() == sum(stored)
        starts = f["calolab/sparse/starts"][()]
        assert starts[11] % SPARSE_CHUNK == 0 and starts[30] % SPARSE_CHUNK == 0
    # files of different layouts are not merged
    _write(tmp_path / "dense.h5", showers.subset(slice(0, 5)), "dense")
    with pytest.raises(Exception, match="different datasets.*cell layout"):
        merge_files([paths[0], tmp_path / "dense.h5"], tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_encode_and_scatter_invert_each_other():
    rng = np.random.default_rng(1)
    cells = rng.exponential(1.0, (20, 300)).astype(np.float32)
    cells[rng.random(cells.shape) < 0.9] = 0
    cells[4] = 0
    cells[6, 5] = -2.0
    counts, index, values = encode(cells, 1000.0)
    assert counts.sum() == len(index) == np.count_nonzero(cells) and counts[4] == 0
    np.testing.assert_array_equal(values, cells[cells != 0] * np.float32(1000))
    out = np.zeros((20, 300), np.float32)
    scatter(out, counts, index, values, divide=1000.0)
    np.testing.assert_array_equal(out, cells * np.float32(1000) / np.float32(1000))
    window = np.zeros((20, 50), np.float32)
    scatter(window, counts, index, values, (100, 150))
    np.testing.assert_array_equal(window, cells[:, 100:150] * np.float32(1000))


def test_auto_layout_rule(tmp_path):
    assert choose_layout("dense", 10**6, 0.0) == "dense"
    assert choose_layout("sparse", 10, 1.0) == "sparse"
    assert choose_layout("auto", SPARSE_MIN_CELLS, SPARSE_MAX_OCCUPANCY) == "sparse"
    assert choose_layout("auto", SPARSE_MIN_CELLS - 1, 0.0) == "dense"  # small grids stay dense
    assert choose_layout("auto", 10**6, SPARSE_MAX_OCCUPANCY + 0.01) == "dense"
    with pytest.raises(ConfigError, match="layout 'csr' must be one of auto, dense, sparse"):
        check_layout("csr")
    cells = np.zeros((AUTO_SAMPLE_EVENTS + 5, 10))
    cells[AUTO_SAMPLE_EVENTS:] = 1.0  # after the sample: not counted
    cells[0, :5] = 1.0
    digi = np.zeros_like(cells)
    digi[:2] = 1.0
    assert occupancy(cells) == pytest.approx(5 / (AUTO_SAMPLE_EVENTS * 10))
    assert occupancy(cells, digi, None) == pytest.approx(2 / AUTO_SAMPLE_EVENTS)  # the larger
    # simulated runs: a large grid lit by a shower is sparse; a grid below the size is dense;
    # noise in every channel (no threshold) makes the digitised cells dense
    gun = ParticleGun("gamma", 20.0)
    _noisy = Calorimeter(
        "noisy",
        (50.0, 50.0),
        [
            Section(
                "e",
                [Layer("PbWO4", 0.77, True)],
                30,
                2.5,
                readout=Readout(technology="silicon", noise_mev=1.0, threshold_sigma=0.0),
            )
        ],
    )
    runs = {
        "shower": ("course_pbwo4", None),
        "small": (Calorimeter("small", 8.0, [Section("e", [Layer("PbWO4", 1.0, True)], 25)]), None),
        "noise": (_noisy, Digitizer()),
    }
    layouts = {}
    for name, (det, digi_) in runs.items():
        path = simulate_to_file(tmp_path / f"{name}.h5", det, gun, 8, seed=1, digitizer=digi_)
        with ShowerFile(path) as f:
            layouts[name] = (f.layout, f.n_cells)
            assert f.provenance["config"]["layout"] == "auto"
    assert layouts["shower"][0] == "sparse" and layouts["shower"][1] >= SPARSE_MIN_CELLS
    assert layouts["small"][0] == "dense" and layouts["small"][1] < SPARSE_MIN_CELLS
    assert layouts["noise"][0] == "dense"


def test_writer_refuses_an_unknown_layout(tmp_path, showers):
    with pytest.raises(ConfigError, match="layout 'coo'"):
        ShowerWriter(tmp_path / "x.h5", None, layout="coo")
    with pytest.raises(ConfigError, match="layout 'coo'"):
        simulate_to_file(tmp_path / "x.h5", DET, ParticleGun("gamma", 5.0), 2, layout="coo")
    assert not list(tmp_path.iterdir())


def test_encoding_with_the_known_non_zero_cells_is_the_scan():
    """Given each event's non-zero cells (as a simulator reports them), the encoder gives
    the scan's entries exactly — NaN kept, -0.0 and +0.0 left out — and refuses a list of
    another length."""
    from calolab.data.sparse import encode

    rng = np.random.default_rng(4)
    cells = np.where(rng.random((6, 500)) < 0.05, rng.exponential(1.0, (6, 500)), 0.0)
    cells = cells.astype(np.float32)
    cells[1, 7] = np.nan
    cells[2, 9] = -0.0
    cells[4] = 0.0  # an empty event
    known = [np.flatnonzero(row != 0) for row in cells]
    for got, want in zip(encode(cells, 1000.0, known), encode(cells, 1000.0)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="nonzero: 5 index arrays for 6 events"):
        encode(cells, 1000.0, known[:5])
