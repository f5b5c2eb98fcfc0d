"""The simulation request: what to simulate and how, as one typed, validated object.

A :class:`SimulationRequest` is the hand-off from whoever asks for showers — the
``calolab simulate`` command, a campaign file, the demo — to the simulator: the particle guns
(particle, energy spectrum, direction and entry point), the number of events, the seed, the
backend, digitisation and cell times, the file layout, and how the run is executed (in this
process, or chunked and resumable on local workers or a Dask cluster). The detector is not part
of it: one request can be simulated in several detectors (campaigns, the demo).

Example
-------
>>> from calolab.simulation.request import SimulationRequest
>>> req = SimulationRequest.of(["e-", "pi+"], "1:100", 1000, seed=3)
>>> [g.particle_name for g in req.guns], req.n_events, req.chunked
(['e-', 'pi+'], 1000, False)
>>> req.run("showers.h5", "course_pbwo4")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calolab.core.config import check_int, check_keys, from_table, read_json, to_table
from calolab.core.errors import ConfigError
from calolab.core.files import write_json
from calolab.data.conditions import ChannelConditions
from calolab.data.showers import Showers
from calolab.data.sparse import check_layout
from calolab.geometry.detector import Calorimeter
from calolab.geometry.presets import resolve_detector
from calolab.physics.sampling import DEFAULT_SAMPLING, SamplingModel
from calolab.simulation.campaign import CampaignSpec, check_scheduler, run_campaign
from calolab.simulation.digitize import DEFAULT_DIGITIZER, Digitizer
from calolab.simulation.gun import ParticleGun
from calolab.simulation.run import MAX_EVENTS, provenance, simulate, simulate_to_file
from calolab.simulation.timing import TimingModel

#: Largest seed accepted (seeds feed ``numpy.random.SeedSequence``; 63 bits keep them exact in
#: every file format calolab writes).
MAX_SEED = 2**63 - 1

Progress = Callable[[int], None]

#: Keys of a gun in :meth:`SimulationRequest.to_table` (``ParticleGun.to_dict``).
_GUN_KEYS = {f.name for f in dataclasses.fields(ParticleGun) if f.init} | {"pdg"}


@dataclass(frozen=True)
class SimulationRequest:
    """What to simulate and how (the detector is given when the request is run).

    Parameters
    ----------
    guns:
        The particle guns (particle, energy spectrum, direction, entry point); event i uses
        gun ``i % len(guns)``. A single :class:`ParticleGun` is accepted.
    n_events:
        Number of events, 1 to :data:`calolab.simulation.run.MAX_EVENTS`.
    seed:
        Seed; event i draws from ``SeedSequence(seed, spawn_key=(i,))``, whatever the number of
        workers or chunks.
    backend, digitizer, sampling:
        As for :func:`calolab.simulation.simulate`.
    layout:
        Cells in the file: ``"auto"``, ``"dense"`` or ``"sparse"``.
    timing:
        Simulate cell times (:class:`calolab.simulation.timing.TimingModel`), or ``None``.
    batch_size:
        Events per batch written by a run in one process (default: about 64 MB of cells).
    chunk_size, workers, scheduler, resume, keep_chunks:
        Execution as a chunked, resumable campaign (:mod:`calolab.simulation.campaign`):
        events per chunk file, ``K`` local worker processes or the address of a Dask
        scheduler (not both), finish an interrupted run, keep the chunk files. Any of them
        makes the run a campaign (:attr:`chunked`).
    """

    guns: tuple[ParticleGun, ...]
    n_events: int
    seed: int = 0
    backend: str = "fast"
    digitizer: Digitizer | None = DEFAULT_DIGITIZER
    sampling: SamplingModel = DEFAULT_SAMPLING
    layout: str = "auto"
    timing: TimingModel | None = None
    batch_size: int | None = None
    chunk_size: int | None = None
    workers: int | None = None
    scheduler: str | None = None
    resume: bool = False
    keep_chunks: bool = False

    def __post_init__(self) -> None:
        guns: Any = self.guns
        gun_list = (guns,) if isinstance(guns, ParticleGun) else tuple(guns)
        if not gun_list or not all(isinstance(g, ParticleGun) for g in gun_list):
            raise ConfigError("simulation request: guns must be a ParticleGun or a list of them")
        # canonical form (e.g. 30 → 30.0 cm), so that equal requests have equal provenance
        object.__setattr__(self, "guns", tuple(g.canonical() for g in gun_list))
        where = "simulation request"
        hint = "; split a larger sample into several runs with different seeds"
        limits = {
            "n_events": (1, MAX_EVENTS),
            "seed": (0, MAX_SEED),
            "batch_size": (1, 1 << 20),
            "chunk_size": (1, MAX_EVENTS),
            "workers": (1, None),
        }
        for name, (lo, hi) in limits.items():
            value = getattr(self, name)
            if value is not None or name in ("n_events", "seed"):
                h = hint if name == "n_events" else ""
                value = check_int(name, value, minimum=lo, maximum=hi, where=where, hint=h)
                object.__setattr__(self, name, value)
        if self.workers is not None and self.scheduler is not None:
            raise ConfigError(
                f"{where}: give either workers (local worker processes) or scheduler, not both"
            )
        check_scheduler(self.scheduler)
        check_layout(self.layout, f"{where}: layout")
        if self.digitizer is not None and not isinstance(self.digitizer, Digitizer):
            raise ConfigError(f"{where}: digitizer {self.digitizer!r} must be a Digitizer or None")
        if self.timing is not None and not isinstance(self.timing, TimingModel):
            raise ConfigError(f"{where}: timing {self.timing!r} must be a TimingModel or None")

    @classmethod
    def of(
        cls,
        particles: str | int | Sequence[str | int],
        energy: Any,
        n_events: int,
        *,
        gun: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> SimulationRequest:
        """A request whose guns share an energy spectrum and gun settings, one gun per particle.

        Parameters
        ----------
        particles:
            A particle name or PDG id, or several (a mixed sample: event i uses particle
            ``i mod k``).
        energy:
            GeV: a number, a spec string (``"50"``, ``"10:100"``, ``"log:1:500"``,
            ``"10,20,50"``) or an :class:`~calolab.simulation.gun.EnergySpectrum`.
        gun:
            The other :class:`ParticleGun` settings (``theta_deg``, ``position_cm``, ...).
        options:
            The other fields of the request (``seed``, ``workers``, ...).
        """
        names = [particles] if isinstance(particles, (str, int)) else list(particles)
        if not names:
            raise ConfigError("simulation request: particles is empty; give at least one")
        settings = dict(gun or {})
        return cls(
            tuple(ParticleGun(particle=p, energy=energy, **settings) for p in names),
            n_events,
            **options,
        )

    def to_table(self) -> dict[str, Any]:
        """Plain JSON data of the request (:meth:`from_table` reads it back)."""
        return {
            "guns": [{**g.to_dict(), "energy": g.spectrum.spec(exact=True)} for g in self.guns],
            "n_events": self.n_events,
            "seed": self.seed,
            "backend": self.backend,
            "digitizer": self.digitizer.to_dict() if self.digitizer is not None else None,
            "sampling": to_table(self.sampling),
            "layout": self.layout,
            "timing": self.timing.to_dict() if self.timing is not None else None,
            "batch_size": self.batch_size,
            "chunk_size": self.chunk_size,
            "workers": self.workers,
            "scheduler": self.scheduler,
            "resume": self.resume,
            "keep_chunks": self.keep_chunks,
        }

    @classmethod
    def from_table(cls, table: Any, where: str = "simulation request") -> SimulationRequest:
        """The request of :meth:`to_table`'s data (unknown keys and bad values are errors
        naming the key and the value)."""
        check_keys(where, table, {f.name for f in dataclasses.fields(cls)})
        guns = table.get("guns")
        if not isinstance(guns, list) or not guns:
            raise ConfigError(f"{where}: guns {guns!r} must be a non-empty list of gun tables")
        gun_list = []
        for i, g in enumerate(guns):
            w = f"{where} guns[{i}]"
            check_keys(w, g, _GUN_KEYS)
            gun_list.append(from_table(ParticleGun, {k: v for k, v in g.items() if k != "pdg"}, w))
        digi = table.get("digitizer", DEFAULT_DIGITIZER.to_dict())
        if digi is not None:
            check_keys(f"{where} digitizer", digi, {"calibration"})
            digi = Digitizer(**digi)
        sampling = table.get("sampling")
        timing = table.get("timing")
        return from_table(
            cls,
            table,
            where,
            guns=tuple(gun_list),
            digitizer=digi,
            sampling=(
                DEFAULT_SAMPLING
                if sampling is None
                else from_table(SamplingModel, sampling, f"{where} sampling")
            ),
            timing=None if timing is None else from_table(TimingModel, timing, f"{where} timing"),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the request as JSON (atomically)."""
        return write_json(path, self.to_table(), what="simulation request")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SimulationRequest:
        """Read a request written by :meth:`save`."""
        return cls.from_table(read_json(path, "simulation request"), f"simulation request '{path}'")

    @property
    def chunked(self) -> bool:
        """Whether the request runs as a chunked, resumable campaign."""
        return any(
            (
                self.workers is not None,
                self.scheduler is not None,
                self.resume,
                self.chunk_size is not None,
                self.keep_chunks,
            )
        )

    @property
    def particles(self) -> str:
        """The particles of the guns, comma-separated (for labels)."""
        return ",".join(g.particle_name for g in self.guns)

    def _options(self) -> dict[str, Any]:
        """The keyword arguments every simulation entry point takes from the request."""
        return {
            "seed": self.seed,
            "backend": self.backend,
            "digitizer": self.digitizer,
            "sampling": self.sampling,
        }

    def provenance(
        self, detector: str | Calorimeter, conditions: ChannelConditions | None = None
    ) -> dict[str, Any]:
        """The provenance a file written by :meth:`run` into ``detector`` carries (its
        ``config_hash`` tells whether an existing file holds exactly these events)."""
        return provenance(
            resolve_detector(detector),
            list(self.guns),
            n_events=self.n_events,
            conditions=conditions,
            timing=self.timing,
            layout=self.layout,
            **self._options(),
        )

    def campaign_spec(self, detector: str | Calorimeter) -> CampaignSpec:
        """The request as a chunked campaign in ``detector``."""
        return CampaignSpec(
            detector,
            self.guns,
            self.n_events,
            chunk_size=self.chunk_size,
            layout=self.layout,
            **self._options(),
        )

    def simulate(
        self,
        detector: str | Calorimeter,
        *,
        conditions: ChannelConditions | None = None,
        progress: Progress | None = None,
    ) -> Showers:
        """Simulate into memory (:func:`calolab.simulation.simulate`)."""
        return simulate(
            detector,
            list(self.guns),
            self.n_events,
            progress=progress,
            conditions=conditions,
            timing=self.timing,
            **self._options(),
        )

    def run(
        self,
        output: str | os.PathLike[str],
        detector: str | Calorimeter,
        *,
        conditions: ChannelConditions | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """Simulate into the HDF5 file ``output``: in this process
        (:func:`calolab.simulation.simulate_to_file`), or as a chunked, resumable campaign
        (:func:`calolab.simulation.campaign.run_campaign`) when :attr:`chunked`. The events
        are the same either way."""
        if not self.chunked:
            return simulate_to_file(
                output,
                detector,
                list(self.guns),
                self.n_events,
                batch_size=self.batch_size,
                progress=progress,
                conditions=conditions,
                timing=self.timing,
                layout=self.layout,
                **self._options(),
            )
        if conditions is not None:
            raise ConfigError(
                "dead channels are not applied by chunked campaigns yet: run the campaign, "
                "then 'calolab conditions apply OUT.h5 --dead-... -o OUT_dead.h5'"
            )
        if self.timing is not None:
            raise ConfigError(
                "cell times are not simulated by chunked campaigns yet; run without "
                "--workers/--scheduler/--resume/--chunk-size, or without --timing"
            )
        return run_campaign(
            output,
            detector,
            self.guns,
            self.n_events,
            chunk_size=self.chunk_size,
            layout=self.layout,
            workers=self.workers,
            scheduler=self.scheduler,
            resume=self.resume,
            keep_chunks=self.keep_chunks,
            progress=progress,
            **self._options(),
        )


__all__ = ["MAX_SEED", "SimulationRequest"]
