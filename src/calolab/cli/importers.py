"""``calolab import``: datasets from files of other tools (EDM4hep calorimeter hits)."""

from __future__ import annotations

import argparse
import math
import time

from rich.markup import escape
from rich.table import Table

from calolab.cli.common import add_read_arguments, console, print_json, progress_bar, read_options
from calolab.core.config import check_int
from calolab.core.errors import ConfigError
from calolab.simulation.run import MAX_EVENTS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import", help="turn files of other tools (EDM4hep hits of a full simulation) into datasets"
    )
    isub = p.add_subparsers(dest="import_command", metavar="FORMAT", required=True)
    e = isub.add_parser(
        "edm4hep",
        help="calorimeter hits of EDM4hep/podio ROOT files (key4hep, ddsim) → calolab HDF5",
        description="Import one SimCalorimeterHit or CalorimeterHit collection. With "
        "--detector, hits become calolab cells: by cellID (--map, decoded with the DD4hep "
        "encoding of the file's metadata or --encoding) or by position (--origin); without, "
        "the hits are kept as sparse records. Truth: the generator-status-1 primary of the "
        "MC particles. Units: GeV, mm → cm.",
    )
    e.add_argument("files", nargs="+", help="EDM4hep ROOT files (read in order)")
    e.add_argument("--collection", "-c", help="the hit collection, e.g. ECalBarrelCollection")
    e.add_argument("--output", "-o", help="output HDF5 file")
    e.add_argument(
        "--list",
        action="store_true",
        help="list the files' hit and MC collections and cellID encodings, then stop",
    )
    g = e.add_argument_group("cells")
    g.add_argument("--detector", help="calolab detector (preset or TOML) the hits belong to")
    g.add_argument(
        "--map",
        metavar="MAPPING",
        help="cellID fields → cells, e.g. 'section=ecal,layer=layer-1,ix=x+19,iy=y+19' "
        "(section: a section name or a field giving the section index; without section, "
        "layer counts all readout layers); default with --detector: by position",
    )
    g.add_argument(
        "--encoding",
        help="DD4hep cellID encoding, e.g. 'system:5,layer:9,x:32:-16,y:-16' (default: the "
        "file's <collection>__CellIDEncoding)",
    )
    g.add_argument(
        "--origin",
        default="0,0,0",
        metavar="X,Y,Z",
        help="position (mm) of the detector's front-face centre in the file's frame, for "
        "mapping by position [0,0,0]",
    )
    g.add_argument(
        "--keep-hits",
        action="store_true",
        help="also keep the hits as sparse records when mapping them to cells",
    )
    t = e.add_argument_group("truth")
    t.add_argument("--mc-collection", help="MC particle collection [MCParticles]")
    t.add_argument(
        "--primary-status", type=int, default=1, help="generator status of the primary [1]"
    )
    t.add_argument("--no-truth", action="store_true", help="no MC truth (energies 0)")
    r = e.add_argument_group("reading")
    r.add_argument(
        "--step",
        type=int,
        default=1000,
        metavar="N",
        help="events per read step, fewer when their baskets exceed --max-chunk-mb [1000]",
    )
    r.add_argument("--max-events", type=int, help="import at most this many events")
    add_read_arguments(e)
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_edm4hep)


def _origin(text: str) -> tuple[float, float, float]:
    try:
        x, y, z = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--origin {text!r} must be three numbers X,Y,Z in mm") from None
    if not all(math.isfinite(v) for v in (x, y, z)):
        raise ConfigError(f"--origin {text!r} must be three finite numbers X,Y,Z in mm")
    return (x, y, z)


def cmd_edm4hep(args: argparse.Namespace) -> int:
    with read_options(args):
        return _edm4hep(args)


def _edm4hep(args: argparse.Namespace) -> int:
    from calolab.data.edm4hep import (
        CellMapping,
        PositionMapping,
        import_edm4hep,
        inspect_edm4hep,
    )

    if args.list:
        infos = [inspect_edm4hep(f) for f in args.files]
        if args.json:
            print_json([i.to_dict() for i in infos])
            return 0
        for i in infos:
            tab = Table(
                title=f"{i.path} — {i.entries:,} events, podio {i.podio_version or '?'}, "
                f"EDM4hep {i.edm4hep_version or '?'}"
            )
            tab.add_column("collection")
            tab.add_column("kind")
            tab.add_column("cellID encoding (metadata)")
            for c in i.hit_collections:
                tab.add_row(escape(c), "calorimeter hits", escape(i.encodings.get(c, "–")))
            for c in i.mc_collections:
                tab.add_row(escape(c), "MC particles", "")
            console.print(tab)
        return 0
    if not args.collection:
        raise ConfigError("--collection is required (list the collections with --list)")
    if not args.output:
        raise ConfigError("--output is required")
    if args.map and not args.detector:
        raise ConfigError("--map needs --detector (the calolab detector of the cells)")
    if args.max_events is not None:
        check_int("--max-events", args.max_events, minimum=1, maximum=MAX_EVENTS)
    check_int("--step", args.step, minimum=1, maximum=10_000_000)
    check_int("--primary-status", args.primary_status, minimum=-(2**31), maximum=2**31 - 1)
    mapping = CellMapping.parse(args.map) if args.map else None
    origin = _origin(args.origin)
    position = PositionMapping(origin_mm=origin) if args.detector and mapping is None else None
    t0 = time.perf_counter()
    total = None
    if args.max_events is not None:
        total = args.max_events
    else:
        try:
            total = sum(inspect_edm4hep(f).entries for f in args.files)
        except Exception:  # the import names the problem; the bar needs no total
            total = 0
    with progress_bar(
        f"import {args.collection}", total or 0, not (args.quiet or args.json)
    ) as adv:
        res = import_edm4hep(
            args.files,
            args.output,
            collection=args.collection,
            detector=args.detector,
            mapping=mapping,
            position=position,
            encoding=args.encoding,
            mc_collection=args.mc_collection,
            primary_status=args.primary_status,
            truth=not args.no_truth,
            keep_hits=True if args.keep_hits else None,
            step=args.step,
            max_events=args.max_events,
            progress=adv,
        )
    if args.json:
        print_json(res.to_dict())
    elif not args.quiet:
        dt = time.perf_counter() - t0
        console.print(
            escape(
                f"wrote {res.n_events:,} events ({res.n_hits:,} hits, {res.energy_gev:,.4g} GeV) "
                f"of '{args.collection}' to {res.output} in {dt:.1f} s; cells: {res.mapped}"
            ),
            highlight=False,
        )
    return 0
