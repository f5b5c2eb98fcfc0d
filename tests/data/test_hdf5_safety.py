"""Hostile HDF5 files (made here): nothing outside the file is read, no declared size or
compressed chunk exhausts memory, a full disk during a write is one clear error.

Findings of issue 18 covered here: external storage / external links / virtual datasets
(a 2 KB file pointing at a secret file), decompression bombs (a chunk declared huge, a
small stream inflating far beyond its chunk), a file declaring 10^12 events, and the disk
filling up while a dataset is written (no segmentation fault, no partial file left).
"""

from __future__ import annotations

import errno
import os
import tracemalloc
import zlib

import h5py
import numpy as np
import pytest

from calolab.core.errors import DataError, OutputError
from calolab.core.files import GuardedFile
from calolab.data import ShowerFile, Showers
from calolab.data import hdf5 as hdf5_module
from calolab.data.hdf5 import H5Output, ReadLimits, ShowerWriter, read_rows
from calolab.data.merge import merge_files

SECRET = b"root:x:0:0:the secret first line of a file calolab must never read\n" * 20


def _secret(tmp_path):
    p = tmp_path / "secret.txt"
    p.write_bytes(SECRET)
    return p


def _plain(path, n=4, cells=8):
    with h5py.File(path, "w") as f:
        f["incident_energies"] = np.full((n, 1), 1000.0)
        f["showers"] = np.ones((n, cells), np.float32)


def external_storage_file(tmp_path):
    """Raw data of 'showers' kept in another file (HDF5 external storage)."""
    secret = _secret(tmp_path)
    p = tmp_path / "ext.h5"
    with h5py.File(p, "w") as f:
        f["incident_energies"] = np.full((10, 1), 1000.0)
        f.create_dataset(
            "showers", shape=(10, 8), dtype="f4", external=[(str(secret), 0, 10 * 8 * 4)]
        )
    return p


def external_link_file(tmp_path):
    other = tmp_path / "other.h5"
    _plain(other)
    p = tmp_path / "elink.h5"
    with h5py.File(p, "w") as f:
        f["incident_energies"] = np.full((4, 1), 1000.0)
        f["showers"] = h5py.ExternalLink(str(other), "/showers")
    return p


def soft_to_external_file(tmp_path):
    other = tmp_path / "other2.h5"
    _plain(other)
    p = tmp_path / "soft.h5"
    with h5py.File(p, "w") as f:
        f["incident_energies"] = np.full((4, 1), 1000.0)
        f["outside"] = h5py.ExternalLink(str(other), "/")
        f["showers"] = h5py.SoftLink("/outside/showers")
    return p


def virtual_file(tmp_path):
    other = tmp_path / "src.h5"
    _plain(other)
    p = tmp_path / "vds.h5"
    layout = h5py.VirtualLayout(shape=(4, 8), dtype="f4")
    layout[:] = h5py.VirtualSource(str(other), "showers", shape=(4, 8))
    with h5py.File(p, "w") as f:
        f["incident_energies"] = np.full((4, 1), 1000.0)
        f.create_virtual_dataset("showers", layout)
    return p


HOSTILE = {
    "external storage": (external_storage_file, "another file"),
    "external link": (external_link_file, "link to .* in another file"),
    "soft link leaving the file": (soft_to_external_file, "in another file"),
    "virtual dataset": (virtual_file, "virtual dataset"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_files_pointing_outside_are_refused_unless_allowed(tmp_path, kind):
    make, message = HOSTILE[kind]
    path = make(tmp_path)
    with pytest.raises(DataError, match=f"{message}.*--allow-external-data"):
        ShowerFile(path)
    with ShowerFile(path, allow_external=True) as f:  # the user's explicit choice
        assert len(f) in (4, 10)


def test_external_storage_cannot_leak_a_file(tmp_path):
    path = external_storage_file(tmp_path)
    with pytest.raises(DataError, match="secret.txt"):
        Showers.load(str(path))
    with ShowerFile(path, allow_external=True) as f:  # what the old reader returned
        leaked = (f.read().cells * 1000).astype("<f4").tobytes()
    assert leaked == SECRET[: len(leaked)]


def test_environment_carries_the_limits(tmp_path, monkeypatch):
    path = external_link_file(tmp_path)
    monkeypatch.setenv(hdf5_module.ENV_ALLOW_EXTERNAL, "1")
    with ShowerFile(path) as f:
        assert f.limits.allow_external
    monkeypatch.setenv(hdf5_module.ENV_MAX_CHUNK_MB, "nan")
    with pytest.raises(Exception, match="must be a finite number"):
        ReadLimits.from_env()


def test_a_tiny_file_declaring_1e12_events_is_refused_at_once(tmp_path):
    p = tmp_path / "huge.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("incident_energies", shape=(10**12, 1), dtype="f8", chunks=(4096, 1))
        f.create_dataset("showers", shape=(10**12, 100), dtype="f4", chunks=(16, 100))
    assert p.stat().st_size < 10_000
    with pytest.raises(DataError, match=r"declares shape \(1000000000000, 1.*--max-inflation"):
        ShowerFile(p)
    # even with the inflation limit lifted, the per-event arrays must fit in memory
    with pytest.raises(DataError, match="per-event arrays.*--max-memory-mb"):
        ShowerFile(p, limits=ReadLimits(max_inflation=0))


def test_a_chunk_declared_larger_than_the_limit_is_refused(tmp_path):
    p = tmp_path / "bigchunk.h5"
    with h5py.File(p, "w") as f:
        f["incident_energies"] = np.ones((1, 1))
        ds = f.create_dataset(
            "showers", shape=(1, 1 << 29), dtype="f4", chunks=(1, 1 << 29), compression="gzip"
        )
        ds.id.write_direct_chunk((0, 0), zlib.compress(b"\0" * (1 << 20)))
    with pytest.raises(DataError, match="chunks of 2.0 GiB.*--max-chunk-mb"):
        ShowerFile(p)


def bomb_file(path, inflated: int):
    """Chunks of 4 KiB whose deflate streams inflate to ``inflated`` bytes each."""
    blob = zlib.compress(b"\0" * inflated, 9)
    with h5py.File(path, "w") as f:
        f["incident_energies"] = np.full((4, 1), 1000.0)
        ds = f.create_dataset(
            "showers", shape=(4, 1024), chunks=(1, 1024), dtype="<f4", compression="gzip"
        )
        for i in range(4):
            ds.id.write_direct_chunk((i, 0), blob)
    return path


def test_bomb_chunks_inflate_only_to_their_declared_size(tmp_path):
    path = bomb_file(tmp_path / "bomb.h5", 64 << 20)
    tracemalloc.start()
    try:
        with ShowerFile(path, layer_sizes=(1024,)) as f:
            with pytest.raises(DataError, match="inflates beyond its declared"):
                f.read(0, 1)
            with pytest.raises(DataError, match="inflates beyond"):
                f.read_cells(0, 4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB allocated for a 4 KiB chunk"


@pytest.mark.parametrize(
    "shape,chunks,opts",
    [
        ((37, 5), (4, 5), {"compression": "gzip"}),
        ((37, 5), (4, 3), {"compression": "gzip", "shuffle": True}),
        ((20, 3, 4, 5), (3, 2, 4, 2), {"compression": "gzip", "shuffle": True}),
        ((50,), (7,), {"compression": "gzip", "fletcher32": True}),
        ((9, 6), (2, 6), {}),
        ((9, 6), None, {}),
    ],
)
def test_bounded_reader_matches_hdf5(tmp_path, shape, chunks, opts):
    rng = np.random.default_rng(3)
    data = rng.normal(size=shape).astype("f8" if len(shape) == 1 else "f4")
    with h5py.File(tmp_path / "r.h5", "w") as f:
        ds = f.create_dataset("x", data=data, chunks=chunks, **opts)
        for lo, hi in ((0, shape[0]), (3, 11), (5, 6), (shape[0] - 2, shape[0] + 5), (4, 4)):
            np.testing.assert_array_equal(read_rows(ds, lo, hi), ds[lo:hi])


def test_unwritten_chunks_read_as_the_fill_value(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        ds = f.create_dataset(
            "x", shape=(10, 4), dtype="f4", chunks=(2, 4), compression="gzip", fillvalue=7
        )
        ds[0:2] = 1
        out = read_rows(ds, 0, 6)
    assert (out[:2] == 1).all() and (out[2:] == 7).all()


def test_unknown_filters_are_refused_unless_the_limit_is_lifted(tmp_path):
    p = tmp_path / "lzf.h5"
    with h5py.File(p, "w") as f:
        f["incident_energies"] = np.ones((4, 1))
        f.create_dataset("showers", data=np.ones((4, 8), "f4"), chunks=(2, 8), compression="lzf")
    with pytest.raises(DataError, match="lzf.*h5repack.*--max-inflation 0"):
        ShowerFile(p)
    with ShowerFile(p, limits=ReadLimits(max_inflation=0), layer_sizes=(8,)) as f:
        assert f.read().cells.shape == (4, 8)


def test_too_many_objects(tmp_path, monkeypatch):
    monkeypatch.setattr(hdf5_module, "MAX_OBJECTS", 50)
    p = tmp_path / "many.h5"
    _plain(p)
    with h5py.File(p, "a") as f:
        for i in range(60):
            f.create_group(f"g{i}")
    with pytest.raises(DataError, match="more than 50 objects"):
        ShowerFile(p)


def test_fifo_input_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "data.h5")
    with pytest.raises(DataError, match="FIFO"):
        ShowerFile(tmp_path / "data.h5")


# ------------------------------------------------------------------------ writing
class DiskFullAfter(GuardedFile):
    budget = 200_000

    def _pwrite(self, data, offset):
        if offset + len(data) > self.budget:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super()._pwrite(data, offset)


def _showers(n=64, cells=2000, seed=0):
    rng = np.random.default_rng(seed)
    return Showers(
        cells=rng.random((n, cells), dtype=np.float32),
        truth={"energy": np.full(n, 10.0), "pdg": np.full(n, 22, np.int32)},
    )


def test_full_disk_while_writing_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(hdf5_module, "GuardedFile", DiskFullAfter)
    out = tmp_path / "x.h5"
    w = ShowerWriter(out, None)
    with pytest.raises(OutputError, match="disk is full.*No space left.*'.*x.h5'"):
        for _ in range(10):
            w.append(_showers())
        w.close()
    assert os.listdir(tmp_path) == []  # no partial file, no lock file
    # merging into a full disk: the same
    monkeypatch.undo()
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    with ShowerWriter(a, None) as w1:
        w1.append(_showers(seed=1))
    with ShowerWriter(b, None) as w2:
        w2.append(_showers(seed=2))
    monkeypatch.setattr(hdf5_module, "GuardedFile", DiskFullAfter)
    DiskFullAfter.budget = a.stat().st_size + 10_000  # the copy of a fits, b does not
    try:
        with pytest.raises(OutputError, match="disk is full"):
            merge_files([a, b], tmp_path / "m.h5")
    finally:
        DiskFullAfter.budget = 200_000
    assert sorted(os.listdir(tmp_path)) == ["a.h5", "b.h5"]


def test_two_writers_of_one_output_the_second_is_refused(tmp_path):
    out = tmp_path / "x.h5"
    first = ShowerWriter(out, None)
    first.append(_showers(n=4))
    with pytest.raises(OutputError, match="another calolab process is writing"):
        ShowerWriter(out, None)
    first.append(_showers(n=4, seed=1))
    first.close()
    assert len(Showers.load(str(out))) == 8  # the first one's file is intact


def test_merge_refuses_an_input_as_output(tmp_path):
    a = tmp_path / "a.h5"
    with ShowerWriter(a, None) as w:
        w.append(_showers(n=4))
    before = a.read_bytes()
    with pytest.raises(OutputError, match="is also an input"):
        merge_files([a, a], tmp_path / "." / "a.h5")
    assert a.read_bytes() == before


def test_h5output_context(tmp_path):
    with H5Output(tmp_path / "p.h5", lock=False) as f:
        f["x"] = np.arange(3)
    with h5py.File(tmp_path / "p.h5") as f:
        assert list(f["x"][:]) == [0, 1, 2]
    with pytest.raises(ValueError):
        with H5Output(tmp_path / "q.h5") as f:
            raise ValueError("interrupted")
    assert sorted(os.listdir(tmp_path)) == ["p.h5"]
