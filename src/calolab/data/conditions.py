"""Detector conditions: dead and noisy channels, stored with a dataset.

A :class:`ChannelConditions` holds one flag per cell (``dead``), an optional extra noise per
cell (``noise_gev``, the σ of a Gaussian added to the digitised energy of noisy channels) and
its provenance (how the mask was made: random fraction and seed, clustered blocks, a map
file). :func:`apply_conditions` makes a batch of :class:`~calolab.data.showers.Showers` obey
them: dead cells read zero in every event, in the true visible energies (``cells``), the
digitised energies and the cell times alike; noisy cells get their extra noise in the
digitised energies, drawn from a per-event stream so the same seed gives the same events
whatever the batch size.

In an HDF5 file (:mod:`calolab.data.hdf5`)::

    /calolab/conditions            attrs: json (the provenance)
    /calolab/conditions/dead       (n_cells,) uint8, 1 = dead
    /calolab/conditions/noise_gev  (n_cells,) float32, extra noise σ in GeV (0: none)

Masks are made by :func:`random_dead`, :func:`clustered_dead` (whole blocks of cells of one
readout layer, e.g. a readout board) or read from a map file by :func:`read_dead_map`:

* a text file (any suffix but ``.toml``): global cell indices, whitespace or comma
  separated, ``#`` starts a comment;
* a TOML file::

      cells = [12, 13, 977]           # global cell indices (optional)

      [[regions]]                     # a per-section pattern, e.g. a readout board
      section = "ecal"                # section name (required)
      layers = [0, 3]                 # readout layers of the section, first-last (default all)
      x = [0, 7]                      # cell columns ix, first-last (default all)
      y = [8, 15]                     # cell rows iy, first-last (default all)

      [[noisy]]                       # extra noise (same selectors as a region, or cells)
      cells = [40, 41]
      sigma_mev = 5.0

Cell index conventions are those of ``showers``: readout layers front to back, each in C
order over ``(ix, iy)`` (``index = offset + ix * ny + iy``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError, DataError
from calolab.geometry.detector import Calorimeter

#: Random stream of the extra noise of noisy cells (the simulator uses 0 and 1).
NOISE_STREAM = 2

#: Cells per side of a clustered block (a readout board) unless told otherwise.
DEFAULT_BLOCK = (4, 4)


@dataclass(frozen=True)
class ChannelConditions:
    """Dead and noisy channels of one detector.

    Parameters
    ----------
    dead:
        ``(n_cells,)`` bool, True where the channel is dead.
    noise_gev:
        ``(n_cells,)`` float32, extra Gaussian noise σ (GeV) of noisy channels, or ``None``.
    provenance:
        How the conditions were made (JSON-serialisable).
    """

    dead: np.ndarray
    noise_gev: np.ndarray | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dead = np.asarray(self.dead)
        if dead.ndim != 1:
            raise DataError(f"conditions: dead must be one flag per cell, got shape {dead.shape}")
        object.__setattr__(self, "dead", dead.astype(bool))
        if self.noise_gev is not None:
            noise = np.asarray(self.noise_gev, dtype=np.float32)
            if noise.shape != dead.shape:
                raise DataError(f"conditions: noise_gev has shape {noise.shape}, dead {dead.shape}")
            if not np.all(np.isfinite(noise)) or np.any(noise < 0):
                raise DataError("conditions: noise_gev must be finite and >= 0")
            object.__setattr__(self, "noise_gev", noise if np.any(noise > 0) else None)

    @property
    def n_cells(self) -> int:
        return int(self.dead.shape[0])

    @property
    def dead_fraction(self) -> float:
        return float(self.dead.mean()) if self.n_cells else 0.0

    @property
    def n_dead(self) -> int:
        return int(self.dead.sum())

    @staticmethod
    def none(n_cells: int) -> ChannelConditions:
        """No dead or noisy channel."""
        return ChannelConditions(np.zeros(n_cells, dtype=bool), None, {"kind": "none"})

    def combine(self, other: ChannelConditions) -> ChannelConditions:
        """Both sets of conditions at once (dead in either; noises added in quadrature)."""
        if other.n_cells != self.n_cells:
            raise DataError(
                f"conditions for {other.n_cells} cells cannot combine with {self.n_cells}"
            )
        noise = None
        if self.noise_gev is not None or other.noise_gev is not None:
            a = self.noise_gev if self.noise_gev is not None else 0.0
            b = other.noise_gev if other.noise_gev is not None else 0.0
            noise = np.sqrt(np.square(a) + np.square(b)).astype(np.float32)
        prov = {"kind": "combined", "parts": [self.provenance, other.provenance]}
        if self.provenance.get("kind") == "none":
            prov = other.provenance
        return ChannelConditions(self.dead | other.dead, noise, prov)

    def to_json(self) -> dict[str, Any]:
        """Summary for metrics and reports (not the mask itself)."""
        return {
            "dead_fraction": self.dead_fraction,
            "n_dead": self.n_dead,
            "n_noisy": int(np.count_nonzero(self.noise_gev)) if self.noise_gev is not None else 0,
            "provenance": self.provenance,
        }


# ---------------------------------------------------------------------------- making masks
def check_fraction(fraction: object, name: str = "dead fraction") -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
        raise ConfigError(f"{name} {fraction!r} must be a number in [0, 1)")
    f = float(fraction)
    if not np.isfinite(f) or not 0.0 <= f < 1.0:
        raise ConfigError(f"{name} {fraction!r} must be in [0, 1) (0.05 = 5 % of the cells)")
    return f


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ConfigError(f"dead-channel seed {seed!r} must be an integer >= 0")
    return int(seed)


def random_dead(n_cells: int, fraction: float, seed: int = 0) -> ChannelConditions:
    """``round(fraction × n_cells)`` dead cells chosen uniformly, without replacement."""
    f = check_fraction(fraction)
    seed = _check_seed(seed)
    k = int(round(f * n_cells))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xDEAD,)))
    dead = np.zeros(n_cells, dtype=bool)
    dead[rng.choice(n_cells, size=k, replace=False)] = True
    return ChannelConditions(dead, None, {"kind": "random", "fraction": f, "seed": seed})


def blocks(detector: Calorimeter, block: tuple[int, int] = DEFAULT_BLOCK) -> list[np.ndarray]:
    """The cells of the detector cut into blocks of ``block = (bx, by)`` cells of one readout
    layer (edge blocks are smaller): the units of clustered failures (readout boards)."""
    bx, by = block
    if bx < 1 or by < 1:
        raise ConfigError(f"block {block} must be at least 1x1 cells")
    out = []
    for r in detector.readout_layers:
        ix, iy = np.meshgrid(np.arange(r.nx), np.arange(r.ny), indexing="ij")
        label = (ix // bx) * (-(-r.ny // by)) + iy // by
        flat = label.reshape(-1)
        for b in range(int(flat.max()) + 1):
            out.append(r.offset + np.flatnonzero(flat == b))
    return out


def clustered_dead(
    detector: Calorimeter,
    fraction: float,
    seed: int = 0,
    block: tuple[int, int] = DEFAULT_BLOCK,
) -> ChannelConditions:
    """Whole blocks of ``block`` cells of one readout layer dead (e.g. readout boards), chosen
    at random until ``fraction`` of the cells is reached (the last block may overshoot by
    less than one block)."""
    f = check_fraction(fraction)
    seed = _check_seed(seed)
    parts = blocks(detector, block)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xB0A2D,)))
    order = rng.permutation(len(parts))
    dead = np.zeros(detector.n_channels, dtype=bool)
    target = int(round(f * detector.n_channels))
    for b in order:
        if dead.sum() >= target:
            break
        dead[parts[b]] = True
    return ChannelConditions(
        dead,
        None,
        {"kind": "clustered", "fraction": f, "seed": seed, "block": list(block)},
    )


def _range(where: str, value: object, n: int, what: str) -> tuple[int, int]:
    if value is None:
        return 0, n - 1
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{where}: {what} {value!r} must be [first, last] (integers)")
    a, b = value
    if not 0 <= a <= b < n:
        raise ConfigError(f"{where}: {what} {value} must lie within 0..{n - 1}, first <= last")
    return a, b


def region_cells(detector: Calorimeter, table: dict[str, Any], where: str) -> np.ndarray:
    """Global cell indices selected by a ``{section, layers, x, y}`` or ``{cells}`` table."""
    if "cells" in table:
        return _cell_list(detector.n_channels, table["cells"], f"{where}: cells")
    if "section" not in table:
        raise ConfigError(f"{where}: give 'section' (with optional layers, x, y) or 'cells'")
    name = table["section"]
    layers = [r for r in detector.readout_layers if r.section == name]
    if not layers:
        known = ", ".join(s.name for s in detector.sections)
        raise ConfigError(f"{where}: section {name!r} is not in detector (sections: {known})")
    la, lb = _range(where, table.get("layers"), len(layers), "layers")
    out = []
    for r in layers[la : lb + 1]:
        xa, xb = _range(where, table.get("x"), r.nx, "x")
        ya, yb = _range(where, table.get("y"), r.ny, "y")
        ix, iy = np.meshgrid(np.arange(xa, xb + 1), np.arange(ya, yb + 1), indexing="ij")
        out.append(r.offset + (ix * r.ny + iy).reshape(-1))
    return np.concatenate(out)


def _cell_list(n_cells: int, values: object, where: str) -> np.ndarray:
    if not isinstance(values, (list, tuple, np.ndarray)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values
    ):
        raise ConfigError(f"{where} must be a list of integer cell indices")
    idx = np.asarray(values, dtype=np.int64)
    bad = idx[(idx < 0) | (idx >= n_cells)]
    if len(bad):
        raise ConfigError(
            f"{where}: cell index {int(bad[0])} is outside 0..{n_cells - 1} "
            f"({len(bad)} such indices); indices count readout layers front to back, each in "
            "C order over (ix, iy)"
        )
    return idx


_MAP_KEYS = {"cells", "regions", "noisy"}
_REGION_KEYS = {"section", "layers", "x", "y", "cells"}


def read_dead_map(path: str | os.PathLike[str], detector: Calorimeter) -> ChannelConditions:
    """Dead (and noisy) channels from a map file (format in the module docstring)."""
    from calolab.core.config import read_toml
    from calolab.core.files import check_input

    p = Path(path)
    where = f"dead map '{p}'"
    if not p.is_file():
        raise ConfigError(f"{where} does not exist (give a text file of cell indices or TOML)")
    check_input(p)
    n = detector.n_channels
    dead = np.zeros(n, dtype=bool)
    noise = np.zeros(n, dtype=np.float32)
    if p.suffix.lower() != ".toml":
        text = re.sub(r"#[^\n]*", "", p.read_text(encoding="utf-8", errors="replace"))
        tokens = [t for t in re.split(r"[\s,]+", text) if t]
        try:
            values = [int(t) for t in tokens]
        except ValueError:
            bad = next(t for t in tokens if not re.fullmatch(r"[+-]?\d+", t))
            raise ConfigError(
                f"{where}: {bad!r} is not a cell index (a text map holds integers; use a "
                ".toml file for sections and regions)"
            ) from None
        dead[_cell_list(n, values, where)] = True
    else:
        table = read_toml(p)
        unknown = sorted(set(table) - _MAP_KEYS)
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)}; known: cells, " "regions, noisy"
            )
        if "cells" in table:
            dead[_cell_list(n, table["cells"], f"{where}: cells")] = True
        for i, reg in enumerate(table.get("regions", [])):
            w = f"{where}: regions[{i}]"
            if not isinstance(reg, dict) or set(reg) - _REGION_KEYS:
                raise ConfigError(f"{w} must be a table with keys {sorted(_REGION_KEYS)}")
            dead[region_cells(detector, reg, w)] = True
        for i, reg in enumerate(table.get("noisy", [])):
            w = f"{where}: noisy[{i}]"
            if not isinstance(reg, dict) or set(reg) - (_REGION_KEYS | {"sigma_mev"}):
                raise ConfigError(
                    f"{w} must be a table with keys {sorted(_REGION_KEYS)} and " "sigma_mev"
                )
            sigma = reg.get("sigma_mev")
            if (
                isinstance(sigma, bool)
                or not isinstance(sigma, (int, float))
                or not (np.isfinite(sigma) and sigma > 0)
            ):
                raise ConfigError(f"{w}: sigma_mev {sigma!r} must be a number > 0 (MeV)")
            sel = region_cells(detector, {k: v for k, v in reg.items() if k != "sigma_mev"}, w)
            noise[sel] = np.sqrt(noise[sel] ** 2 + (sigma * 1e-3) ** 2)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    return ChannelConditions(dead, noise, {"kind": "map", "file": str(p), "sha256": digest})


def make_conditions(
    detector: Calorimeter,
    *,
    fraction: float | None = None,
    seed: int = 0,
    clustered: bool = False,
    block: tuple[int, int] = DEFAULT_BLOCK,
    dead_map: str | os.PathLike[str] | None = None,
) -> ChannelConditions | None:
    """The conditions asked for by the command-line options (``None``: nothing asked).

    A random (or clustered) fraction and a map may be combined: both sets are dead.
    """
    out = None
    if dead_map is not None:
        out = read_dead_map(dead_map, detector)
    if fraction is not None:
        made = (
            clustered_dead(detector, fraction, seed, block)
            if clustered
            else random_dead(detector.n_channels, fraction, seed)
        )
        out = made if out is None else out.combine(made)
    return out


# ---------------------------------------------------------------------------- applying
def noise_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of the extra noise of event ``index``."""
    ss = np.random.SeedSequence(seed, spawn_key=(index, NOISE_STREAM))
    return np.random.Generator(np.random.PCG64(ss))


def apply_conditions(
    showers: Any,
    conditions: ChannelConditions,
    *,
    seed: int = 0,
    first_event: int = 0,
) -> Any:
    """A copy of ``showers`` (:class:`~calolab.data.showers.Showers`) with ``conditions``
    applied: dead cells zero in ``cells``, ``digitized``, ``times`` and ``digitized_times``;
    noisy cells get Gaussian noise of their σ in ``digitized`` (event ``i`` of the batch uses
    :func:`noise_rng` ``(seed, first_event + i)``). Conditions already stored with the showers
    are combined with the new ones."""
    if conditions.n_cells != showers.n_cells:
        raise DataError(
            f"conditions for {conditions.n_cells} cells do not fit showers with "
            f"{showers.n_cells} cells"
        )
    dead = conditions.dead

    def kill(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        out = np.array(a, copy=True)
        out[:, dead] = 0
        return out

    digitized = kill(showers.digitized)
    if conditions.noise_gev is not None and digitized is not None:
        noisy = np.flatnonzero((conditions.noise_gev > 0) & ~dead)
        sigma = conditions.noise_gev[noisy]
        for j in range(len(digitized)):
            rng = noise_rng(seed, first_event + j)
            digitized[j, noisy] += (rng.standard_normal(len(noisy)) * sigma).astype(np.float32)
    stored = getattr(showers, "conditions", None)
    combined = stored.combine(conditions) if stored is not None else conditions
    if conditions.noise_gev is not None:
        combined = replace(combined, provenance={**combined.provenance, "noise_seed": int(seed)})
    return replace(
        showers,
        cells=kill(showers.cells),
        digitized=digitized,
        times=kill(getattr(showers, "times", None)),
        digitized_times=kill(getattr(showers, "digitized_times", None)),
        conditions=combined,
    )


def apply_conditions_to_file(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    conditions: ChannelConditions,
    *,
    seed: int = 0,
    batch_size: int = 1024,
) -> Path:
    """Apply ``conditions`` to every event of the HDF5 file ``path`` and write ``output``
    (streamed batch by batch through :class:`~calolab.data.hdf5.ShowerWriter`: atomic, under
    the output's lock, refused if the output is the input). The provenance of the input is
    kept and the conditions are added to it (``provenance["conditions_applied"]``)."""
    from calolab.core.files import check_output
    from calolab.data.hdf5 import ShowerFile, ShowerWriter

    check_output(output, inputs=[path])
    seed = _check_seed(seed)
    with ShowerFile(path) as f:
        if f.n_cells != conditions.n_cells:
            raise ConfigError(
                f"the conditions cover {conditions.n_cells} cells but '{path}' has "
                f"{f.n_cells} cells per event (make them for the file's detector)"
            )
        prov = dict(f.provenance)
        applied = list(prov.get("conditions_applied", []))
        applied.append({**conditions.to_json(), "seed": seed, "input": str(path)})
        prov["conditions_applied"] = applied
        with ShowerWriter(output, f.detector, prov, inputs=[path]) as w:
            for a in range(0, len(f), batch_size):
                batch = f.read(a, a + batch_size)
                w.append(apply_conditions(batch, conditions, seed=seed, first_event=a))
    return Path(output)


def event_dead_masks(
    indices: np.ndarray, n_cells: int, max_fraction: float, seed: int = 0
) -> np.ndarray:
    """Random dead-cell masks for training with dead channels (``--dead-augment``).

    Event ``i`` gets its own mask: a fraction ``u · max_fraction`` of its cells dead, with
    ``u`` uniform in [0, 1), drawn from ``SeedSequence(seed, spawn_key=(i, 0xA6))`` — the same
    mask for the same event whatever the batch, so the scalar inputs and the grids agree.
    Returns ``(len(indices), n_cells)`` bool."""
    f = check_fraction(max_fraction, "dead_augment")
    idx = np.asarray(indices, dtype=np.int64)
    out = np.zeros((len(idx), n_cells), dtype=bool)
    if f == 0.0:
        return out
    for j, i in enumerate(idx):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(i), 0xA6)))
        frac = rng.random() * f
        out[j] = rng.random(n_cells) < frac
    return out


def mask_batch(cells: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """``cells`` (N, n_cells) with the ``dead`` cells zeroed, in place; returns ``cells``."""
    cells[:, dead] = 0
    return cells


def conditions_to_attrs(conditions: ChannelConditions) -> str:
    return json.dumps(conditions.provenance, sort_keys=True, default=str)


def parse_block(text: str) -> tuple[int, int]:
    """``"4x4"`` → ``(4, 4)`` (the cells of a clustered block)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", str(text))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ConfigError(f"--dead-block {text!r} must be two sizes like 4x4 (cells in x and y)")
    return int(m.group(1)), int(m.group(2))


def parse_fractions(text: str, name: str = "--dead-scan") -> list[float]:
    """``"0,0.05,0.1"`` → fractions in [0, 1)."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ConfigError(
            f"{name} {text!r} must be comma-separated fractions like " "0,0.05,0.1,0.2"
        ) from None
    if not values:
        raise ConfigError(f"{name} is empty; give fractions like 0,0.05,0.1,0.2")
    return [check_fraction(v, name) for v in values]


__all__ = [
    "DEFAULT_BLOCK",
    "ChannelConditions",
    "apply_conditions",
    "apply_conditions_to_file",
    "blocks",
    "clustered_dead",
    "event_dead_masks",
    "make_conditions",
    "mask_batch",
    "noise_rng",
    "parse_block",
    "parse_fractions",
    "random_dead",
    "read_dead_map",
    "region_cells",
]
