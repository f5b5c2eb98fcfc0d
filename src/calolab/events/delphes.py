"""Import Delphes ROOT files (read with uproot) into towers, tracks and event images.

Which branches are used (the choice is logged and stored in the output's provenance):

* calorimeter: ``Tower`` when the tree has it; otherwise the energy-flow neutrals
  ``EFlowPhoton`` + ``EFlowNeutralHadron`` (both are needed). Each entry's E_T is split into
  ECAL and HCAL E_T in the ratio of its ``Eem`` and ``Ehad``; when those are absent,
  ``EFlowPhoton`` counts as ECAL and ``EFlowNeutralHadron`` as HCAL.
* tracks: ``EFlowTrack`` when present, otherwise ``Track``. Entries with a non-positive or
  non-finite p_T or a non-finite or sentinel η (Delphes writes η = 999.9 for a zero vector)
  are skipped and counted. Tracks are placed at the calorimeter surface (``EtaOuter``,
  ``PhiOuter``) when the branch has those, so that they overlay the towers; otherwise at the
  vertex (``Eta``, ``Phi``).

Either choice can be forced (``towers="Tower"``, ``tracks="Track"``, ``track_position=``);
a file where nothing fits raises :class:`~calolab.core.errors.DataError` listing what the tree has.

Memory is bounded whatever the file claims: entries are read in steps whose baskets (which
uproot inflates whole) declare at most ``max_step_bytes`` uncompressed bytes (default: the
chunk limit of :class:`calolab.data.hdf5.ReadLimits`, 256 MiB or 1/16 of the memory; CLI
``--max-chunk-mb``); an entry that alone needs more is refused, naming the limit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError, DataError, require
from calolab.core.files import check_input, check_output
from calolab.data.rootio import Baskets, plan_steps
from calolab.events.images import ImageConfig, in_range
from calolab.events.objects import EventObjects, ragged_from_counts

log = logging.getLogger(__name__)

TOWER_FIELDS = ("ET", "Eta", "Phi")
SPLIT_FIELDS = ("Eem", "Ehad")
TRACK_FIELDS = ("PT", "Eta", "Phi")
OUTER_FIELDS = ("EtaOuter", "PhiOuter")
#: |η| above this is a Delphes sentinel (η of a zero vector is written as 999.9).
ETA_SENTINEL = 100.0
#: Leaves of the Event branch stored with the events (when present).
EVENT_LEAVES = ("Event.Number", "Event.ProcessID", "Event.Weight")
#: Calorimeter role of branches that carry no Eem/Ehad split.
DEFAULT_ROLE = {"EFlowPhoton": "ecal", "EFlowNeutralHadron": "hcal"}


@dataclass(frozen=True)
class DelphesBranches:
    """The branches an import reads (see the module docstring for how they are chosen)."""

    tree: str
    towers: tuple[str, ...]
    tracks: str | None
    track_position: str  # "calorimeter" (EtaOuter/PhiOuter) or "vertex" (Eta/Phi)
    split: dict[str, str] = field(default_factory=dict)  # branch -> "Eem/Ehad", "ecal", "hcal"

    def describe(self) -> str:
        towers = " + ".join(f"{b} ({self.split[b]})" for b in self.towers)
        if self.tracks is None:
            tracks = "no tracks"
        else:
            where = "EtaOuter/PhiOuter" if self.track_position == "calorimeter" else "Eta/Phi"
            tracks = f"{self.tracks} at {where}"
        return f"tree '{self.tree}': towers from {towers}; tracks from {tracks}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportStats:
    """What an import read and skipped."""

    n_events: int = 0
    n_towers: int = 0
    n_tracks: int = 0
    skipped_towers: int = 0
    skipped_tracks: int = 0

    def add(self, other: ImportStats) -> None:
        for k in asdict(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _uproot() -> Any:
    require("awkward", "root", "reading Delphes ROOT files")
    return require("uproot", "root", "reading Delphes ROOT files")


def open_tree(path: str | os.PathLike[str], tree: str | None = None) -> tuple[Any, str]:
    """Open the Delphes tree of a ROOT file: ``tree`` or the only/``Delphes`` TTree."""
    uproot = _uproot()
    p = check_input(path, what="Delphes file")
    if not p.exists():
        raise DataError(f"Delphes file '{p}' does not exist")
    try:
        f = uproot.open(p)
    except Exception as exc:  # uproot raises several exception types for non-ROOT files
        raise DataError(
            f"'{p}' is not a readable ROOT file ({type(exc).__name__}: {exc})"
        ) from None
    try:
        classes = f.classnames()
    except Exception as exc:  # a damaged directory: uproot raises many kinds
        raise DataError(
            f"'{p}' is a damaged ROOT file: its directory cannot be read "
            f"({type(exc).__name__}: {exc})"
        ) from None
    trees = sorted({k.split(";")[0] for k, c in classes.items() if c in ("TTree", "TNtuple")})
    others = ", ".join(f"{k.split(';')[0]} ({c})" for k, c in classes.items() if c != "TTree")
    if tree is None:
        if "Delphes" in trees:
            tree = "Delphes"
        elif len(trees) == 1:
            tree = trees[0]
        else:
            raise DataError(
                f"'{p}' has no 'Delphes' tree (TTrees: {trees or 'none'}; other objects: "
                f"{others or 'none'}); name the tree to read with --tree"
            )
    if tree not in trees:
        raise DataError(
            f"'{p}' has no tree '{tree}' (TTrees: {trees or 'none'}; other objects: "
            f"{others or 'none'})"
        )
    try:
        return f[tree], tree
    except Exception as exc:  # damaged tree metadata: uproot raises many kinds
        raise DataError(
            f"'{p}': tree '{tree}' is damaged and cannot be read ({type(exc).__name__}: {exc})"
        ) from None


def _has(t: Any, branch: str, fields: Sequence[str]) -> bool:
    return all(f"{branch}.{x}" in t for x in fields)


def _collections(t: Any) -> list[str]:
    names = set()
    for k in t.keys(recursive=True):
        leaf = k.split("/")[-1]
        if "." in leaf:
            names.add(leaf.split(".")[0])
    return sorted(names)


def choose_branches(
    t: Any,
    tree_name: str,
    *,
    towers: str | Sequence[str] | None = None,
    tracks: str | None = None,
    track_position: str | None = None,
    source: str = "",
) -> DelphesBranches:
    """Pick the tower and track branches of an open Delphes tree (see module docstring)."""
    where = f"'{source}' tree '{tree_name}'" if source else f"tree '{tree_name}'"
    have = _collections(t)
    if towers is None:
        if _has(t, "Tower", TOWER_FIELDS):
            tower_list: tuple[str, ...] = ("Tower",)
        elif _has(t, "EFlowPhoton", TOWER_FIELDS) and _has(t, "EFlowNeutralHadron", TOWER_FIELDS):
            tower_list = ("EFlowPhoton", "EFlowNeutralHadron")
        else:
            partial = [b for b in ("EFlowPhoton", "EFlowNeutralHadron") if _has(t, b, TOWER_FIELDS)]
            extra = f" ({partial[0]} is there but not its partner)" if len(partial) == 1 else ""
            raise DataError(
                f"{where} has no calorimeter branch: calolab reads 'Tower', or "
                f"'EFlowPhoton' + 'EFlowNeutralHadron'{extra}, each with "
                f"{'/'.join(TOWER_FIELDS)}; the tree has {have or 'no object branches'}. "
                "Choose branches with --towers"
            )
    else:
        tower_list = (towers,) if isinstance(towers, str) else tuple(towers)
        if not tower_list:
            raise ConfigError("towers: give at least one branch name")
        for b in tower_list:
            if not _has(t, b, TOWER_FIELDS):
                raise DataError(
                    f"{where}: tower branch '{b}' does not exist or lacks "
                    f"{'/'.join(TOWER_FIELDS)}; the tree has {have}"
                )
    split = {}
    for b in tower_list:
        if _has(t, b, SPLIT_FIELDS):
            split[b] = "Eem/Ehad"
        elif b in DEFAULT_ROLE:
            split[b] = DEFAULT_ROLE[b]
        else:
            raise DataError(
                f"{where}: branch '{b}' has no Eem/Ehad, so its energy cannot be split into "
                "ECAL and HCAL; use a Delphes Tower or EFlow branch"
            )
    if tracks is None:
        track_name = next((b for b in ("EFlowTrack", "Track") if _has(t, b, TRACK_FIELDS)), None)
        if track_name is None:
            raise DataError(
                f"{where} has no track branch: calolab reads 'EFlowTrack' or 'Track' with "
                f"{'/'.join(TRACK_FIELDS)}; the tree has {have}. Use --tracks none for images "
                "without the track channel"
            )
    elif tracks.lower() == "none":
        track_name = None
    else:
        if not _has(t, tracks, TRACK_FIELDS):
            raise DataError(
                f"{where}: track branch '{tracks}' does not exist or lacks "
                f"{'/'.join(TRACK_FIELDS)}; the tree has {have}"
            )
        track_name = tracks
    outer = track_name is not None and _has(t, track_name, OUTER_FIELDS)
    if track_position is None:
        position = "calorimeter" if outer else "vertex"
    elif track_position in ("calorimeter", "vertex"):
        position = track_position
        if position == "calorimeter" and track_name is not None and not outer:
            raise DataError(
                f"{where}: track branch '{track_name}' has no EtaOuter/PhiOuter; "
                "use track_position='vertex'"
            )
    else:
        raise ConfigError(f"track_position {track_position!r} must be 'calorimeter' or 'vertex'")
    return DelphesBranches(tree_name, tower_list, track_name, position, split)


def inspect_delphes(
    path: str | os.PathLike[str],
    *,
    tree: str | None = None,
    towers: str | Sequence[str] | None = None,
    tracks: str | None = None,
    track_position: str | None = None,
) -> DelphesBranches:
    """The branches :func:`read_delphes` would use for ``path``."""
    t, name = open_tree(path, tree)
    return choose_branches(
        t, name, towers=towers, tracks=tracks, track_position=track_position, source=str(path)
    )


def _flat(
    arrays: Any, name: str, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Values and per-event counts of the branch ``name``; with ``counts``, the branch must
    have that many entries in every event (the fields of one Delphes collection agree)."""
    import awkward as ak

    try:
        arr = arrays[name]
        n = np.asarray(ak.num(arr, axis=1), dtype=np.int64)
        values = np.asarray(ak.flatten(arr, axis=1).to_numpy(), dtype=np.float64)
    except (ValueError, TypeError, IndexError) as exc:  # e.g. one number per event
        raise DataError(
            f"branch '{name}' is not a list of numbers per event ({type(exc).__name__}: {exc})"
        ) from None
    if counts is not None and not np.array_equal(n, counts):
        bad = int(np.flatnonzero(n != counts)[0]) if len(n) == len(counts) else 0
        raise DataError(
            f"branch '{name}' has {int(n[bad]) if len(n) else 0} entries in event {bad} where "
            f"the other fields of '{name.split('.')[0]}' have "
            f"{int(counts[bad]) if len(counts) else 0}; the file is inconsistent"
        )
    return values, n


def _objects_from_arrays(arrays: Any, br: DelphesBranches) -> tuple[EventObjects, ImportStats]:
    """Convert one chunk of uproot arrays (fields named '<branch>.<leaf>')."""
    stats = ImportStats()
    n = len(arrays)
    stats.n_events = n
    t_eta, t_phi, t_em, t_had, t_ev = [], [], [], [], []
    for b in br.towers:
        et, counts = _flat(arrays, f"{b}.ET")
        eta, _ = _flat(arrays, f"{b}.Eta", counts)
        phi, _ = _flat(arrays, f"{b}.Phi", counts)
        ev = np.repeat(np.arange(n), counts)
        if br.split[b] == "Eem/Ehad":
            eem, _ = _flat(arrays, f"{b}.Eem", counts)
            ehad, _ = _flat(arrays, f"{b}.Ehad", counts)
            tot = eem + ehad
            with np.errstate(invalid="ignore", divide="ignore"):
                f_em = np.where(tot > 0, eem / np.where(tot > 0, tot, 1.0), np.nan)
        else:
            f_em = np.full(len(et), 1.0 if br.split[b] == "ecal" else 0.0)
        ok = (
            np.isfinite(et)
            & (et >= 0)
            & np.isfinite(eta)
            & (np.abs(eta) < ETA_SENTINEL)
            & np.isfinite(phi)
            & np.isfinite(f_em)
        )
        stats.skipped_towers += int((~ok).sum())
        t_eta.append(eta[ok])
        t_phi.append(phi[ok])
        t_em.append(et[ok] * f_em[ok])
        t_had.append(et[ok] * (1.0 - f_em[ok]))
        t_ev.append(ev[ok])
    ev = np.concatenate(t_ev)
    order = np.argsort(ev, kind="stable")
    towers = ragged_from_counts(
        np.bincount(ev, minlength=n),
        {
            "eta": np.concatenate(t_eta)[order].astype(np.float32),
            "phi": np.concatenate(t_phi)[order].astype(np.float32),
            "et_em": np.concatenate(t_em)[order].astype(np.float32),
            "et_had": np.concatenate(t_had)[order].astype(np.float32),
        },
    )
    stats.n_towers = int(towers.offsets[-1])
    if br.tracks is None:
        k_counts = np.zeros(n, np.int64)
        cols = {c: np.zeros(0, np.float32) for c in ("pt", "eta", "phi")}
    else:
        b = br.tracks
        pt, counts = _flat(arrays, f"{b}.PT")
        eta_v, _ = _flat(arrays, f"{b}.Eta", counts)
        phi_v, _ = _flat(arrays, f"{b}.Phi", counts)
        if br.track_position == "calorimeter":
            eta, _ = _flat(arrays, f"{b}.EtaOuter", counts)
            phi, _ = _flat(arrays, f"{b}.PhiOuter", counts)
        else:
            eta, phi = eta_v, phi_v
        ok = (
            np.isfinite(pt)
            & (pt > 0)
            & np.isfinite(eta_v)
            & (np.abs(eta_v) < ETA_SENTINEL)
            & np.isfinite(eta)
            & (np.abs(eta) < ETA_SENTINEL)
            & np.isfinite(phi)
        )
        stats.skipped_tracks += int((~ok).sum())
        ev = np.repeat(np.arange(n), counts)[ok]
        k_counts = np.bincount(ev, minlength=n)
        cols = {
            "pt": pt[ok].astype(np.float32),
            "eta": eta[ok].astype(np.float32),
            "phi": phi[ok].astype(np.float32),
        }
    tracks = ragged_from_counts(k_counts, cols)
    stats.n_tracks = int(tracks.offsets[-1])
    return EventObjects(towers, tracks), stats


def _expressions(br: DelphesBranches, t: Any) -> list[str]:
    ex = []
    for b in br.towers:
        ex += [f"{b}.{x}" for x in TOWER_FIELDS]
        if br.split[b] == "Eem/Ehad":
            ex += [f"{b}.{x}" for x in SPLIT_FIELDS]
    if br.tracks is not None:
        ex += [f"{br.tracks}.{x}" for x in TRACK_FIELDS]
        if br.track_position == "calorimeter":
            ex += [f"{br.tracks}.{x}" for x in OUTER_FIELDS]
    return ex


def _event_info(t: Any, start: int, stop: int) -> dict[str, np.ndarray]:
    import awkward as ak

    info: dict[str, np.ndarray] = {}
    for leaf, name, dtype in zip(
        EVENT_LEAVES, ("event_number", "process_code", "weight"), (np.int64, np.int32, np.float32)
    ):
        if leaf in t:
            a = t[leaf].array(entry_start=start, entry_stop=stop)
            if a.ndim > 1:
                a = ak.fill_none(ak.firsts(a, axis=1), 0)
            info[name] = np.asarray(ak.to_numpy(a), dtype=dtype)
    return info


#: Steps bounded by the baskets they inflate live in calolab.data.rootio (shared with the
#: EDM4hep importer); the old names stay for callers of this module.
_Baskets = Baskets
_steps = plan_steps


def iter_delphes(
    path: str | os.PathLike[str],
    *,
    tree: str | None = None,
    towers: str | Sequence[str] | None = None,
    tracks: str | None = None,
    track_position: str | None = None,
    entry_start: int = 0,
    entry_stop: int | None = None,
    step: int = 1000,
    max_step_bytes: int | None = None,
) -> Iterator[tuple[EventObjects, ImportStats, DelphesBranches]]:
    """Stream a Delphes file in steps of at most ``step`` events whose baskets declare at
    most ``max_step_bytes`` uncompressed bytes (default: the chunk limit of
    :class:`calolab.data.hdf5.ReadLimits`)."""
    from calolab.data.hdf5 import ReadLimits

    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ConfigError(f"step {step!r} must be an integer >= 1")
    budget = max_step_bytes if max_step_bytes is not None else ReadLimits.from_env().max_chunk_bytes
    if budget <= 0:
        raise ConfigError(f"max_step_bytes {budget!r} must be > 0")
    t, name = open_tree(path, tree)
    br = choose_branches(
        t, name, towers=towers, tracks=tracks, track_position=track_position, source=str(path)
    )
    n = int(t.num_entries)
    stop = n if entry_stop is None else min(entry_stop, n)
    if entry_start < 0 or entry_start > stop:
        raise ConfigError(f"entry range [{entry_start}, {stop}) is empty or invalid for {n} events")
    ex = _expressions(br, t)
    baskets = _Baskets(t, ex + [leaf for leaf in EVENT_LEAVES if leaf in t], str(path))
    for a, b in _steps(baskets, entry_start, stop, step, budget, str(path)):
        try:
            arrays = t.arrays(ex, entry_start=a, entry_stop=b)
        except Exception as exc:
            raise DataError(
                f"'{path}': reading entries {a}-{b} of {ex} failed ({type(exc).__name__}: {exc})"
            ) from None
        obj, stats = _objects_from_arrays(arrays, br)
        try:
            obj.info.update(_event_info(t, a, b))
        except Exception as exc:  # damaged baskets: uproot raises many kinds
            raise DataError(
                f"'{path}': reading the Event branch of entries {a}-{b} failed "
                f"({type(exc).__name__}: {exc})"
            ) from None
        obj.info["entry"] = np.arange(a, b, dtype=np.int64)
        yield obj, stats, br


def read_delphes(
    path: str | os.PathLike[str], **kwargs: Any
) -> tuple[EventObjects, ImportStats, DelphesBranches]:
    """Read a whole Delphes file (or ``entry_start``/``entry_stop``) into memory.

    Returns the towers and tracks (:class:`EventObjects`), what was read and skipped
    (:class:`ImportStats`) and the branches used (:class:`DelphesBranches`). Keyword
    arguments are those of :func:`iter_delphes`.
    """
    parts, total = [], ImportStats()
    br: DelphesBranches | None = None
    for obj, stats, used in iter_delphes(path, **kwargs):
        parts.append(obj)
        total.add(stats)
        br = used
    if not parts or br is None:
        raise DataError(f"'{path}' has no events in the requested range")
    return EventObjects.concatenate(parts), total, br


@dataclass
class ImportReport:
    """Result of :func:`import_delphes`."""

    output: Path
    branches: list[DelphesBranches]
    stats: ImportStats
    out_of_range: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "branches": [b.to_dict() for b in self.branches],
            "stats": self.stats.to_dict(),
            "out_of_eta_range": self.out_of_range,
        }


def import_delphes(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    config: ImageConfig | None = None,
    label: str | None = None,
    tree: str | None = None,
    towers: str | Sequence[str] | None = None,
    tracks: str | None = None,
    track_position: str | None = None,
    max_events: int | None = None,
    step: int = 1000,
    max_step_bytes: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Convert Delphes ROOT files into one event-image file (one class, named ``label``,
    by default the first file's stem). See :func:`iter_delphes` for the options. The output
    must be none of the inputs."""
    from calolab.core.provenance import package_version

    __version__ = package_version()
    from calolab.events.hdf5 import ImageWriter

    single = isinstance(paths, str | os.PathLike)
    files = [Path(paths)] if single else [Path(p) for p in paths]  # type: ignore[arg-type, union-attr]
    if not files:
        raise ConfigError("give at least one Delphes file")
    check_output(output, inputs=files)
    if max_events is not None and max_events < 1:
        raise ConfigError(f"max_events {max_events} must be >= 1")
    config = config or ImageConfig()
    label = label or files[0].stem
    # choose (and validate) the branches of every file before writing anything
    used = [
        inspect_delphes(p, tree=tree, towers=towers, tracks=tracks, track_position=track_position)
        for p in files
    ]
    for p, br in zip(files, used):
        log.info("%s: %s", p, br.describe())
    prov = {
        "calolab_version": __version__,
        "source": "delphes",
        "inputs": [str(p.resolve()) for p in files],
        "branches": [b.to_dict() for b in used],
        "label": label,
        "max_events": max_events,
    }
    total = ImportStats()
    outside = {"towers": 0, "tracks": 0}
    with ImageWriter(output, config, [label], prov, inputs=files) as w:
        for k, p in enumerate(files):
            left = None if max_events is None else max_events - total.n_events
            if left is not None and left <= 0:
                break
            for obj, stats, _ in iter_delphes(
                p,
                tree=tree,
                towers=towers,
                tracks=tracks,
                track_position=track_position,
                entry_stop=left,
                step=step,
                max_step_bytes=max_step_bytes,
            ):
                outside["towers"] += int((~in_range(obj.towers.columns["eta"], config)).sum())
                outside["tracks"] += int((~in_range(obj.tracks.columns["eta"], config)).sum())
                obj.info["file_index"] = np.full(len(obj), k, dtype=np.int32)
                w.append(obj, 0)
                total.add(stats)
                if progress:
                    progress(len(obj))
    return ImportReport(Path(output), used, total, outside)
