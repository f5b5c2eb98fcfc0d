"""Checkpoints and run-directory files, written atomically; no pickle.

A checkpoint (``checkpoint.pt``) is a ``torch.save`` dict of tensors, numbers and strings,
read back with ``torch.load(weights_only=True)`` (no code is executed). It holds:
``format``, ``format_version``, ``calolab_version``, ``config_json`` (the full
:class:`~calolab.training.config.TrainConfig`), ``config_hash``, ``architecture_hash``,
``shapes_json``, ``classes``, ``data_hash``, ``detector_hash``, ``detector_name``, ``seed``,
``member``, ``n_members``, ``epoch`` (completed epochs), ``model`` and ``best_model`` (state
dicts), ``optimizer``, ``scheduler``, ``scaler``, ``loss`` (state of stateful losses),
``early_stop``, ``history_json``, ``trajectory_json`` and ``finished``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from calolab.core import files
from calolab.core.errors import ConfigError, DataError

FORMAT = "calolab-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT = "checkpoint.pt"
#: Predictions of every event on a model that did not train on it (regression runs).
OOF_PREDICTIONS = "oof_predictions.npz"


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write strict JSON atomically; NaN and ±inf become ``null``."""
    files.write_json(path, data, what="run file")


def read_json(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    if not p.exists():
        raise DataError(f"'{p}' does not exist")
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"'{p}' is not readable JSON ({exc})") from None


def write_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write rows (dicts) as CSV atomically; columns = union of keys in first-seen order."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(v) for k, v in r.items()})
    files.write_bytes(path, buf.getvalue().encode(), what="run file")


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v)
    return v


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def save_predictions(path: str | os.PathLike[str], e_true: Any, e_pred: Any) -> None:
    """Store held-out predictions (``e_true``, ``e_pred`` in GeV) as ``.npz``, atomically."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, e_true=np.asarray(e_true, np.float64), e_pred=np.asarray(e_pred, np.float64))
    files.write_bytes(path, buf.getvalue(), what="predictions file")


def load_predictions(path: str | os.PathLike[str]) -> tuple[Any, Any] | None:
    """``(e_true, e_pred)`` stored by :func:`save_predictions`, or ``None`` if absent."""
    import numpy as np

    p = Path(path)
    if not p.exists():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            return np.asarray(z["e_true"]), np.asarray(z["e_pred"])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"'{p}' is damaged ({type(exc).__name__}: {exc})") from None


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """``torch.save`` to ``<path>.partial`` and rename (an interrupted save leaves the old one)."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, buf)
    files.write_bytes(path, buf.getvalue(), what="checkpoint")


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``) and check its format."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"checkpoint '{p}' does not exist")
    try:
        ckpt = torch.load(p, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many kinds for damaged files
        raise DataError(
            f"checkpoint '{p}' is damaged or not a calolab checkpoint ({exc})"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DataError(f"'{p}' is not a calolab checkpoint")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise DataError(
            f"checkpoint '{p}' has format version {ckpt['format_version']}; this calolab reads "
            f"up to {FORMAT_VERSION}: upgrade calolab"
        )
    return ckpt


def check_compatible(stored: Mapping[str, Any], current: Mapping[str, Any], where: str) -> None:
    """Refuse to resume when the architecture, the detector or the data differ.

    ``stored`` and ``current`` are dicts with ``architecture_hash``, ``detector_hash``,
    ``detector_name``, ``data_hash``, ``model`` (the model config dict) and ``shapes``.
    """
    if stored.get("detector_hash") != current.get("detector_hash"):
        raise DataError(
            f"{where}: detector mismatch — the run was trained on detector "
            f"'{stored.get('detector_name')}' (hash {str(stored.get('detector_hash'))[:12]}), the "
            f"data now describe '{current.get('detector_name')}' (hash "
            f"{str(current.get('detector_hash'))[:12]}); resume with the original data or start "
            "a new run with another --output"
        )
    if stored.get("architecture_hash") != current.get("architecture_hash"):
        raise ConfigError(
            f"{where}: architecture mismatch — the run holds model {stored.get('model')} with "
            f"inputs {stored.get('shapes')}, the request is {current.get('model')} with inputs "
            f"{current.get('shapes')}; resume with the original model options or start a new "
            "run with another --output"
        )
    if stored.get("data_hash") != current.get("data_hash"):
        raise DataError(
            f"{where}: the training data changed (data hash {str(stored.get('data_hash'))[:12]} "
            f"→ {str(current.get('data_hash'))[:12]}); resume with the original file or start a "
            "new run with another --output"
        )
