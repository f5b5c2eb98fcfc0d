"""The layer layout of CaloChallenge files: the challenge's binning XML.

A CaloChallenge HDF5 file stores every shower as one flat row of voxels; how the row splits
into layers is described by a separate XML file (``binning_dataset_1_photons.xml``,
``binning_dataset_2.xml``, ...) of the form::

    <Bins>
      <Bin pid="22" etaMin="0" etaMax="130" name="photon">
        <Layer id="0" r_edges="0,5,10,30,50,100,200,400,600" n_bin_alpha="1" />
        <Layer id="1" r_edges="0,2,4,6,8,10,12,15,20,30,40,50,70,90,120,150,200"
               n_bin_alpha="10" />
        <Layer id="4" r_edges="0" n_bin_alpha="1" />
        ...
      </Bin>
    </Bins>

Each child of the root (``Bin``, or ``Particle`` in some copies) describes one particle's
layout; each ``Layer`` has ``len(r_edges) − 1`` radial bins (edges in mm) times
``n_bin_alpha`` angular bins, stored angle by angle with the radius running fastest (the
order of the challenge's ``XMLHandler``); a layer whose ``r_edges`` is a single value has no
voxels (dataset 1 reads out 5 of its 24 layers for photons, 7 for pions).

:func:`layout_for` gives a foreign file (one without a calolab detector) its layers:

* from a binning XML when one is given (the entry whose voxel count matches the file; a clear
  error when none matches or several different ones do, naming ``binning_particle`` as the
  way to choose);
* else from the layouts of the CaloChallenge 2022 datasets, recognised by their voxel count
  (:data:`KNOWN_LAYOUTS`: dataset 1 photons 368, pions 533; dataset 2 6480; dataset 3 40500);
* else ``None``: the caller must refuse layer-based inputs rather than read one layer.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from calolab.core.errors import DataError

#: Largest binning XML read (bytes): the challenge's files are a few kB.
MAX_XML_BYTES = 1 << 20


@dataclass(frozen=True)
class BinningLayer:
    """One layer: ``n_radial`` × ``n_alpha`` voxels (``r_edges`` in mm when known)."""

    id: int
    n_radial: int
    n_alpha: int
    r_edges: tuple[float, ...] = ()

    @property
    def n_cells(self) -> int:
        return self.n_radial * self.n_alpha


@dataclass(frozen=True)
class CaloBinning:
    """The layout of one particle's showers: its layers in file order."""

    particle: str
    layers: tuple[BinningLayer, ...]
    pid: int | None = None
    source: str = ""

    @property
    def n_cells(self) -> int:
        return sum(layer.n_cells for layer in self.layers)

    @property
    def readout_layers(self) -> tuple[BinningLayer, ...]:
        """The layers that have voxels."""
        return tuple(layer for layer in self.layers if layer.n_cells > 0)

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Voxels per readout layer (layers without voxels left out), for ``ShowerFile``."""
        return tuple(layer.n_cells for layer in self.readout_layers)

    @property
    def layer_ids(self) -> tuple[int, ...]:
        return tuple(layer.id for layer in self.readout_layers)

    def describe(self) -> str:
        return (
            f"{self.particle or 'unnamed'}: {len(self.readout_layers)} readout layers "
            f"(ids {', '.join(map(str, self.layer_ids))}), {self.n_cells} voxels"
        )


def _layers(spec: tuple[tuple[int, int, int], ...]) -> tuple[BinningLayer, ...]:
    return tuple(BinningLayer(i, r, a) for i, r, a in spec)


#: The layouts of the CaloChallenge 2022 datasets, by voxel count: (layer id, radial bins,
#: angular bins) of the layers that have voxels.
KNOWN_LAYOUTS: dict[int, CaloBinning] = {
    368: CaloBinning(
        "photon",
        _layers(((0, 8, 1), (1, 16, 10), (2, 19, 10), (3, 5, 1), (12, 5, 1))),
        22,
        "CaloChallenge 2022 dataset 1 (photons)",
    ),
    533: CaloBinning(
        "pion",
        _layers(
            (
                (0, 8, 1),
                (1, 10, 10),
                (2, 10, 10),
                (3, 5, 1),
                (12, 15, 10),
                (13, 16, 10),
                (14, 10, 1),
            )
        ),
        211,
        "CaloChallenge 2022 dataset 1 (pions)",
    ),
    6480: CaloBinning(
        "electron",
        _layers(tuple((i, 9, 16) for i in range(45))),
        11,
        "CaloChallenge 2022 dataset 2",
    ),
    40500: CaloBinning(
        "electron",
        _layers(tuple((i, 18, 50) for i in range(45))),
        11,
        "CaloChallenge 2022 dataset 3",
    ),
}


def _int_attr(node: ET.Element, key: str, where: str) -> int:
    text = node.attrib.get(key)
    if text is None:
        raise DataError(f"{where}: attribute '{key}' is missing")
    try:
        value = int(float(text))
    except ValueError:
        raise DataError(f"{where}: {key}={text!r} is not an integer") from None
    if value < 0:
        raise DataError(f"{where}: {key}={value} must be >= 0")
    return value


def parse_binning(text: str, source: str = "binning XML") -> tuple[CaloBinning, ...]:
    """Every particle layout of a binning XML text (see the module docstring).

    Raises
    ------
    DataError
        Not XML, a DOCTYPE or entity declaration (refused: a binning file needs none), no
        layouts, or a layer with a missing or malformed ``id``, ``r_edges`` or
        ``n_bin_alpha``.
    """
    head = text[:4096].upper()
    if "<!DOCTYPE" in head or "<!ENTITY" in text.upper():
        raise DataError(f"{source}: DOCTYPE and entity declarations are not accepted")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DataError(f"{source} is not valid XML ({exc})") from None
    out = []
    for k, entry in enumerate(root):
        where = f"{source}, <{entry.tag}> {k + 1}"
        layers = []
        seen: set[int] = set()
        for node in entry:
            if node.tag != "Layer":
                continue
            lid = _int_attr(node, "id", f"{where} <Layer>")
            lw = f"{where} <Layer id={lid}>"
            if lid in seen:
                raise DataError(f"{lw}: layer id {lid} appears twice")
            seen.add(lid)
            r_text = node.attrib.get("r_edges")
            if r_text is None:
                raise DataError(f"{lw}: attribute 'r_edges' is missing")
            try:
                edges = tuple(float(x) for x in r_text.split(",") if x.strip())
            except ValueError:
                raise DataError(f"{lw}: r_edges={r_text!r} are not numbers") from None
            if not edges:
                raise DataError(f'{lw}: r_edges is empty (a layer without voxels has r_edges="0")')
            if any(b <= a for a, b in zip(edges[:-1], edges[1:])):
                raise DataError(f"{lw}: r_edges={r_text!r} must increase")
            n_alpha = _int_attr(node, "n_bin_alpha", lw)
            if n_alpha < 1 and len(edges) > 1:
                raise DataError(f"{lw}: n_bin_alpha={n_alpha} must be >= 1")
            layers.append(BinningLayer(lid, len(edges) - 1, max(n_alpha, 1), edges))
        if not layers:
            continue
        pid_text = entry.attrib.get("pid")
        pid = _int_attr(entry, "pid", where) if pid_text is not None else None
        out.append(CaloBinning(entry.attrib.get("name", ""), tuple(layers), pid, source))
    if not out:
        raise DataError(
            f"{source} describes no layers; expected <Bins><Bin name=...><Layer id=... "
            "r_edges=... n_bin_alpha=.../>...</Bin></Bins> (the CaloChallenge binning XML)"
        )
    return tuple(out)


def read_binning(path: str | os.PathLike[str]) -> tuple[CaloBinning, ...]:
    """Every particle layout of a binning XML file."""
    p = Path(path)
    try:
        if not p.is_file():
            raise DataError(
                f"binning XML '{p}' "
                + ("is not a regular file" if p.exists() else "does not exist")
            )
        if p.stat().st_size > MAX_XML_BYTES:
            raise DataError(f"binning XML '{p}' is larger than {MAX_XML_BYTES >> 10} kB")
        text = p.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DataError(f"binning XML '{p}' cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"binning XML '{p}' is not UTF-8 text") from None
    return parse_binning(text, f"binning XML '{p}'")


def layout_for(
    n_cells: int,
    binning: str | os.PathLike[str] | None = None,
    particle: str | None = None,
    where: str = "the file",
) -> CaloBinning | None:
    """The layer layout of a foreign file with ``n_cells`` voxels per shower.

    Parameters
    ----------
    n_cells:
        Voxels per shower in the file.
    binning:
        A binning XML file (its entry with ``n_cells`` voxels is used); ``None``: the
        CaloChallenge 2022 layouts recognised by their voxel count.
    particle:
        The entry to use (its ``name`` or ``pid``) when the XML describes several.
    where:
        The data file, for messages.

    Returns
    -------
    CaloBinning or None
        ``None`` when no XML is given and no known layout has ``n_cells`` voxels.

    Raises
    ------
    DataError
        The XML has no entry with ``n_cells`` voxels (or none named ``particle``), or several
        entries with different layouts match and ``particle`` does not choose one.
    """
    if binning is None:
        return KNOWN_LAYOUTS.get(int(n_cells))
    entries = read_binning(binning)
    src = f"binning XML '{binning}'"
    if particle is not None:
        chosen = [e for e in entries if particle in (e.particle, str(e.pid))]
        if not chosen:
            names = ", ".join(f"{e.particle or '?'} (pid {e.pid})" for e in entries)
            raise DataError(f"{src} has no entry '{particle}'; it describes {names}")
        entries = tuple(chosen)
    match = [e for e in entries if e.n_cells == n_cells]
    if not match:
        counts = "; ".join(e.describe() for e in entries)
        raise DataError(
            f"{where} has {n_cells} voxels per shower but {src} describes {counts}; give the "
            "binning XML of this dataset"
        )
    if len({e.layer_sizes for e in match}) > 1:
        names = ", ".join(e.particle or f"pid {e.pid}" for e in match)
        raise DataError(
            f"the layout of {where} is ambiguous: {src} has several entries with {n_cells} "
            f"voxels and different layers ({names}); choose one with the data option "
            "binning_particle (--binning-particle NAME)"
        )
    return match[0]
