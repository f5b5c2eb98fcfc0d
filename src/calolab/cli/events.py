"""``calolab events``: event images from Pythia 8 generation or Delphes files.

Subcommands: ``generate`` (Pythia 8 + tower-level detector response), ``import`` (Delphes
ROOT files), ``merge`` (labelled dataset from several files), ``reimage`` (another image
geometry from the stored towers and tracks), ``info``, ``show`` (plot one event) and
``list`` (processes and detector cards).
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from calolab.cli.common import (
    add_read_arguments,
    console,
    err_console,
    help_command,
    print_json,
    progress_bar,
)
from calolab.core.config import check_int
from calolab.core.errors import ConfigError
from calolab.core.files import atomic_output, check_output
from calolab.core.machine import check_workers

if TYPE_CHECKING:
    from calolab.events.images import ImageConfig


def add_image_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image")
    g.add_argument(
        "--resolution",
        default="100",
        metavar="N|NETAxNPHI",
        help="pixels: 100 (100 × 100) or 64x128 (η × φ) [100]",
    )
    g.add_argument("--eta-max", type=float, metavar="ETA", help="symmetric η range ±ETA [2.5]")
    g.add_argument(
        "--eta-range",
        metavar="MIN:MAX",
        help="η range, e.g. --eta-range=-1.5:2.5 (overrides --eta-max)",
    )
    g.add_argument(
        "--normalization",
        choices=["linear", "log", "none"],
        default="linear",
        help="for training: linear 0–255 (the original study), log, or none (GeV) [linear]",
    )
    g.add_argument(
        "--saturation",
        default="100",
        metavar="GEV[,GEV,GEV]",
        help="pixel saturation in GeV, one value or ECAL,HCAL,tracks [100]",
    )


def image_config_from_args(args: argparse.Namespace) -> ImageConfig:
    from calolab.events.images import ImageConfig

    res = str(args.resolution).lower().replace("×", "x")
    try:
        if "x" in res:
            n_eta, n_phi = (int(v) for v in res.split("x"))
        else:
            n_eta = n_phi = int(res)
    except ValueError:
        raise ConfigError(
            f"--resolution {args.resolution!r} must be N or NETAxNPHI, e.g. 100 or 64x128"
        ) from None
    eta_min, eta_max = -2.5, 2.5
    if args.eta_max is not None:
        eta_min, eta_max = -args.eta_max, args.eta_max
    if args.eta_range:
        try:
            eta_min, eta_max = (float(v) for v in args.eta_range.split(":"))
        except ValueError:
            raise ConfigError(
                f"--eta-range {args.eta_range!r} must be MIN:MAX, e.g. --eta-range=-2.5:2.5"
            ) from None
    try:
        sat = [float(v) for v in str(args.saturation).split(",")]
    except ValueError:
        raise ConfigError(
            f"--saturation {args.saturation!r} must be GeV or three comma-separated values"
        ) from None
    return ImageConfig(
        n_eta=n_eta,
        n_phi=n_phi,
        eta_min=eta_min,
        eta_max=eta_max,
        normalization=args.normalization,
        saturation_gev=sat[0] if len(sat) == 1 else tuple(sat),  # type: ignore[arg-type]
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "events",
        help="event images (ECAL/HCAL E_T, track pT) from Pythia 8 or Delphes files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev = p.add_subparsers(dest="events_command", metavar="SUBCOMMAND", parser_class=type(p))
    p.set_defaults(func=help_command(p))

    g = ev.add_parser(
        "generate", help="generate events with Pythia 8 and a Delphes-like detector response"
    )
    g.add_argument(
        "--process",
        required=True,
        help="process name (ttbar, qcd, wjets, zjets, higgs, minbias, custom); several, "
        "comma-separated, make a labelled mixed sample (see 'calolab events list')",
    )
    g.add_argument("--events", "-n", type=int, required=True, help="total number of events")
    g.add_argument("--output", "-o", required=True, help="output HDF5 file")
    g.add_argument("--seed", type=int, default=0, help="random seed [0]")
    g.add_argument("--pthat-min", type=float, metavar="GEV", help="minimum p̂T of the hard process")
    g.add_argument("--ecm", type=float, default=13000.0, metavar="GEV", help="√s [13000]")
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="'Group:name = value'",
        help="extra Pythia setting (repeatable)",
    )
    g.add_argument("--card", default="atlas", help="detector response card [atlas]")
    g.add_argument(
        "--chunk-size",
        type=int,
        default=500,
        help="events per seeded Pythia instance (part of what defines the events) [500]",
    )
    g.add_argument("--workers", type=int, default=1, help="parallel processes [1]")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_image_arguments(g)
    g.set_defaults(func=cmd_generate)

    i = ev.add_parser("import", help="convert Delphes ROOT files into event images")
    i.add_argument("inputs", nargs="+", help="Delphes ROOT file(s)")
    i.add_argument("--output", "-o", required=True, help="output HDF5 file")
    i.add_argument("--label", help="class name of these events [first file's name]")
    i.add_argument("--tree", help="tree name [Delphes]")
    i.add_argument(
        "--towers",
        help="calorimeter branch(es), comma-separated [Tower, else EFlowPhoton,EFlowNeutralHadron]",
    )
    i.add_argument("--tracks", help="track branch or 'none' [EFlowTrack, else Track]")
    i.add_argument(
        "--track-position",
        choices=["calorimeter", "vertex"],
        help="track position: calorimeter surface (EtaOuter/PhiOuter) or vertex [calorimeter "
        "when available]",
    )
    i.add_argument("--max-events", type=int, help="stop after this many events")
    i.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_image_arguments(i)
    add_read_arguments(i)
    i.set_defaults(func=cmd_import)

    m = ev.add_parser("merge", help="join event-image files into one labelled dataset")
    m.add_argument("inputs", nargs="+", help="event-image files")
    m.add_argument("--output", "-o", required=True, help="output HDF5 file")
    m.add_argument("--classes", help="class order, comma-separated [order of appearance]")
    m.add_argument(
        "--seed", type=int, default=0, help="shuffle seed [0]; --no-shuffle keeps the order"
    )
    m.add_argument("--no-shuffle", action="store_true", help="keep the input order")
    add_read_arguments(m)
    m.set_defaults(func=cmd_merge)

    r = ev.add_parser("reimage", help="rebuild images from the stored towers and tracks")
    r.add_argument("input", help="event-image file")
    r.add_argument("--output", "-o", required=True, help="output HDF5 file")
    add_image_arguments(r)
    add_read_arguments(r)
    r.set_defaults(func=cmd_reimage)

    n = ev.add_parser("info", help="summary of an event-image file")
    n.add_argument("input")
    n.add_argument("--json", action="store_true", help="machine-readable output")
    add_read_arguments(n)
    n.set_defaults(func=cmd_info)

    s = ev.add_parser("show", help="plot the three channels of one event")
    s.add_argument("input")
    s.add_argument("--event", type=int, default=0, help="event index [0]")
    s.add_argument("--output", "-o", required=True, help="image file (png, pdf, svg)")
    add_read_arguments(s)
    s.set_defaults(func=cmd_show)

    ls = ev.add_parser("list", help="built-in processes and detector cards")
    ls.set_defaults(func=cmd_list)


def cmd_generate(args: argparse.Namespace) -> int:
    from calolab.events.generate import generate_events
    from calolab.events.pythia import GeneratorConfig
    from calolab.simulation.run import MAX_EVENTS

    check_int("--events", args.events, minimum=1, maximum=MAX_EVENTS)
    check_int("--seed", args.seed, minimum=0, maximum=2**63 - 1)
    check_int("--chunk-size", args.chunk_size, minimum=1, maximum=MAX_EVENTS)
    # a Pythia 8 process holds ~300 MB (measured resident size of a worker)
    check_workers(args.workers, per_worker_bytes=300 << 20)
    check_output(args.output, what="--output")
    names = [s.strip() for s in args.process.split(",") if s.strip()]
    if not names:
        raise ConfigError("--process is empty")
    configs = [
        GeneratorConfig(
            process=name,
            ecm_gev=args.ecm,
            pthat_min_gev=args.pthat_min,
            settings=tuple(args.set),
        )
        for name in names
    ]
    image = image_config_from_args(args)
    t0 = time.perf_counter()
    with progress_bar(f"generate {args.process}", args.events, not args.quiet) as adv:
        rep = generate_events(
            configs,
            args.events,
            args.output,
            seed=args.seed,
            card=args.card,
            image=image,
            chunk_size=args.chunk_size,
            workers=args.workers,
            progress=adv,
        )
    dt = time.perf_counter() - t0
    if not args.quiet:
        resumed = f" (resumed after {rep.resumed_from:,})" if rep.resumed_from else ""
        console.print(
            f"wrote {rep.n_events:,} events ({', '.join(rep.classes)}) to {rep.output}{resumed} "
            f"in {dt:.1f} s ({rep.events_per_second:,.1f} events/s)"
        )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from calolab.events.delphes import import_delphes, inspect_delphes, open_tree

    towers = None if args.towers is None else [s.strip() for s in args.towers.split(",")]
    if args.max_events is not None:
        check_int("--max-events", args.max_events, minimum=1)
    check_output(args.output, inputs=args.inputs, what="--output")
    image = image_config_from_args(args)
    kw = dict(tree=args.tree, towers=towers, tracks=args.tracks, track_position=args.track_position)
    total = 0
    for path in args.inputs:
        br = inspect_delphes(path, **kw)
        err_console.print(f"{path}: {br.describe()}", highlight=False)
        total += int(open_tree(path, args.tree)[0].num_entries)
    if args.max_events is not None:
        total = min(total, args.max_events)
    with progress_bar("import", total, not args.quiet) as adv:
        rep = import_delphes(
            args.inputs,
            args.output,
            config=image,
            label=args.label,
            max_events=args.max_events,
            progress=adv,
            **kw,
        )
    st = rep.stats
    if not args.quiet:
        console.print(
            f"wrote {st.n_events:,} events to {rep.output}: {st.n_towers:,} towers, "
            f"{st.n_tracks:,} tracks; skipped {st.skipped_towers:,} invalid towers and "
            f"{st.skipped_tracks:,} invalid tracks; outside the η range: "
            f"{rep.out_of_range['towers']:,} towers, {rep.out_of_range['tracks']:,} tracks",
            highlight=False,
        )
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from calolab.events.hdf5 import ImageFile, merge_image_files

    classes = None if not args.classes else [c.strip() for c in args.classes.split(",")]
    out = merge_image_files(
        args.inputs, args.output, classes=classes, seed=None if args.no_shuffle else args.seed
    )
    with ImageFile(out) as f:
        counts = f.summary()["classes"]
    console.print(f"wrote {sum(counts.values()):,} events to {out}: {counts}", highlight=False)
    return 0


def cmd_reimage(args: argparse.Namespace) -> int:
    from calolab.events.hdf5 import reimage_file

    out = reimage_file(args.input, args.output, image_config_from_args(args))
    console.print(f"wrote {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from calolab.events.hdf5 import ImageFile

    with ImageFile(args.input) as f:
        s = f.summary()
    if args.json:
        print_json(s)
        return 0
    img = s["image"]
    console.print(f"[bold]{s['path']}[/bold]: {s['n_events']:,} event images", highlight=False)
    console.print(f"  classes: {s['classes']}", highlight=False)
    console.print(
        f"  image: {img['n_eta']} × {img['n_phi']} (η × φ), η ∈ [{img['eta_min']}, "
        f"{img['eta_max']}], channels {', '.join(s['channels'])}, normalisation "
        f"{img['normalization']} (saturation {img['saturation_gev']} GeV)",
        highlight=False,
    )
    prov = s["provenance"]
    console.print(
        f"  source: {prov.get('source', '?')}, calolab {prov.get('calolab_version', '?')}"
    )
    if prov.get("branches"):
        console.print(f"  Delphes branches: {prov['branches']}", highlight=False)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from calolab.events.hdf5 import ImageFile

    check_output(args.output, inputs=[args.input], what="--output", suffix_hint="event.png")
    with ImageFile(args.input) as f:
        if not 0 <= args.event < len(f):
            raise ConfigError(f"--event {args.event} outside [0, {len(f) - 1}]")
        b = f.read(args.event, args.event + 1)
        cfg, classes = f.config, f.classes
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    titles = ("ECAL $E_T$", "HCAL $E_T$", "track $p_T$")
    ext = (-np.pi, np.pi, cfg.eta_min, cfg.eta_max)
    for ax, ch, title in zip(axes, b.images[0], titles):
        masked = np.ma.masked_less_equal(ch, 0)
        im = ax.imshow(masked, origin="lower", extent=ext, aspect="auto", cmap="viridis")
        ax.set_xlabel(r"$\phi$")
        ax.set_ylabel(r"$\eta$")
        ax.set_title(f"{title}: {ch.sum():.0f} GeV")
        fig.colorbar(im, ax=ax, label="GeV")
    fig.suptitle(f"{args.input} event {args.event} ({classes[int(b.labels[0])]})")
    fmt = str(args.output).rsplit(".", 1)[-1].lower() if "." in str(args.output) else "png"
    try:
        with atomic_output(args.output, inputs=[args.input], what="--output") as tmp:
            fig.savefig(tmp, dpi=110, format=fmt)
    except ValueError as exc:  # an image format matplotlib does not know
        raise ConfigError(f"--output '{args.output}': {exc}") from None
    finally:
        plt.close(fig)
    console.print(f"wrote {args.output}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from calolab.events.pythia import PROCESSES
    from calolab.events.response import CARDS

    console.print("[bold]processes[/bold] (--process):")
    for p in PROCESSES.values():
        settings = "; ".join(p.settings) or "your --set strings"
        console.print(f"  {p.name:8s} {p.description} [{settings}]", highlight=False)
    console.print("[bold]detector cards[/bold] (--card): " + ", ".join(sorted(CARDS)))
    return 0
