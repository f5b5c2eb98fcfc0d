from __future__ import annotations

import math

import numpy as np
import pytest

from calolab.core.errors import ConfigError
from calolab.events.images import ImageConfig, make_images, normalize, pixel_indices
from calolab.events.objects import EventObjects, event_index, ragged_from_counts


def _sums_in_range(obj: EventObjects, cfg: ImageConfig) -> np.ndarray:
    """Per-event sums of the input objects with eta_min <= η < eta_max, (N, 3)."""
    out = np.zeros((len(obj), 3))
    t, k = obj.towers, obj.tracks
    m = (t.columns["eta"] >= cfg.eta_min) & (t.columns["eta"] < cfg.eta_max)
    ev = event_index(t)
    np.add.at(out[:, 0], ev[m], t.columns["et_em"][m])
    np.add.at(out[:, 1], ev[m], t.columns["et_had"][m])
    m = (k.columns["eta"] >= cfg.eta_min) & (k.columns["eta"] < cfg.eta_max)
    np.add.at(out[:, 2], event_index(k)[m], k.columns["pt"][m])
    return out


def test_image_sums_equal_object_sums_in_range(objects):
    cfg = ImageConfig()
    img = make_images(objects, cfg)
    assert img.shape == (len(objects), 3, 100, 100)
    assert img.dtype == np.float32
    np.testing.assert_allclose(
        img.sum(axis=(2, 3), dtype=np.float64), _sums_in_range(objects, cfg), rtol=1e-5
    )
    # objects outside the range were present, so the test is not trivial
    assert (np.abs(objects.towers.columns["eta"]) > 2.5).sum() > 10


def test_other_resolution_and_range(objects):
    cfg = ImageConfig(n_eta=32, n_phi=64, eta_min=-1.0, eta_max=3.0)
    img = make_images(objects, cfg)
    assert img.shape == (len(objects), 3, 32, 64)
    np.testing.assert_allclose(
        img.sum(axis=(2, 3), dtype=np.float64), _sums_in_range(objects, cfg), rtol=1e-5
    )


def test_pixel_placement():
    cfg = ImageConfig(n_eta=100, n_phi=100)
    eta = np.array([0.01, -2.5, 2.5, 2.4999, 0.0])
    phi = np.array([0.01, -math.pi, 0.0, math.pi, -math.pi + 1e-9])
    ie, ip, ok = pixel_indices(eta, phi, cfg)
    assert ok.tolist() == [True, True, False, True, True]  # η = eta_max is outside
    assert (ie[0], ip[0]) == (50, 50)
    assert (ie[1], ip[1]) == (0, 0)
    assert ip[3] == 0  # φ = π wraps onto φ = −π
    assert ie[3] == 99


def test_phi_outside_pi_is_wrapped():
    cfg = ImageConfig(n_eta=10, n_phi=10)
    a = pixel_indices(np.array([0.1]), np.array([0.3]), cfg)[1]
    b = pixel_indices(np.array([0.1]), np.array([0.3 + 2 * math.pi]), cfg)[1]
    assert a.tolist() == b.tolist()


def test_single_object_lands_in_its_channel():
    t = ragged_from_counts(
        [1],
        {
            "eta": np.array([0.0]),
            "phi": np.array([0.0]),
            "et_em": np.array([3.0]),
            "et_had": np.array([5.0]),
        },
    )
    k = ragged_from_counts(
        [1], {"pt": np.array([7.0]), "eta": np.array([1.0]), "phi": np.array([-1.0])}
    )
    img = make_images(EventObjects(t, k), ImageConfig(n_eta=10, n_phi=10))[0]
    assert img[0, 5, 5] == 3.0 and img[1, 5, 5] == 5.0 and img[2].sum() == 7.0
    assert img[0].sum() == 3.0 and img[1].sum() == 5.0
    assert img[2, 7, int((math.pi - 1.0) / (2 * math.pi / 10))] == 7.0


def test_normalize_linear_and_log():
    cfg = ImageConfig(n_eta=2, n_phi=2, saturation_gev=(10.0, 20.0, 40.0))
    x = np.array([[[[0.0, 5.0], [10.0, 100.0]]] * 3], dtype=np.float32)
    lin = normalize(x, cfg)
    assert lin[0, 0].tolist() == [[0.0, 127.5], [255.0, 255.0]]
    assert lin[0, 1].tolist() == [[0.0, 63.75], [127.5, 255.0]]
    log = normalize(x, ImageConfig(n_eta=2, n_phi=2, normalization="log", saturation_gev=10.0))
    np.testing.assert_allclose(log[0, 0, 0, 1], 255 * math.log1p(5) / math.log1p(10), rtol=1e-6)
    assert log.max() == pytest.approx(255.0)
    raw = normalize(x, ImageConfig(n_eta=2, n_phi=2, normalization="none"))
    np.testing.assert_array_equal(raw, x)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_eta": 0}, "n_eta"),
        ({"n_phi": 2.5}, "n_phi"),
        ({"eta_min": 1.0, "eta_max": 1.0}, "empty"),
        ({"eta_max": float("nan")}, "eta_max"),
        ({"normalization": "sqrt"}, "normalization"),
        ({"saturation_gev": (1.0, 2.0)}, "saturation_gev has 2 values"),
        ({"saturation_gev": -1.0}, "must be > 0"),
    ],
)
def test_bad_image_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ImageConfig(**kwargs)


def test_config_round_trip_and_unknown_key():
    cfg = ImageConfig(n_eta=50, saturation_gev=(1.0, 2.0, 3.0), normalization="log")
    assert ImageConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown image option"):
        ImageConfig.from_dict({"n_eta": 10, "resolution": 5})
