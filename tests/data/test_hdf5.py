import h5py
import numpy as np
import pytest

from calolab.data import ShowerFile, Showers, ShowerWriter, read_showers
from calolab.errors import DataError, OutputError
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
