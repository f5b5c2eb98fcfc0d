"""High-level entry points: simulate into memory or stream into an HDF5 file."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from calolab.core.config import check_int
from calolab.core.errors import ConfigError
from calolab.core.files import check_output
from calolab.data.conditions import ChannelConditions, apply_conditions
from calolab.data.hdf5 import ShowerWriter
from calolab.data.showers import Showers
from calolab.data.sparse import AUTO_SAMPLE_EVENTS, check_layout, choose_layout, occupancy
from calolab.geometry.detector import Calorimeter
from calolab.geometry.presets import resolve_detector
from calolab.physics.sampling import DEFAULT_SAMPLING, SamplingModel
from calolab.physics.versions import MODEL_VERSIONS
from calolab.simulation.digitize import DEFAULT_DIGITIZER, Digitizer
from calolab.simulation.fast import simulator_for
from calolab.simulation.gun import ParticleGun
from calolab.simulation.timing import CellGeometry, TimingModel, add_timing

log = logging.getLogger(__name__)


def _guns(gun: ParticleGun | Sequence[ParticleGun]) -> list[ParticleGun]:
    guns = [gun] if isinstance(gun, ParticleGun) else list(gun)
    if not guns or not all(isinstance(g, ParticleGun) for g in guns):
        raise ConfigError("gun must be a ParticleGun or a non-empty list of them")
    return guns


#: Most events one run may request (a typo such as 1e20 must not run forever).
MAX_EVENTS = 10**9


def _check_count(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    v = check_int(name, value, minimum=minimum)
    if maximum is not None and v > maximum:
        raise ConfigError(
            f"{name} {v:,} is more than the {maximum:,} one run may simulate; split the "
            "sample into several runs (different seeds) or use a campaign"
        )
    return v


def detector_inputs(detector: object) -> list[str]:
    """The detector file a run reads (an output must not replace it), if any."""
    if isinstance(detector, (str, os.PathLike)) and os.path.isfile(detector):
        return [os.fspath(detector)]
    return []


def provenance(
    detector: Calorimeter,
    guns: list[ParticleGun],
    *,
    n_events: int,
    seed: int,
    backend: str,
    digitizer: Digitizer | None,
    sampling: SamplingModel,
    first_event: int = 0,
    conditions: ChannelConditions | None = None,
    timing: TimingModel | None = None,
    layout: str | None = None,
) -> dict[str, Any]:
    """What made a dataset: version, detector, guns, seed and the hash of the configuration
    (``layout``: the cell layout asked for, for files)."""
    from dataclasses import asdict

    from calolab.core.provenance import package_version

    __version__ = package_version()

    config = {
        "backend": backend,
        "detector": detector.name,
        "detector_hash": detector.hash,
        "guns": [g.to_dict() for g in guns],
        "seed": seed,
        "first_event": first_event,
        "n_events": n_events,
        "digitizer": (
            {**digitizer.to_dict(), "sections": Digitizer.describe(detector)} if digitizer else None
        ),
        "sampling_model": asdict(sampling),
        "physics": physics_versions(),
    }
    if conditions is not None:  # only when given: the hashes of existing runs stay the same
        config["conditions"] = conditions.to_json()
    if timing is not None:
        config["timing"] = timing.to_dict()
    if layout is not None:
        config["layout"] = layout
    blob = json.dumps(config, sort_keys=True).encode()
    return {
        "calolab_version": __version__,
        "config": config,
        "config_hash": hashlib.sha256(blob).hexdigest(),
    }


def _checked(conditions: object, det: Calorimeter) -> ChannelConditions:
    if not isinstance(conditions, ChannelConditions):
        raise ConfigError(
            f"conditions {conditions!r} must be a ChannelConditions (calolab.data.conditions)"
        )
    if conditions.n_cells != det.n_channels:
        raise ConfigError(
            f"conditions cover {conditions.n_cells} cells but detector '{det.name}' has "
            f"{det.n_channels}"
        )
    return conditions


def physics_versions() -> dict[str, str]:
    """Versions of the physics models, recorded in every dataset's provenance."""
    return dict(MODEL_VERSIONS)


def default_batch_size(n_cells: int) -> int:
    """Events per batch so that one batch of cells takes about 64 MB."""
    return int(min(4096, max(16, (64 << 20) // (4 * max(n_cells, 1)))))


def resolve_layout(
    layout: str,
    sim: Any,
    guns: Sequence[ParticleGun],
    n_events: int,
    seed: int,
    first: Showers | None = None,
) -> str:
    """The cell layout of a run's file: ``layout``, or for ``"auto"`` the choice of
    :func:`calolab.data.sparse.choose_layout` on the occupancy of the run's first
    :data:`~calolab.data.sparse.AUTO_SAMPLE_EVENTS` events (taken from ``first``, the run's
    first batch, when it holds them, else simulated). The same for a run in one process and
    for the same run as a campaign."""
    check_layout(layout)
    if layout != "auto":
        return layout
    k = min(n_events, AUTO_SAMPLE_EVENTS)
    sample = first if first is not None and len(first) >= k else sim.run(guns, k, seed=seed)
    occ = occupancy(sample.cells, sample.digitized, n_events=k)
    chosen = choose_layout("auto", sample.n_cells, occ)
    log.info(
        "cell layout %s (%d cells, occupancy %.3f of the first %d events)",
        chosen,
        sample.n_cells,
        occ,
        k,
    )
    return chosen


def simulate(
    detector: str | Calorimeter,
    gun: ParticleGun | Sequence[ParticleGun],
    n_events: int,
    *,
    seed: int = 0,
    backend: str = "fast",
    digitizer: Digitizer | None = DEFAULT_DIGITIZER,
    sampling: SamplingModel = DEFAULT_SAMPLING,
    first_event: int = 0,
    progress: Callable[[int], None] | None = None,
    conditions: ChannelConditions | None = None,
    timing: TimingModel | None = None,
) -> Showers:
    """Simulate ``n_events`` into memory.

    Parameters
    ----------
    detector:
        Preset name, TOML path or :class:`Calorimeter`.
    gun:
        One particle gun, or several (event i uses gun ``i % len(guns)``).
    n_events:
        Number of events.
    seed:
        Seed of the run; event i uses ``SeedSequence(seed, spawn_key=(i,))``.
    digitizer:
        Digitisation with the readout of the detector's sections (default: on, EM-scale
        calibration; the digitised cells are in ``Showers.digitized``, the true visible
        energies stay in ``Showers.cells``); ``None``: no digitisation.
    conditions:
        Dead and noisy channels (:mod:`calolab.data.conditions`): dead cells read zero in the
        true and digitised energies of every event; the mask is stored with the events.
    timing:
        Simulate cell times (:mod:`calolab.simulation.timing`): ``Showers.times`` and, when
        digitised, ``Showers.digitized_times`` (and its time window).
    """
    det = resolve_detector(detector)
    guns = _guns(gun)
    n = _check_count("n_events", n_events, 1, MAX_EVENTS)
    seed = _check_count("seed", seed, 0)
    sim = simulator_for(det, backend, digitizer=digitizer, sampling=sampling)
    out = sim.run(guns, n, seed=seed, start=first_event, progress=progress)
    if timing is not None:
        out = add_timing(out, timing, seed=seed, first_event=first_event)
    if conditions is not None:
        out = apply_conditions(out, _checked(conditions, det), seed=seed, first_event=first_event)
    out.provenance = provenance(
        det,
        guns,
        n_events=n,
        seed=seed,
        backend=backend,
        digitizer=digitizer,
        sampling=sampling,
        first_event=first_event,
        conditions=conditions,
        timing=timing,
    )
    return out


def simulate_to_file(
    path: str | os.PathLike[str],
    detector: str | Calorimeter,
    gun: ParticleGun | Sequence[ParticleGun],
    n_events: int,
    *,
    seed: int = 0,
    backend: str = "fast",
    digitizer: Digitizer | None = DEFAULT_DIGITIZER,
    sampling: SamplingModel = DEFAULT_SAMPLING,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    conditions: ChannelConditions | None = None,
    timing: TimingModel | None = None,
    layout: str = "auto",
) -> Path:
    """Simulate ``n_events`` and stream them into an HDF5 file, batch by batch.

    Memory stays flat in ``n_events``. The file is written under a unique temporary name,
    under the output's lock (a second run writing the same file is refused before it touches
    anything), and renamed when complete; if anything fails, a full disk included, no
    output file is left behind. The output must not be the detector file.

    ``layout``: the cells as the CaloChallenge dense ``showers`` dataset (``"dense"``), as
    calolab's sparse cells (``"sparse"``, :mod:`calolab.data.sparse`), or chosen from the
    grid size and occupancy (``"auto"``, :func:`resolve_layout`).
    """
    check_layout(layout)
    inputs = detector_inputs(detector)
    check_output(path, inputs=inputs)
    det = resolve_detector(detector)
    guns = _guns(gun)
    n = _check_count("n_events", n_events, 1, MAX_EVENTS)
    seed = _check_count("seed", seed, 0)
    sim = simulator_for(det, backend, digitizer=digitizer, sampling=sampling)
    for g in guns:
        sim.check_gun(g)
    if batch_size is not None:
        _check_count("batch_size", batch_size, 1)
    bs = batch_size or default_batch_size(det.n_channels)
    if conditions is not None:
        _checked(conditions, det)
    prov = provenance(
        det,
        guns,
        n_events=n,
        seed=seed,
        backend=backend,
        digitizer=digitizer,
        sampling=sampling,
        conditions=conditions,
        timing=timing,
        layout=layout,
    )
    geo = CellGeometry.of(det) if timing is not None else None
    with ShowerWriter(path, det, prov, inputs=inputs, layout=layout) as writer:
        for a in range(0, n, bs):
            batch = sim.run(
                guns, min(bs, n - a), seed=seed, start=a, progress=progress, reuse_buffers=True
            )
            if timing is not None:
                batch = add_timing(batch, timing, seed=seed, first_event=a, geometry=geo)
            if conditions is not None:
                batch = apply_conditions(batch, conditions, seed=seed, first_event=a)
            if a == 0:  # decided before anything is written
                writer.layout = resolve_layout(layout, sim, guns, n, seed, batch)
            # the cells each event wrote, where nothing changed them since (no row scans)
            known = sim.written_cells(batch) if timing is None and conditions is None else None
            writer.append(batch, nonzero=known)
    log.info("wrote %d events to %s (%s cells)", n, path, writer.layout)
    return Path(path)
