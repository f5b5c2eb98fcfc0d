from __future__ import annotations

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.data.showers import Ragged
from calolab.events.augment import Augmentation, flip_eta, flip_phi, roll_phi
from calolab.events.images import ImageConfig, make_images
from calolab.events.objects import EventObjects

torch = pytest.importorskip("torch")

CFG = ImageConfig(n_eta=40, n_phi=48)


def _transform(obj: EventObjects, eta=lambda e: e, phi=lambda p: p) -> EventObjects:
    def tr(r: Ragged) -> Ragged:
        cols = dict(r.columns)
        cols["eta"] = eta(cols["eta"].astype(np.float64))
        cols["phi"] = phi(cols["phi"].astype(np.float64))
        return Ragged(r.offsets, cols)

    return EventObjects(tr(obj.towers), tr(obj.tracks), obj.info)


def _pixel_centres(obj: EventObjects, cfg: ImageConfig) -> EventObjects:
    """Move every object to the centre of its pixel, so that exact symmetry checks do not
    depend on objects sitting on pixel edges."""
    deta, dphi = cfg.deta, cfg.dphi
    return _transform(
        obj,
        eta=lambda e: cfg.eta_min + (np.floor((e - cfg.eta_min) / deta) + 0.5) * deta,
        phi=lambda p: -np.pi + (np.floor((p + np.pi) / dphi) + 0.5) * dphi,
    )


def test_roll_preserves_sums_and_is_cyclic(objects):
    img = make_images(objects, CFG)
    rolled = roll_phi(img, 7)
    np.testing.assert_allclose(rolled.sum(axis=(2, 3)), img.sum(axis=(2, 3)), rtol=1e-6)
    assert not np.array_equal(rolled, img)
    x = img
    for _ in range(CFG.n_phi):
        x = roll_phi(x, 1)
    np.testing.assert_array_equal(x, img)
    np.testing.assert_array_equal(roll_phi(roll_phi(img, 5), -5), img)


def test_roll_is_a_rotation_of_the_event(objects):
    """Rolling by k pixels equals imaging the event rotated by k·Δφ."""
    obj = _pixel_centres(objects, CFG)
    k = 11
    rotated = _transform(obj, phi=lambda p: p + k * CFG.dphi)
    np.testing.assert_allclose(
        roll_phi(make_images(obj, CFG), k), make_images(rotated, CFG), atol=1e-5
    )


def test_flips_are_involutions_and_mirror_the_event(objects):
    obj = _pixel_centres(objects, CFG)
    img = make_images(obj, CFG)
    for flip in (flip_eta, flip_phi):
        np.testing.assert_array_equal(flip(flip(img)), img)
        np.testing.assert_allclose(flip(img).sum(axis=(2, 3)), img.sum(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_allclose(
        flip_eta(img), make_images(_transform(obj, eta=np.negative), CFG), atol=1e-5
    )
    np.testing.assert_allclose(
        flip_phi(img), make_images(_transform(obj, phi=np.negative), CFG), atol=1e-5
    )


def test_torch_and_numpy_agree(objects):
    img = make_images(objects, CFG)
    t = torch.from_numpy(img)
    for f in (lambda x: roll_phi(x, 3), flip_eta, flip_phi):
        np.testing.assert_array_equal(f(t).numpy(), f(img))


def test_random_augmentation_is_seeded(objects):
    img = make_images(objects, CFG)
    aug = Augmentation()
    a = aug.apply_batch(img, np.random.default_rng(3))
    b = aug.apply_batch(img, np.random.default_rng(3))
    c = aug.apply_batch(img, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_allclose(a.sum(axis=(2, 3)), img.sum(axis=(2, 3)), rtol=1e-6)
    p = aug.draw(np.random.default_rng(0), 4000, CFG.n_phi)
    # each flip with probability 1/2: 4000 draws, 5 sigma = 5 * sqrt(4000)/2 ≈ 158
    assert abs(p["eta_flip"].sum() - 2000) < 158 and abs(p["phi_flip"].sum() - 2000) < 158
    assert set(np.unique(p["shift"])) == set(range(CFG.n_phi))


def test_no_augmentation_is_identity(objects):
    img = make_images(objects, CFG)
    none = Augmentation.parse("none")
    assert not none.enabled
    np.testing.assert_array_equal(none.apply_batch(img, np.random.default_rng(0)), img)


def test_parse_and_checks():
    assert Augmentation.parse("phi_roll,eta-flip") == Augmentation(True, True, False)
    assert Augmentation.parse("all") == Augmentation()
    with pytest.raises(ConfigError, match="unknown augmentation"):
        Augmentation.parse("rotate")
    with pytest.raises(ConfigError, match="symmetric"):
        Augmentation().check(ImageConfig(eta_min=-1.0, eta_max=2.0))
    Augmentation(eta_flip=False).check(ImageConfig(eta_min=-1.0, eta_max=2.0))
    with pytest.raises(ConfigError, match="unknown augmentation option"):
        Augmentation.from_dict({"phi_roll": True, "zoom": True})
