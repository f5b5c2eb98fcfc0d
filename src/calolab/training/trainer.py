"""The trainer: one loop for regression and classification, single models and k-fold ensembles.

Run directory (the on-disk contract other tools read)::

    run/config.json        full config, data/detector hash, seed, calolab version, input shapes
    run/history.csv        epoch, train_loss, val_loss, lr, seconds, ... (+ member for ensembles)
    run/checkpoint.pt      single model: model, best model, optimiser, scheduler, loss state,
                           early-stopping state, history, config, epoch, data/detector hash
    run/member_<m>/        ensembles: checkpoint.pt and history.csv of member m
    run/weights.csv        weight trajectories of models that record them (per-layer calibration)
    run/summary.json       per-member results, bias correction, throughput, peak memory

Extending a run: ``train --resume --epochs N`` with N larger than the stored number of epochs
continues every member to epoch N, also a finished or early-stopped one. The learning-rate
schedule of the first segment (epochs 0 to the stored number) is completed as it was; the
extra epochs get a schedule of their own over their length (a warm restart, Loshchilov &
Hutter, "SGDR", ICLR 2017): one-cycle warms up again, cosine anneals again, a constant rate
stays. The best model so far stays the best unless an extra epoch beats it; early stopping
starts counting again. A run cannot be shortened.

Everything random comes from ``config.seed``: the split (hash of seed and event index), the
initialisation (seed, member), the data order and dropout (seed, member, epoch). Because each
epoch re-seeds from (seed, member, epoch) and the checkpoint holds every piece of state, a run
interrupted after epoch n and resumed gives bit-for-bit the weights of an uninterrupted run.

Distributed training (torchrun, :mod:`calolab.training.distributed`) plugs in through
:class:`DistContext`: the model, optimiser and data shards are built from the config on every
rank, :meth:`Trainer.wrap_model` wraps the model in ``DistributedDataParallel``, each rank
takes its share of every batch (so ``batch_size`` is the global batch and a checkpoint does
not depend on the number of processes), losses are all-reduced, and only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import resource
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from calolab.core.errors import ConfigError, DataError, OutputError
from calolab.core.files import OutputLock, check_output_dir
from calolab.data.hdf5 import ShowerFile
from calolab.models.registry import architecture_hash, build_model
from calolab.training.checkpoint import (
    CHECKPOINT,
    OOF_PREDICTIONS,
    check_compatible,
    load_checkpoint,
    read_json,
    save_checkpoint,
    save_predictions,
    write_csv,
    write_json,
)
from calolab.training.config import TrainConfig
from calolab.training.datasets import (
    ShowerDataOptions,
    TrainingSource,
    inference_batch_size,
    open_source,
    split_indices,
)
from calolab.training.losses import build_loss

log = logging.getLogger(__name__)

#: Config fields that may differ when a run is resumed.
RESUMABLE_CHANGES = ("device", "num_workers", "amp")


# ----------------------------------------------------------------------------- hooks
class TrainHooks:
    """Callbacks (progress bars, interruption in tests); all methods are optional no-ops."""

    def on_member_start(self, member: int, n_members: int, epochs: int, start_epoch: int) -> None:
        pass

    def on_step(self, member: int, n_events: int) -> None:
        pass

    def on_epoch_start(self, member: int, epoch: int, steps: int) -> None:
        pass

    def on_epoch_end(self, member: int, row: Mapping[str, Any]) -> None:
        pass

    def on_member_end(self, member: int, result: MemberResult) -> None:
        pass


@dataclass(frozen=True)
class DistContext:
    """Rank, world size and device of this process (single process by default)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return (
            self.world_size > 1
            and torch.distributed.is_available()
            and (torch.distributed.is_initialized())
        )

    def sum(self, values: list[float]) -> list[float]:
        """Sum numbers over ranks."""
        if not self.active:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def gather(self, arr: np.ndarray) -> np.ndarray:
        """Concatenate a 1-D array over ranks (rank order)."""
        if not self.active:
            return arr
        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, arr)
        return np.concatenate(out)

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA if available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' requested but no CUDA device is available; use --device cpu"
        )
    return torch.device(name)


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class MemberResult:
    """Outcome of training one model (one ensemble member)."""

    member: int
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    train_seconds: float
    n_train: int
    n_val: int
    n_parameters: int
    samples_per_second: float
    fit_params: dict[str, float] = field(default_factory=dict)
    #: validation loss of the untrained model (for regressors: their closed-form calibration);
    #: NaN for closed-form fits and without a validation set
    initial_val_loss: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced."""

    run_dir: Path
    config: TrainConfig
    members: tuple[MemberResult, ...]
    summary: dict[str, Any]


def member_dir(run_dir: Path, member: int, n_members: int) -> Path:
    """Directory of member ``m``: the run itself for single models, ``member_<m>/`` else."""
    return run_dir if n_members == 1 else run_dir / f"member_{member}"


def _seed(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint64)[0] >> 1)


def peak_memory_mb() -> float:
    """Peak resident memory of this process, MB (Linux ``ru_maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------- trainer
class Trainer:
    """Trains one model (one ensemble member) on ``source``.

    Parameters
    ----------
    config:
        The run config.
    source:
        The opened training data.
    run_dir:
        The run directory.
    member:
        Ensemble member index (0 for single models).
    meta:
        The provenance dict of the run (hashes, input shapes).
    dist:
        Rank / world size / device.
    hooks:
        Callbacks.
    """

    def __init__(
        self,
        config: TrainConfig,
        source: TrainingSource,
        run_dir: Path,
        member: int,
        meta: Mapping[str, Any],
        dist: DistContext,
        hooks: TrainHooks,
    ):
        self.config = config
        self.source = source
        self.member = member
        self.n_members = config.ensemble
        self.meta = dict(meta)
        self.dist = dist
        self.hooks = hooks
        self.dir = member_dir(run_dir, member, self.n_members)
        self.device = dist.device
        self.kind = config.model.kind
        self.train_idx, self.val_idx = split_indices(
            source.n_events,
            seed=config.seed,
            val_fraction=config.data.val_fraction if self.n_members == 1 else 0.0,
            folds=self.n_members,
            member=member,
        )
        if len(self.train_idx) < 2:
            raise DataError(
                f"member {member}: only {len(self.train_idx)} training events; use more data"
            )
        if config.batch_size < dist.world_size:
            raise ConfigError(
                f"batch_size {config.batch_size} is smaller than the {dist.world_size} "
                "processes; each process needs at least one event per batch"
            )
        self.use_amp = bool(config.amp and self.device.type == "cuda")
        # model, loss, optimiser: everything from the config and the member seed
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(_seed(config.seed, member, 0xB11D))
            self.model = build_model(
                config.model,
                model_shapes(config, source),
                task=config.task,
                n_outputs=config.n_outputs,
                # the loss chooses the weighting of the closed-form calibrations
                stats={**source.stats(self.train_idx), "loss": config.loss},
            ).to(self.device)
        self.loss_fn = build_loss(
            config.loss,
            source.targets(self.train_idx) if config.task == "regression" else None,
            config.huber_bins,
        ).to(self.device)
        self.net = self.wrap_model(self.model)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.scaler: Any = None
        self.schedule_start = 0  # epoch at which the current learning-rate schedule began
        self.schedule_end = config.epochs  # and at which it ends
        if self.kind.fit == "gradient":
            if not self.params:
                raise ConfigError(f"model '{config.model.name}' has no trainable parameters")
            self.optimizer = self.build_optimizer()
            self.steps_per_epoch = max(1, len(self._dataset(0, shuffle=True)))
            self.scheduler = self.build_scheduler(self.steps_per_epoch)
            if self.use_amp:
                self.scaler = torch.amp.GradScaler("cuda")
        # early stopping is not armed while a one-cycle schedule still raises the learning
        # rate (its first 30 %): the validation loss is noisy there by design
        self.warmup_epochs = self._warmup_end()
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.trajectory: list[dict[str, Any]] = []
        self.best_loss = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.stopped_early = False
        self.finished = False
        self.best_state = self._state_copy()
        self.initial_val_loss = math.nan
        self.initial_state: dict[str, torch.Tensor] | None = None
        self.train_seconds = 0.0
        self.samples_seen = 0

    # -------------------------------------------------------------- building blocks
    def _rng_devices(self) -> list[int]:
        return [self.device.index or 0] if self.device.type == "cuda" else []

    def wrap_model(self, model: nn.Module) -> nn.Module:
        """The module used for forward/backward: ``DistributedDataParallel`` around ``model``
        when several processes train together (the checkpoints always hold ``model``'s own
        state, so they do not depend on the number of processes)."""
        if not self.dist.active or not any(p.requires_grad for p in model.parameters()):
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def build_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        cls = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
        return cls(self.params, lr=c.lr, weight_decay=c.weight_decay)

    def _warmup_end(self) -> int:
        """Last epoch of the one-cycle warm-up of the current schedule (early stopping is not
        armed before it)."""
        if self.config.schedule != "onecycle":
            return self.schedule_start
        return self.schedule_start + int(0.3 * (self.schedule_end - self.schedule_start))

    def build_scheduler(self, steps_per_epoch: int) -> Any:
        c = self.config
        total = max(1, self.schedule_end - self.schedule_start) * steps_per_epoch
        assert self.optimizer is not None
        if c.schedule == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=c.lr, total_steps=total, anneal_strategy="cos"
            )
        if c.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=total)
        return None

    def _dataset(self, epoch: int, shuffle: bool, indices: np.ndarray | None = None) -> Any:
        return self.source.dataset(
            self.train_idx if indices is None else indices,
            batch_size=self.config.batch_size,
            shuffle=shuffle,
            seed=_seed(self.config.seed, self.member, 0xDA7A),
            epoch=epoch,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )

    def _loader(self, dataset: Any) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=None,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def _to_device(self, batch: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        nb = self.device.type == "cuda"
        inputs = {k: v.to(self.device, non_blocking=nb) for k, v in batch["inputs"].items()}
        return inputs, batch["target"].to(self.device, non_blocking=nb)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.use_amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def _state_copy(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _lr(self) -> float:
        if self.optimizer is None:
            return 0.0
        return float(self.optimizer.param_groups[0]["lr"])

    def _record(self, epoch: int) -> None:
        record = getattr(self.model, "record", None)
        if record is not None:
            self.trajectory.append({"epoch": epoch, **record()})

    # -------------------------------------------------------------- evaluation
    @torch.no_grad()
    def predict(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictions and targets of the events ``indices`` (this rank's share)."""
        self.model.eval()
        preds, targets = [], []
        for batch in self._loader(
            self.source.dataset(
                indices,
                batch_size=inference_batch_size(self.source, max(self.config.batch_size, 1024)),
                shuffle=False,
            )
        ):
            inputs, target = self._to_device(batch)
            with self._autocast():
                out = self.model(inputs)
            preds.append(out.float().cpu().numpy())
            targets.append(target.cpu().numpy())
        if not preds:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(preds), np.concatenate(targets)

    @torch.no_grad()
    def evaluate_loss(self, indices: np.ndarray) -> dict[str, float]:
        """Loss (and RMSE or accuracy) over ``indices``, reduced over ranks."""
        if len(indices) == 0:
            return {}
        self.model.eval()
        total, n, sq, correct = 0.0, 0, 0.0, 0.0
        ds = self.source.dataset(
            indices,
            batch_size=inference_batch_size(self.source, max(self.config.batch_size, 1024)),
            shuffle=False,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        for batch in self._loader(ds):
            inputs, target = self._to_device(batch)
            with self._autocast():
                out = self.model(inputs)
            m = len(target)
            total += float(self.loss_fn(out, target)) * m
            n += m
            if self.config.task == "regression":
                sq += float(((out.float() - target) ** 2).sum())
            else:
                correct += float((out.argmax(dim=-1) == target).sum())
        total, n_all, sq, correct = self.dist.sum([total, float(n), sq, correct])
        if n_all == 0:
            return {}
        out_d = {"loss": total / n_all}
        if self.config.task == "regression":
            out_d["rmse"] = math.sqrt(sq / n_all)
        else:
            out_d["accuracy"] = correct / n_all
        return out_d

    # -------------------------------------------------------------- checkpoints
    def checkpoint_payload(self) -> dict[str, Any]:
        import json

        return {
            **{
                k: self.meta[k]
                for k in (
                    "calolab_version",
                    "config_hash",
                    "architecture_hash",
                    "data_hash",
                    "detector_hash",
                    "detector_name",
                    "seed",
                )
            },
            "config_json": json.dumps(self.config.to_dict(), sort_keys=True),
            "shapes_json": json.dumps(
                {k: list(v) for k, v in model_shapes(self.config, self.source).items()}
            ),
            "classes": list(self.source.classes),
            "member": self.member,
            "n_members": self.n_members,
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "best_model": self.best_state,
            "initial_model": self.initial_state or {},
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "loss": self.loss_fn.state_dict(),
            "early_stop": {
                "best_loss": self.best_loss,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
                "stopped": self.stopped_early,
                "initial_val_loss": self.initial_val_loss,
            },
            "history_json": json.dumps(self.history),
            "trajectory_json": json.dumps(self.trajectory),
            "train_seconds": self.train_seconds,
            "samples_seen": self.samples_seen,
            "finished": self.finished,
            "schedule": [self.schedule_start, self.schedule_end],
            "world_size": self.dist.world_size,  # informational: resumable with any number
        }

    def save(self) -> None:
        """Write checkpoint, history and trajectories (rank 0 only)."""
        if not self.dist.is_main:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.dir / CHECKPOINT, self.checkpoint_payload())
        write_csv(self.dir / "history.csv", self.history)
        if self.trajectory:
            write_csv(self.dir / "weights.csv", self.trajectory)

    def restore(self, ckpt: Mapping[str, Any]) -> None:
        """Continue from a checkpoint (after :func:`check_compatible`)."""
        import json

        self.model.load_state_dict(ckpt["model"])
        self.best_state = {k: v.to(self.device) for k, v in ckpt["best_model"].items()}
        stored_epochs = int(json.loads(ckpt["config_json"])["epochs"])
        self.schedule_start, self.schedule_end = (
            int(x) for x in ckpt.get("schedule", (0, stored_epochs))
        )
        if self.scheduler is not None:
            # the stored schedule, rebuilt with its own length (before the optimiser's state is
            # loaded: building a scheduler sets the learning rate), continues where it stopped
            self.scheduler = self.build_scheduler(self.steps_per_epoch)
        if self.optimizer is not None and ckpt["optimizer"]:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt["scheduler"]:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.warmup_epochs = self._warmup_end()
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.loss_fn.load_state_dict(ckpt["loss"])
        es = ckpt["early_stop"]
        self.best_loss = float(es["best_loss"])
        self.best_epoch = int(es["best_epoch"])
        self.bad_epochs = int(es["bad_epochs"])
        self.stopped_early = bool(es["stopped"])
        self.initial_val_loss = float(es.get("initial_val_loss", math.nan))
        initial = ckpt.get("initial_model") or {}
        self.initial_state = {k: v.to(self.device) for k, v in initial.items()} or None
        self.epoch = int(ckpt["epoch"])
        self.history = json.loads(ckpt["history_json"])
        self.trajectory = json.loads(ckpt["trajectory_json"])
        self.train_seconds = float(ckpt.get("train_seconds", 0.0))
        self.samples_seen = int(ckpt.get("samples_seen", 0))
        self.finished = bool(ckpt["finished"])
        if self.kind.fit == "gradient" and self.config.epochs > stored_epochs:
            self._extend(stored_epochs)

    def _extend(self, stored_epochs: int) -> None:
        """Continue to ``config.epochs`` a member whose run was configured for
        ``stored_epochs`` (see the module docstring)."""
        log.info(
            "member %d: extending from %d to %d epochs",
            self.member,
            stored_epochs,
            self.config.epochs,
        )
        if self.finished or self.stopped_early or self.epoch >= self.schedule_end:
            self._start_schedule()
        self.finished = False
        self.stopped_early = False
        self.bad_epochs = 0

    def _start_schedule(self) -> None:
        """A new learning-rate schedule from the current epoch to ``config.epochs``."""
        self.schedule_start, self.schedule_end = self.epoch, self.config.epochs
        if self.optimizer is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.lr
                group.pop("initial_lr", None)
                for key in ("max_lr", "min_lr", "max_momentum", "base_momentum"):
                    group.pop(key, None)
            self.scheduler = self.build_scheduler(self.steps_per_epoch)
        self.warmup_epochs = self._warmup_end()

    # -------------------------------------------------------------- loops
    def _train_epoch(self, epoch: int) -> tuple[float, int]:
        """One epoch; returns (mean training loss, events seen by this rank)."""
        assert self.optimizer is not None
        self.net.train()
        ds = self._dataset(epoch, shuffle=True)
        self.hooks.on_epoch_start(self.member, epoch, len(ds)) if self.dist.is_main else None
        # the loss sum and the predictions stay on the device: no host synchronisation per step
        total = torch.zeros((), dtype=torch.float64, device=self.dist.device)
        n = 0
        keep_preds = self.config.loss == "huber-frac"
        preds: list[torch.Tensor] = []
        targets: list[torch.Tensor] = []
        for batch in self._loader(ds):
            inputs, target = self._to_device(batch)
            self.optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                out = self.net(inputs)
                loss = self.loss_fn(out, target)
            step_loss = loss
            if self.dist.active and "global_size" in batch:
                # DDP averages gradients over ranks; weight each rank's mean loss by its
                # share of the batch so that the step is that of the whole batch
                step_loss = loss * (len(target) * self.dist.world_size / int(batch["global_size"]))
            if self.scaler is not None:
                self.scaler.scale(step_loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                step_loss.backward()
            if self.config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
            stepped = True
            if self.scaler is not None:
                scale = self.scaler.get_scale()
                self.scaler.step(self.optimizer)  # skipped when the scaled gradients overflowed
                self.scaler.update()
                stepped = self.scaler.get_scale() >= scale
            else:
                self.optimizer.step()
            if self.scheduler is not None and stepped:
                self.scheduler.step()
            m = len(target)
            total += loss.detach().double() * m
            n += m
            if keep_preds:
                preds.append(out.detach().float())
                targets.append(target.detach())
            if self.dist.is_main:
                self.hooks.on_step(self.member, m)
        # every rank takes part in the sum before any of them may refuse a diverged epoch
        total_f, nn_ = self.dist.sum([float(total), float(n)])
        if not math.isfinite(total_f):
            raise DataError(
                f"training diverged: the mean training loss of epoch {epoch} (member "
                f"{self.member}) is {total_f}; lower the learning rate (--lr) or check the data"
            )
        if keep_preds and preds:
            p = self.dist.gather(torch.cat(preds).cpu().numpy())
            t = self.dist.gather(torch.cat(targets).cpu().numpy())
            self.loss_fn.update(t, p)  # type: ignore[operator]
        return total_f / max(nn_, 1.0), int(nn_)

    def _fit_direct(self) -> None:
        """Models without gradient training: closed-form fit (or nothing), one history row."""
        t0 = time.perf_counter()
        if self.kind.fit == "closed_form":

            def batches() -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
                # every rank fits on all training events, so that all ranks agree
                ds = self.source.dataset(
                    self.train_idx, batch_size=self.config.batch_size, shuffle=False
                )
                for b in self._loader(ds):
                    yield {k: v.numpy() for k, v in b["inputs"].items()}, b["target"].numpy()

            params = self.model.fit_closed_form(  # type: ignore[operator]
                batches(), loss=self.config.loss
            )
            log.info("closed-form fit: %s", params)
        tr = self.evaluate_loss(self.train_idx)
        self.train_seconds = time.perf_counter() - t0  # the fit and one pass over the data
        self.samples_seen = len(self.train_idx)
        self.epoch = 1
        va = self.evaluate_loss(self.val_idx)
        row = self._row(
            1,
            tr.get("loss", math.nan),
            va,
            time.perf_counter() - t0,
            self.train_seconds,
            len(self.train_idx),
        )
        self.history.append(row)
        self._record(1)
        self.best_loss = va.get("loss", tr.get("loss", math.nan))
        self.best_epoch = 1
        self.best_state = self._state_copy()
        self.finished = True
        self.save()
        if self.dist.is_main:
            self.hooks.on_epoch_end(self.member, row)

    def _row(
        self,
        epoch: int,
        train_loss: float,
        va: Mapping[str, float],
        sec: float,
        train_sec: float,
        n_events: int,
    ) -> dict:
        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": va.get("loss", math.nan),
            "lr": self._lr(),
            "seconds": sec,
            "train_seconds": train_sec,
            "samples_per_second": n_events / train_sec if train_sec > 0 else math.nan,
        }
        if self.n_members > 1:
            row = {"member": self.member, **row}
        for k in ("rmse", "accuracy"):
            if k in va:
                row[f"val_{k}"] = va[k]
        return row

    def fit(self) -> MemberResult:
        """Train until ``epochs`` or early stopping; checkpoint after every epoch."""
        c = self.config
        if self.dist.is_main:
            self.hooks.on_member_start(self.member, self.n_members, c.epochs, self.epoch)
        if not self.finished:
            if self.kind.fit != "gradient":
                self._fit_direct()
            else:
                if self.epoch == 0 and not self.trajectory:
                    self._record(0)
                module = getattr(self.model, "module", self.model)
                candidate = bool(getattr(module, "starts_at_calibration", True))
                if self.epoch == 0 and not self.history and candidate:
                    self._initial_validation()
                with torch.random.fork_rng(devices=self._rng_devices()):
                    while self.epoch < c.epochs and not self.stopped_early:
                        if self.epoch >= self.schedule_end:
                            self._start_schedule()  # an extended run's next segment
                        self._one_epoch()
                if c.keep == "last" and self.epoch > 0 and self.history:
                    self.best_state = self._state_copy()
                    self.best_epoch = self.epoch
                    self.best_loss = float(self.history[-1]["val_loss"])
                self._keep_significant_improvement()
                self.finished = True
                self.save()
        return self.result()

    def _initial_validation(self) -> None:
        """The untrained model is the first candidate for the best model: a regressor that
        starts at its closed-form calibration is then never worse than it on the validation
        set (early stopping keeps the start unless training does better)."""
        if len(self.val_idx) == 0:
            return
        va = self.evaluate_loss(self.val_idx)
        loss = va.get("loss", math.inf)
        if math.isfinite(loss):
            self.initial_val_loss = loss
            self.best_loss = loss
            self.best_epoch = 0
            self.best_state = self._state_copy()
            self.initial_state = self.best_state

    @torch.no_grad()
    def _val_losses(self, state: Mapping[str, torch.Tensor]) -> np.ndarray:
        """Per-event validation losses of the model with the weights ``state``."""
        current = self._state_copy()
        self.model.load_state_dict(state)
        try:
            p, t = self.predict(self.val_idx)
        finally:
            self.model.load_state_dict(current)
        per_event = getattr(self.loss_fn, "per_event", None)
        if per_event is None:
            return np.zeros(0)
        return per_event(torch.as_tensor(p), torch.as_tensor(t)).double().cpu().numpy()

    def _keep_significant_improvement(self) -> None:
        """Go back to the untrained model (a regressor's closed-form calibration) unless the
        best epoch beats it on the validation events by more than two standard errors of
        the paired per-event loss difference: with a small validation set, the choice of the
        best epoch would otherwise fit the validation noise."""
        if self.initial_state is None or self.best_epoch == 0 or len(self.val_idx) < 10:
            return
        d = self._val_losses(self.best_state) - self._val_losses(self.initial_state)
        if len(d) < 10:
            return
        se = float(np.std(d, ddof=1) / math.sqrt(len(d)))
        if not float(np.mean(d)) + 2 * se < 0:
            log.info(
                "member %d: epoch %d is not significantly better than the start on the "
                "validation set (%.3g ± %.2g); keeping the start",
                self.member,
                self.best_epoch,
                float(np.mean(d)),
                se,
            )
            self.best_state = self.initial_state
            self.best_epoch = 0
            self.best_loss = self.initial_val_loss

    def _one_epoch(self) -> None:
        c = self.config
        epoch = self.epoch + 1
        torch.manual_seed(_seed(c.seed, self.member, epoch))  # dropout of this epoch
        t0 = time.perf_counter()
        train_loss, n = self._train_epoch(epoch)
        t_train = time.perf_counter() - t0
        va = self.evaluate_loss(self.val_idx)
        monitored = va.get("loss", train_loss)
        self.epoch = epoch
        self.train_seconds += t_train
        self.samples_seen += n
        if monitored < self.best_loss:
            self.best_loss = monitored
            self.best_epoch = epoch
            self.bad_epochs = 0
            self.best_state = self._state_copy()
        elif epoch > self.warmup_epochs:
            self.bad_epochs += 1
            if c.patience is not None and self.bad_epochs >= c.patience:
                self.stopped_early = True
                log.info("member %d: early stop at epoch %d", self.member, epoch)
        row = self._row(epoch, train_loss, va, time.perf_counter() - t0, t_train, n)
        self.history.append(row)
        self._record(epoch)
        self.save()
        if self.dist.is_main:
            self.hooks.on_epoch_end(self.member, row)

    def result(self) -> MemberResult:
        n_params = sum(p.numel() for p in self.model.parameters())
        return MemberResult(
            member=self.member,
            epochs_run=self.epoch,
            best_epoch=self.best_epoch,
            best_val_loss=float(self.best_loss),
            stopped_early=self.stopped_early,
            train_seconds=self.train_seconds,
            n_train=int(len(self.train_idx)),
            n_val=int(len(self.val_idx)),
            n_parameters=int(n_params),
            samples_per_second=(
                self.samples_seen / self.train_seconds if self.train_seconds else 0.0
            ),
            initial_val_loss=float(self.initial_val_loss),
            fit_params=(
                dict(self.model.record())  # type: ignore[operator]
                if self.kind.fit == "closed_form" and hasattr(self.model, "record")
                else {}
            ),
        )

    def load_best(self) -> None:
        self.model.load_state_dict(self.best_state)


# ----------------------------------------------------------------------------- entry point
def model_shapes(config: TrainConfig, source: TrainingSource) -> dict[str, tuple[int, ...]]:
    """Shapes of the inputs the model uses (a source may provide more, e.g. one shared
    feature pass for several models)."""
    missing = [k for k in config.model.inputs if k not in source.shapes]
    if missing:
        raise ConfigError(
            f"model '{config.model.name}' needs input(s) {', '.join(missing)}; the data "
            f"source provides {', '.join(sorted(source.shapes)) or 'nothing'}"
        )
    return {k: tuple(source.shapes[k]) for k in config.model.inputs}


def run_meta(config: TrainConfig, source: TrainingSource) -> dict[str, Any]:
    """Provenance of a run: version, config hash, hashes of data, detector and architecture."""
    from calolab.core.provenance import package_version

    __version__ = package_version()

    fp = source.fingerprint()
    return {
        "calolab_version": __version__,
        "config_hash": config.hash,
        "seed": config.seed,
        "data_hash": fp["data_hash"],
        "detector_hash": fp["detector_hash"],
        "detector_name": fp["detector_name"],
        "data": fp,
        "architecture_hash": architecture_hash(
            config.model, model_shapes(config, source), config.task, config.n_outputs
        ),
        "shapes": {k: list(v) for k, v in model_shapes(config, source).items()},
        "classes": list(source.classes),
        "model": config.model.to_dict(),
    }


#: Events per fold at least: a k-fold ensemble needs k validation folds that can measure.
MIN_EVENTS_PER_FOLD = 10


def resolve_data_path(config: TrainConfig) -> TrainConfig:
    """``config`` with its data path absolute and resolved (links, ``..``), so that a run can
    be resumed from any working directory."""
    try:
        path = str(Path(config.data.path).resolve())
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"data path '{config.data.path}' cannot be resolved: {exc}") from None
    if path == config.data.path:
        return config
    return config.replace(data=dataclasses.replace(config.data, path=path))


def _resolve_cells(
    config: TrainConfig, run_dir: Path | None, source: TrainingSource | None
) -> TrainConfig:
    """``config`` with the shower-file option ``digitized`` made explicit, so that the run
    records which cells it was trained on and is evaluated on the same: when it is not given,
    the digitised cells if the file has them (what the readout measures), else the true
    visible energies. A run being resumed keeps what it was started with (a run written
    before the option had a default of its own trained on true energies)."""
    options = dict(config.data.options)
    if config.data.kind != "showers" or options.get("digitized") is not None:
        return config
    if run_dir is not None:
        stored = read_json(run_dir / "config.json").get("config", {})
        digitized = bool(dict(stored.get("data", {}).get("options", {})).get("digitized", False))
    elif isinstance(opened := getattr(source, "options", None), ShowerDataOptions):
        digitized = bool(opened.digitized)
    else:
        with ShowerFile(config.data.path) as f:
            digitized = f.has_digitized
    options["digitized"] = digitized
    return config.replace(data=dataclasses.replace(config.data, options=options))


def _without_path(table: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(table)
    if isinstance(out.get("data"), Mapping):
        out["data"] = {k: v for k, v in out["data"].items() if k != "path"}
    return out


def _check_resume(run_dir: Path, config: TrainConfig, meta: Mapping[str, Any]) -> None:
    """Refuse to resume with other data or options. The data are compared by content (the
    hash of :meth:`TrainingSource.fingerprint`), not by how the path is spelled: the same
    file given from another working directory, through a link or as a copy resumes; another
    file is refused naming both."""
    stored = read_json(run_dir / "config.json")
    # detector and architecture first (their messages say what differs), then the data
    check_compatible(stored, {**meta, "data_hash": stored.get("data_hash")}, f"resume '{run_dir}'")
    if stored.get("data_hash") != meta.get("data_hash"):
        old_path = (stored.get("data") or {}).get("path") or (
            (stored.get("config") or {}).get("data") or {}
        ).get("path")
        raise DataError(
            f"resume '{run_dir}': the run was trained on '{old_path}' (data hash "
            f"{str(stored.get('data_hash'))[:12]}) but the data now are '{config.data.path}' "
            f"(hash {str(meta.get('data_hash'))[:12]}), a different file; resume with "
            f"--data {old_path} or start a new run with another --output"
        )
    old = _without_path(TrainConfig.from_dict(stored["config"]).to_dict())
    new = _without_path(config.to_dict())
    if int(new.get("epochs", 0)) < int(old.get("epochs", 0)):
        raise ConfigError(
            f"resume '{run_dir}': --epochs {new['epochs']} is fewer than the run's "
            f"{old['epochs']}; a run can be extended (more epochs), not shortened: drop "
            "--epochs or give at least the stored number"
        )
    diff = sorted(
        k for k in new if k not in RESUMABLE_CHANGES and k != "epochs" and old.get(k) != new.get(k)
    )
    if diff:
        raise ConfigError(
            f"resume '{run_dir}': options differ from the stored run: "
            + ", ".join(f"{k} {old.get(k)!r} → {new.get(k)!r}" for k in diff)
            + "; drop them to continue with the stored values, or start a new run"
        )


def train(
    config: TrainConfig,
    output: str | Path,
    *,
    resume: bool = False,
    hooks: TrainHooks | None = None,
    dist: DistContext | None = None,
    source: TrainingSource | None = None,
) -> TrainResult:
    """Train a model (or a k-fold ensemble) and write the run directory.

    Parameters
    ----------
    config:
        The run configuration.
    output:
        Run directory (created). It must not hold another run unless ``resume``.
    resume:
        Continue the run in ``output``: finished members are kept, an interrupted member
        continues from its last checkpoint. Refused when the architecture, the detector or
        the data differ. Without a run in ``output`` a new one starts.
    hooks:
        Progress callbacks.
    dist:
        Distributed context (default: one process on ``config.device``).
    source:
        An already opened training source (default: opened from ``config.data``).
    """
    run_dir = check_output_dir(output, inputs=[config.data.path], what="run directory")
    config = resolve_data_path(config)
    hooks = hooks or TrainHooks()
    if dist is None:
        dist = DistContext(device=resolve_device(config.device))
    if dist.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dist.device)  # the summary's peak is this run's
    lock = None
    created = False
    if dist.is_main:
        # one process at a time per run directory: a second `train` (or `train --resume`)
        # of the same run is refused before it reads or writes anything
        created = not run_dir.exists()
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create run directory '{run_dir}': {exc}") from None
        lock = OutputLock(
            run_dir, lock_file=run_dir / ".lock", what=f"the training run '{run_dir}'"
        )
        try:
            lock.acquire()
        except BaseException:
            _remove_if_empty(run_dir, created)
            raise
    try:
        return _train_locked(config, run_dir, resume, hooks, dist, source)
    except BaseException:
        if lock is not None:
            lock.release()
            lock = None
        _remove_if_empty(run_dir, created)
        raise
    finally:
        if lock is not None:
            lock.release()


def _remove_if_empty(run_dir: Path, created: bool) -> None:
    """Remove a run directory this call created when nothing was written into it."""
    if created and run_dir.is_dir():
        with contextlib.suppress(OSError):
            if not any(p.name != ".lock" for p in run_dir.iterdir()):
                with contextlib.suppress(FileNotFoundError):
                    (run_dir / ".lock").unlink()
                run_dir.rmdir()


def _train_locked(
    config: TrainConfig,
    run_dir: Path,
    resume: bool,
    hooks: TrainHooks,
    dist: DistContext,
    source: TrainingSource | None,
) -> TrainResult:
    has_run = (run_dir / "config.json").exists()
    dist.barrier()  # every rank has looked before rank 0 writes config.json
    if has_run and not resume:
        raise OutputError(
            f"'{run_dir}' already holds a training run; pass --resume to continue it or "
            "choose another --output"
        )
    config = _resolve_cells(config, run_dir if has_run else None, source)
    own_source = source is None
    if source is None:
        source = open_source(config.data, config.model.inputs, config.task)
    try:
        if config.ensemble > 1 and source.n_events < MIN_EVENTS_PER_FOLD * config.ensemble:
            raise ConfigError(
                f"ensemble {config.ensemble} (--ensemble) needs at least "
                f"{MIN_EVENTS_PER_FOLD} events per fold, {MIN_EVENTS_PER_FOLD * config.ensemble:,}"
                f" in all; the data have {source.n_events:,} events: use --ensemble "
                f"{max(1, source.n_events // MIN_EVENTS_PER_FOLD)} or fewer"
            )
        meta = run_meta(config, source)
        if has_run:
            _check_resume(run_dir, config, meta)
        if dist.is_main:
            write_json(run_dir / "config.json", {**meta, "config": config.to_dict()})
        dist.barrier()
        results: list[MemberResult] = []
        oof_pred, oof_true = [], []
        for m in range(config.ensemble):
            trainer = Trainer(config, source, run_dir, m, meta, dist, hooks)
            ckpt_path = trainer.dir / CHECKPOINT
            if ckpt_path.exists() and (resume or has_run):
                ckpt = load_checkpoint(ckpt_path, trainer.device)
                check_compatible(ckpt, meta, f"resume '{ckpt_path}'")
                trainer.restore(ckpt)
            res = trainer.fit()
            trainer.load_best()
            if config.task == "regression":
                idx = trainer.val_idx if len(trainer.val_idx) else trainer.train_idx
                p, t = trainer.predict(idx)
                oof_pred.append(p)
                oof_true.append(t)
            results.append(res)
            if dist.is_main:
                hooks.on_member_end(m, res)
        summary = _summary(config, meta, results, oof_pred, oof_true, dist)
        if dist.is_main:
            if config.ensemble > 1:
                rows = []
                for m in range(config.ensemble):
                    ck = load_checkpoint(member_dir(run_dir, m, config.ensemble) / CHECKPOINT)
                    import json

                    rows += json.loads(ck["history_json"])
                write_csv(run_dir / "history.csv", rows)
            if oof_pred:
                save_predictions(
                    run_dir / OOF_PREDICTIONS, np.concatenate(oof_true), np.concatenate(oof_pred)
                )
            write_json(run_dir / "summary.json", summary)
        return TrainResult(run_dir, config, tuple(results), summary)
    finally:
        if own_source:
            source.close()


def _summary(
    config: TrainConfig,
    meta: Mapping[str, Any],
    results: list[MemberResult],
    oof_pred: list[np.ndarray],
    oof_true: list[np.ndarray],
    dist: DistContext,
) -> dict[str, Any]:
    secs = sum(r.train_seconds for r in results)
    samples = sum(r.samples_per_second * r.train_seconds for r in results)
    out: dict[str, Any] = {
        "task": config.task,
        "model": config.model.name,
        "loss": config.loss,
        "n_members": config.ensemble,
        "members": [r.to_dict() for r in results],
        "train_seconds": secs,
        "samples_per_second": samples / secs if secs > 0 else None,
        "peak_memory_mb": peak_memory_mb(),
        "world_size": dist.world_size,
        **{k: meta[k] for k in ("calolab_version", "config_hash", "data_hash", "detector_hash")},
    }
    if dist.device.type == "cuda":
        out["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(dist.device) / 2**20
    if config.task == "regression" and oof_pred:
        # the bias correction is fitted from these by calolab.evaluation
        out["bias_correction_source"] = (
            "out-of-fold predictions" if config.ensemble > 1 else "validation predictions"
        )
    return out
