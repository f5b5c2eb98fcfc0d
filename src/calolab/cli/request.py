"""The command-line options of a simulation request, defined once.

:func:`add_request_arguments` adds the options of a
:class:`~calolab.simulation.request.SimulationRequest` to a parser (the particle gun, the
number of events and the seed, digitisation, cell times, the file layout, and execution as a
chunked campaign); :func:`request_from_args` turns the parsed options into the request,
checked with the project's messages (naming the option, the value and the fix).
:func:`add_execution_arguments` and :func:`execution_from_args` are the execution options
alone (``calolab campaign run`` reads the rest from its file).
"""

from __future__ import annotations

import argparse
from typing import Any

from calolab.core.config import check_float, check_int
from calolab.core.errors import ConfigError
from calolab.core.machine import check_workers
from calolab.simulation import Digitizer, ParticleGun
from calolab.simulation.gun import energy_limits_text
from calolab.simulation.request import MAX_SEED, SimulationRequest
from calolab.simulation.run import MAX_EVENTS
from calolab.simulation.timing import TimingModel


def add_request_arguments(p: argparse.ArgumentParser) -> None:
    """Every option of a :class:`SimulationRequest` (see :func:`request_from_args`)."""
    add_gun_arguments(p)
    add_digitization_arguments(p)
    add_timing_arguments(p)
    p.add_argument(
        "--events",
        "-n",
        type=int,
        required=True,
        help=f"number of events (at most {MAX_EVENTS:.0e})",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed [0]")
    p.add_argument("--backend", default="fast", help="simulation backend [fast]")
    p.add_argument("--batch-size", type=int, help="events per batch written (default: ~64 MB)")
    add_layout_argument(p)
    add_execution_arguments(p)


def request_from_args(args: argparse.Namespace) -> SimulationRequest:
    """The :class:`SimulationRequest` of the options of :func:`add_request_arguments`."""
    check_counts(args)
    return SimulationRequest(
        guns=tuple(guns_from_args(args)),
        n_events=args.events,
        seed=args.seed,
        backend=args.backend,
        digitizer=digitizer_from_args(args),
        layout=args.layout,
        timing=timing_from_args(args),
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
        keep_chunks=args.keep_chunks,
    )


def add_gun_arguments(p: argparse.ArgumentParser) -> None:
    """Particle-gun options shared by commands that simulate."""
    g = p.add_argument_group("particle gun")
    g.add_argument(
        "--particle",
        default="gamma",
        help="particle name or PDG id; several, comma-separated, make a mixed sample "
        "(event i uses particle i mod k) [gamma]",
    )
    g.add_argument(
        "--energy",
        default="50",
        help="GeV: 50 (fixed), 10:100 (uniform), log:50:8000 (log-uniform) or "
        f"10,20,50 (list) [50]. Limits: {energy_limits_text()}",
    )
    g.add_argument("--theta", type=float, default=0.0, metavar="DEG", help="polar angle [0]")
    g.add_argument("--phi", type=float, default=0.0, metavar="DEG", help="azimuth [0]")
    g.add_argument(
        "--direction-spread",
        type=float,
        default=0.0,
        metavar="DEG",
        help="Gaussian σ of the direction [0]",
    )
    g.add_argument("--position", default="0,0", metavar="X,Y", help="entry point in cm [0,0]")
    g.add_argument(
        "--position-spread",
        type=float,
        default=0.0,
        metavar="CM",
        help="entry-point spread in cm (σ, or half-width with --uniform-spread) [0]",
    )
    g.add_argument("--uniform-spread", action="store_true", help="uniform entry-point spread")
    g.add_argument(
        "--vertex-distance",
        type=float,
        default=0.0,
        metavar="CM",
        help="production point upstream of the entry point (π0 decays there) [0]",
    )


#: The digitisation options of calolab <= 0.2 (in GeV) and the readout fields replacing them.
LEGACY_DIGITIZATION_OPTIONS = {
    "noise": "noise_mip / noise_mev",
    "threshold": "threshold_sigma",
    "photoelectrons": "photoelectrons_per_mip / photoelectrons_per_mev",
    "saturation": "saturation_mip / saturation_mev",
}


def add_digitization_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "digitisation (on by default, with the readout of each section of the detector: "
        "light yield, noise in MIP, threshold in σ of the noise, saturation; see "
        "'calolab detector show')"
    )
    g.add_argument(
        "--no-digitize",
        action="store_true",
        help="store only the true visible energies (no calolab/digitized/showers)",
    )
    g.add_argument(
        "--calibration",
        choices=["em", "none"],
        default="em",
        help="digitised cells at the EM scale (divided by the EM sampling fraction of their "
        "layer) or as visible energy [em]",
    )
    for name in LEGACY_DIGITIZATION_OPTIONS:
        # the GeV options of calolab <= 0.2: accepted by the parser, refused with a migration
        # message (digitizer_from_args)
        g.add_argument(f"--{name}", type=float, default=None, help=argparse.SUPPRESS)


def add_timing_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "cell times (calolab/times; digitised with σ_t = A/√(E/MIP) ⊕ B of each section's "
        "readout: time_mip_ns, time_floor_ns)"
    )
    g.add_argument("--timing", action="store_true", help="simulate the cell times")
    g.add_argument(
        "--time-window",
        metavar="LO,HI",
        help="ns: digitised cells measured outside this window read 0 (implies --timing)",
    )
    g.add_argument(
        "--slow-fraction",
        type=float,
        help="share of the non-EM energy of hadron showers deposited late [0.10]",
    )
    g.add_argument("--slow-tau", type=float, metavar="NS", help="its time constant, ns [25]")
    g.add_argument(
        "--interaction-distance",
        type=float,
        metavar="CM",
        help="flight of the primary before the front face, cm [0]",
    )


def timing_from_args(args: argparse.Namespace) -> TimingModel | None:
    """The :class:`TimingModel` the options ask for, or ``None``."""
    extra = (args.slow_fraction, args.slow_tau, args.interaction_distance)
    if not args.timing and args.time_window is None and all(v is None for v in extra):
        return None
    kw: dict[str, Any] = {}
    if args.time_window is not None:
        try:
            lo, hi = (float(v) for v in args.time_window.split(","))
        except ValueError:
            raise ConfigError(
                f"--time-window {args.time_window!r} must be two times LO,HI in ns"
            ) from None
        kw["window_ns"] = (lo, hi)
    for key, v in zip(("slow_fraction", "slow_tau_ns", "interaction_distance_cm"), extra):
        if v is not None:
            kw[key] = v
    return TimingModel(**kw)


def guns_from_args(args: argparse.Namespace) -> list[ParticleGun]:
    try:
        x, y = (float(v) for v in args.position.split(","))
    except ValueError:
        raise ConfigError(f"--position {args.position!r} must be two numbers X,Y in cm") from None
    x = check_float("--position X", x, unit="cm")
    y = check_float("--position Y", y, unit="cm")
    particles = [p.strip() for p in str(args.particle).split(",") if p.strip()]
    if not particles:
        raise ConfigError("--particle is empty")
    return [
        ParticleGun(
            particle=p,
            energy=args.energy,
            theta_deg=args.theta,
            phi_deg=args.phi,
            direction_spread_deg=args.direction_spread,
            position_cm=(x, y),
            position_spread_cm=args.position_spread,
            position_spread_shape="uniform" if args.uniform_spread else "gauss",
            vertex_distance_cm=args.vertex_distance,
        )
        for p in particles
    ]


def digitizer_from_args(args: argparse.Namespace) -> Digitizer | None:
    legacy = [k for k in LEGACY_DIGITIZATION_OPTIONS if getattr(args, k, None) is not None]
    if legacy:
        given = ", ".join(f"--{k}" for k in legacy)
        repl = "; ".join(f"--{k} → {LEGACY_DIGITIZATION_OPTIONS[k]}" for k in legacy)
        raise ConfigError(
            f"{given}: digitisation options in GeV no longer exist; the readout belongs to "
            f"each section of the detector, in physical units ({repl}). Export the detector "
            "('calolab detector export NAME -o det.toml'), edit its [sections.readout] "
            "tables and simulate with that file; --no-digitize turns digitisation off"
        )
    if args.no_digitize:
        return None
    return Digitizer(calibration=args.calibration)


def add_layout_argument(p: argparse.ArgumentParser) -> None:
    from calolab.data.sparse import LAYOUT_CHOICES, SPARSE_MAX_OCCUPANCY, SPARSE_MIN_CELLS

    p.add_argument(
        "--layout",
        choices=LAYOUT_CHOICES,
        default="auto",
        help="cells in the file: 'dense' (the CaloChallenge 'showers' dataset), 'sparse' (only "
        "the non-zero cells, in calolab/sparse: smaller and faster for large grids), or 'auto': "
        f"sparse for grids of at least {SPARSE_MIN_CELLS:,} cells whose first events have at "
        f"most {100 * SPARSE_MAX_OCCUPANCY:.0f} %% non-zero cells, dense otherwise [auto]",
    )


def add_execution_arguments(
    p: argparse.ArgumentParser,
    *,
    chunk_size: bool = True,
    title: str = "scale-out and resume (any of these runs the simulation as a chunked campaign)",
) -> None:
    """Options of chunked, resumable runs (any of them makes the run a campaign)."""
    g = p.add_argument_group(title)
    g.add_argument(
        "--workers",
        type=int,
        metavar="K",
        help="run chunks on K local worker processes (started once, forked on Linux)",
    )
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run chunks on an existing Dask cluster, e.g. tcp://host:8786 (dask-jobqueue)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted campaign (refused if the options differ); starts one if "
        "there is none",
    )
    if chunk_size:
        g.add_argument("--chunk-size", type=int, metavar="N", help="events per chunk file")
    g.add_argument(
        "--keep-chunks", action="store_true", help="keep chunk files and manifest after merging"
    )


def execution_from_args(args: argparse.Namespace) -> tuple[int | None, str | None]:
    """``(workers, scheduler)`` of the options of :func:`add_execution_arguments`, checked
    (not both; no more workers than this machine holds; a Dask address)."""
    if args.workers is not None and args.scheduler:
        raise ConfigError("give either --workers (local worker processes) or --scheduler, not both")
    if args.workers is not None:
        check_workers(args.workers, hint=", or run on an existing cluster (--scheduler)")
    if args.scheduler is not None:
        from calolab.simulation.campaign import check_scheduler

        check_scheduler(args.scheduler)
    return args.workers, args.scheduler


def check_counts(args: argparse.Namespace) -> None:
    """Check the counts of :func:`add_request_arguments` with the options' names."""
    hint = "; split a larger sample into several runs with different --seed"
    check_int("--events", args.events, minimum=1, maximum=MAX_EVENTS, hint=hint)
    check_int("--seed", args.seed, minimum=0, maximum=MAX_SEED)
    if getattr(args, "batch_size", None) is not None:
        check_int("--batch-size", args.batch_size, minimum=1, maximum=1 << 20)
    if getattr(args, "chunk_size", None) is not None:
        check_int("--chunk-size", args.chunk_size, minimum=1, maximum=MAX_EVENTS)
    execution_from_args(args)
