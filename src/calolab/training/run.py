"""Load a trained run directory and predict with it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from calolab.core.errors import DataError
from calolab.models.ensemble import Ensemble
from calolab.models.registry import build_model
from calolab.training.checkpoint import (
    CHECKPOINT,
    OOF_PREDICTIONS,
    check_compatible,
    load_checkpoint,
    load_predictions,
    read_json,
)
from calolab.training.config import TrainConfig
from calolab.training.datasets import TrainingSource, inference_batch_size, open_source
from calolab.training.trainer import member_dir, resolve_device


@dataclass(frozen=True)
class Predictions:
    """Predictions of a run on a set of events.

    ``value``: energies (N,) GeV for regression, class probabilities (N, C) for
    classification; ``spread``: ensemble standard deviation (same shape, 0 for one model);
    ``target``: true energies (GeV) or class indices; ``truth``: per-event truth arrays;
    ``index``: event indices in the file.
    """

    value: np.ndarray
    spread: np.ndarray
    target: np.ndarray
    truth: dict[str, np.ndarray]
    index: np.ndarray


class TrainedRun:
    """A finished (or interrupted) training run, ready to predict.

    Parameters
    ----------
    run_dir:
        Directory written by :func:`calolab.training.train`.
    device:
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    best:
        Use the best (early-stopping) weights of each member (default) or the last ones.
    """

    def __init__(self, run_dir: str | Path, device: str = "cpu", best: bool = True):
        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            raise DataError(f"run directory '{self.run_dir}' does not exist")
        if not (self.run_dir / "config.json").exists():
            raise DataError(
                f"'{self.run_dir}' is not a training run (no config.json); give the --output "
                "directory of 'calolab train'"
            )
        self.meta: dict[str, Any] = read_json(self.run_dir / "config.json")
        self.config = TrainConfig.from_dict(self.meta["config"])
        summary = self.run_dir / "summary.json"
        self.summary: dict[str, Any] | None = read_json(summary) if summary.exists() else None
        self.device = resolve_device(device)
        self.shapes = {k: tuple(v) for k, v in self.meta["shapes"].items()}
        self.classes = tuple(self.meta.get("classes", []))
        members = []
        n = self.config.ensemble
        for m in range(n):
            path = member_dir(self.run_dir, m, n) / CHECKPOINT
            if not path.exists():
                raise DataError(
                    f"'{path}' is missing: member {m} of the ensemble was not trained; finish "
                    f"the run with 'calolab train --resume --output {self.run_dir}'"
                )
            ckpt = load_checkpoint(path, self.device)
            check_compatible(ckpt, self.meta, f"'{path}'")
            model = build_model(
                self.config.model,
                self.shapes,
                task=self.config.task,
                n_outputs=self.config.n_outputs,
            )
            model.load_state_dict(ckpt["best_model"] if best else ckpt["model"])
            members.append(model.to(self.device).eval())
        self.model = Ensemble(members, task=self.config.task).eval()

    @property
    def task(self) -> str:
        return self.config.task

    def held_out_predictions(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(e_true, e_pred)`` (GeV) of the training events, each predicted by a model that
        did not train on it (out-of-fold for ensembles, the validation split otherwise);
        ``None`` for classification runs and runs without them. The bias correction of
        :mod:`calolab.evaluation` is fitted from these."""
        return load_predictions(self.run_dir / OOF_PREDICTIONS)

    def open_data(self, path: str | Path, max_events: int | None = None) -> TrainingSource:
        """Open a data file with the run's data options; refuse another detector."""
        # training-only options (random dead-channel masks) never touch the data evaluated
        options = {k: v for k, v in self.config.data.options.items() if k != "dead_augment"}
        data = replace(self.config.data, path=str(path), max_events=max_events, options=options)
        source = open_source(data, self.config.model.inputs, self.config.task)
        try:
            self.check_source(source)
        except Exception:
            source.close()
            raise
        return source

    def check_source(self, source: TrainingSource) -> None:
        """Refuse data of another detector or with other input shapes than the training."""
        fp = source.fingerprint()
        if fp["detector_hash"] != self.meta.get("detector_hash"):
            raise DataError(
                f"detector mismatch: the run '{self.run_dir}' was trained on detector "
                f"'{self.meta.get('detector_name')}' (hash "
                f"{str(self.meta.get('detector_hash'))[:12]}) but '{fp['path']}' holds "
                f"'{fp['detector_name']}' (hash {str(fp['detector_hash'])[:12]}); "
                "evaluate on data simulated with the training detector"
            )
        got = {k: tuple(source.shapes[k]) for k in self.shapes if k in source.shapes}
        if got != self.shapes:
            raise DataError(f"'{fp['path']}' gives inputs {got}, the run expects {self.shapes}")

    @torch.no_grad()
    def predict(
        self,
        source: TrainingSource,
        indices: np.ndarray | None = None,
        batch_size: int = 1024,
        progress: Callable[[int], None] | None = None,
    ) -> Predictions:
        """Predict the events ``indices`` of ``source`` (default: all). ``batch_size`` is
        reduced for fine grids (at most 64 MB of cells per batch)."""
        if indices is None:
            indices = np.arange(source.n_events, dtype=np.int64)
        vals, spreads, idxs = [], [], []
        batch_size = inference_batch_size(source, batch_size)
        ds = source.dataset(indices, batch_size=batch_size, shuffle=False)
        for batch in cast(Iterable[dict[str, Any]], ds):
            inputs = {k: v.to(self.device) for k, v in batch["inputs"].items()}
            mean, spread = self.model.predict(inputs)
            vals.append(mean.float().cpu().numpy())
            spreads.append(spread.float().cpu().numpy())
            idxs.append(batch["index"].numpy())
            if progress is not None:
                progress(len(batch["index"]))
        index = np.concatenate(idxs) if idxs else np.zeros(0, np.int64)
        return Predictions(
            value=np.concatenate(vals) if vals else np.zeros(0),
            spread=np.concatenate(spreads) if spreads else np.zeros(0),
            target=source.targets(index),
            truth=source.truth(index),
            index=index,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "run": str(self.run_dir),
            "model": self.config.model.to_dict(),
            "members": self.config.ensemble,
            "detector": self.meta.get("detector_name"),
            "config": json.loads(json.dumps(self.config.to_dict())),
        }


def load_run(run_dir: str | Path, device: str = "cpu", best: bool = True) -> TrainedRun:
    """Load a run directory written by :func:`calolab.training.train`."""
    return TrainedRun(run_dir, device=device, best=best)
