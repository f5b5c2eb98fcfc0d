"""Generated event images: Pythia 8 → tower-level detector response → η–φ images → HDF5.

:func:`generate_events` writes one labelled dataset from one or several processes (class i
is process i). Work is split into chunks of ``chunk_size`` events per process
(:mod:`calolab.events.pythia` explains the seeding); chunks are written round-robin over the
processes, so any prefix of the file holds all classes in equal numbers. The detector
response of chunk ``c`` of a process draws from ``SeedSequence(seed, spawn_key=(key, c, 1))``.
The run is resumable: an interrupted run keeps ``<output>.partial`` and the same command
continues after the last complete chunk. ``workers > 1`` generates chunks in parallel
processes with identical results.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.errors import ConfigError
from calolab.core.files import check_output
from calolab.events.hdf5 import ImageWriter
from calolab.events.images import ImageConfig
from calolab.events.objects import EventObjects
from calolab.events.pythia import GeneratorConfig, check_settings, generate_particles
from calolab.events.response import DetectorCard, detector_response, get_card

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 500


@dataclass(frozen=True)
class Unit:
    """One chunk of work: ``n`` events of process ``proc``, chunk index ``chunk``."""

    proc: int
    chunk: int
    n: int


def plan(n_events: int, n_processes: int, chunk_size: int) -> list[Unit]:
    """The chunks of a run in file order (round-robin over processes)."""
    per = [
        n_events // n_processes + (1 if p < n_events % n_processes else 0)
        for p in range(n_processes)
    ]
    n_chunks = max(-(-n // chunk_size) for n in per)
    units = []
    for c in range(n_chunks):
        for p in range(n_processes):
            n = min(chunk_size, per[p] - c * chunk_size)
            if n > 0:
                units.append(Unit(p, c, n))
    return units


def generate_chunk(
    config: GeneratorConfig, card: DetectorCard, unit: Unit, seed: int
) -> EventObjects:
    """Generate and reconstruct the events of one chunk (towers, tracks and info)."""
    particles, meta = generate_particles(config, unit.n, seed, chunk=unit.chunk)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(config.key, unit.chunk, 1)))
    objects = detector_response(particles, card, rng)
    objects.info.update(meta)
    objects.info["chunk"] = np.full(unit.n, unit.chunk, dtype=np.int32)
    objects.info["index_in_chunk"] = np.arange(unit.n, dtype=np.int32)
    objects.info["n_particles"] = np.diff(particles.table.offsets).astype(np.int32)
    return objects


def _work(args: tuple[dict[str, Any], str, Unit, int]) -> EventObjects:
    cfg, card, unit, seed = args
    return generate_chunk(GeneratorConfig.from_dict(cfg), get_card(card), unit, seed)


@dataclass
class GenerateReport:
    """Result of :func:`generate_events`."""

    output: Path
    n_events: int
    classes: list[str]
    seconds: float
    resumed_from: int

    @property
    def events_per_second(self) -> float:
        done = self.n_events - self.resumed_from
        return done / self.seconds if self.seconds > 0 else float("nan")


def _configs(
    processes: GeneratorConfig | str | Sequence[GeneratorConfig | str],
) -> list[GeneratorConfig]:
    if isinstance(processes, GeneratorConfig | str):
        processes = [processes]
    out = [GeneratorConfig(p) if isinstance(p, str) else p for p in processes]
    if not out:
        raise ConfigError("give at least one process")
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"process labels {names} must be unique (set label= to tell them apart)")
    return out


def generate_events(
    processes: GeneratorConfig | str | Sequence[GeneratorConfig | str],
    n_events: int,
    output: str | os.PathLike[str],
    *,
    seed: int = 0,
    card: DetectorCard | str = "atlas",
    image: ImageConfig | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> GenerateReport:
    """Generate ``n_events`` events (split evenly over the processes) into an image file.

    Parameters
    ----------
    processes:
        Process names or :class:`GeneratorConfig`; class i of the output is process i.
    n_events:
        Total number of events.
    output:
        HDF5 file (see :mod:`calolab.events.hdf5`).
    seed:
        Seed of the run (see module docstring).
    card:
        Detector response (:func:`~calolab.events.response.atlas_card` or its name).
    image:
        Image geometry (default 100 × 100, |η| < 2.5).
    chunk_size:
        Events per seeded Pythia instance; part of what defines the events.
    workers:
        Parallel processes (results do not depend on it).
    """
    configs = _configs(processes)
    if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < 1:
        raise ConfigError(f"n_events {n_events!r} must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed {seed!r} must be an integer >= 0")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size {chunk_size} must be >= 1")
    if workers < 1:
        raise ConfigError(f"workers {workers} must be >= 1")
    card_obj = get_card(card)
    image = image or ImageConfig()
    check_output(output)
    for c in configs:
        check_settings(c)
    from calolab.core.provenance import package_version

    __version__ = package_version()

    spec = {
        "processes": [c.to_dict() for c in configs],
        "pythia_settings": [c.pythia_settings() for c in configs],
        "n_events": n_events,
        "seed": seed,
        "chunk_size": chunk_size,
        "card": card_obj.name,
        "card_hash": card_obj.hash,
        "image": image.to_dict(),
    }
    config_hash = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    import pythia8mc

    prov = {
        "calolab_version": __version__,
        "source": "pythia8",
        "pythia8mc_version": getattr(pythia8mc, "__version__", "unknown"),
        "config": spec,
        "config_hash": config_hash,
    }
    units = plan(n_events, len(configs), chunk_size)
    t0 = time.perf_counter()
    with ImageWriter(output, image, [c.name for c in configs], prov, resume_key=config_hash) as w:
        resumed = w.n
        done, todo = 0, []
        for u in units:
            if done + u.n <= resumed:
                done += u.n
            else:
                todo.append(u)
        if done != resumed:  # pragma: no cover - commits are per chunk
            raise ConfigError(f"partial file holds {resumed} events, not a chunk boundary")
        if progress and resumed:
            progress(resumed)
        for u, objects in _results(configs, card_obj, todo, seed, workers):
            w.append(objects, np.full(u.n, u.proc, dtype=np.int32))
            if progress:
                progress(u.n)
    dt = time.perf_counter() - t0
    rep = GenerateReport(Path(output), n_events, [c.name for c in configs], dt, resumed)
    log.info(
        "generated %d events (%s) in %.1f s: %.1f events/s",
        n_events - resumed,
        ", ".join(rep.classes),
        dt,
        rep.events_per_second,
    )
    return rep


def _results(
    configs: list[GeneratorConfig],
    card: DetectorCard,
    units: list[Unit],
    seed: int,
    workers: int,
) -> Iterator[tuple[Unit, EventObjects]]:
    if workers == 1 or len(units) <= 1:
        for u in units:
            yield u, generate_chunk(configs[u.proc], card, u, seed)
        return
    import multiprocessing as mp
    from collections import deque

    from calolab.events.response import CARDS

    if card.name not in CARDS or get_card(card.name).hash != card.hash:
        raise ConfigError("workers > 1 needs a built-in detector card (e.g. 'atlas')")
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    pending: deque = deque()
    it = iter(units)
    try:
        for u in it:
            pending.append((u, ex.submit(_work, (configs[u.proc].to_dict(), card.name, u, seed))))
            if len(pending) >= 2 * workers:
                break
        while pending:
            u, fut = pending.popleft()
            result = fut.result()
            nxt = next(it, None)
            if nxt is not None:
                args = (configs[nxt.proc].to_dict(), card.name, nxt, seed)
                pending.append((nxt, ex.submit(_work, args)))
            yield u, result
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
