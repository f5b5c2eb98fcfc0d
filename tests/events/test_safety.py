"""Hostile event inputs (made here): ROOT files whose baskets would inflate beyond the memory
budget, event-image files pointing outside themselves, FIFOs; and a full disk while images
are written (issue 18)."""

from __future__ import annotations

import errno
import os

import h5py
import numpy as np
import pytest

from calolab.core.errors import DataError, OutputError
from calolab.core.files import GuardedFile
from calolab.data import hdf5 as hdf5_module
from calolab.events.delphes import _Baskets, _steps, import_delphes, iter_delphes, open_tree
from calolab.events.hdf5 import ImageFile, ImageWriter, merge_image_files
from calolab.events.images import ImageConfig
from tests.events.conftest import make_objects

uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")


TOWER = ("ET", "Eta", "Phi", "Eem", "Ehad")
TRACK = ("PT", "Eta", "Phi")


def _batch(counts, value=0.0):
    counts = np.asarray(counts, dtype=np.int64)
    flat = np.full(int(counts.sum()), value, dtype=np.float32)
    one = np.ones(len(counts), dtype=np.int64)
    data = {f"Tower.{f}": ak.unflatten(flat, counts) for f in TOWER}
    data |= {f"Track.{f}": ak.unflatten(np.ones(len(counts), np.float32), one) for f in TRACK}
    return data


def delphes_tree(path, batches):
    """A Delphes-like TTree with Tower and Track collections; each element of ``batches`` (a
    list of per-event tower counts) becomes one basket per branch. Towers are zeros, which
    compress ~1000:1."""
    with uproot.recreate(path) as f:
        t = f.mktree(
            "Delphes",
            {
                f"{c}.{x}": "var * float32"
                for c, xs in (("Tower", TOWER), ("Track", TRACK))
                for x in xs
            },
        )
        for counts in batches:
            t.extend(_batch(counts))


def test_an_entry_beyond_the_budget_is_refused_naming_the_limit(tmp_path):
    p = tmp_path / "bomb.root"
    delphes_tree(p, [[10, 1_000_000, 10]])  # 20 MB of zeros, event 1
    assert p.stat().st_size < 2 << 20
    with pytest.raises(DataError, match=r"entry 0 alone needs .* MiB.*--max-chunk-mb"):
        list(iter_delphes(p, max_step_bytes=4 << 20))
    with pytest.raises(DataError, match="--max-chunk-mb"):
        import_delphes(p, tmp_path / "out.h5", max_step_bytes=4 << 20)
    assert not (tmp_path / "out.h5").exists()


def test_steps_stay_within_the_budget(tmp_path):
    p = tmp_path / "many.root"
    delphes_tree(p, [[2000] * 5] * 8)  # 8 baskets of 5 events per branch
    tree, _ = open_tree(p)
    names = [k for k in tree.keys() if "." in k]
    baskets = _Baskets(tree, names, str(p))
    per_basket = baskets.need(0, 5)
    steps = list(_steps(baskets, 0, 40, 1000, 2 * per_basket, str(p)))
    assert len(steps) >= 4 and steps[0][0] == 0 and steps[-1][1] == 40
    assert all(baskets.need(a, b) <= 2 * per_basket for a, b in steps)
    n = sum(len(obj) for obj, _, _ in iter_delphes(p, max_step_bytes=2 * per_basket))
    assert n == 40


def test_delphes_inputs_that_are_fifos_are_refused(tmp_path):
    os.mkfifo(tmp_path / "x.root")
    with pytest.raises(DataError, match="FIFO"):
        open_tree(tmp_path / "x.root")


def test_import_refuses_its_input_as_output(tmp_path, delphes_file):
    src = tmp_path / "tt.root"
    src.write_bytes(open(delphes_file, "rb").read())
    before = src.read_bytes()
    with pytest.raises(OutputError, match="is also an input"):
        import_delphes(src, tmp_path / "x" / ".." / "tt.root")
    assert src.read_bytes() == before


def _image_file(path, seed=0):
    cfg = ImageConfig(n_eta=8, n_phi=8)
    with ImageWriter(path, cfg, ["a"], {}) as w:
        w.append(make_objects(np.random.default_rng(seed), 12), 0)
    return path


def test_image_files_pointing_outside_are_refused(tmp_path):
    good = _image_file(tmp_path / "good.h5")
    p = tmp_path / "evil.h5"
    with h5py.File(good) as src, h5py.File(p, "w") as f:
        src.copy("calolab", f)
        f["labels"] = src["labels"][:]
        f["images"] = h5py.ExternalLink(str(good), "/images")
    with pytest.raises(DataError, match="another file.*--allow-external-data"):
        ImageFile(p)
    with ImageFile(p, allow_external=True) as f:
        assert len(f) == 12


def test_merge_refuses_an_input_as_output_and_keeps_it(tmp_path):
    a = _image_file(tmp_path / "a.h5")
    before = a.read_bytes()
    with pytest.raises(OutputError, match="is also an input"):
        merge_image_files([a, _image_file(tmp_path / "b.h5", 1)], a)
    assert a.read_bytes() == before


class DiskFullAfter(GuardedFile):
    def _pwrite(self, data, offset):
        if offset + len(data) > 30_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super()._pwrite(data, offset)


def test_full_disk_while_writing_images(tmp_path, monkeypatch):
    a, b = _image_file(tmp_path / "a.h5"), _image_file(tmp_path / "b.h5", 1)
    monkeypatch.setattr(hdf5_module, "GuardedFile", DiskFullAfter)
    with pytest.raises(OutputError, match="disk is full"):
        w = ImageWriter(tmp_path / "big.h5", ImageConfig(n_eta=64, n_phi=64), ["a"], {})
        for k in range(20):
            w.append(make_objects(np.random.default_rng(k), 50), 0)
        w.close()
    with pytest.raises(OutputError, match="disk is full"):
        merge_image_files([a, b], tmp_path / "m.h5")
    # a resumable writer: the damaged partial file is removed too
    with pytest.raises(OutputError, match="disk is full"):
        with ImageWriter(
            tmp_path / "r.h5", ImageConfig(n_eta=64, n_phi=64), ["a"], {}, resume_key="k"
        ) as w:
            for k in range(20):
                w.append(make_objects(np.random.default_rng(k), 50), 0)
    assert sorted(os.listdir(tmp_path)) == ["a.h5", "b.h5"]
