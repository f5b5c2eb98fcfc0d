"""Multi-detector campaigns: one TOML file lists detectors × particles × energy spectra.

Every combination is a job simulated as a :class:`~calolab.simulation.campaign.Campaign` into
its own file ``<output_dir>/<detector>_<particle>_<energy>GeV.h5``; all jobs share one pool of
workers (:func:`~calolab.simulation.campaign.execute`). See :class:`CampaignConfig` for the
schema and ``docs/scale-out.md`` for examples.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calolab.core.config import check_int, check_keys, read_toml
from calolab.core.errors import ConfigError, OutputError
from calolab.core.files import check_output_dir
from calolab.data.sparse import check_layout
from calolab.geometry.presets import resolve_detector
from calolab.simulation.campaign import Campaign, CampaignSpec, Progress, execute
from calolab.simulation.digitize import _LEGACY, DEFAULT_DIGITIZER, Digitizer, legacy_error
from calolab.simulation.gun import ParticleGun
from calolab.simulation.request import SimulationRequest

_TOP_KEYS = {
    "name",
    "output_dir",
    "seed",
    "events",
    "chunk_size",
    "backend",
    "detectors",
    "particles",
    "energies",
    "gun",
    "digitizer",
    "execution",
    "layout",
}
_GUN_KEYS = {
    "theta_deg",
    "phi_deg",
    "direction_spread_deg",
    "position_cm",
    "position_spread_cm",
    "position_spread_shape",
    "vertex_distance_cm",
}
_DIGI_KEYS = {"enabled", "calibration"}
_EXEC_KEYS = {"workers", "scheduler"}


@dataclass(frozen=True)
class CampaignJob:
    """One (detector, particle, energy spectrum) of a multi-detector campaign."""

    name: str
    output: Path
    spec: CampaignSpec


def job_seed(seed: int, name: str) -> int:
    """Seed of a job: ``SeedSequence((seed, sha256(name)))``, so that a job's events depend
    only on the campaign seed and the job's name, not on which other jobs are listed."""
    words = np.frombuffer(hashlib.sha256(name.encode()).digest()[:16], dtype=np.uint32)
    state = np.random.SeedSequence([seed, *(int(w) for w in words)]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text) or "x"


@dataclass(frozen=True)
class CampaignConfig:
    """A multi-detector campaign: every detector × particle × energy spectrum, each written
    to its own file ``<output_dir>/<detector>_<particle>_<energy>GeV.h5``.

    TOML schema (unknown keys are errors; paths are relative to the file)::

        name = "photon-study"                 # optional
        output_dir = "data"                   # required
        seed = 1                              # default 0
        events = 20000                        # events per job, required
        chunk_size = 1000                     # optional
        backend = "fast"                      # optional
        layout = "auto"                       # optional: "auto", "dense" or "sparse"
        detectors = ["course_pbwo4", "designs/v2.toml"]   # presets or detector files
        particles = ["gamma", "e-"]
        energies = ["50", "10:100", "log:1:500"]          # GeV, numbers or spec strings

        [gun]          # optional, shared by all jobs: theta_deg, phi_deg,
        theta_deg = 20 # direction_spread_deg, position_cm, position_spread_cm,
                       # position_spread_shape, vertex_distance_cm
        [digitizer]    # optional: the readout of each detector's sections is applied by
        enabled = true # default; enabled = false turns digitisation off,
        calibration = "em"  # "em" (default) or "none"
        [execution]    # optional; command-line options override
        workers = 2    # or scheduler = "tcp://host:8786"
    """

    name: str
    output_dir: Path
    jobs: tuple[CampaignJob, ...]
    workers: int | None = None
    scheduler: str | None = None
    source: str = field(default="<dict>", compare=False)

    def campaigns(self, keep_chunks: bool = False) -> list[Campaign]:
        inputs = [self.source] if os.path.isfile(self.source) else []
        return [
            Campaign(j.output, j.spec, keep_chunks=keep_chunks, inputs=inputs) for j in self.jobs
        ]


def _digitizer(where: str, table: object) -> Digitizer | None:
    """The ``[digitizer]`` table: ``enabled`` (default true) and ``calibration``."""
    if table is None:
        return DEFAULT_DIGITIZER
    if isinstance(table, Mapping):
        legacy = sorted(set(table) & set(_LEGACY))
        if legacy:
            raise ConfigError(legacy_error(legacy, where))
    opts = dict(check_keys(where, table, _DIGI_KEYS))
    enabled = opts.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}: enabled {enabled!r} must be true or false")
    if not enabled:
        return None
    return Digitizer(**opts)


def _str_list(where: str, key: str, value: object) -> list[str]:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{where}: {key} {value!r} must be a non-empty list of names or numbers")
    return [str(v) for v in value]


def campaign_from_dict(
    data: Mapping[str, Any], base_dir: Path = Path("."), source: str = "<dict>"
) -> CampaignConfig:
    """Build a :class:`CampaignConfig` from plain data in the campaign-file schema."""
    where = source
    check_keys(where, data, _TOP_KEYS)
    for key in ("output_dir", "events", "detectors", "particles", "energies"):
        if key not in data:
            raise ConfigError(f"{where}: missing key '{key}'")
    out_dir = data["output_dir"]
    if not isinstance(out_dir, str) or not out_dir.strip():
        raise ConfigError(f"{where}: output_dir {out_dir!r} must be a directory path")
    given = base_dir / out_dir
    dangling = False
    try:
        dangling = given.is_symlink() and not given.exists()
        output_dir = given.resolve()
    except (OSError, ValueError) as exc:  # e.g. a NUL character
        raise ConfigError(f"{where}: output_dir {out_dir!r} is not a usable path ({exc})") from None
    if dangling:
        raise ConfigError(
            f"{where}: output_dir '{out_dir}' is a symbolic link to a missing directory; "
            "remove the link or give another directory"
        )
    events, seed = data["events"], data.get("seed", 0)
    chunk_size = data.get("chunk_size")
    events = check_int("events", events, minimum=1, where=where)
    seed = check_int("seed", seed, minimum=0, where=where)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, minimum=1, where=where)
    backend = data.get("backend", "fast")
    layout = check_layout(data.get("layout", "auto"), f"{where}: layout")
    gun_opts = dict(check_keys(f"{where} [gun]", data.get("gun", {}), _GUN_KEYS))
    if "position_cm" in gun_opts:
        gun_opts["position_cm"] = tuple(gun_opts["position_cm"])
    digitizer = _digitizer(f"{where} [digitizer]", data.get("digitizer"))
    execution = check_keys(f"{where} [execution]", data.get("execution", {}), _EXEC_KEYS)
    workers, scheduler = execution.get("workers"), execution.get("scheduler")
    if workers is not None:
        workers = check_int("workers", workers, minimum=1, where=f"{where} [execution]")
    if scheduler is not None and not isinstance(scheduler, str):
        raise ConfigError(f"{where} [execution]: scheduler {scheduler!r} must be an address")
    detectors = []
    for d in _str_list(where, "detectors", data["detectors"]):
        local = base_dir / d
        detectors.append(resolve_detector(str(local) if local.suffix == ".toml" else d))
    particles = _str_list(where, "particles", data["particles"])
    energies = _str_list(where, "energies", data["energies"])
    jobs: list[CampaignJob] = []
    names: set[str] = set()
    for det in detectors:
        for particle in particles:
            for energy in energies:
                try:
                    gun = ParticleGun(particle=particle, energy=energy, **gun_opts)
                except TypeError as exc:  # pragma: no cover - keys are checked above
                    raise ConfigError(f"{where} [gun]: {exc}") from None
                name = "_".join(
                    _slug(s) for s in (det.name, gun.particle_name, gun.spectrum.spec() + "GeV")
                )
                if name in names:
                    raise ConfigError(
                        f"{where}: job '{name}' appears twice; detector names, particles and "
                        "energies must be distinct"
                    )
                names.add(name)
                request = SimulationRequest(
                    (gun,),
                    events,
                    seed=job_seed(seed, name),
                    chunk_size=chunk_size,
                    backend=backend,
                    digitizer=digitizer,
                    layout=layout,
                )
                jobs.append(
                    CampaignJob(name, output_dir / f"{name}.h5", request.campaign_spec(det))
                )
    name = data.get("name", Path(source).stem)
    return CampaignConfig(
        name=str(name),
        output_dir=output_dir,
        jobs=tuple(jobs),
        workers=workers,
        scheduler=scheduler,
        source=source,
    )


def load_campaign_config(path: str | os.PathLike[str]) -> CampaignConfig:
    """Read a campaign file (TOML); see :class:`CampaignConfig` for the schema."""
    p = Path(path)
    data = read_toml(p, "campaign file")  # bounded size and nesting
    return campaign_from_dict(data, base_dir=p.resolve().parent, source=str(p))


def run_campaign_config(
    config: CampaignConfig | str | os.PathLike[str],
    *,
    resume: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    keep_chunks: bool = False,
    progress: Progress | None = None,
) -> list[Path]:
    """Run every job of a multi-detector campaign on one pool of workers.

    ``workers``/``scheduler`` override the file's ``[execution]`` table.
    """
    cfg = config if isinstance(config, CampaignConfig) else load_campaign_config(config)
    if workers is None and scheduler is None:
        workers, scheduler = cfg.workers, cfg.scheduler
    check_output_dir(
        cfg.output_dir, inputs=[cfg.source] if os.path.isfile(cfg.source) else [], what="output_dir"
    )
    try:
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory '{cfg.output_dir}': {exc}") from None
    return execute(
        cfg.campaigns(keep_chunks=keep_chunks),
        resume=resume,
        workers=workers,
        scheduler=scheduler,
        client=client,
        progress=progress,
    )


__all__ = [
    "CampaignConfig",
    "CampaignJob",
    "campaign_from_dict",
    "job_seed",
    "load_campaign_config",
    "run_campaign_config",
]
