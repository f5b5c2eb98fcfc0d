"""Pythia 8 event generation (``pythia8mc``) of named processes.

A :class:`Process` is a named list of Pythia settings; :data:`PROCESSES` holds the built-in
ones (``ttbar``, ``qcd``, ``wjets``, ``zjets``, ``higgs``, ``minbias``) and
:class:`GeneratorConfig` adds the beam energy, a p̂_T minimum (``PhaseSpace:pTHatMin``) and
any further Pythia settings strings, so any Pythia process can be generated.

Reproducibility: events are generated in chunks of a fixed size; chunk ``c`` of a process
gets its own Pythia instance seeded from ``SeedSequence(seed, spawn_key=(process_key, c))``,
so the same seed gives the same events whatever the number of workers, and a process gives
the same events alone or mixed with others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import zlib
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError, require
from calolab.events.objects import ragged_from_counts
from calolab.events.response import Particles

log = logging.getLogger(__name__)

#: Pythia's seed range (``Random:seed``).
MAX_PYTHIA_SEED = 900_000_000


@dataclass(frozen=True)
class Process:
    """A named set of Pythia settings strings."""

    name: str
    settings: tuple[str, ...]
    description: str


PROCESSES: dict[str, Process] = {
    p.name: p
    for p in (
        Process(
            "ttbar",
            ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"),
            "top-quark pairs, gg → tt̄ and qq̄ → tt̄",
        ),
        Process("qcd", ("HardQCD:all = on",), "QCD 2 → 2 dijets (all hard QCD processes)"),
        Process(
            "wjets",
            ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on"),
            "W + jet",
        ),
        Process(
            "zjets",
            ("WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on"),
            "γ*/Z + jet",
        ),
        Process("higgs", ("HiggsSM:gg2H = on",), "gluon-fusion Higgs production"),
        Process("minbias", ("SoftQCD:nonDiffractive = on",), "non-diffractive minimum bias"),
        Process("custom", (), "only the settings given with --set / settings="),
    )
}


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate.

    Parameters
    ----------
    process:
        A name of :data:`PROCESSES`.
    ecm_gev:
        Centre-of-mass energy of the pp collisions (GeV) [13000].
    pthat_min_gev:
        Minimum p̂_T of the hard 2 → 2 process (GeV), ``PhaseSpace:pTHatMin``.
    settings:
        Further Pythia settings strings, applied after the process settings.
    label:
        Class name in the output (default: the process name).
    """

    process: str
    ecm_gev: float = 13000.0
    pthat_min_gev: float | None = None
    settings: tuple[str, ...] = ()
    label: str | None = None

    def __post_init__(self) -> None:
        if self.process not in PROCESSES:
            raise ConfigError(
                f"unknown process {self.process!r}; choose one of {', '.join(PROCESSES)} "
                "(or 'custom' with your own Pythia settings)"
            )
        if not (isinstance(self.ecm_gev, int | float) and math.isfinite(self.ecm_gev)) or (
            self.ecm_gev <= 0
        ):
            raise ConfigError(f"ecm_gev {self.ecm_gev!r} must be a positive number of GeV")
        if self.pthat_min_gev is not None and (
            not math.isfinite(self.pthat_min_gev) or self.pthat_min_gev < 0
        ):
            raise ConfigError(f"pthat_min_gev {self.pthat_min_gev!r} must be >= 0 GeV")
        if self.pthat_min_gev is not None and self.pthat_min_gev * 2 >= self.ecm_gev:
            raise ConfigError(
                f"pthat_min_gev {self.pthat_min_gev} GeV is out of reach at √s = {self.ecm_gev} GeV"
            )
        object.__setattr__(self, "settings", tuple(str(s).strip() for s in self.settings))
        for s in self.settings:
            if "=" not in s:
                raise ConfigError(f"Pythia setting {s!r} must look like 'Group:name = value'")
        if self.process == "custom" and not self.settings:
            raise ConfigError("process 'custom' needs Pythia settings (--set 'Group:name = value')")

    @property
    def name(self) -> str:
        return self.label or self.process

    def pythia_settings(self) -> list[str]:
        """All settings strings, in the order they are read."""
        out = [f"Beams:eCM = {self.ecm_gev!r}"]
        out += list(PROCESSES[self.process].settings)
        if self.pthat_min_gev is not None:
            out.append(f"PhaseSpace:pTHatMin = {self.pthat_min_gev!r}")
        out += list(self.settings)
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["settings"] = list(self.settings)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown generator option(s) {unknown}; known: {sorted(known)}")
        d = dict(data)
        d["settings"] = tuple(d.get("settings", ()))
        return cls(**d)

    @property
    def key(self) -> int:
        """A stable 32-bit key of the physics settings (not the label)."""
        blob = json.dumps(self.pythia_settings()).encode()
        return zlib.crc32(blob)

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def pythia_seed(seed: int, key: int, chunk: int) -> int:
    """Pythia seed (1 … 900 000 000) of chunk ``chunk`` of the process with ``key``."""
    state = np.random.SeedSequence(seed, spawn_key=(key, chunk)).generate_state(1)[0]
    return int(state) % MAX_PYTHIA_SEED + 1


def _configured_pythia(config: GeneratorConfig, seed: int) -> Any:
    p8: Any = require("pythia8mc", "pythia", "Pythia 8 event generation")
    py = p8.Pythia("", False)
    base = [
        "Print:quiet = on",
        "Next:numberCount = 0",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
    ]
    for s in base + config.pythia_settings():
        if not py.readString(s):
            raise ConfigError(
                f"Pythia rejected the setting {s!r} (unknown name or bad value); see "
                "https://pythia.org/latest-manual/ for the settings of Pythia 8.3"
            )
    return py


def check_settings(config: GeneratorConfig) -> None:
    """Raise :class:`ConfigError` if Pythia does not accept every setting (no init)."""
    _configured_pythia(config, 1)


def make_pythia(config: GeneratorConfig, seed: int) -> Any:
    """An initialised, quiet Pythia instance."""
    py = _configured_pythia(config, seed)
    if not py.init():
        raise ConfigError(
            f"Pythia failed to initialise process {config.name!r} with settings "
            f"{config.pythia_settings()}"
        )
    return py


def _final_state(batch: Any, charge_of: Any) -> tuple[Particles, dict[str, np.ndarray]]:
    import awkward as ak

    prt = batch.prt
    fin = prt[prt.status > 0]
    counts = np.asarray(ak.num(fin.id, axis=1), dtype=np.int64)
    pdg = np.asarray(ak.flatten(fin.id).to_numpy(), dtype=np.int32)
    cols = {
        "pdg": pdg,
        "px": ak.flatten(fin.p.px).to_numpy().astype(np.float64),
        "py": ak.flatten(fin.p.py).to_numpy().astype(np.float64),
        "pz": ak.flatten(fin.p.pz).to_numpy().astype(np.float64),
        "e": ak.flatten(fin.p.e).to_numpy().astype(np.float64),
    }
    ids = np.unique(pdg)
    table = np.array([charge_of(int(i)) for i in ids], dtype=np.float32)
    cols["charge"] = table[np.searchsorted(ids, pdg)] if len(ids) else np.zeros(0, np.float32)
    info = batch.info
    pt2 = np.asarray(ak.to_numpy(info.pT2Hat), dtype=np.float64)
    w = ak.fill_none(ak.firsts(info.weights, axis=1), 1.0)
    meta = {
        "pthat": np.sqrt(np.maximum(pt2, 0.0)).astype(np.float32),
        "mhat": np.asarray(ak.to_numpy(info.mHat), dtype=np.float32),
        "weight": np.asarray(ak.to_numpy(w), dtype=np.float32),
    }
    return Particles(ragged_from_counts(counts, cols)), meta


def generate_particles(
    config: GeneratorConfig, n_events: int, seed: int, chunk: int = 0
) -> tuple[Particles, dict[str, np.ndarray]]:
    """``n_events`` events of one seeded chunk: final-state particles and per-event info
    (``pthat``, ``mhat`` in GeV and ``weight``)."""
    if n_events < 1:
        raise ConfigError(f"n_events {n_events} must be >= 1")
    py = make_pythia(config, pythia_seed(seed, config.key, chunk))
    charge_of = py.particleData.charge
    parts, metas, have = [], [], 0
    tries = 0
    while have < n_events:
        batch = py.nextBatch(n_events - have)
        tries += 1
        if len(batch) == 0:
            if tries > 10:
                raise ConfigError(
                    f"Pythia produced no events for {config.name!r} in 10 attempts; check the "
                    "settings"
                )
            continue
        p, m = _final_state(batch, charge_of)
        parts.append(p)
        metas.append(m)
        have += len(p)
    from calolab.data.showers import Ragged

    table = Ragged.concatenate([p.table for p in parts])
    meta = {k: np.concatenate([m[k] for m in metas]) for k in metas[0]}
    return Particles(table), meta
