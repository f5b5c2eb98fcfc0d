"""Augmentation of event images by the symmetries of a collider detector.

Images have shape ``(..., C, n_eta, n_phi)``: φ is the last axis, η the one before. The
three operations are exact symmetries of the pixel grid:

* a rotation in φ by a whole number of pixels is a cyclic roll of the last axis (φ is
  periodic), so pixel sums are preserved and ``n_phi`` rolls bring an image back;
* φ → −φ reverses the last axis (pixel k, centred at −π + (k + ½)Δφ, goes to n_phi − 1 − k);
* η → −η reverses the η axis; it is a symmetry only when the η range is symmetric.

All functions accept numpy arrays and torch tensors; random choices come from an explicit
``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError
from calolab.events.images import ImageConfig


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def roll_phi(images: Any, shift: int) -> Any:
    """Rotate by ``shift`` pixels in φ (cyclic roll of the last axis)."""
    if _is_torch(images):
        import torch

        return torch.roll(images, shifts=int(shift), dims=-1)
    return np.roll(images, int(shift), axis=-1)


def flip_phi(images: Any) -> Any:
    """φ → −φ (reverse the last axis)."""
    if _is_torch(images):
        return images.flip(-1)
    return np.flip(images, axis=-1).copy()


def flip_eta(images: Any) -> Any:
    """η → −η (reverse the η axis); the image η range must be symmetric."""
    if _is_torch(images):
        return images.flip(-2)
    return np.flip(images, axis=-2).copy()


@dataclass(frozen=True)
class Augmentation:
    """Which random symmetry operations to apply to each training image.

    Parameters
    ----------
    phi_roll:
        Rotate every image by a uniformly drawn whole number of φ pixels.
    eta_flip, phi_flip:
        Flip with probability ½ each.
    """

    phi_roll: bool = True
    eta_flip: bool = True
    phi_flip: bool = True

    @property
    def enabled(self) -> bool:
        return self.phi_roll or self.eta_flip or self.phi_flip

    def check(self, config: ImageConfig) -> None:
        """Refuse η flips of images whose η range is not symmetric about 0."""
        if self.eta_flip and not config.eta_symmetric:
            raise ConfigError(
                f"eta_flip needs a symmetric image eta range, got [{config.eta_min}, "
                f"{config.eta_max}]; make it symmetric or switch eta flips off"
            )

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Augmentation:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown augmentation option(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def parse(cls, text: str) -> Augmentation:
        """From a comma-separated list such as ``"phi_roll,eta_flip"``; ``"none"`` or ``""``
        switches everything off, ``"all"`` everything on."""
        items = {s.strip().replace("-", "_") for s in text.split(",") if s.strip()}
        if items in (set(), {"none"}):
            return cls(False, False, False)
        if items == {"all"}:
            return cls()
        known = {f.name for f in fields(cls)}
        bad = sorted(items - known)
        if bad:
            raise ConfigError(
                f"unknown augmentation {bad}; choose from {sorted(known)}, 'all' or 'none'"
            )
        return cls(**{k: k in items for k in known})

    def draw(self, rng: np.random.Generator, n: int, n_phi: int) -> dict[str, np.ndarray]:
        """Random parameters for ``n`` images: φ shifts and flip flags."""
        shift = rng.integers(0, n_phi, size=n) if self.phi_roll else np.zeros(n, np.int64)
        eflip = rng.random(n) < 0.5 if self.eta_flip else np.zeros(n, bool)
        pflip = rng.random(n) < 0.5 if self.phi_flip else np.zeros(n, bool)
        return {"shift": shift, "eta_flip": eflip, "phi_flip": pflip}

    def apply(self, image: Any, rng: np.random.Generator) -> Any:
        """One image ``(C, n_eta, n_phi)`` (numpy or torch), randomly transformed."""
        p = self.draw(rng, 1, image.shape[-1])
        return _apply_one(image, int(p["shift"][0]), bool(p["eta_flip"][0]), bool(p["phi_flip"][0]))

    def apply_batch(self, images: Any, rng: np.random.Generator) -> Any:
        """A batch ``(N, C, n_eta, n_phi)``, each image with its own random transformation."""
        p = self.draw(rng, images.shape[0], images.shape[-1])
        if _is_torch(images):
            return transform_batch(images, p["shift"], p["eta_flip"], p["phi_flip"])
        out = [
            _apply_one(
                images[i], int(p["shift"][i]), bool(p["eta_flip"][i]), bool(p["phi_flip"][i])
            )
            for i in range(images.shape[0])
        ]
        if _is_torch(images):
            import torch

            return torch.stack(out) if out else images
        return np.stack(out) if out else images


def _apply_one(image: Any, shift: int, eflip: bool, pflip: bool) -> Any:
    if shift:
        image = roll_phi(image, shift)
    if eflip:
        image = flip_eta(image)
    if pflip:
        image = flip_phi(image)
    return image


def transform_batch(
    images: Any, shift: np.ndarray, eta_flip: np.ndarray, phi_flip: np.ndarray
) -> Any:
    """Vectorised per-image transformation of a torch batch ``(N, C, n_eta, n_phi)``: roll
    image i by ``shift[i]`` φ pixels, then flip η and φ where the flags say so (the same
    result as :meth:`Augmentation.apply` image by image)."""
    import torch

    n, c, h, w = images.shape
    dev = images.device
    cols = (torch.arange(w, device=dev)[None, :] - torch.as_tensor(shift, device=dev)[:, None]) % w
    out = torch.gather(images, 3, cols[:, None, None, :].expand(n, c, h, w))
    ef = torch.as_tensor(eta_flip, device=dev)[:, None, None, None]
    out = torch.where(ef, out.flip(-2), out)
    pf = torch.as_tensor(phi_flip, device=dev)[:, None, None, None]
    return torch.where(pf, out.flip(-1), out)
