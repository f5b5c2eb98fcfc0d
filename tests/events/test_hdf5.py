from __future__ import annotations

import h5py
import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError, OutputError
from calolab.events.hdf5 import ImageFile, ImageWriter, merge_image_files, read_images, reimage_file
from calolab.events.images import ImageConfig, make_images
from calolab.events.objects import EventObjects

from .conftest import make_objects

CFG = ImageConfig(n_eta=24, n_phi=32)


def _write(path, obj: EventObjects, label, classes=("a",), cfg=CFG):
    with ImageWriter(path, cfg, list(classes), {"test": True}) as w:
        w.append(obj.subset(slice(0, 7)), label)
        w.append(obj.subset(slice(7, None)), label)


def test_round_trip(tmp_path, objects):
    p = tmp_path / "x.h5"
    _write(p, objects, 0)
    b = read_images(p)
    np.testing.assert_allclose(b.images, make_images(objects, CFG), rtol=1e-6)
    assert b.labels.tolist() == [0] * len(objects)
    np.testing.assert_array_equal(b.info["event_number"], np.arange(len(objects)))
    with ImageFile(p) as f:
        assert f.config == CFG and f.provenance == {"test": True}
        assert f.summary()["classes"] == {"a": len(objects)}
        obj = f.read_objects(5, 9)
        np.testing.assert_allclose(make_images(obj, CFG), b.images[5:9], rtol=1e-6)
        ds = f.f["images"]
        assert ds.chunks is not None and ds.compression == "gzip"


def test_failed_write_leaves_nothing(tmp_path, objects):
    p = tmp_path / "x.h5"
    with pytest.raises(RuntimeError):
        with ImageWriter(p, CFG, ["a"]) as w:
            w.append(objects, 0)
            raise RuntimeError("boom")
    assert not p.exists() and not (tmp_path / "x.h5.partial").exists()
    with pytest.raises(OutputError, match="no events"):
        with ImageWriter(p, CFG, ["a"]):
            pass
    with pytest.raises(DataError, match="labels"):
        with ImageWriter(p, CFG, ["a"]) as w:
            w.append(objects, 3)
    with pytest.raises(OutputError, match="does not exist"):
        ImageWriter(tmp_path / "missing" / "x.h5", CFG, ["a"])
    with pytest.raises(ConfigError, match="unique"):
        ImageWriter(p, CFG, ["a", "a"])


def test_reader_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        ImageFile(tmp_path / "none.h5")
    p = tmp_path / "showers.h5"
    with h5py.File(p, "w") as f:
        f["showers"] = np.zeros((2, 3))
    with pytest.raises(DataError, match="shower dataset"):
        ImageFile(p)
    t = tmp_path / "text.h5"
    t.write_text("hello")
    with pytest.raises(DataError, match="not a readable HDF5"):
        ImageFile(t)


def test_merge_maps_classes_by_name_and_shuffles(tmp_path):
    rng = np.random.default_rng(1)
    a, b = make_objects(rng, 12), make_objects(rng, 9)
    pa, pb = tmp_path / "a.h5", tmp_path / "b.h5"
    _write(pa, a, 0, classes=("sig",))
    _write(pb, b, 0, classes=("bkg",))
    out = merge_image_files([pb, pa], tmp_path / "m.h5", classes=["sig", "bkg"], seed=4)
    with ImageFile(out) as f:
        m = f.read()
        assert f.classes == ["sig", "bkg"]
        assert (m.labels == 0).sum() == 12 and (m.labels == 1).sum() == 9
        assert m.labels.tolist() != [0] * 12 + [1] * 9  # shuffled
        # every event keeps its image, label and objects
        imgs = {0: make_images(a, CFG), 1: make_images(b, CFG)}
        src = {0: a, 1: b}
        for i in range(len(m)):
            k = int(m.labels[i])
            j = int(m.info["event_number"][i])
            np.testing.assert_allclose(m.images[i], imgs[k][j], rtol=1e-6)
        obj = f.read_objects()
        np.testing.assert_allclose(make_images(obj, CFG), m.images, rtol=1e-6)
        assert obj.towers.offsets[-1] == src[0].towers.offsets[-1] + src[1].towers.offsets[-1]
    kept = merge_image_files([pa, pb], tmp_path / "k.h5", seed=None)
    assert read_images(kept).labels.tolist() == [0] * 12 + [1] * 9
    pc = tmp_path / "c.h5"
    _write(pc, a, 0, cfg=ImageConfig(n_eta=10, n_phi=10))
    with pytest.raises(DataError, match="image geometry"):
        merge_image_files([pa, pc], tmp_path / "bad.h5")
    with pytest.raises(ConfigError, match="do not include"):
        merge_image_files([pa, pb], tmp_path / "bad.h5", classes=["sig"])
    assert not (tmp_path / "bad.h5").exists()


def test_reimage(tmp_path, objects):
    p = tmp_path / "x.h5"
    _write(p, objects, 0)
    q = reimage_file(p, tmp_path / "y.h5", ImageConfig(n_eta=12, n_phi=16))
    with ImageFile(p) as f, ImageFile(q) as g:
        a, b = f.read().images, g.read().images
        assert b.shape == (len(objects), 3, 12, 16)
        np.testing.assert_allclose(a.sum(axis=(2, 3)), b.sum(axis=(2, 3)), rtol=1e-5)
        assert g.provenance["reimaged_from"] == str(p)
