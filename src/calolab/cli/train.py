"""``calolab train``: train an energy regressor (or a classifier) on an HDF5 dataset."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from calolab.cli.common import add_read_arguments, console, err_console, print_json
from calolab.core.config import check_int
from calolab.core.errors import ConfigError
from calolab.core.files import check_output_dir

MODEL_SHORTCUTS: dict[str, tuple[tuple[str, ...], str, Callable[[str], Any]]] = {
    # flag dest -> (model kinds it applies to, option name, parser)
    "calibration": (("sum", "linear"), "calibration", str),
    "init": (("per-layer",), "init", lambda s: s if s == "closed-form" else float(s)),
    "features": (("mlp",), "features", str),
    "hidden": (("mlp", "cnn3d"), "hidden", lambda s: [int(x) for x in s.split(",")]),
    "dropout": (("mlp", "cnn3d"), "dropout", float),
    "channels": (("cnn3d",), "channels", lambda s: [int(x) for x in s.split(",")]),
    "pool_first": (("cnn3d",), "pool_first", lambda s: [int(x) for x in s.split(",")]),
    "scalars": (("cnn3d",), "scalars", str),
    "blocks": (("cnn3d",), "blocks", int),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train a regressor or classifier on an HDF5 dataset",
        description="Train a model and write a run directory (config.json, history.csv, "
        "checkpoint.pt or member_<m>/, summary.json). With --resume, continue an interrupted "
        "run (options not given are taken from the stored run). Data-parallel on several "
        "CPUs or GPUs: torchrun --standalone --nproc-per-node N -m calolab.cli.main train ... "
        "(--batch-size stays the global batch; checkpoints resume with any number of "
        "processes).",
    )
    p.add_argument("--data", help="training file (calolab/CaloChallenge HDF5)")
    p.add_argument(
        "--model",
        help="sum | linear (alpha*sum+beta) | per-layer | mlp | cnn3d (or a registered kind)",
    )
    p.add_argument("--output", "-o", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --output")
    p.add_argument("--config", help="JSON file with a full training config (flags override it)")
    p.add_argument(
        "--task",
        choices=["regression", "classification", "classify"],
        help="classify = classification",
    )
    p.add_argument(
        "--classes",
        help="classification: comma-separated particle names (event-image files: class "
        "names, default those of the file)",
    )
    p.add_argument("--loss", help="mse | rel | huber-frac (regression), cross-entropy")
    p.add_argument("--ensemble", type=int, metavar="K", help="k-fold ensemble of K models [1]")
    p.add_argument("--epochs", type=int, help="maximum epochs [50]")
    p.add_argument("--batch-size", type=int, help="events per step [256]")
    p.add_argument("--lr", type=float, help="(peak) learning rate [1e-3]")
    p.add_argument("--weight-decay", type=float, help="[1e-5]")
    p.add_argument("--optimizer", choices=["adam", "adamw"], help="[adamw]")
    p.add_argument("--schedule", choices=["onecycle", "cosine", "none"], help="[onecycle]")
    p.add_argument("--grad-clip", type=float, help="max gradient norm, 0 = off [1.0]")
    p.add_argument("--patience", type=int, help="early-stopping patience, 0 = off [10]")
    p.add_argument(
        "--keep",
        choices=["best", "last"],
        help="keep the model of the best-validation epoch or of the last one [best]",
    )
    p.add_argument("--val-fraction", type=float, help="validation fraction [0.1]")
    p.add_argument("--max-events", type=int, help="use only the first N events")
    p.add_argument("--seed", type=int, help="[0]")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="[auto]")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--workers", type=int, dest="num_workers", help="data-loader workers [0]")
    cells = p.add_mutually_exclusive_group()
    cells.add_argument(
        "--digitized",
        action="store_true",
        help="train on the digitised cells (the default when the file has them)",
    )
    cells.add_argument(
        "--true-energies",
        action="store_true",
        help="train on the true visible energies even if the file has digitised cells",
    )
    p.add_argument(
        "--dead-augment",
        type=float,
        metavar="FRACTION",
        help="train with random dead channels: each event loses up to this fraction of its "
        "cells (uniform in [0, FRACTION)), so the model learns to live with them [0]",
    )
    p.add_argument("--grid-section", help="section seen by cnn3d (auto | all | NAME) [auto]")
    p.add_argument(
        "--binning",
        metavar="XML",
        help="CaloChallenge binning XML of a file from another tool (its layers); the 2022 "
        "datasets are recognised without it",
    )
    p.add_argument(
        "--binning-particle",
        metavar="NAME",
        help="entry of the binning XML to use when it describes several particles",
    )
    g = p.add_argument_group("model options (also: --option KEY=VALUE, JSON values)")
    g.add_argument("--calibration", help="sum, linear: none | mip [none]")
    g.add_argument(
        "--init", help="per-layer: closed-form | 0 | 1 (every weight 0 or 1) [closed-form]"
    )
    g.add_argument("--features", help="mlp: layers | highlevel | layers+highlevel [layers]")
    g.add_argument("--hidden", help="mlp/cnn3d: hidden widths, e.g. 256,128,64")
    g.add_argument("--dropout", help="mlp/cnn3d: dropout probability")
    g.add_argument("--channels", help="cnn3d: channels per stage, e.g. 8,16,32")
    g.add_argument("--pool-first", help="cnn3d: input sum-pooling d,h,w, e.g. 1,2,2")
    g.add_argument("--scalars", help="cnn3d: highlevel | layers | layers+highlevel | none")
    g.add_argument("--blocks", help="cnn3d: residual blocks per stage")
    g.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    g.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--threads", type=int, help="CPU threads of torch [torch's default]")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_read_arguments(p)
    p.set_defaults(func=cmd_train)


def _kv(items: list[str], flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{flag} {item!r} must look like KEY=VALUE")
        k, v = item.split("=", 1)
        try:
            out[k.strip().replace("-", "_")] = json.loads(v)
        except ValueError:
            out[k.strip().replace("-", "_")] = v
    return out


def build_config(args: argparse.Namespace, stored: Mapping[str, Any] | None) -> Any:
    """The TrainConfig from (stored run config or --config file) + explicit flags."""
    from calolab.models import ModelConfig
    from calolab.training import TrainConfig

    base: dict[str, Any]
    if stored is not None:
        base = json.loads(json.dumps(stored))
    elif args.config:
        try:
            base = json.loads(Path(args.config).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--config '{args.config}': cannot read JSON ({exc})") from None
        base = base.get("config", base)  # accept a run's config.json too
    else:
        base = {}
    model = dict(base.get("model") or {})
    data = dict(base.get("data") or {})
    if args.model is not None:
        if model.get("name") not in (None, args.model):
            model = {}
        model["name"] = args.model
    if "name" not in model:
        raise ConfigError("--model is required (sum, linear, per-layer, mlp or cnn3d)")
    opts = dict(model.get("options") or {})
    for dest, (kinds, key, conv) in MODEL_SHORTCUTS.items():
        v = getattr(args, dest)
        if v is None:
            continue
        if model["name"] not in kinds:
            raise ConfigError(
                f"--{dest.replace('_', '-')} applies to model(s) {', '.join(kinds)}, "
                f"not '{model['name']}'"
            )
        try:
            opts[key] = conv(v)
        except ValueError:
            raise ConfigError(f"--{dest.replace('_', '-')} {v!r} is not valid") from None
    opts.update(_kv(args.option, "--option"))
    model["options"] = opts
    if args.data is not None:
        data["path"] = args.data
    if "path" not in data:
        raise ConfigError("--data is required (the training HDF5 file)")
    if args.task == "classify":
        args.task = "classification"
    if "kind" not in data:
        from calolab.events.hdf5 import image_file_classes

        file_classes = image_file_classes(data["path"])
        if file_classes is not None:  # an event-image file (calolab events generate/import)
            data["kind"] = "images"
            base.setdefault("task", "classification")
            if args.classes is None:
                data.setdefault("classes", file_classes)
    if args.val_fraction is not None:
        data["val_fraction"] = args.val_fraction
    if args.max_events is not None:
        data["max_events"] = args.max_events
    dopts = dict(data.get("options") or {})
    if args.digitized:
        dopts["digitized"] = True
    elif args.true_energies:
        dopts["digitized"] = False
    if args.dead_augment is not None:
        dopts["dead_augment"] = args.dead_augment
    if args.grid_section is not None:
        dopts["grid_section"] = args.grid_section
    if args.binning is not None:
        dopts["binning"] = str(Path(args.binning).resolve())
    if args.binning_particle is not None:
        dopts["binning_particle"] = args.binning_particle
    dopts.update(_kv(args.data_option, "--data-option"))
    data["options"] = dopts
    cfg: dict[str, Any] = {k: v for k, v in base.items() if k not in ("model", "data")}
    if args.task is not None:
        cfg["task"] = args.task
    if args.classes is not None:
        data["classes"] = [c.strip() for c in args.classes.split(",") if c.strip()]
        cfg.setdefault("task", "classification")
    if cfg.get("task") == "classification":
        data["target"] = "particle"
        cfg.setdefault("loss", "cross-entropy")
    for name in (
        "loss",
        "ensemble",
        "epochs",
        "batch_size",
        "lr",
        "weight_decay",
        "optimizer",
        "schedule",
        "keep",
        "seed",
        "device",
        "num_workers",
    ):
        v = getattr(args, name)
        if v is not None:
            cfg[name] = v
    if args.grad_clip is not None:
        cfg["grad_clip"] = args.grad_clip if args.grad_clip > 0 else None
    if args.patience is not None:
        cfg["patience"] = args.patience if args.patience > 0 else None
    if args.no_amp:
        cfg["amp"] = False
    return TrainConfig.from_dict(
        {**cfg, "model": ModelConfig.from_dict(model).to_dict(), "data": data}
    )


class RichHooks:
    """Progress bars: one line per ensemble member (epochs) and one for the current epoch.

    Implements every method of :class:`calolab.training.TrainHooks` (not subclassed, so that
    building the parser does not import torch).
    """

    def __init__(self, enabled: bool):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=err_console,
            disable=not enabled,
        )
        self.member_task: Any = None
        self.epoch_task: Any = None

    def __enter__(self) -> RichHooks:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def on_member_start(self, member: int, n_members: int, epochs: int, start_epoch: int) -> None:
        label = f"member {member + 1}/{n_members}" if n_members > 1 else "training"
        self.member_task = self.progress.add_task(
            label, total=epochs, completed=start_epoch, info=""
        )

    def on_epoch_start(self, member: int, epoch: int, steps: int) -> None:
        if self.epoch_task is not None:
            self.progress.remove_task(self.epoch_task)
        self.epoch_task = self.progress.add_task(f"  epoch {epoch}", total=steps, info="")

    def on_step(self, member: int, n_events: int) -> None:
        if self.epoch_task is not None:
            self.progress.advance(self.epoch_task, 1)

    def on_epoch_end(self, member: int, row: Mapping[str, Any]) -> None:
        info = f"loss {row['train_loss']:.4g}  val {row['val_loss']:.4g}"
        if self.member_task is not None:
            self.progress.update(self.member_task, completed=row["epoch"], info=info)

    def on_member_end(self, member: int, result: Any) -> None:
        if self.epoch_task is not None:
            self.progress.remove_task(self.epoch_task)
            self.epoch_task = None
        if self.member_task is not None:
            self.progress.update(
                self.member_task,
                total=max(result.epochs_run, 1),
                completed=result.epochs_run,
            )


def _check_counts(args: argparse.Namespace) -> None:
    """Bounds of the counting options (a typo must be an error, not an hour of swapping)."""
    from calolab.core.machine import check_workers
    from calolab.training.config import MAX_BATCH_SIZE, MAX_ENSEMBLE, MAX_EPOCHS

    for name, value, lo, hi in (
        ("--ensemble", args.ensemble, 1, MAX_ENSEMBLE),
        ("--epochs", args.epochs, 1, MAX_EPOCHS),
        ("--batch-size", args.batch_size, 1, MAX_BATCH_SIZE),
        ("--patience", args.patience, 0, MAX_EPOCHS),
        ("--max-events", args.max_events, 2, None),
        ("--seed", args.seed, 0, 2**63 - 1),
        ("--threads", args.threads, 1, 4096),
    ):
        if value is not None:
            check_int(name, value, minimum=lo, maximum=hi)
    if args.num_workers:
        # data-loader workers are forked copies of this process: bounded by the cores
        check_workers(args.num_workers, per_worker_bytes=256 << 20, oversubscribe=2)


def cmd_train(args: argparse.Namespace) -> int:
    _check_counts(args)
    check_output_dir(args.output, inputs=[args.data] if args.data else [], what="--output")
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise ConfigError(f"--threads {args.threads} must be >= 1")
        torch.set_num_threads(args.threads)
    from calolab.training import train
    from calolab.training.checkpoint import read_json

    out = Path(args.output)
    stored = None
    if args.resume and (out / "config.json").exists():
        stored = read_json(out / "config.json")["config"]
    config = build_config(args, stored)
    from calolab.training.distributed import distributed

    # under torchrun (WORLD_SIZE > 1) this joins the process group: data-parallel training
    with distributed(config.device) as dist:
        show = dist.is_main and not args.quiet and not args.json
        with RichHooks(enabled=show) as hooks:
            result = train(config, out, resume=args.resume, hooks=hooks, dist=dist)  # type: ignore[arg-type]
        if not dist.is_main:
            return 0
    s = result.summary
    if args.json:
        print_json(s)
        return 0
    best = min(result.members, key=lambda m: m.best_val_loss)
    console.print(
        f"[bold]trained {config.model.name}[/bold] ({config.ensemble} member(s), "
        f"{sum(m.epochs_run for m in result.members)} epochs, "
        f"{s['train_seconds']:.1f} s, {s['samples_per_second'] or 0:,.0f} samples/s) → {out}"
    )
    console.print(
        f"best validation loss ({config.loss}): {best.best_val_loss:.5g} at epoch {best.best_epoch}"
    )
    return 0
