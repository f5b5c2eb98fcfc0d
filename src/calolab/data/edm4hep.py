"""Import calorimeter hits of a full simulation from EDM4hep (podio ROOT) files.

key4hep simulations (ddsim, Geant4 through DD4hep) write ``edm4hep::SimCalorimeterHit``
collections — the energy each cell received — and reconstruction writes
``edm4hep::CalorimeterHit`` collections. :func:`import_edm4hep` turns one such collection into
the same CaloChallenge-compatible HDF5 file as ``calolab simulate``, so that calolab's models
train and are evaluated on your own full simulation, and it can be compared with calolab's
fast simulation (``calolab compare``).

Reading. The podio ROOT layout (podio 1.x, EDM4hep 0.99–1.x): a TTree ``events`` whose
collections are split into leaves ``<collection>.<member>`` (``.cellID``, ``.energy``,
``.position.x`` …), relations in ``_<collection>_<relation>``, collection IDs in the
``podio_metadata`` tree and frame parameters (``<collection>__CellIDEncoding``) in the
``metadata`` tree. Files are streamed in steps of at most ``step`` events whose baskets
declare at most ``max_step_bytes`` uncompressed bytes (:mod:`calolab.data.rootio`; default:
the chunk limit of :class:`calolab.data.hdf5.ReadLimits`, CLI ``--max-chunk-mb``), so memory
stays bounded whatever the file claims; an event that alone needs more is refused.

Cells. Hits become calolab cells in one of two ways:

* by **cell ID**: the ``cellID`` is decoded with the DD4hep bit-field encoding
  (:mod:`calolab.data.cellid`; from the file's metadata or given), and a declared
  :class:`CellMapping` says which fields give the section, the layer and the cell indices
  ``(ix, iy)`` of a calolab detector;
* by **position**: the hit position (mm) is placed in a calolab detector whose front-face
  centre sits at ``origin_mm`` in the full simulation's frame, with the beam along +z; a hit
  must lie in a sensitive layer. Hits of a finer full-simulation segmentation sum into the
  calolab cells.

Several hits in one cell are summed. A hit outside the declared grid is an error naming the
collection, the field and the value. Without a detector, the file holds one cell per event
(the summed hit energy) and the hits themselves as sparse records ``calolab/records/hits``
(``cellID``, ``energy`` GeV, ``x``/``y``/``z`` cm, ``time`` ns), so nothing is lost.

Truth. From the MC particle collection (``MCParticles``, or the one named): the primary of
generator status 1 (the most energetic one if there are several; their number is kept in
``extras/n_primaries``): PDG id, energy √(p² + m²) (GeV), direction, production vertex
(``extras/vertex_{x,y,z}``, cm). ``truth/visible`` is the event's sum of imported hit energies
(GeV), as ``calolab simulate`` writes it. Units: EDM4hep stores GeV, mm and ns; calolab uses GeV,
cm and ns.

Time of a hit: the ``time`` member of a ``CalorimeterHit``; for a ``SimCalorimeterHit`` the
energy-weighted mean time of its contributions (``CaloHitContribution``), NaN when they are
not in the file.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError, DataError, require
from calolab.data.cellid import CellIDEncoding
from calolab.data.rootio import Baskets, plan_steps
from calolab.data.showers import Ragged, Showers
from calolab.geometry.detector import Calorimeter

log = logging.getLogger(__name__)

MM_PER_CM = 10.0
#: Events per read step (fewer when their baskets exceed the byte budget).
DEFAULT_STEP = 1000
#: Hit record of the sparse output.
HIT_COLUMNS = ("cellID", "energy", "x", "y", "z", "time")
#: MC particle collections tried in turn when none is named.
MC_COLLECTIONS = ("MCParticles", "MCParticleCollection")
_TARGETS = ("section", "layer", "ix", "iy")


def _uproot() -> Any:
    require("awkward", "root", "reading EDM4hep ROOT files")
    return require("uproot", "root", "reading EDM4hep ROOT files")


# ----------------------------------------------------------------------------- mappings
@dataclass(frozen=True)
class FieldRef:
    """A cell coordinate from a cellID field plus an integer offset, or a constant."""

    field: str | None = None
    offset: int = 0
    constant: str | None = None

    def describe(self) -> str:
        if self.constant is not None:
            return self.constant
        if self.offset:
            return f"{self.field}{self.offset:+d}"
        return str(self.field)


@dataclass(frozen=True)
class CellMapping:
    """Which cellID fields give calolab's (section, layer, ix, iy).

    ``section`` is a section name, or a field whose value (plus offset) is the index of the
    section in the detector; without it, ``layer`` counts the readout layers of the whole
    detector, front to back. ``layer``, ``ix`` and ``iy`` are fields plus integer offsets.

    Text form (``--map``): ``"section=ecal,layer=layer-1,ix=x+20,iy=y+20"``.
    """

    layer: FieldRef
    ix: FieldRef
    iy: FieldRef
    section: FieldRef | None = None
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> CellMapping:
        where = f"cell mapping '{text}'"
        refs: dict[str, FieldRef] = {}
        for part in (p.strip() for p in str(text).split(",") if p.strip()):
            if "=" not in part:
                raise ConfigError(f"{where}: '{part}' must be TARGET=FIELD[+-N]")
            target, expr = (s.strip() for s in part.split("=", 1))
            if target not in _TARGETS:
                raise ConfigError(
                    f"{where}: unknown target '{target}'; targets: {', '.join(_TARGETS)}"
                )
            if target in refs:
                raise ConfigError(f"{where}: '{target}' is given twice")
            m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:([+-])\s*([0-9]+))?", expr)
            if m is None:
                raise ConfigError(
                    f"{where}: '{expr}' must be a cellID field with an optional integer "
                    "offset, e.g. layer-1 or x+20"
                )
            name, sign, num = m.groups()
            offset = (-1 if sign == "-" else 1) * int(num) if num else 0
            if target == "section" and not num:
                # a bare word: a section name (checked against the detector) or a field
                refs[target] = FieldRef(field=name, constant=name)
            else:
                refs[target] = FieldRef(field=name, offset=offset)
        missing = [t for t in ("layer", "ix", "iy") if t not in refs]
        if missing:
            raise ConfigError(
                f"{where}: {', '.join(missing)} missing; give layer, ix and iy (and optionally "
                "section), e.g. 'section=ecal,layer=layer,ix=x+20,iy=y+20'"
            )
        return cls(refs["layer"], refs["ix"], refs["iy"], refs.get("section"), text=str(text))

    def describe(self) -> str:
        parts = [f"{t}={getattr(self, t).describe()}" for t in _TARGETS if getattr(self, t)]
        return ",".join(parts)


@dataclass(frozen=True)
class PositionMapping:
    """Place hits by position: the calolab detector's front-face centre is at ``origin_mm``
    (x, y, z in mm) in the full simulation's frame, and its z axis is the frame's z axis.
    ``tolerance_cm`` allows hits on the faces of a sensitive layer."""

    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tolerance_cm: float = 1e-4

    def __post_init__(self) -> None:
        o = tuple(float(v) for v in self.origin_mm)
        if len(o) != 3 or not all(math.isfinite(v) for v in o):
            raise ConfigError(f"origin {self.origin_mm!r} must be three finite numbers (mm)")
        object.__setattr__(self, "origin_mm", o)


# ----------------------------------------------------------------------------- file layout
@dataclass(frozen=True)
class HitCollection:
    """Where a hit collection's members are in a file (full branch names)."""

    name: str
    kind: str  # "SimCalorimeterHit" or "CalorimeterHit"
    branches: dict[str, str]
    contributions: str | None = None  # the contribution collection of a SimCalorimeterHit


@dataclass(frozen=True)
class EDM4hepFile:
    """What :func:`inspect_edm4hep` finds in a file."""

    path: Path
    entries: int
    podio_version: str | None
    edm4hep_version: str | None
    hit_collections: tuple[str, ...]
    mc_collections: tuple[str, ...]
    encodings: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def _open(path: Path) -> Any:
    from calolab.core.files import check_input

    uproot = _uproot()
    check_input(path, what="EDM4hep file")  # FIFOs, devices, directories
    if not path.exists():
        raise DataError(f"EDM4hep file '{path}' does not exist")
    try:
        return uproot.open(path)
    except Exception as exc:  # uproot raises many kinds for non-ROOT files
        raise DataError(
            f"'{path}' is not a readable ROOT file ({type(exc).__name__}: {exc})"
        ) from None


def _events(f: Any, path: Path) -> Any:
    try:
        classes = f.classnames()
    except Exception as exc:
        raise DataError(f"'{path}' is a damaged ROOT file ({type(exc).__name__}: {exc})") from None
    kinds = {k.split(";")[0]: c for k, c in classes.items()}
    if kinds.get("events") == "ROOT::RNTuple":
        raise DataError(
            f"'{path}': its 'events' are an RNTuple; calolab reads the podio TTree layout "
            "(write with podio's ROOTWriter, or convert the file)"
        )
    if kinds.get("events") not in ("TTree", "TNtuple"):
        found = ", ".join(f"{k} ({c})" for k, c in kinds.items()) or "nothing"
        raise DataError(
            f"'{path}' has no 'events' tree, so it is not a podio/EDM4hep ROOT file "
            f"(it holds: {found})"
        )
    try:
        return f["events"]
    except Exception as exc:
        raise DataError(
            f"'{path}': the 'events' tree is damaged ({type(exc).__name__}: {exc})"
        ) from None


def _leaves(tree: Any) -> dict[str, str]:
    """``{"<collection>.<member>": full branch name}`` of a podio events tree (split
    branches ``C/C.member``) or of a flat tree (``C.member``)."""
    out: dict[str, str] = {}
    for key in tree.keys(recursive=True):
        out.setdefault(key.rsplit("/", 1)[-1], key)
    return out


def _jagged(tree: Any, key: str) -> bool:
    """A leaf holding a vector per entry (not a counter of a flat tree)."""
    try:
        return type(tree[key].interpretation).__name__ in ("AsJagged", "AsObjects")
    except Exception:
        return False


def _collections(tree: Any, leaves: dict[str, str], key: str, others: tuple[str, ...]) -> list[str]:
    return sorted(
        k[: -len(key)]
        for k in leaves
        if k.endswith(key)
        and all(f"{k[:-len(key)]}{o}" in leaves for o in others)
        and _jagged(tree, leaves[k])
    )


def _hit_collections(tree: Any, leaves: dict[str, str]) -> list[str]:
    return _collections(tree, leaves, ".cellID", (".energy", ".position.x"))


def _mc_collections(tree: Any, leaves: dict[str, str]) -> list[str]:
    return _collections(tree, leaves, ".PDG", (".generatorStatus", ".momentum.x"))


def _flat_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _flat_strings(v)]
    return []


def _parameters(f: Any) -> dict[str, str]:
    """String parameters of the file's metadata frame (``metadata`` tree: ``GPStringKeys``,
    ``GPStringValues``)."""
    out: dict[str, str] = {}
    if "metadata" not in f:
        return out
    try:
        arr = f["metadata"].arrays(["GPStringKeys", "GPStringValues"], library="ak").tolist()
    except Exception as exc:  # no such branches, or damaged
        log.info("no string parameters in the metadata: %s", exc)
        return out
    for entry in arr:
        keys = _flat_strings(entry.get("GPStringKeys"))
        values = entry.get("GPStringValues") or []
        for k, v in zip(keys, values):
            vals = _flat_strings(v)
            if vals:
                out[k] = vals[0]
    return out


def _collection_ids(f: Any) -> dict[int, str]:
    """Collection ID → name, from ``podio_metadata`` (podio ≥ 1.3: ``CollectionTypeInfo``
    with names; older: the ``idTable``)."""
    if "podio_metadata" not in f:
        return {}
    try:
        md = f["podio_metadata"]
        leaves = _leaves(md)
        ids = names = None
        for idk, namek in (
            ("events___CollectionTypeInfo.collectionID", "events___CollectionTypeInfo.name"),
            ("m_collectionIDs", "m_names"),
        ):
            if idk in leaves and namek in leaves:
                ids = md[leaves[idk]].array(library="ak", entry_stop=1).tolist()
                names = md[leaves[namek]].array(library="ak", entry_stop=1).tolist()
                break
        if ids is None or names is None:
            return {}
        return {int(i): str(n) for i, n in zip(ids[0], names[0])}
    except Exception as exc:  # damaged or unexpected layout: times of sim hits are NaN
        log.info("collection IDs unreadable: %s", exc)
        return {}


def _version(f: Any, branch: str) -> str | None:
    if "podio_metadata" not in f:
        return None
    try:
        md = f["podio_metadata"]
        parts = [
            md[f"{branch}/{p}"].array(library="np", entry_stop=1)[0]
            for p in ("major", "minor", "patch")
        ]
        return ".".join(str(int(p)) for p in parts)
    except Exception:
        return None


def _inspect(f: Any, p: Path, t: Any, leaves: dict[str, str]) -> EDM4hepFile:
    params = _parameters(f)
    return EDM4hepFile(
        path=p,
        entries=int(t.num_entries),
        podio_version=_version(f, "PodioBuildVersion"),
        edm4hep_version=_version(f, "edm4hep___Version"),
        hit_collections=tuple(_hit_collections(t, leaves)),
        mc_collections=tuple(_mc_collections(t, leaves)),
        encodings={
            k[: -len("__CellIDEncoding")]: v
            for k, v in params.items()
            if k.endswith("__CellIDEncoding")
        },
    )


def inspect_edm4hep(path: str | os.PathLike[str]) -> EDM4hepFile:
    """Entries, podio/EDM4hep versions, calorimeter-hit and MC-particle collections and the
    cellID encodings in the metadata of an EDM4hep file."""
    p = Path(path)
    with _open(p) as f:
        t = _events(f, p)
        return _inspect(f, p, t, _leaves(t))


def _hit_collection(
    f: Any, tree: Any, leaves: dict[str, str], name: str, path: Path
) -> HitCollection:
    known = _hit_collections(tree, leaves)
    if name not in known:
        raw = f"{name}.amplitude" in leaves
        hint = " (it holds RawCalorimeterHits: ADC amplitudes, not energies)" if raw else ""
        raise DataError(
            f"'{path}': no calorimeter-hit collection '{name}'{hint}; collections with "
            f"calorimeter hits (cellID, energy, position): {', '.join(known) or 'none'}"
        )
    b = {
        m: leaves[f"{name}.{m}"]
        for m in ("cellID", "energy", "position.x", "position.y", "position.z")
    }
    if f"{name}.time" in leaves:
        b["time"] = leaves[f"{name}.time"]
        return HitCollection(name, "CalorimeterHit", b)
    rel = f"_{name}_contributions"
    needed = (
        f"{name}.contributions_begin",
        f"{name}.contributions_end",
        f"{rel}.index",
        f"{rel}.collectionID",
    )
    contrib = None
    if all(k in leaves for k in needed):
        ids = _collection_ids(f)
        try:
            first = tree[leaves[f"{rel}.collectionID"]].array(
                library="ak", entry_stop=min(100, tree.num_entries)
            )
            targets = {int(i) for i in np.unique(np.asarray(_flatten(first)))}
        except Exception:
            targets = set()
        names = {ids.get(i) for i in targets}
        if len(names) == 1 and None not in names:
            (cname,) = names
            if all(f"{cname}.{m}" in leaves for m in ("energy", "time")):
                contrib = cname
                for m, key in zip(("begin", "end", "rel_index"), needed[:3]):
                    b[m] = leaves[key]
                b["c_energy"] = leaves[f"{cname}.energy"]
                b["c_time"] = leaves[f"{cname}.time"]
    if contrib is None:
        log.info("'%s': no contributions of '%s' in the file: hit times are NaN", path, name)
    return HitCollection(name, "SimCalorimeterHit", b, contributions=contrib)


def _flatten(a: Any) -> Any:
    import awkward as ak

    return ak.flatten(a, axis=None)


# ----------------------------------------------------------------------------- truth
@dataclass(frozen=True)
class TruthSpec:
    collection: str | None = None  # None: auto
    primary_status: int = 1
    enabled: bool = True


def _mc_collection(tree: Any, leaves: dict[str, str], spec: TruthSpec, path: Path) -> str | None:
    if not spec.enabled:
        return None
    found = _mc_collections(tree, leaves)
    if spec.collection is not None:
        if spec.collection not in found:
            raise DataError(
                f"'{path}': no MC particle collection '{spec.collection}'; MC particle "
                f"collections: {', '.join(found) or 'none'} (or import with --no-truth)"
            )
        return spec.collection
    for name in MC_COLLECTIONS:
        if name in found:
            return name
    if len(found) == 1:
        return found[0]
    raise DataError(
        f"'{path}': no MC particle collection found (tried {', '.join(MC_COLLECTIONS)}; "
        f"found: {', '.join(found) or 'none'}); name it with --mc-collection or import "
        "with --no-truth"
    )


_MC_MEMBERS = (
    "PDG",
    "generatorStatus",
    "mass",
    "momentum.x",
    "momentum.y",
    "momentum.z",
    "vertex.x",
    "vertex.y",
    "vertex.z",
)


def _truth(
    arrays: Any, mc: str, spec: TruthSpec, path: Path, first_entry: int
) -> dict[str, np.ndarray]:
    import awkward as ak

    get = {m: arrays[f"{mc}.{m}"] for m in _MC_MEMBERS}
    counts = np.asarray(ak.num(get["PDG"], axis=1), dtype=np.int64)
    flat = {m: np.asarray(ak.flatten(v), dtype=np.float64) for m, v in get.items()}
    n = len(counts)
    ev = np.repeat(np.arange(n), counts)
    p2 = flat["momentum.x"] ** 2 + flat["momentum.y"] ** 2 + flat["momentum.z"] ** 2
    energy = np.sqrt(p2 + flat["mass"] ** 2)
    primary = flat["generatorStatus"] == spec.primary_status
    n_prim = np.bincount(ev[primary], minlength=n)
    if np.any(n_prim == 0):
        bad = int(np.flatnonzero(n_prim == 0)[0])
        a, b = int(np.sum(counts[:bad])), int(np.sum(counts[: bad + 1]))
        statuses = sorted({int(s) for s in flat["generatorStatus"][a:b]})
        raise DataError(
            f"'{path}', entry {first_entry + bad}: no particle of generator status "
            f"{spec.primary_status} in '{mc}' (statuses found: "
            f"{', '.join(map(str, statuses)) or 'no particles'}); choose the status of the "
            "primary with --primary-status or import with --no-truth"
        )
    # the most energetic primary of each event
    order = np.lexsort((-np.where(primary, energy, -np.inf), ev))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pick = order[first]
    p = np.sqrt(p2[pick])
    with np.errstate(invalid="ignore", divide="ignore"):
        direction = np.stack([flat[f"momentum.{c}"][pick] / p for c in "xyz"], axis=1)
    return {
        "pdg": flat["PDG"][pick].astype(np.int32),
        "energy": energy[pick],
        "direction": direction,
        "n_primaries": n_prim.astype(np.float64),
        "vertex_x": flat["vertex.x"][pick] / MM_PER_CM,
        "vertex_y": flat["vertex.y"][pick] / MM_PER_CM,
        "vertex_z": flat["vertex.z"][pick] / MM_PER_CM,
    }


# ----------------------------------------------------------------------------- hits → cells
@dataclass
class _Hits:
    """Hits of a read step, flattened: per-event counts and columns (EDM4hep units)."""

    counts: np.ndarray
    cell_id: np.ndarray
    energy: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    time: np.ndarray


def _hits(arrays: Any, hc: HitCollection) -> _Hits:
    import awkward as ak

    b = {m: arrays[hc.branches[m].rsplit("/", 1)[-1]] for m in hc.branches}
    counts = np.asarray(ak.num(b["cellID"], axis=1), dtype=np.int64)
    flat = {
        m: np.asarray(ak.flatten(b[m]))
        for m in ("cellID", "energy", "position.x", "position.y", "position.z")
    }
    n_hits = len(flat["cellID"])
    if "time" in b:
        time = np.asarray(ak.flatten(b["time"]), dtype=np.float64)
    elif hc.contributions is not None:
        time = _contribution_times(b, counts)
    else:
        time = np.full(n_hits, np.nan)
    return _Hits(
        counts=counts,
        cell_id=flat["cellID"].astype(np.uint64),
        energy=flat["energy"].astype(np.float64),
        x=flat["position.x"].astype(np.float64),
        y=flat["position.y"].astype(np.float64),
        z=flat["position.z"].astype(np.float64),
        time=time,
    )


def _contribution_times(b: dict[str, Any], hit_counts: np.ndarray) -> np.ndarray:
    """Energy-weighted mean time of each hit's contributions (NaN without any)."""
    import awkward as ak

    rel_counts = np.asarray(ak.num(b["rel_index"], axis=1), dtype=np.int64)
    c_counts = np.asarray(ak.num(b["c_energy"], axis=1), dtype=np.int64)
    rel_base = np.repeat(np.concatenate([[0], np.cumsum(rel_counts)[:-1]]), hit_counts)
    c_base = np.repeat(np.concatenate([[0], np.cumsum(c_counts)[:-1]]), rel_counts)
    begin = np.asarray(ak.flatten(b["begin"]), dtype=np.int64) + rel_base
    end = np.asarray(ak.flatten(b["end"]), dtype=np.int64) + rel_base
    idx = np.asarray(ak.flatten(b["rel_index"]), dtype=np.int64) + c_base
    ce = np.asarray(ak.flatten(b["c_energy"]), dtype=np.float64)
    ct = np.asarray(ak.flatten(b["c_time"]), dtype=np.float64)
    n_c = len(ce)
    ok = (idx >= 0) & (idx < n_c)
    e = np.where(ok, ce[np.clip(idx, 0, max(n_c - 1, 0))] if n_c else 0.0, 0.0)
    t = np.where(ok, ct[np.clip(idx, 0, max(n_c - 1, 0))] if n_c else 0.0, 0.0)
    cs_e = np.concatenate([[0.0], np.cumsum(e)])
    cs_et = np.concatenate([[0.0], np.cumsum(e * t)])
    n_rel = len(idx)
    begin = np.clip(begin, 0, n_rel)
    end = np.clip(end, begin, n_rel)
    w = cs_e[end] - cs_e[begin]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(w > 0, (cs_et[end] - cs_et[begin]) / w, np.nan)


def _what(target: str, ref: FieldRef) -> str:
    off = f" {ref.offset:+d}" if ref.offset else ""
    return f"cellID field '{ref.field}'{off} gives {target}"


class _CellMapper:
    """Hits → cell indices of a calolab detector (by cell ID or by position)."""

    def __init__(
        self,
        detector: Calorimeter,
        collection: str,
        mapping: CellMapping | None,
        encoding: CellIDEncoding | None,
        position: PositionMapping | None,
    ):
        self.det = detector
        self.collection = collection
        self.mapping = mapping
        self.encoding = encoding
        self.position = position
        ro = detector.readout_layers
        self.offset = np.array([r.offset for r in ro], dtype=np.int64)
        self.nx = np.array([r.nx for r in ro], dtype=np.int64)
        self.ny = np.array([r.ny for r in ro], dtype=np.int64)
        self.z0 = np.array([r.z_start_cm for r in ro])
        self.z1 = np.array([r.z_end_cm for r in ro])
        self.cell_x = np.array([r.cell_size_cm[0] for r in ro])
        self.cell_y = np.array([r.cell_size_cm[1] for r in ro])
        self.section_first = []
        self.section_count = []
        for si in range(len(detector.sections)):
            idx = [r.index for r in ro if r.section_index == si]
            self.section_first.append(idx[0] if idx else -1)
            self.section_count.append(len(idx))
        self.section_const: int | None = None
        if mapping is not None:
            assert encoding is not None
            for t in ("layer", "ix", "iy"):
                encoding.field(str(getattr(mapping, t).field))  # fail early on unknown fields
            sec = mapping.section
            if sec is not None:
                names = [s.name for s in detector.sections]
                if sec.constant is not None and sec.constant in names:
                    self.section_const = names.index(sec.constant)
                elif sec.constant is not None and sec.constant not in encoding.names:
                    raise ConfigError(
                        f"cell mapping: section '{sec.constant}' is neither a section of "
                        f"detector '{detector.name}' ({', '.join(names)}) nor a cellID field "
                        f"({', '.join(encoding.names)})"
                    )
                else:
                    encoding.field(str(sec.field))

    def _fail(self, what: str, value: float, allowed: str, where: str) -> None:
        raise DataError(
            f"collection '{self.collection}', {where}: {what} {value:g}, outside the "
            f"declared grid ({allowed}) of detector '{self.det.name}'; check the cell mapping "
            "(--map), the encoding and the detector (--detector)"
        )

    def cells(self, hits: _Hits, where: Callable[[int], str]) -> np.ndarray:
        if self.mapping is not None:
            return self._by_id(hits, where)
        return self._by_position(hits, where)

    def _by_id(self, hits: _Hits, where: Callable[[int], str]) -> np.ndarray:
        assert self.mapping is not None and self.encoding is not None
        m, enc = self.mapping, self.encoding

        def value(ref: FieldRef) -> np.ndarray:
            return enc.field(str(ref.field)).decode(hits.cell_id).astype(np.int64) + ref.offset

        layer = value(m.layer)
        n_layers = len(self.offset)
        if m.section is not None:
            if self.section_const is not None:
                sec = np.full(len(layer), self.section_const, dtype=np.int64)
            else:
                sec = value(m.section)
                bad = (sec < 0) | (sec >= len(self.section_first))
                if np.any(bad):
                    i = int(np.flatnonzero(bad)[0])
                    self._fail(
                        _what("section", m.section),
                        float(sec[i]),
                        f"0..{len(self.section_first) - 1}",
                        where(i),
                    )
            count = np.asarray(self.section_count)[sec]
            bad = (layer < 0) | (layer >= count)
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                self._fail(
                    _what("layer", m.layer),
                    float(layer[i]),
                    f"0..{count[i] - 1} in section '{self.det.sections[sec[i]].name}'",
                    where(i),
                )
            glob = np.asarray(self.section_first)[sec] + layer
        else:
            bad = (layer < 0) | (layer >= n_layers)
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                self._fail(
                    _what("layer", m.layer),
                    float(layer[i]),
                    f"readout layers 0..{n_layers - 1}",
                    where(i),
                )
            glob = layer
        ix, iy = value(m.ix), value(m.iy)
        for name, v, n, ref in (("ix", ix, self.nx[glob], m.ix), ("iy", iy, self.ny[glob], m.iy)):
            bad = (v < 0) | (v >= n)
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                self._fail(
                    _what(name, ref),
                    float(v[i]),
                    f"0..{n[i] - 1} in readout layer {glob[i]}",
                    where(i),
                )
        return self.offset[glob] + ix * self.ny[glob] + iy

    def _by_position(self, hits: _Hits, where: Callable[[int], str]) -> np.ndarray:
        assert self.position is not None
        ox, oy, oz = self.position.origin_mm
        tol = self.position.tolerance_cm
        x = (hits.x - ox) / MM_PER_CM
        y = (hits.y - oy) / MM_PER_CM
        z = (hits.z - oz) / MM_PER_CM
        layer = np.searchsorted(self.z1, z - tol, side="left")
        layer_c = np.clip(layer, 0, len(self.z0) - 1)
        inside = (
            (layer < len(self.z0)) & (z >= self.z0[layer_c] - tol) & (z <= self.z1[layer_c] + tol)
        )
        if not np.all(inside):
            i = int(np.flatnonzero(~inside)[0])
            self._fail(
                "hit position z (cm, from the front face)",
                float(z[i]),
                "inside a sensitive layer: "
                + ", ".join(f"{a:.4g}–{b:.4g}" for a, b in list(zip(self.z0, self.z1))[:3])
                + (" …" if len(self.z0) > 3 else ""),
                where(i),
            )
        half_x = self.det.transverse_size_cm[0] / 2
        half_y = self.det.transverse_size_cm[1] / 2
        ix = np.floor((x + half_x) / self.cell_x[layer_c]).astype(np.int64)
        iy = np.floor((y + half_y) / self.cell_y[layer_c]).astype(np.int64)
        for name, v, coord, n in (("x", ix, x, self.nx[layer_c]), ("y", iy, y, self.ny[layer_c])):
            bad = (v < 0) | (v >= n)
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                half = half_x if name == "x" else half_y
                self._fail(
                    f"hit position {name} (cm, from the origin)",
                    float(coord[i]),
                    f"±{half:g} cm",
                    where(i),
                )
        return self.offset[layer_c] + ix * self.ny[layer_c] + iy


# ----------------------------------------------------------------------------- import
@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_edm4hep` wrote."""

    output: Path
    n_events: int
    n_hits: int
    energy_gev: float
    files: tuple[EDM4hepFile, ...]
    mapped: str  # "cellID", "position" or "none (sparse hits)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "n_events": self.n_events,
            "n_hits": self.n_hits,
            "energy_gev": self.energy_gev,
            "files": [f.to_dict() for f in self.files],
            "mapped": self.mapped,
        }


def iter_edm4hep(
    files: Sequence[str | os.PathLike[str]],
    *,
    collection: str,
    detector: Calorimeter | None = None,
    mapping: CellMapping | None = None,
    position: PositionMapping | None = None,
    encoding: str | None = None,
    truth: TruthSpec = TruthSpec(),
    keep_hits: bool | None = None,
    step: int = DEFAULT_STEP,
    max_step_bytes: int | None = None,
    max_events: int | None = None,
    batch_events: int | None = None,
) -> Iterator[tuple[Showers, EDM4hepFile]]:
    """Stream the hits of ``collection`` as :class:`Showers` batches (see the module
    docstring; the arguments are those of :func:`import_edm4hep`)."""
    if not isinstance(collection, str) or not collection.strip():
        raise ConfigError(f"collection {collection!r} must be the name of a hit collection")
    if mapping is not None and position is not None:
        raise ConfigError("map cells by cellID (a mapping) or by position, not both")
    if (mapping is not None or position is not None) and detector is None:
        raise ConfigError(
            "a cell mapping needs the calolab detector the hits belong to (--detector)"
        )
    if detector is not None and mapping is None and position is None:
        position = PositionMapping()
    from calolab.data.hdf5 import ReadLimits

    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ConfigError(f"step {step!r} must be an integer >= 1 (events per read step)")
    budget = max_step_bytes if max_step_bytes is not None else ReadLimits.from_env().max_chunk_bytes
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise ConfigError(f"max_step_bytes {budget!r} must be an integer > 0")
    if max_events is not None and (
        isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1
    ):
        raise ConfigError(f"max_events {max_events!r} must be an integer >= 1")
    keep = (detector is None) if keep_hits is None else bool(keep_hits)
    given = CellIDEncoding.parse(encoding, "--encoding") if encoding else None
    n_cells = detector.n_channels if detector is not None else 1
    if batch_events is None:
        batch_events = int(min(4096, max(16, (64 << 20) // (8 * max(n_cells, 1)))))
    done = 0
    for path in (Path(p) for p in files):
        if max_events is not None and done >= max_events:
            break
        with _open(path) as f:
            tree = _events(f, path)
            leaves = _leaves(tree)
            info = _inspect(f, path, tree, leaves)
            hc = _hit_collection(f, tree, leaves, collection, path)
            enc = given
            if enc is None and collection in info.encodings:
                enc = CellIDEncoding.parse(
                    info.encodings[collection], f"'{path}': {collection}__CellIDEncoding"
                )
            if mapping is not None and enc is None:
                raise DataError(
                    f"'{path}': no cellID encoding for collection '{collection}' in the file's "
                    f"metadata (no '{collection}__CellIDEncoding' parameter; encodings found: "
                    f"{', '.join(info.encodings) or 'none'}); give it with --encoding, e.g. "
                    "'system:5,layer:9,x:32:-16,y:-16'"
                )
            mapper = (
                _CellMapper(detector, collection, mapping, enc, position)
                if detector is not None
                else None
            )
            mc = _mc_collection(tree, leaves, truth, path)
            branches = list(hc.branches.values())
            if mc is not None:
                branches += [leaves[f"{mc}.{m}"] for m in _MC_MEMBERS]
            stop = tree.num_entries
            if max_events is not None:
                stop = min(stop, max_events - done)
            if stop <= 0:
                continue
            baskets = Baskets(tree, branches, str(path))
            try:
                for a, b in plan_steps(baskets, 0, stop, step, budget, str(path)):
                    arrays = tree.arrays(
                        filter_name=branches, entry_start=a, entry_stop=b, library="ak"
                    )
                    hits = _hits(arrays, hc)
                    tr = _truth(arrays, mc, truth, path, a) if mc is not None else None
                    for batch in _batches(hits, tr, mapper, detector, keep, a, path, batch_events):
                        yield batch, info
                    done += len(hits.counts)
            except (DataError, ConfigError):
                raise
            except Exception as exc:  # damaged baskets: uproot raises many kinds
                raise DataError(
                    f"'{path}': reading collection '{collection}' failed "
                    f"({type(exc).__name__}: {exc})"
                ) from None


def _batches(
    hits: _Hits,
    tr: dict[str, np.ndarray] | None,
    mapper: _CellMapper | None,
    detector: Calorimeter | None,
    keep: bool,
    start: int,
    path: Path,
    batch_events: int,
) -> Iterator[Showers]:
    offsets = np.concatenate([[0], np.cumsum(hits.counts)]).astype(np.int64)
    ev_of_hit = np.repeat(np.arange(len(hits.counts)), hits.counts)

    def where(i: int) -> str:
        e = int(ev_of_hit[i])
        return (
            f"entry {start + e} of '{path}', hit {i - offsets[e]} (cellID "
            f"{int(hits.cell_id[i]):#018x})"
        )

    cell = mapper.cells(hits, where) if mapper is not None else None
    n = len(hits.counts)
    n_cells = detector.n_channels if detector is not None else 1
    for a in range(0, n, batch_events):
        b = min(n, a + batch_events)
        h0, h1 = int(offsets[a]), int(offsets[b])
        ev = ev_of_hit[h0:h1] - a
        e = hits.energy[h0:h1]
        if cell is not None:
            grid = np.bincount(ev * n_cells + cell[h0:h1], weights=e, minlength=(b - a) * n_cells)
            cells = grid.reshape(b - a, n_cells).astype(np.float32)
        else:
            cells = np.bincount(ev, weights=e, minlength=b - a).reshape(-1, 1).astype(np.float32)
        visible = np.bincount(ev, weights=e, minlength=b - a)
        truth: dict[str, np.ndarray] = {}
        extras: dict[str, np.ndarray] = {"n_hits": hits.counts[a:b].astype(np.float64)}
        if tr is not None:
            truth = {k: tr[k][a:b] for k in ("pdg", "energy", "direction")}
            extras.update(
                {k: tr[k][a:b] for k in ("n_primaries", "vertex_x", "vertex_y", "vertex_z")}
            )
        else:
            truth = {
                "pdg": np.zeros(b - a, dtype=np.int32),
                "energy": np.zeros(b - a),
                "direction": np.full((b - a, 3), np.nan),
            }
        truth["visible"] = visible
        records = {}
        if keep:
            records["hits"] = Ragged(
                offsets[a : b + 1] - offsets[a],
                {
                    "cellID": hits.cell_id[h0:h1],
                    "energy": e,
                    "x": hits.x[h0:h1] / MM_PER_CM,
                    "y": hits.y[h0:h1] / MM_PER_CM,
                    "z": hits.z[h0:h1] / MM_PER_CM,
                    "time": hits.time[h0:h1],
                },
            )
        yield Showers(
            cells=cells,
            truth=truth,
            detector=detector,
            extras=extras,
            records=records,
            layer_sizes=None if detector is not None else (1,),
        )


def _config(
    files: Sequence[Path],
    collection: str,
    detector: Calorimeter | None,
    mapping: CellMapping | None,
    position: PositionMapping | None,
    encoding: str | None,
    truth: TruthSpec,
    keep: bool,
) -> dict[str, Any]:
    return {
        "source": {
            "format": "edm4hep",
            "files": [str(p.resolve()) for p in files],
            "collection": collection,
            "encoding": encoding,
            "mapping": (
                {"by": "cellID", "map": mapping.describe()}
                if mapping is not None
                else (
                    {"by": "position", "origin_mm": list(position.origin_mm)}
                    if position is not None
                    else {"by": "none", "hits": "calolab/records/hits"}
                )
            ),
            "truth": asdict(truth),
            "keep_hits": keep,
        },
        "detector": detector.name if detector is not None else None,
        "detector_hash": detector.hash if detector is not None else None,
        "digitizer": None,
    }


def import_edm4hep(
    files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    collection: str,
    detector: Calorimeter | str | None = None,
    mapping: CellMapping | str | None = None,
    position: PositionMapping | None = None,
    encoding: str | None = None,
    mc_collection: str | None = None,
    primary_status: int = 1,
    truth: bool = True,
    keep_hits: bool | None = None,
    step: int = DEFAULT_STEP,
    max_step_bytes: int | None = None,
    max_events: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import the hits of ``collection`` of EDM4hep files into a calolab HDF5 file.

    Parameters
    ----------
    files:
        One or more podio ROOT files (read in order).
    output:
        The HDF5 file (CaloChallenge datasets in MeV plus ``/calolab``), written atomically;
        it must not be one of the inputs.
    collection:
        The ``SimCalorimeterHit`` or ``CalorimeterHit`` collection, e.g. ``ECalBarrelCollection``.
    detector:
        The calolab detector (preset, TOML or :class:`Calorimeter`) the hits are mapped into;
        ``None``: no cells, the hits are kept as sparse records.
    mapping:
        :class:`CellMapping` (or its text form) from cellID fields to cells; without it and
        with a detector, hits are placed by position (``position``, default origin 0).
    encoding:
        The DD4hep cellID encoding, instead of the file's ``<collection>__CellIDEncoding``.
    mc_collection, primary_status, truth:
        The MC particle collection (default ``MCParticles`` / ``MCParticleCollection``), the
        generator status of the primary (1), or ``truth=False`` for none (energies 0).
    keep_hits:
        Keep the hits as records ``calolab/records/hits`` (default: when there is no detector).
    step, max_step_bytes:
        At most ``step`` events per read step, whose baskets declare at most
        ``max_step_bytes`` uncompressed bytes (default: the chunk limit of
        :class:`~calolab.data.hdf5.ReadLimits`).
    max_events:
        Import at most this many events.
    progress:
        Called with the number of events written.
    """
    from calolab.core.files import check_output
    from calolab.core.provenance import stamp
    from calolab.data.hdf5 import ShowerWriter
    from calolab.geometry.presets import resolve_detector

    paths = [Path(files)] if isinstance(files, (str, os.PathLike)) else [Path(p) for p in files]
    if not paths:
        raise ConfigError("no EDM4hep file given")
    det = resolve_detector(detector) if detector is not None else None
    cmap = CellMapping.parse(mapping) if isinstance(mapping, str) else mapping
    if det is not None and cmap is None and position is None:
        position = PositionMapping()
    spec = TruthSpec(mc_collection, int(primary_status), bool(truth))
    keep = (det is None) if keep_hits is None else bool(keep_hits)
    out = check_output(output, inputs=paths, what="import output")
    infos: list[EDM4hepFile] = []
    n_events = n_hits = 0
    energy = 0.0
    prov = stamp(
        _config(paths, collection, det, cmap, position, encoding, spec, keep),
        source_files=[],
    )
    with ShowerWriter(out, det, prov) as writer:
        for batch, info in iter_edm4hep(
            paths,
            collection=collection,
            detector=det,
            mapping=cmap,
            position=position,
            encoding=encoding,
            truth=spec,
            keep_hits=keep,
            step=step,
            max_step_bytes=max_step_bytes,
            max_events=max_events,
        ):
            if not infos or infos[-1].path != info.path:
                infos.append(info)
            writer.append(batch)
            n_events += len(batch)
            n_hits += int(batch.extras["n_hits"].sum())
            energy += float(batch.truth["visible"].sum())
            if progress is not None:
                progress(len(batch))
        # the source files, as read (entries, podio and EDM4hep versions)
        writer.provenance["source_files"] = [
            {
                "path": str(i.path.resolve()),
                "size_bytes": i.path.stat().st_size,
                "entries": i.entries,
                "podio_version": i.podio_version,
                "edm4hep_version": i.edm4hep_version,
            }
            for i in infos
        ]
        _rewrite_provenance(writer)
    log.info("imported %d events (%d hits) of '%s' into %s", n_events, n_hits, collection, out)
    mapped = (
        "cellID" if cmap is not None else "position" if det is not None else "none (sparse hits)"
    )
    return ImportResult(out, n_events, n_hits, energy, tuple(infos), mapped)


def _rewrite_provenance(writer: Any) -> None:
    """Store the writer's provenance again (the source files are known only at the end)."""
    import json

    if writer.f is not None and "calolab/provenance" in writer.f:
        writer.f["calolab/provenance"].attrs["json"] = json.dumps(
            writer.provenance, sort_keys=True, default=str
        )


def read_edm4hep(
    files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    collection: str,
    max_events: int = 100_000,
    **kwargs: Any,
) -> Showers:
    """The hits of ``collection`` as one :class:`Showers` in memory (at most ``max_events``
    events; the other arguments as for :func:`import_edm4hep`)."""
    from calolab.geometry.presets import resolve_detector

    paths = [Path(files)] if isinstance(files, (str, os.PathLike)) else [Path(p) for p in files]
    det = kwargs.pop("detector", None)
    det = resolve_detector(det) if det is not None else None
    mapping = kwargs.pop("mapping", None)
    if isinstance(mapping, str):
        mapping = CellMapping.parse(mapping)
    truth = TruthSpec(
        kwargs.pop("mc_collection", None),
        int(kwargs.pop("primary_status", 1)),
        bool(kwargs.pop("truth", True)),
    )
    parts = [
        b
        for b, _ in iter_edm4hep(
            paths,
            collection=collection,
            detector=det,
            mapping=mapping,
            truth=truth,
            max_events=max_events,
            **kwargs,
        )
    ]
    if not parts:
        raise DataError(f"no events in {', '.join(map(str, paths))}")
    return Showers.concatenate(parts)


__all__ = [
    "CellMapping",
    "EDM4hepFile",
    "FieldRef",
    "ImportResult",
    "PositionMapping",
    "TruthSpec",
    "import_edm4hep",
    "inspect_edm4hep",
    "iter_edm4hep",
    "read_edm4hep",
]
