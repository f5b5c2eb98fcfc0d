from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError, DataError
from calolab.events.augment import Augmentation
from calolab.events.hdf5 import ImageWriter
from calolab.events.images import ImageConfig, make_images, normalize

from .conftest import make_objects

torch = pytest.importorskip("torch")
from calolab.events.dataset import EventImageDataset, split_indices  # noqa: E402

CFG = ImageConfig(n_eta=16, n_phi=24, saturation_gev=20.0)


@pytest.fixture
def image_file(tmp_path):
    obj = make_objects(np.random.default_rng(3), 30)
    p = tmp_path / "d.h5"
    labels = np.arange(30) % 3
    with ImageWriter(p, CFG, ["a", "b", "c"]) as w:
        w.append(obj, labels)
    return p, obj, labels


def test_items_are_normalised_images_and_labels(image_file):
    p, obj, labels = image_file
    ds = EventImageDataset(p)
    assert len(ds) == 30 and ds.n_classes == 3 and ds.input_shape == (3, 16, 24)
    x, y = ds[4]
    assert x.dtype == torch.float32 and y.item() == labels[4]
    ref = normalize(make_images(obj, CFG), CFG)[4] / 255.0
    np.testing.assert_allclose(x.numpy(), ref, atol=1e-3)  # float16 cache
    assert 0.0 <= x.min() and x.max() <= 1.0
    raw = EventImageDataset(p, normalization="none", indices=[2, 5])
    np.testing.assert_allclose(raw[1][0].numpy(), make_images(obj, CFG)[5], rtol=2e-3, atol=1e-3)


def test_augmentation_reproducible_and_changes_with_epoch(image_file):
    p, _, _ = image_file
    ds = EventImageDataset(p, augmentation=Augmentation(), seed=1)
    plain = EventImageDataset(p)
    a = ds[3][0]
    assert torch.equal(a, ds[3][0])
    ds.set_epoch(1)
    b = ds[3][0]
    assert not torch.equal(a, b)
    torch.testing.assert_close(a.sum(dim=(1, 2)), plain[3][0].sum(dim=(1, 2)))


def test_split_is_stratified():
    labels = np.repeat([0, 1], [80, 20])
    tr, te = split_indices(labels, 0.2, seed=0)
    assert len(te) == 20 and (labels[te] == 1).sum() == 4
    assert not set(tr) & set(te) and len(tr) + len(te) == 100
    with pytest.raises(ConfigError):
        split_indices(labels, 1.5, 0)


def test_bad_dataset_inputs(image_file):
    p, _, _ = image_file
    with pytest.raises(DataError, match="indices"):
        EventImageDataset(p, indices=[31])
    with pytest.raises(ConfigError, match="normalization"):
        EventImageDataset(p, normalization="sqrt")
    with pytest.raises(ConfigError, match="seed"):
        EventImageDataset(p, seed=-1)
