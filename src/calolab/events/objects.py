"""Reconstructed objects of collision events: calorimeter towers and tracks.

Both the Delphes importer (:mod:`calolab.events.delphes`) and the built-in detector response
(:mod:`calolab.events.response`) produce :class:`EventObjects`; the image builder
(:mod:`calolab.events.images`) turns them into η–φ images.

Towers are ragged per event with columns ``eta``, ``phi`` (rad), ``et_em`` and ``et_had``
(transverse energy in the electromagnetic and hadronic calorimeter, GeV). Tracks have
columns ``pt`` (GeV), ``eta`` and ``phi``: the position used for images (at the calorimeter
surface when the source provides it, see the importer). ``info`` holds per-event arrays
(event number, process code, p̂_T, weight, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from calolab.core.errors import DataError
from calolab.data.showers import Ragged

TOWER_COLUMNS = ("eta", "phi", "et_em", "et_had")
TRACK_COLUMNS = ("pt", "eta", "phi")


def ragged_from_counts(counts: np.ndarray, columns: dict[str, np.ndarray]) -> Ragged:
    """A :class:`Ragged` from per-event counts ``(N,)`` and flat columns."""
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    for k, v in columns.items():
        if len(v) != offsets[-1]:
            raise DataError(f"column '{k}' has {len(v)} entries, counts sum to {offsets[-1]}")
    return Ragged(offsets, dict(columns))


def empty_ragged(n_events: int, names: Sequence[str]) -> Ragged:
    return Ragged(
        np.zeros(n_events + 1, dtype=np.int64), {k: np.zeros(0, np.float32) for k in names}
    )


def event_index(r: Ragged) -> np.ndarray:
    """Event number of every flat entry, shape ``(offsets[-1],)``."""
    return np.repeat(np.arange(len(r.offsets) - 1), np.diff(r.offsets))


@dataclass
class EventObjects:
    """Towers and tracks of ``N`` events (see module docstring for the columns and units)."""

    towers: Ragged
    tracks: Ragged
    info: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.towers.offsets) - 1
        if len(self.tracks.offsets) - 1 != n:
            raise DataError(f"towers describe {n} events but tracks {len(self.tracks.offsets) - 1}")
        for name, r, cols in (
            ("towers", self.towers, TOWER_COLUMNS),
            ("tracks", self.tracks, TRACK_COLUMNS),
        ):
            missing = [c for c in cols if c not in r.columns]
            if missing:
                raise DataError(f"{name} lack the columns {missing}; they need {list(cols)}")
        for k, v in self.info.items():
            if len(v) != n:
                raise DataError(f"info '{k}' has {len(v)} entries for {n} events")

    def __len__(self) -> int:
        return len(self.towers.offsets) - 1

    def subset(self, idx: np.ndarray | slice) -> EventObjects:
        if isinstance(idx, slice):
            idx = np.arange(len(self))[idx]
        idx = np.asarray(idx, dtype=np.int64)
        return EventObjects(
            self.towers.subset(idx),
            self.tracks.subset(idx),
            {k: v[idx] for k, v in self.info.items()},
        )

    @staticmethod
    def concatenate(parts: Sequence[EventObjects]) -> EventObjects:
        if not parts:
            raise DataError("nothing to concatenate")
        keys = set(parts[0].info)
        for p in parts[1:]:
            if set(p.info) != keys:
                raise DataError(
                    f"cannot concatenate events with info {sorted(keys)} and {sorted(p.info)}"
                )
        return EventObjects(
            Ragged.concatenate([p.towers for p in parts]),
            Ragged.concatenate([p.tracks for p in parts]),
            {k: np.concatenate([p.info[k] for p in parts]) for k in parts[0].info},
        )
