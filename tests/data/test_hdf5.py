import h5py
import numpy as np
import pytest

from calolab.core.errors import DataError, OutputError
from calolab.data import ShowerFile, Showers, ShowerWriter, read_showers
from calolab.geometry import preset
from calolab.simulation import ParticleGun, simulate, simulate_to_file


@pytest.fixture(scope="module")
def small():
    return simulate("course_pbscint", ParticleGun("pi0", "5:50"), 25, seed=1)


def test_round_trip(tmp_path, small):
    p = tmp_path / "a.h5"
    small.save(p)
    back = Showers.load(p)
    np.testing.assert_allclose(back.cells, small.cells, rtol=1e-6)
    for k in small.truth:
        np.testing.assert_allclose(back.truth[k], small.truth[k])
    assert back.detector == small.detector
    assert back.provenance == small.provenance
    rec = back.records["decay_photons"]
    np.testing.assert_array_equal(rec.offsets, small.records["decay_photons"].offsets)
    # CaloChallenge datasets in MeV
    with h5py.File(p) as f:
        assert f["incident_energies"].shape == (25, 1)
        np.testing.assert_allclose(f["incident_energies"][:, 0], small.energy * 1000)
        np.testing.assert_allclose(f["showers"][:], small.cells * 1000, rtol=1e-6)
        assert f["showers"].compression == "gzip"


def test_layer_views(small):
    det = small.detector
    le = small.layer_energies()
    assert le.shape == (25, det.n_readout_layers)
    np.testing.assert_allclose(le.sum(axis=1), small.total(), rtol=1e-6)
    ecal = small.grid("ecal")
    assert ecal.shape == (25, 60, 20, 20)
    np.testing.assert_allclose(ecal[:, 3].sum(axis=(1, 2)), le[:, 3], rtol=1e-5)
    with pytest.raises(DataError, match="different grids"):
        small.grid()


def test_reads_plain_calochallenge_files(tmp_path):
    p = tmp_path / "cc.h5"
    rng = np.random.default_rng(0)
    with h5py.File(p, "w") as f:
        f["incident_energies"] = rng.uniform(1e3, 1e6, size=(7, 1)).astype(np.float32)
        f["showers"] = rng.exponential(1.0, size=(7, 368)).astype(np.float32)
    s = read_showers(p, layer_sizes=(8, 160, 190, 5, 5))
    assert len(s) == 7 and s.detector is None
    np.testing.assert_allclose(s.energy * 1000, h5py.File(p)["incident_energies"][:, 0], rtol=1e-6)
    assert s.layer_energies().shape == (7, 5)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda f: f.create_dataset("showers", data=np.zeros((3, 4))), "no 'incident_energies'"),
        (
            lambda f: (
                f.create_dataset("showers", data=np.zeros((3, 4))),
                f.create_dataset("incident_energies", data=np.zeros((2, 1))),
            ),
            "expected \\(3, 1\\)",
        ),
        (
            lambda f: (
                f.create_dataset("showers", data=np.full((3, 4), np.nan)),
                f.create_dataset("incident_energies", data=np.ones((3, 1))),
            ),
            "NaN or infinite",
        ),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, build, match):
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        build(f)
    with pytest.raises(DataError, match=match):
        read_showers(p)


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_showers(tmp_path / "nope.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        read_showers(junk)


def test_interrupted_write_leaves_no_file(tmp_path, small):
    p = tmp_path / "x.h5"
    with pytest.raises(RuntimeError):
        with ShowerWriter(p, small.detector) as w:
            w.append(small)
            raise RuntimeError("killed")
    assert not p.exists() and not (tmp_path / "x.h5.partial").exists()


def test_streaming_in_batches_equals_one_shot(tmp_path):
    gun = ParticleGun("e-", "1:20")
    p = simulate_to_file(tmp_path / "s.h5", "course_pbscint", gun, 30, seed=5, batch_size=7)
    mem = simulate("course_pbscint", gun, 30, seed=5)
    with ShowerFile(p) as f:
        assert len(f) == 30
        parts = list(f.iter_batches(8))
    got = Showers.concatenate(parts)
    np.testing.assert_allclose(got.cells, mem.cells, rtol=1e-6)


def test_unwritable_output(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        simulate_to_file(tmp_path / "no" / "x.h5", "course_pbscint", ParticleGun("e-", 1.0), 2)
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        import os

        if os.access(d, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip("running as root")
        with pytest.raises(OutputError, match="not writable"):
            simulate_to_file(d / "x.h5", "course_pbscint", ParticleGun("e-", 1.0), 2)
    finally:
        d.chmod(0o700)


def test_detector_mismatch_is_detected(small):
    with pytest.raises(DataError, match="channels"):
        Showers(
            cells=small.cells[:, :10],
            truth={"energy": small.energy},
            detector=preset("course_pbscint"),
        )


def test_mixed_guns_stream_with_tiny_batches(tmp_path):
    """Batches that contain only photons still carry the π0 record columns."""
    guns = [ParticleGun("gamma", 10.0), ParticleGun("pi0", 10.0)]
    p = simulate_to_file(tmp_path / "m.h5", "course_pbscint", guns, 4, seed=1, batch_size=1)
    s = Showers.load(p)
    assert np.diff(s.records["decay_photons"].offsets).tolist() == [0, 2, 0, 2]


def _write_layouts(tmp_path, cells, inc):
    """The same cells (MeV) in the layouts a reader meets: calolab's (deflate), uncompressed
    chunks, shuffle + deflate, contiguous, big-endian float32, float64."""
    layouts = {
        "deflate": dict(chunks=(3, cells.shape[1]), compression="gzip", compression_opts=1),
        "chunked": dict(chunks=(4, cells.shape[1])),
        "shuffle": dict(chunks=(3, cells.shape[1]), compression="gzip", shuffle=True),
        "contiguous": {},
        "partial-rows": dict(chunks=(2, 7), compression="gzip"),
        "big-endian": dict(chunks=(3, cells.shape[1]), dtype=">f4", compression="gzip"),
        "float64": dict(chunks=(3, cells.shape[1]), dtype="f8"),
    }
    paths = {}
    for name, kw in layouts.items():
        p = tmp_path / f"{name}.h5"
        with h5py.File(p, "w") as f:
            f["incident_energies"] = inc
            f.create_dataset("showers", data=cells, **kw)
        paths[name] = p
    return paths


def test_read_cells_fast_path_equals_hdf5_in_every_layout(tmp_path):
    rng = np.random.default_rng(3)
    cells = (rng.exponential(50.0, size=(23, 40)) * (rng.random((23, 40)) < 0.3)).astype(np.float32)
    inc = rng.uniform(1e3, 1e5, size=(23, 1))
    for name, p in _write_layouts(tmp_path, cells, inc).items():
        with ShowerFile(p, layer_sizes=(10, 30)) as f:
            for start, stop, cols in [
                (0, 23, None),
                (4, 17, (10, 40)),
                (5, 6, (0, 3)),
                (20, 99, None),
            ]:
                got = f.read_cells(start, stop, cols)
                a, b = cols or (0, 40)
                want = cells[start:stop, a:b] / np.float32(1000.0)
                np.testing.assert_array_equal(got, want, err_msg=f"{name} {start}:{stop} {cols}")
                assert got.dtype == np.float32
            np.testing.assert_array_equal(f.read_cells(0, 23), f.read(0, 23).cells)
            spans = [(12, 20), (0, 5), (7, 7), (19, 99)]
            for got, (lo, hi) in zip(f.read_cell_spans(spans, (3, 33)), spans):
                np.testing.assert_array_equal(got, cells[lo:hi, 3:33] / np.float32(1000.0))
            with pytest.raises(DataError, match="columns"):
                f.read_cells(0, 3, (5, 41))
            with pytest.raises(DataError, match="no digitised"):
                f.read_cells(0, 3, digitized=True)


def test_read_cells_refuses_nan_and_corrupt_chunks(tmp_path):
    cells = np.ones((9, 16), dtype=np.float32)
    cells[7, 3] = np.inf
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        f["incident_energies"] = np.ones((9, 1))
        f.create_dataset("showers", data=cells, chunks=(3, 16), compression="gzip")
    with ShowerFile(p, layer_sizes=(16,)) as f:
        np.testing.assert_array_equal(f.read_cells(0, 6), cells[:6] / 1000)
        with pytest.raises(DataError, match="NaN or infinite values in event 7"):
            f.read_cells(0, 9)
    # overwrite the first chunk's compressed bytes with garbage of the same length
    with h5py.File(p, "r+") as f:
        _, data = f["showers"].id.read_direct_chunk((0, 0))
        f["showers"].id.write_direct_chunk((0, 0), b"\x00" * len(data))
    with ShowerFile(p, layer_sizes=(16,)) as f:
        with pytest.raises(DataError, match="reading the cells of events 0-3 failed"):
            f.read_cells(0, 3)


def test_simulated_files_take_the_fast_path(tmp_path):
    from calolab.data.hdf5 import _whole_row_chunks

    p = simulate_to_file(
        tmp_path / "s.h5", "course_pbwo4", ParticleGun("e-", 10.0), 12, seed=2, layout="dense"
    )
    with h5py.File(p) as f:
        assert _whole_row_chunks(f["showers"]) is True
    with ShowerFile(p) as f:
        np.testing.assert_array_equal(f.read_cells(2, 11), f.read(2, 11).cells)
