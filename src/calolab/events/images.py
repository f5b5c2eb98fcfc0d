"""η–φ images of whole events: ECAL E_T, HCAL E_T and track p_T.

An image has shape ``(3, n_eta, n_phi)`` (channels :data:`CHANNELS`): axis 1 runs over η
from ``eta_min`` to ``eta_max``, axis 2 over φ from −π to π. Every tower (track) adds its
E_T (p_T) in GeV to the pixel that contains its (η, φ); objects outside the η range are left
out. Files store these raw images in GeV, so that image sums equal the sums of the input
objects in range; :func:`normalize` applies the saturation and the 0–255 scaling of the
original study when the images are used for training (Andrews et al., "End-to-end jet
classification of quarks and gluons with the CMS Open Data", NIM A 977 (2020) 164304, the
source of the 3-channel, clipped, 0–255 image recipe of study B).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError
from calolab.events.objects import EventObjects, event_index

#: Image channels, in order.
CHANNELS = ("ecal_et", "hcal_et", "track_pt")
NORMALIZATIONS = ("linear", "log", "none")


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"image {name} {value!r} must be a finite number")
    if value <= 0:
        raise ConfigError(f"image {name} {value!r} must be > 0")
    return float(value)


@dataclass(frozen=True)
class ImageConfig:
    """Geometry and scaling of event images.

    Parameters
    ----------
    n_eta, n_phi:
        Pixels along η and φ (default 100 × 100, as in study B).
    eta_min, eta_max:
        η range of the image (default ±2.5, the tracker acceptance, so that all three
        channels cover the whole image).
    normalization:
        ``"linear"``: clip at the saturation and scale to 0–255 (the original study);
        ``"log"``: 255 · ln(1 + x/1 GeV) / ln(1 + saturation/1 GeV); ``"none"``: GeV.
    saturation_gev:
        Pixel value (GeV) at which each channel saturates; one number or one per channel.
    """

    n_eta: int = 100
    n_phi: int = 100
    eta_min: float = -2.5
    eta_max: float = 2.5
    normalization: str = "linear"
    saturation_gev: tuple[float, float, float] = (100.0, 100.0, 100.0)

    def __post_init__(self) -> None:
        for name in ("n_eta", "n_phi"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 2 <= v <= 4096:
                raise ConfigError(f"image {name} {v!r} must be an integer in [2, 4096]")
        for name in ("eta_min", "eta_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigError(f"image {name} {v!r} must be a finite number")
            object.__setattr__(self, name, float(v))
        if not self.eta_min < self.eta_max:
            raise ConfigError(
                f"image eta range [{self.eta_min}, {self.eta_max}] is empty; "
                "eta_min must be < eta_max"
            )
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"image normalization {self.normalization!r} is unknown; "
                f"choose one of {', '.join(NORMALIZATIONS)}"
            )
        sat: Any = self.saturation_gev
        if isinstance(sat, int | float) and not isinstance(sat, bool):
            sat = (sat, sat, sat)
        try:
            sat = tuple(sat)
        except TypeError:
            raise ConfigError(
                f"image saturation_gev {self.saturation_gev!r} must be a number or "
                f"{len(CHANNELS)} numbers ({', '.join(CHANNELS)})"
            ) from None
        if len(sat) != len(CHANNELS):
            raise ConfigError(
                f"image saturation_gev has {len(sat)} values; give one or {len(CHANNELS)} "
                f"({', '.join(CHANNELS)})"
            )
        object.__setattr__(
            self, "saturation_gev", tuple(_positive("saturation_gev", s) for s in sat)
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one image: ``(channels, n_eta, n_phi)``."""
        return (len(CHANNELS), self.n_eta, self.n_phi)

    @property
    def deta(self) -> float:
        return (self.eta_max - self.eta_min) / self.n_eta

    @property
    def dphi(self) -> float:
        return 2 * math.pi / self.n_phi

    @property
    def eta_symmetric(self) -> bool:
        return abs(self.eta_min + self.eta_max) < 1e-9

    def eta_edges(self) -> np.ndarray:
        return np.linspace(self.eta_min, self.eta_max, self.n_eta + 1)

    def phi_edges(self) -> np.ndarray:
        return np.linspace(-math.pi, math.pi, self.n_phi + 1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["saturation_gev"] = list(self.saturation_gev)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown image option(s) {unknown}; known options: {sorted(known)}")
        d = dict(data)
        if "saturation_gev" in d and isinstance(d["saturation_gev"], list):
            d["saturation_gev"] = tuple(d["saturation_gev"])
        return cls(**d)

    def geometry(self) -> dict[str, Any]:
        """The fields that define pixel contents (not the normalisation)."""
        return {k: getattr(self, k) for k in ("n_eta", "n_phi", "eta_min", "eta_max")}

    @property
    def hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """φ mapped into [−π, π)."""
    return (np.asarray(phi, dtype=np.float64) + math.pi) % (2 * math.pi) - math.pi


def pixel_indices(
    eta: np.ndarray, phi: np.ndarray, config: ImageConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel ``(ieta, iphi)`` of each (η, φ) and the mask of those inside the η range."""
    eta = np.asarray(eta, dtype=np.float64)
    ieta = np.floor((eta - config.eta_min) / config.deta)
    inside = np.isfinite(eta) & (ieta >= 0) & (ieta < config.n_eta)
    iphi = np.floor((wrap_phi(phi) + math.pi) / config.dphi).astype(np.int64) % config.n_phi
    return np.where(inside, ieta, 0).astype(np.int64), iphi, inside


def in_range(eta: np.ndarray, config: ImageConfig) -> np.ndarray:
    """Mask of objects that land in the image (η inside ``[eta_min, eta_max)``)."""
    return pixel_indices(eta, np.zeros_like(np.asarray(eta, dtype=np.float64)), config)[2]


def make_images(objects: EventObjects, config: ImageConfig | None = None) -> np.ndarray:
    """Images of every event in GeV, shape ``(N, 3, n_eta, n_phi)`` float32.

    Channel 0 is the ECAL E_T of the towers, 1 their HCAL E_T, 2 the track p_T. Sums are
    accumulated in float64.
    """
    config = config or ImageConfig()
    n = len(objects)
    npix = config.n_eta * config.n_phi
    out = np.zeros(n * len(CHANNELS) * npix, dtype=np.float64)
    t, k = objects.towers, objects.tracks
    ev_t, ev_k = event_index(t), event_index(k)
    ie, ip, ok = pixel_indices(t.columns["eta"], t.columns["phi"], config)
    base = (ev_t * len(CHANNELS)) * npix + ie * config.n_phi + ip
    for ch, col in ((0, "et_em"), (1, "et_had")):
        w = np.asarray(t.columns[col], dtype=np.float64)
        out += np.bincount(base[ok] + ch * npix, weights=w[ok], minlength=out.size)
    ie, ip, ok = pixel_indices(k.columns["eta"], k.columns["phi"], config)
    idx = (ev_k * len(CHANNELS) + 2) * npix + ie * config.n_phi + ip
    w = np.asarray(k.columns["pt"], dtype=np.float64)
    out += np.bincount(idx[ok], weights=w[ok], minlength=out.size)
    return out.reshape(n, *config.shape).astype(np.float32)


def normalize(images: np.ndarray, config: ImageConfig) -> np.ndarray:
    """Images in GeV ``(..., 3, n_eta, n_phi)`` → float32 values in [0, 255] (or GeV for
    ``normalization="none"``), each channel clipped at its saturation."""
    x = np.asarray(images, dtype=np.float32)
    if config.normalization == "none":
        return x.copy()
    if x.ndim < 3 or x.shape[-3] != len(CHANNELS):
        raise ConfigError(f"images have shape {x.shape}; expected (..., 3, n_eta, n_phi)")
    sat = np.asarray(config.saturation_gev, dtype=np.float32).reshape(3, 1, 1)
    x = np.clip(x, 0.0, sat)
    if config.normalization == "linear":
        return (x * (255.0 / sat)).astype(np.float32)
    return (np.log1p(x) * (255.0 / np.log1p(sat))).astype(np.float32)
