"""Simulation campaigns: large runs cut into seeded chunks, run in one process or on a Dask
cluster, written chunk by chunk, resumable after a crash, merged into one file at the end.

How a campaign is laid out on disk (for an output ``photons.h5``)::

    photons.h5.campaign/            working directory (removed once the output is complete)
        manifest.json               configuration, its hash, and the chunks that are done
        chunk-000000.h5             events [0, chunk_size): a complete calolab HDF5 file
        chunk-000001.h5             ...
        .lock                       held (flock) by the process that runs the campaign
    photons.h5                      the merged, CaloChallenge-compatible file

Determinism. Chunk ``c`` of a campaign with seed ``s`` holds events
``[c * chunk_size, min((c + 1) * chunk_size, n_events))``; event ``i`` draws all its random
numbers from ``SeedSequence(s, spawn_key=(i,))`` (:func:`calolab.simulation.fast.event_rng`),
so a chunk is fixed by ``(s, c)`` and the merged dataset is identical whatever the number of
workers, the order in which chunks finish, the chunk size, or how often the run was
interrupted and resumed.

Reliability. Chunks and the manifest are written through :mod:`calolab.core.files`: a chunk
under a unique temporary name (``.chunk-NNNNNN.h5.XXXXXXXX.partial``), renamed when complete;
the manifest atomically (temporary file, fsync, rename) after every chunk. After a crash or
``SIGKILL`` at any instant the directory therefore holds only complete chunks (plus
temporary files, which are deleted), and ``resume=True`` simulates exactly the missing ones.
A chunk that finished but was not yet recorded is recognised from its own provenance and
kept. Resuming with a different configuration is refused.

Execution. ``workers=K`` runs the chunks on a pool of ``K`` local worker processes
(:func:`worker_pool`); ``scheduler="tcp://host:8786"`` (or ``client=``) uses a Dask
cluster (e.g. one started by ``dask-jobqueue`` on SLURM or HTCondor; the workers
need calolab installed and must see the output directory, i.e. a shared file system).
Neither: the chunks run one after the other in this process, without Dask.

Speed. Start-up is paid once: on Linux the local workers are forked from this process after it
has built the simulator (physics tables) and run the compiled kernels once, so they start with
everything imported, tabulated and compiled (elsewhere, and when PyTorch is loaded, they are
spawned and pay it once each, on their first chunk). The pool is a plain process pool: a local
Dask cluster delayed the first chunk (its import, scheduler and nannies) and its monitors took
CPU from the workers. The output is merged while the workers simulate: each chunk is appended (its compressed HDF5 chunks
copied as they are) as soon as it and the chunks before it are done, so at the end only the
last chunk is left to copy. Where the time goes: BENCHMARKS.md (scale-out).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import functools
import hashlib
import json
import logging
import math
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from calolab.core import files
from calolab.core.config import check_int
from calolab.core.errors import CalolabError, ConfigError, DataError, OutputError, require
from calolab.core.machine import check_workers
from calolab.data.hdf5 import ShowerFile, ShowerWriter
from calolab.data.hdf5 import _chunk_rows as hdf5_chunk_rows
from calolab.data.merge import MergeWriter
from calolab.data.sparse import check_layout
from calolab.geometry.detector import Calorimeter
from calolab.geometry.io import dumps_detector, loads_detector
from calolab.geometry.presets import resolve_detector
from calolab.physics.sampling import DEFAULT_SAMPLING, SamplingModel
from calolab.simulation.digitize import DEFAULT_DIGITIZER, Digitizer
from calolab.simulation.fast import simulator_for
from calolab.simulation.gun import ParticleGun
from calolab.simulation.run import (
    MAX_EVENTS,
    default_batch_size,
    detector_inputs,
    provenance,
    resolve_layout,
)

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "calolab-campaign"
MANIFEST_VERSION = 1
_CHUNK_RE = re.compile(r"^chunk-(\d{6,})\.h5$")
#: Temporary files of chunks and manifests left by a run that was killed (this version's
#: ``.chunk-NNNNNN.h5.XXXXXXXX.partial`` and the names of earlier versions).
_TEMPORARY_RE = re.compile(
    r"^(\.(chunk-\d{6,}\.h5|manifest\.json)\.\w{8}\.partial|.*\.tmp(\.h5)?(\.partial)?)$"
)
#: Valid Dask scheduler addresses: ``tcp://host:8786``, ``tls://...``, ``ucx://...``,
#: ``inproc://...`` or ``host:port``.
_SCHEDULER_RE = re.compile(r"^((tcp|tls|ucx|ws|wss)://)?\[?[\w.\-:]+\]?:\d{1,5}$|^inproc://\S+$")

Progress = Callable[[int], None]


#: Most events in one chunk by default: a few seconds of simulation, so that the last chunk
#: keeps few workers waiting, while the fixed cost of a chunk (its file, the manifest, the
#: merge: ~20 ms) stays around 1 % of it.
MAX_DEFAULT_CHUNK = 1024


def default_chunk_size(n_events: int, n_cells: int) -> int:
    """Events per chunk: about n/16 (so that 2–16 workers share the work evenly), at least
    100, at most :data:`MAX_DEFAULT_CHUNK` and four ~64 MB batches of cells, and a multiple of
    the rows of an HDF5 chunk of cells when possible (so that merging copies compressed data
    without recompressing it). Independent of the number of workers, so a campaign can be
    resumed with another number."""
    cap = min(MAX_DEFAULT_CHUNK, 4 * default_batch_size(n_cells))
    size = int(max(1, min(n_events, cap, max(100, -(-n_events // 16)))))
    rows = hdf5_chunk_rows(n_cells)
    return size - size % rows if size >= rows else size


@dataclass(frozen=True)
class CampaignSpec:
    """What a campaign simulates and how it is cut into chunks.

    Parameters
    ----------
    detector:
        Preset name, TOML path or :class:`Calorimeter`.
    guns:
        One particle gun or several (event i uses gun ``i % len(guns)``).
    n_events:
        Number of events of the whole campaign.
    seed:
        Seed; event i uses ``SeedSequence(seed, spawn_key=(i,))``.
    chunk_size:
        Events per chunk (default: :func:`default_chunk_size`).
    backend, digitizer, sampling:
        As for :func:`calolab.simulation.simulate`.
    layout:
        Cell layout of the files (``"auto"``, ``"dense"``, ``"sparse"``), as for
        :func:`calolab.simulation.simulate_to_file`; ``"auto"`` is decided once, on the
        campaign's first events (:attr:`resolved_layout`).
    """

    detector: Calorimeter
    guns: tuple[ParticleGun, ...]
    n_events: int
    seed: int = 0
    chunk_size: int = 0
    backend: str = "fast"
    digitizer: Digitizer | None = DEFAULT_DIGITIZER
    sampling: SamplingModel = DEFAULT_SAMPLING
    layout: str = "auto"

    def __init__(
        self,
        detector: str | Calorimeter,
        guns: ParticleGun | Sequence[ParticleGun],
        n_events: int,
        *,
        seed: int = 0,
        chunk_size: int | None = None,
        backend: str = "fast",
        digitizer: Digitizer | None = DEFAULT_DIGITIZER,
        sampling: SamplingModel = DEFAULT_SAMPLING,
        layout: str = "auto",
        resolved_layout: str | None = None,
    ):
        det = resolve_detector(detector)
        check_layout(layout, "campaign: layout")
        if resolved_layout is not None:
            check_layout(resolved_layout, "campaign: resolved layout", ("dense", "sparse"))
        gun_list = (guns,) if isinstance(guns, ParticleGun) else tuple(guns)
        if not gun_list or not all(isinstance(g, ParticleGun) for g in gun_list):
            raise ConfigError("guns must be a ParticleGun or a non-empty list of them")
        # canonical form (e.g. 30 → 30.0 cm), so that the configuration hash computed here
        # and on the workers (from plain data) agree
        gun_list = tuple(ParticleGun.from_dict(g.to_dict()) for g in gun_list)
        n_events = check_int("n_events", n_events, minimum=1, where="campaign")
        seed = check_int("seed", seed, minimum=0, where="campaign")
        if n_events > MAX_EVENTS:
            raise ConfigError(
                f"campaign: n_events {n_events:,} is more than the {MAX_EVENTS:,} one campaign "
                "may simulate; split it into several campaigns (different seeds)"
            )
        if chunk_size is None:
            chunk_size = default_chunk_size(n_events, det.n_channels)
        chunk_size = check_int("chunk_size", chunk_size, minimum=1, where="campaign")
        sim = simulator_for(det, backend, digitizer=digitizer, sampling=sampling)
        for g in gun_list:
            sim.check_gun(g)
        for k, v in (
            ("detector", det),
            ("guns", gun_list),
            ("n_events", n_events),
            ("seed", seed),
            ("chunk_size", chunk_size),
            ("backend", backend),
            ("digitizer", digitizer),
            ("sampling", sampling),
            ("layout", layout),
        ):
            object.__setattr__(self, k, v)
        if resolved_layout is not None or layout != "auto":
            self.__dict__["resolved_layout"] = resolved_layout or layout

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n_events / self.chunk_size)

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        """Events ``[start, stop)`` of chunk ``chunk``."""
        if not 0 <= chunk < self.n_chunks:
            raise ValueError(f"chunk {chunk} out of range [0, {self.n_chunks})")
        start = chunk * self.chunk_size
        return start, min(self.n_events, start + self.chunk_size)

    @functools.cached_property
    def resolved_layout(self) -> str:
        """The layout written: :attr:`layout`, or for ``"auto"`` the choice made on the first
        events of the campaign (simulated here once, which also warms this process up)."""
        sim = simulator_for(
            self.detector, self.backend, digitizer=self.digitizer, sampling=self.sampling
        )
        return resolve_layout(self.layout, sim, list(self.guns), self.n_events, self.seed)

    def provenance(self) -> dict[str, Any]:
        """Provenance of the merged file: that of :func:`simulate_to_file` plus the chunking."""
        prov = provenance(
            self.detector,
            list(self.guns),
            n_events=self.n_events,
            seed=self.seed,
            backend=self.backend,
            digitizer=self.digitizer,
            sampling=self.sampling,
            layout=self.layout,
        )
        prov["campaign"] = {
            "chunk_size": self.chunk_size,
            "n_chunks": self.n_chunks,
            "config_hash": self.config_hash,
        }
        return prov

    @functools.cached_property
    def config(self) -> dict[str, Any]:
        """The configuration a resumed run must match (plain data)."""
        from calolab.core.provenance import package_version

        __version__ = package_version()

        cfg = provenance(
            self.detector,
            list(self.guns),
            n_events=self.n_events,
            seed=self.seed,
            backend=self.backend,
            digitizer=self.digitizer,
            sampling=self.sampling,
            layout=self.layout,
        )["config"]
        return {**cfg, "chunk_size": self.chunk_size, "calolab_version": __version__}

    @functools.cached_property
    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()

    def payload(self) -> str:
        """Plain-data (JSON) form sent to workers: no pickled objects cross the wire."""
        return json.dumps(
            {
                "detector_toml": dumps_detector(self.detector),
                "guns": [g.to_dict() for g in self.guns],
                "n_events": self.n_events,
                "seed": self.seed,
                "chunk_size": self.chunk_size,
                "backend": self.backend,
                "digitizer": self.digitizer.to_dict() if self.digitizer else None,
                "sampling": asdict(self.sampling),
                "layout": self.layout,
                "resolved_layout": self.resolved_layout,
            },
            sort_keys=True,
        )

    @classmethod
    def from_payload(cls, payload: str) -> CampaignSpec:
        d = json.loads(payload)
        return cls(
            loads_detector(d["detector_toml"], source="campaign payload"),
            [ParticleGun.from_dict(g) for g in d["guns"]],
            d["n_events"],
            seed=d["seed"],
            chunk_size=d["chunk_size"],
            backend=d["backend"],
            digitizer=Digitizer(**d["digitizer"]) if d["digitizer"] else None,
            sampling=SamplingModel(**d["sampling"]),
            layout=d["layout"],
            resolved_layout=d["resolved_layout"],
        )


# ----------------------------------------------------------------------------- workers
@functools.lru_cache(maxsize=4)
def _worker_state(payload: str) -> tuple[CampaignSpec, Any]:
    """Spec and simulator of a payload, built once per worker process (a cache, not state:
    the result depends only on the payload)."""
    spec = CampaignSpec.from_payload(payload)
    sim = simulator_for(
        spec.detector, spec.backend, digitizer=spec.digitizer, sampling=spec.sampling
    )
    return spec, sim


def warm_up(payload: str) -> float:
    """Build the simulator of a payload and run its compiled kernels once (one event per
    gun, not kept), so that processes forked afterwards start ready; returns CPU seconds."""
    c0 = time.process_time()
    spec, sim = _worker_state(payload)
    n = min(spec.n_events, len(spec.guns))
    sim.run(list(spec.guns), n, seed=spec.seed, start=0)
    return time.process_time() - c0


def chunk_path(work_dir: str | os.PathLike[str], chunk: int) -> Path:
    return Path(work_dir) / f"chunk-{chunk:06d}.h5"


def simulate_chunk(
    payload: str,
    chunk: int,
    work_dir: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Simulate chunk ``chunk`` of a campaign and write it to ``work_dir/chunk-NNNNNN.h5``.

    Runs on a worker. The file is written under a unique temporary name and renamed when
    complete, without the output lock, so concurrent or repeated executions of the same chunk
    (which produce the same events) cannot corrupt it. Returns the chunk's manifest entry.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    cold = _worker_state.cache_info().currsize == 0
    spec, sim = _worker_state(payload)
    startup = time.process_time() - c0 if cold else 0.0
    start, stop = spec.chunk_range(chunk)
    final = chunk_path(work_dir, chunk)
    prov = spec.provenance()
    prov["chunk"] = {"index": chunk, "first_event": start, "n_events": stop - start}
    batch = default_batch_size(spec.detector.n_channels)
    write = 0.0
    try:
        with ShowerWriter(
            final, spec.detector, prov, lock=False, layout=spec.resolved_layout
        ) as writer:
            for a in range(start, stop, batch):
                n = min(batch, stop - a)
                showers = sim.run(
                    list(spec.guns),
                    n,
                    seed=spec.seed,
                    start=a,
                    progress=progress,
                    reuse_buffers=True,
                )
                w0 = time.process_time()
                writer.append(showers, nonzero=sim.written_cells(showers))
                write += time.process_time() - w0
            w0 = time.process_time()
        write += time.process_time() - w0  # closing: attributes, fsync, rename
    except OutputError as exc:
        raise OutputError(f"chunk {chunk} ('{final}'): {exc}") from None
    return {
        "file": final.name,
        "first_event": start,
        "n_events": stop - start,
        "seconds": round(time.perf_counter() - t0, 3),
        # where the time went (BENCHMARKS.md, scale-out): CPU seconds of the whole chunk, of
        # building the worker's simulator (first chunk of a spawned worker) and of writing
        "cpu_seconds": round(time.process_time() - c0, 3),
        "startup_cpu_seconds": round(startup, 3),
        "write_cpu_seconds": round(write, 3),
    }


# ----------------------------------------------------------------------------- manifest
def write_manifest(path: Path, data: Mapping[str, Any]) -> None:
    """Write the manifest so that ``path`` holds either the old or the new content."""
    files.write_json(path, data, sort_keys=True, what="campaign manifest")


def _config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    diffs = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if a != b:
            sa, sb = json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)
            if len(sa) > 60 or len(sb) > 60:
                diffs.append(f"{k} changed")
            else:
                diffs.append(f"{k} {sa} → {sb}")
    return "; ".join(diffs) or "unknown difference"


class Campaign:
    """One dataset simulated in chunks: the output file, its working directory and manifest.

    Most users call :func:`run_campaign`; this class is the building block, also used by
    multi-detector campaigns (:func:`calolab.simulation.campaign_config.run_campaign_config`).

    Parameters
    ----------
    output:
        The merged HDF5 file to produce.
    spec:
        What to simulate.
    work_dir:
        Where chunks and the manifest live (default ``<output>.campaign``).
    keep_chunks:
        Keep the chunk files and manifest after the merge.
    inputs:
        Files the campaign reads (detector and campaign files): the output must be none.
    """

    def __init__(
        self,
        output: str | os.PathLike[str],
        spec: CampaignSpec,
        *,
        work_dir: str | os.PathLike[str] | None = None,
        keep_chunks: bool = False,
        inputs: Sequence[str | os.PathLike[str]] = (),
    ):
        self.output = Path(output)
        self.inputs = [Path(p) for p in inputs]
        self.spec = spec
        self.work_dir = (
            Path(work_dir) if work_dir else self.output.with_name(self.output.name + ".campaign")
        )
        self.manifest_path = self.work_dir / "manifest.json"
        self.keep_chunks = keep_chunks
        self.done: dict[int, dict[str, Any]] = {}
        self.complete = False
        self._payload: str | None = None
        self._merge: MergeWriter | None = None
        self._merged = 0  # chunks appended to the output so far (0 .. _merged - 1)
        #: Where the driver's time went in the last run (seconds; ``*_cpu``: CPU seconds of
        #: this process): recording chunks in the manifest, merging, the final commit, and
        #: for Dask runs the warm-up, the start and the shutdown of the local cluster.
        self.timings: dict[str, float] = {}

    @property
    def payload(self) -> str:
        if self._payload is None:
            self._payload = self.spec.payload()
        return self._payload

    # -- state on disk -------------------------------------------------------------------
    def _manifest(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "output": self.output.name,
            "config_hash": self.spec.config_hash,
            "config": self.spec.config,
            "n_events": self.spec.n_events,
            "chunk_size": self.spec.chunk_size,
            "n_chunks": self.spec.n_chunks,
            "chunks": {str(k): v for k, v in sorted(self.done.items())},
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def _save_manifest(self) -> None:
        write_manifest(self.manifest_path, self._manifest())

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest on disk, or ``None`` when there is none."""
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DataError(
                f"cannot read campaign manifest '{self.manifest_path}': {exc}"
            ) from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
                raise ValueError("not a calolab campaign manifest")
            if data.get("version") != MANIFEST_VERSION:
                raise ValueError(f"manifest version {data.get('version')!r} is not supported")
            if not isinstance(data.get("chunks"), dict) or not isinstance(data.get("config"), dict):
                raise ValueError("missing 'chunks' or 'config'")
        except ValueError as exc:
            raise DataError(
                f"campaign manifest '{self.manifest_path}' is damaged ({exc}); delete "
                f"'{self.work_dir}' to start the campaign over"
            ) from None
        return data

    def _check_chunk(self, index: int, f: ShowerFile) -> None:
        start, stop = self.spec.chunk_range(index)
        camp = f.provenance.get("campaign", {})
        chunk = f.provenance.get("chunk", {})
        if (
            not isinstance(camp, dict)
            or not isinstance(chunk, dict)
            or camp.get("config_hash") != self.spec.config_hash
            or chunk.get("index") != index
            or chunk.get("first_event") != start
            or len(f) != stop - start
        ):
            raise DataError(
                f"'{f.path}' is not chunk {index} (events {start}-{stop - 1}) of this campaign"
            )

    def _valid_chunk_file(self, index: int) -> bool:
        path = chunk_path(self.work_dir, index)
        try:
            with ShowerFile(path, check_finite=False) as f:
                self._check_chunk(index, f)
        except CalolabError as exc:
            log.warning("discarding %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return False
        return True

    def work_dir_is_clean(self) -> bool:
        """True when there is no unfinished campaign in the working directory."""
        m = self.read_manifest()
        return m is None or bool(m.get("merged"))

    def output_is_complete(self) -> bool:
        """True when ``output`` exists and was made by this exact configuration."""
        if not self.output.exists():
            return False
        try:
            with ShowerFile(self.output, check_finite=False) as f:
                camp = f.provenance.get("campaign", {})
                return (
                    isinstance(camp, dict)
                    and camp.get("config_hash") == self.spec.config_hash
                    and len(f) == self.spec.n_events
                )
        except CalolabError:
            return False

    def plan(self, resume: bool) -> list[int]:
        """Prepare the working directory and return the chunks still to simulate.

        Raises
        ------
        ConfigError
            An unfinished campaign exists and ``resume`` is false, or the existing campaign
            was made with a different configuration.
        """
        files.check_output(self.output, inputs=self.inputs)
        self.timings = {}
        manifest = self.read_manifest()
        merged = manifest is not None and bool(manifest.get("merged"))
        if resume and (manifest is None or merged) and self.output_is_complete():
            log.info("%s is already complete", self.output)
            self.complete = True
            return []
        if manifest is not None and not merged:
            n_done = len(manifest["chunks"])
            if not resume:
                raise ConfigError(
                    f"an unfinished campaign for '{self.output}' exists in '{self.work_dir}' "
                    f"({n_done} of {manifest.get('n_chunks', '?')} chunks done); add --resume "
                    f"(resume=True) to finish it, or delete '{self.work_dir}' to start over"
                )
            if manifest.get("config_hash") != self.spec.config_hash:
                raise ConfigError(
                    f"cannot resume the campaign in '{self.work_dir}': its configuration differs "
                    f"({_config_diff(manifest['config'], self.spec.config)}); rerun with the "
                    f"original options, or delete '{self.work_dir}' to start over"
                )
        try:
            self.work_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create campaign directory '{self.work_dir}': {exc}"
            ) from None
        recorded = {int(k) for k in (manifest or {}).get("chunks", {})}
        self.done = {}
        for entry in sorted(os.listdir(self.work_dir)):
            path = self.work_dir / entry
            m = _CHUNK_RE.match(entry)
            if m:
                index = int(m.group(1))
                if index < self.spec.n_chunks and self._valid_chunk_file(index):
                    if index not in recorded:
                        log.info("adopting finished but unrecorded %s", path)
                    start, stop = self.spec.chunk_range(index)
                    self.done[index] = {
                        "file": entry,
                        "first_event": start,
                        "n_events": stop - start,
                    }
                else:
                    path.unlink(missing_ok=True)
            elif _TEMPORARY_RE.match(entry):
                path.unlink(missing_ok=True)  # left by a run that was killed
        lost = recorded - set(self.done)
        if lost:
            log.warning(
                "%d recorded chunks of %s were missing or damaged and will be redone",
                len(lost),
                self.output,
            )
        self._save_manifest()
        return [c for c in range(self.spec.n_chunks) if c not in self.done]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the working directory (released by the OS on a crash)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            yield
            return
        try:
            self.work_dir.mkdir(exist_ok=True)
            fh = open(self.work_dir / ".lock", "a+")
        except OSError as exc:
            raise OutputError(
                f"cannot create campaign directory '{self.work_dir}': {exc}"
            ) from None
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise ConfigError(
                        f"the campaign in '{self.work_dir}' is being run by another process; "
                        "wait for it to finish"
                    ) from None
                raise
            yield
        finally:
            fh.close()

    def _time(self, key: str, wall: float, cpu: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - wall
        self.timings[key + "_cpu"] = self.timings.get(key + "_cpu", 0.0) + time.process_time() - cpu

    def record(self, index: int, entry: Mapping[str, Any]) -> None:
        """Record a finished chunk in the manifest."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.done[index] = dict(entry)
        self._save_manifest()
        self._time("record", wall, cpu)

    @property
    def all_done(self) -> bool:
        return len(self.done) == self.spec.n_chunks

    def merge_ready(self) -> int:
        """Append to the output (being written under a temporary name) the chunks that are
        done and follow those already appended, in event order; returns how many.

        Called after every finished chunk, so the output grows while the workers simulate.
        The chunk files stay until the output is complete: a run killed now leaves only a
        temporary output, deleted by the next run, and its chunks, merged again on resume.
        """
        n = 0
        wall, cpu = time.perf_counter(), time.process_time()
        while not self.complete and self._merged in self.done:
            if self._merge is None:
                self._merged = 0
                paths = [chunk_path(self.work_dir, c) for c in range(self.spec.n_chunks)]
                self._merge = MergeWriter(
                    self.output,
                    inputs=[*paths, *self.inputs],
                    provenance=self.spec.provenance(),
                    check=self._check_chunk,
                )
            try:
                self._merge.append(chunk_path(self.work_dir, self._merged))
            except BaseException:
                self._merge, self._merged = None, 0  # the writer removed its file
                raise
            self._merged += 1
            n += 1
        if n:
            self._time("merge", wall, cpu)
        return n

    def abort_merge(self) -> None:
        """Remove the unfinished output, if any (the chunks stay)."""
        if self._merge is not None:
            merge, self._merge, self._merged = self._merge, None, 0
            merge.abort()

    def finish(self) -> Path:
        """Merge the chunks into the output file and clean up the working directory."""
        if self.complete:
            return self.output
        if not self.all_done:
            missing = sorted(set(range(self.spec.n_chunks)) - set(self.done))
            raise DataError(f"campaign '{self.output}': chunks {missing[:10]} are not done")
        self.merge_ready()
        merge, self._merge = self._merge, None
        assert merge is not None and self._merged == self.spec.n_chunks
        wall, cpu = time.perf_counter(), time.process_time()
        merge.commit()
        self._time("commit", wall, cpu)
        self.complete = True
        log.info("campaign complete: %d events in %s", self.spec.n_events, self.output)
        if self.keep_chunks:
            write_manifest(self.manifest_path, {**self._manifest(), "merged": True})
        else:
            for c in range(self.spec.n_chunks):
                chunk_path(self.work_dir, c).unlink(missing_ok=True)
            self.manifest_path.unlink(missing_ok=True)
            (self.work_dir / ".lock").unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.work_dir.rmdir()
        return self.output

    def status(self) -> dict[str, Any]:
        """Progress as plain data (reads the manifest; changes nothing)."""
        if self.output_is_complete():
            done, state = self.spec.n_chunks, "complete"
        else:
            m = self.read_manifest()
            if m is None:
                done, state = 0, "not started"
            elif m.get("config_hash") != self.spec.config_hash:
                done, state = len(m["chunks"]), "different configuration"
            else:
                done, state = len(m["chunks"]), "unfinished"
        return {
            "output": str(self.output),
            "state": state,
            "chunks_done": done,
            "n_chunks": self.spec.n_chunks,
            "n_events": self.spec.n_events,
            "config_hash": self.spec.config_hash,
        }


# ----------------------------------------------------------------------------- execution
def check_scheduler(address: str | None) -> str | None:
    """``address`` if it looks like a Dask scheduler address (``tcp://host:port``, ...)."""
    if address is not None and not _SCHEDULER_RE.match(str(address)):
        raise ConfigError(
            f"scheduler address {address!r} (--scheduler) is not a Dask address; give "
            "tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786), tls://HOST:PORT or HOST:PORT"
        )
    return address


#: Dask settings of the local clusters calolab starts. Measured on the simulation (BENCHMARKS.md,
#: scale-out): with Dask's defaults a worker's own threads take ~11 % of a core away from the
#: chunk it runs, with these ~1 %.
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which stops glibc from
    # raising its mmap threshold: every per-event cell array is then mmap'ed and zeroed anew,
    # and the simulation runs ~40 % slower (measured). calolab's workers keep the default.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # the statistical profiler samples the stack of every task every 10 ms (~6 % of a core)
    "distributed.worker.profile.enabled": False,
    # event-loop latency ticks (20 ms), memory monitor (100 ms), system monitor (500 ms)
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
}

START_METHODS = ("spawn", "fork", "forkserver")


def fork_start_method() -> str | None:
    """``"fork"`` where local workers can safely be forked from this process (Linux, and no
    PyTorch loaded: the GNU OpenMP thread pool does not survive a fork), else ``None``
    (Dask's default, ``spawn``). Forked workers inherit the imports, physics tables and
    compiled kernels of this process instead of building them again."""
    import multiprocessing
    import sys

    if not sys.platform.startswith("linux"):
        return None
    if "fork" not in multiprocessing.get_all_start_methods() or "torch" in sys.modules:
        return None
    return "fork"


@contextlib.contextmanager
def dask_client(
    workers: int | None = None,
    scheduler: str | None = None,
    *,
    start_method: str | None = None,
) -> Iterator[Any]:
    """A Dask client: a new local cluster of ``workers`` processes (one thread each), or a
    connection to an existing scheduler at ``scheduler`` (e.g. ``tcp://host:8786``).

    Parameters
    ----------
    workers, scheduler:
        One of them: the size of a new local cluster, or the address of an existing one.
    start_method:
        How the local workers are started: ``"spawn"`` (fresh interpreters), ``"fork"``
        (copies of this process, with everything it has imported and built: see
        :func:`fork_start_method`) or ``"forkserver"``; default: Dask's configuration
        (``distributed.worker.multiprocessing-method``, ``spawn``).

    The local cluster runs with :data:`LOCAL_CLUSTER_CONFIG` (no statistical profiler, slower
    monitors).
    """
    check_scheduler(scheduler)
    if start_method is not None and start_method not in START_METHODS:
        raise ConfigError(
            f"start_method {start_method!r} must be one of {', '.join(START_METHODS)} (or None)"
        )
    require("dask", "dask", "running simulation chunks on Dask")
    distributed = require("distributed", "dask", "running simulation chunks on Dask")
    # Dask logs every connection at INFO; calolab shows its own progress instead.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler is not None:
        try:
            # waits up to dask's distributed.comm.timeouts.connect (30 s by default)
            client = distributed.Client(scheduler)  # type: ignore[attr-defined]
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"cannot connect to the Dask scheduler at '{scheduler}' ({exc}); check the "
                "address (tcp://host:port) and that the scheduler is running"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    check_workers(
        workers,
        option="workers (--workers)",
        hint=", or run on an existing cluster (--scheduler)",
    )
    import dask

    config = dict(LOCAL_CLUSTER_CONFIG)
    if start_method is not None:
        config["distributed.worker.multiprocessing-method"] = start_method
    with dask.config.set(config):
        cluster = distributed.LocalCluster(  # type: ignore[attr-defined]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: several clusters may run on one machine
            silence_logs=logging.ERROR,
        )
    try:
        client = distributed.Client(cluster)  # type: ignore[attr-defined]
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _init_pool_worker(parent: int) -> None:
    """Set up a worker process of :func:`worker_pool`: Ctrl-C is the driver's to handle (it
    cancels the chunks not started; running ones finish, complete chunks are kept), and the
    worker exits within a second when the driver is gone (killed), instead of simulating on
    as an orphan."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="calolab-parent-watch", daemon=True).start()


@contextlib.contextmanager
def worker_pool(
    workers: int, *, start_method: str | None = None
) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """A pool of ``workers`` local worker processes for campaign chunks (``--workers K``).

    A plain process pool (:class:`concurrent.futures.ProcessPoolExecutor`), not a Dask
    cluster: on one machine Dask's import (0.4 s of CPU), scheduler, nannies and monitors
    delay the first chunk and cost CPU, and bring nothing a campaign uses (BENCHMARKS.md,
    issue 17). The workers start on the first submitted chunk and run every chunk of the
    campaigns after it. With ``start_method="fork"`` (:func:`fork_start_method`) they are
    copies of this process, with what it imported, tabulated and compiled; otherwise
    (``"spawn"``, the default, or ``"forkserver"``) each builds its simulator once, on its
    first chunk. For a Dask cluster use ``scheduler=`` or ``client=`` (:func:`dask_client`).
    """
    import multiprocessing

    check_workers(
        workers,
        option="workers (--workers)",
        hint=", or run on an existing cluster (--scheduler)",
    )
    if start_method is not None and start_method not in START_METHODS:
        raise ConfigError(
            f"start_method {start_method!r} must be one of {', '.join(START_METHODS)} (or None)"
        )
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(start_method or "spawn"),
        initializer=_init_pool_worker,
        initargs=(os.getpid(),),
    )
    try:
        yield pool
    finally:
        # chunks not started are cancelled; running ones finish (they are complete chunks,
        # kept for --resume) and the workers exit
        pool.shutdown(wait=True, cancel_futures=True)


def _failure(
    exc: BaseException, campaigns: Sequence[Campaign], camp: Campaign, chunk: int
) -> CalolabError:
    done = sum(len(c.done) for c in campaigns)
    total = sum(c.spec.n_chunks for c in campaigns)
    hint = (
        f" [{done} of {total} chunks are complete and kept in '{camp.work_dir}'; fix the "
        "problem and run the same command with --resume (resume=True) to finish]"
    )
    if isinstance(exc, CalolabError):
        try:
            return type(exc)(f"{exc}{hint}")
        except Exception:  # pragma: no cover - exotic constructor
            return CalolabError(f"{exc}{hint}")
    if isinstance(exc, OSError):
        return OutputError(f"chunk {chunk} of '{camp.output}' failed: {exc}{hint}")
    return CalolabError(
        f"chunk {chunk} of '{camp.output}' failed: {type(exc).__name__}: {exc}{hint}"
    )


def execute(
    campaigns: Sequence[Campaign],
    *,
    resume: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Run several campaigns, sharing one pool of workers; return their output files.

    Each campaign is merged as soon as its last chunk is done.
    """
    if workers is not None and scheduler is not None:
        raise ConfigError("give either workers (local worker processes) or scheduler, not both")
    check_scheduler(scheduler)
    if client is None and scheduler is None and workers is not None:
        check_workers(
            workers,
            option="workers (--workers)",
            hint=", or run on an existing cluster (--scheduler)",
        )
    outputs = [c.output.resolve() for c in campaigns]
    if len(set(outputs)) != len(outputs):
        raise ConfigError("two campaigns write the same output file")
    with contextlib.ExitStack() as stack:
        tasks: list[tuple[Campaign, int]] = []
        for camp in campaigns:
            files.check_output(camp.output, inputs=camp.inputs)
            if not (resume and camp.work_dir_is_clean() and camp.output_is_complete()):
                stack.enter_context(camp.locked())
            stack.callback(camp.abort_merge)  # an unfinished output goes; the chunks stay
            pending = camp.plan(resume)
            if progress is not None:
                progress(sum(e["n_events"] for e in camp.done.values()))
            if not pending and not camp.complete:
                camp.finish()
            tasks.extend((camp, c) for c in pending)
        if tasks:
            if workers is None and scheduler is None and client is None:
                _run_serial(campaigns, tasks, progress)
            elif client is not None:
                _run_dask(client, campaigns, tasks, progress)
            elif scheduler is not None:
                running = list({id(c): c for c, _ in tasks}.values())
                wall, cpu = time.perf_counter(), time.process_time()
                with dask_client(None, scheduler) as cl:
                    for camp in running:
                        camp._time("cluster_start", wall, cpu)
                    _run_dask(cl, campaigns, tasks, progress)
                    wall, cpu = time.perf_counter(), time.process_time()
                for camp in running:
                    camp._time("cluster_close", wall, cpu)
            else:
                assert workers is not None
                start_method = fork_start_method()
                running = list({id(c): c for c, _ in tasks}.values())
                wall, cpu = time.perf_counter(), time.process_time()
                if start_method == "fork":
                    for camp in running:  # built once here, inherited by every worker
                        warm_up(camp.payload)
                for camp in running:
                    camp._time("warm_up", wall, cpu)
                wall, cpu = time.perf_counter(), time.process_time()
                with worker_pool(workers, start_method=start_method) as pool:
                    for camp in running:
                        camp._time("cluster_start", wall, cpu)
                    _run_pool(pool, campaigns, tasks, progress)
                    wall, cpu = time.perf_counter(), time.process_time()
                for camp in running:
                    camp._time("cluster_close", wall, cpu)
    return [c.output for c in campaigns]


def _done(camp: Campaign, chunk: int, entry: dict[str, Any]) -> None:
    camp.record(chunk, entry)
    if camp.all_done:
        camp.finish()
    else:
        camp.merge_ready()


def _run_serial(
    campaigns: Sequence[Campaign],
    tasks: list[tuple[Campaign, int]],
    progress: Progress | None,
) -> None:
    for camp, chunk in tasks:
        try:
            camp.merge_ready()  # chunks done by an earlier run
            entry = simulate_chunk(camp.payload, chunk, str(camp.work_dir), progress=progress)
            _done(camp, chunk, entry)
        except (CalolabError, OSError) as exc:
            raise _failure(exc, campaigns, camp, chunk) from None


def _run_dask(
    client: Any,
    campaigns: Sequence[Campaign],
    tasks: list[tuple[Campaign, int]],
    progress: Progress | None,
) -> None:
    from distributed import as_completed

    futures = {}
    for camp, chunk in tasks:
        key = f"calolab-chunk-{camp.spec.config_hash[:16]}-{chunk}-{secrets.token_hex(4)}"
        work_dir = str(camp.work_dir.resolve())  # workers may have another working directory
        fut = client.submit(simulate_chunk, camp.payload, chunk, work_dir, key=key, pure=False)
        futures[fut] = (camp, chunk)
    try:
        for camp in campaigns:  # chunks done by an earlier run, while the workers simulate
            try:
                camp.merge_ready()
            except (CalolabError, OSError) as exc:
                raise _failure(exc, campaigns, camp, camp._merged) from None
        for fut in as_completed(futures):
            camp, chunk = futures[fut]
            try:
                entry = fut.result()
                _done(camp, chunk, entry)
            except Exception as exc:
                raise _failure(exc, campaigns, camp, chunk) from None
            if progress is not None:
                progress(entry["n_events"])
    finally:
        client.cancel(list(futures))


def _run_pool(
    pool: concurrent.futures.ProcessPoolExecutor,
    campaigns: Sequence[Campaign],
    tasks: list[tuple[Campaign, int]],
    progress: Progress | None,
) -> None:
    futures = {}
    try:
        for camp, chunk in tasks:  # the first submission starts (forks) the workers
            work_dir = str(camp.work_dir.resolve())
            futures[pool.submit(simulate_chunk, camp.payload, chunk, work_dir)] = (camp, chunk)
        for camp in campaigns:  # chunks done by an earlier run, while the workers simulate
            try:
                camp.merge_ready()
            except (CalolabError, OSError) as exc:
                raise _failure(exc, campaigns, camp, camp._merged) from None
        for fut in concurrent.futures.as_completed(futures):
            camp, chunk = futures[fut]
            try:
                entry = fut.result()
                _done(camp, chunk, entry)
            except Exception as exc:
                if isinstance(exc, concurrent.futures.BrokenExecutor):
                    exc = CalolabError(
                        "a worker process died (killed by the system? out of memory?); run "
                        "with fewer --workers"
                    )
                raise _failure(exc, campaigns, camp, chunk) from None
            if progress is not None:
                progress(entry["n_events"])
    finally:
        for fut in futures:
            fut.cancel()


def run_campaign(
    output: str | os.PathLike[str],
    detector: str | Calorimeter,
    guns: ParticleGun | Sequence[ParticleGun],
    n_events: int,
    *,
    seed: int = 0,
    chunk_size: int | None = None,
    backend: str = "fast",
    digitizer: Digitizer | None = DEFAULT_DIGITIZER,
    sampling: SamplingModel = DEFAULT_SAMPLING,
    layout: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    resume: bool = False,
    keep_chunks: bool = False,
    work_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Simulate ``n_events`` in chunks into ``output`` (HDF5), resumably, optionally on Dask.

    Parameters
    ----------
    output:
        The merged HDF5 file (CaloChallenge datasets in MeV + the ``/calolab`` group).
    detector, guns, n_events, seed, backend, digitizer, sampling, layout:
        As for :func:`calolab.simulation.simulate_to_file`; the events (and the layout) are
        identical to those of ``simulate_to_file`` with the same arguments.
    chunk_size:
        Events per chunk (default :func:`default_chunk_size`).
    workers:
        Run the chunks on this many local worker processes (:func:`worker_pool`).
    scheduler:
        Address of an existing Dask scheduler (``tcp://host:8786``).
    client:
        An existing ``dask.distributed.Client`` (instead of ``workers``/``scheduler``).
    resume:
        Continue an interrupted campaign (refused if its configuration differs); without
        an unfinished campaign, start one. Without ``resume`` an unfinished campaign is an
        error.
    keep_chunks:
        Keep the chunk files and the manifest after the merge.
    work_dir:
        Directory of chunks and manifest (default ``<output>.campaign``).
    progress:
        Called with the number of events finished (per event in one process, per chunk
        on Dask).
    """
    spec = CampaignSpec(
        detector,
        guns,
        n_events,
        seed=seed,
        chunk_size=chunk_size,
        backend=backend,
        digitizer=digitizer,
        sampling=sampling,
        layout=layout,
    )
    camp = Campaign(
        output, spec, work_dir=work_dir, keep_chunks=keep_chunks, inputs=detector_inputs(detector)
    )
    execute(
        [camp],
        resume=resume,
        workers=workers,
        scheduler=scheduler,
        client=client,
        progress=progress,
    )
    return camp.output


__all__ = [
    "Campaign",
    "CampaignSpec",
    "dask_client",
    "default_chunk_size",
    "execute",
    "fork_start_method",
    "run_campaign",
    "simulate_chunk",
    "worker_pool",
]
