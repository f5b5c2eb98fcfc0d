"""Find and read the calolab outputs a report is built from.

A report accepts any mix of:

* detector designs: preset names (``course_pbwo4``) or detector TOML files;
* datasets: HDF5 files written by ``calolab simulate`` (or CaloChallenge files);
* training runs: directories holding ``history.csv`` (columns ``epoch, train_loss, val_loss,
  lr, seconds``), with ``config.json``, ``summary.json`` and ``weights.csv`` (per-epoch
  weights of a per-layer calibration: ``epoch, w0, w1, ..., bias``) when present;
* evaluations: ``metrics.json`` files written by ``calolab evaluate``, read as
  :class:`~calolab.evaluation.result.EvaluationResult` (validated field by field; a damaged
  or outdated file is skipped with a note);
* directories, searched recursively for all of the above.

Reading never stops at a damaged or incomplete file: the file is skipped and a
:class:`Note` says why, so that the report can show what it could not use. Only an input that
does not exist at all is an error (most likely a typo on the command line).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calolab.core.errors import CalolabError, DataError
from calolab.core.files import is_regular_file
from calolab.evaluation.regression import BinMetrics
from calolab.evaluation.result import EvaluationResult
from calolab.geometry.detector import Calorimeter

log = logging.getLogger(__name__)

DATASET_SUFFIXES = (".h5", ".hdf5")
#: Columns of ``history.csv`` (the contract of ``calolab train``); ``epoch`` is required,
#: the others are used when present.
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "lr", "seconds")


@dataclass(frozen=True)
class Note:
    """Something the report could not use, and why."""

    source: str
    message: str


@dataclass(frozen=True)
class DetectorInput:
    """A detector design, from a preset name, a TOML file or a dataset file."""

    source: str
    detector: Calorimeter


@dataclass(frozen=True)
class DatasetInput:
    """A dataset file and its summary (:func:`calolab.data.summary.summarize`)."""

    path: Path
    summary: dict[str, Any]
    detector: Calorimeter | None

    @property
    def label(self) -> str:
        parts = ", ".join(self.summary.get("particles", {}) or {}) or "?"
        return f"{self.path.name} ({parts})"

    @property
    def particles(self) -> str:
        return " + ".join(self.summary.get("particles", {}) or {}) or "unknown"


@dataclass(frozen=True)
class RunInput:
    """A training run directory: per-epoch history plus its config and summary."""

    path: Path
    history: dict[str, list[float]]
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    detector: str | None = None
    weights: dict[str, list[float]] | None = None

    @property
    def task(self) -> str:
        task = self.summary.get("task") or (self.config.get("config") or {}).get("task")
        return str(task) if task else "regression"

    @property
    def model(self) -> str:
        for d in (self.summary, self.config):
            m = d.get("model")
            if isinstance(m, str):
                return m
            if isinstance(m, dict) and isinstance(m.get("name", m.get("kind")), str):
                return str(m.get("name", m.get("kind")))
        return self.path.name

    @property
    def title(self) -> str:
        """The model's display name, marking classifiers."""
        from calolab.report.compare import model_title

        name = model_title(self.model)
        return f"{name} classifier" if self.task == "classification" else name

    @property
    def label(self) -> str:
        return f"{self.detector} · {self.title}" if self.detector else self.title


@dataclass(frozen=True)
class EvalInput:
    """An evaluation: ``metrics.json`` (as an :class:`EvaluationResult`) and the PNG files
    next to it."""

    path: Path
    result: EvaluationResult
    detector: str | None = None
    dataset: str | None = None
    particles: str | None = None
    pngs: tuple[Path, ...] = ()

    @property
    def task(self) -> str:
        return self.result.task

    @property
    def model(self) -> str:
        m = self.result.model
        if m:
            return Path(m).name if os.sep in m else m
        return self.path.parent.name

    @property
    def group(self) -> str:
        """What evaluations are compared on: the same detector and test sample."""
        det = self.detector or "unknown detector"
        return f"{det} · {self.particles}" if self.particles else det

    @property
    def bins(self) -> tuple[BinMetrics, ...]:
        """The measured bins of the numbers compared (bias-corrected when applied)."""
        best = self.result.best
        return best.bins if best is not None else ()


@dataclass
class ReportInputs:
    """Everything found in the inputs, plus notes on what could not be used."""

    detectors: list[DetectorInput] = field(default_factory=list)
    datasets: list[DatasetInput] = field(default_factory=list)
    runs: list[RunInput] = field(default_factory=list)
    evaluations: list[EvalInput] = field(default_factory=list)
    comparisons: list[Any] = field(default_factory=list)  # report.showers.ComparisonInput
    notes: list[Note] = field(default_factory=list)
    #: design studies: (StudyResults, confirm.json or None), see calolab.report.optimization
    studies: list[Any] = field(default_factory=list)

    @property
    def regressions(self) -> list[EvalInput]:
        return [e for e in self.evaluations if e.task == "regression"]

    @property
    def classifications(self) -> list[EvalInput]:
        return [e for e in self.evaluations if e.task == "classification"]

    def note(self, source: object, message: str) -> None:
        log.warning("report: %s: %s", source, message)
        self.notes.append(Note(str(source), message))

    def all_detectors(self) -> list[Calorimeter]:
        """Unique detectors (by hash) from designs and datasets, in input order."""
        seen: dict[str, Calorimeter] = {}
        for d in self.detectors:
            seen.setdefault(d.detector.hash, d.detector)
        for ds in self.datasets:
            if ds.detector is not None:
                seen.setdefault(ds.detector.hash, ds.detector)
        return list(seen.values())


# ---------------------------------------------------------------------------- readers
def read_history(path: Path) -> dict[str, list[float]]:
    """Read ``history.csv`` into columns of floats (NaN for empty cells).

    Raises
    ------
    DataError
        The file has no ``epoch`` column, no rows, or a value that is not a number.
    """
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            if "epoch" not in fields:
                raise DataError(
                    f"'{path}': no 'epoch' column (columns: {', '.join(fields) or 'none'}); "
                    f"expected {', '.join(HISTORY_COLUMNS)}"
                )
            cols: dict[str, list[float]] = {f: [] for f in fields if f}
            for lineno, row in enumerate(reader, start=2):
                for key, value in row.items():
                    if key is None or not key.strip():
                        continue
                    key = key.strip()
                    text = (value or "").strip()
                    try:
                        cols[key].append(float(text) if text else math.nan)
                    except ValueError:
                        raise DataError(
                            f"'{path}', line {lineno}: column '{key}' value {text!r} is not a number"
                        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"'{path}' cannot be read ({exc})") from None
    if not cols["epoch"]:
        raise DataError(f"'{path}' has a header but no epochs")
    return cols


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object; :class:`DataError` if it is not one."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"'{path}' cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"'{path}' is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise DataError(f"'{path}' holds a JSON {type(data).__name__}, expected an object")
    return data


# ---------------------------------------------------------------------------- discovery
def _classify(path: Path) -> str | None:
    name = path.name
    if name.endswith(".partial"):
        return None
    if path.suffix.lower() in DATASET_SUFFIXES:
        # per-event predictions written by calolab evaluate next to its metrics.json
        if name == "predictions.h5" and (path.parent / "metrics.json").exists():
            return None
        return "dataset"
    if name == "metrics.json":
        return "metrics"
    if name == "history.csv":
        return "history"
    if name == "study.json":
        return "study"
    if name == "compare.json":
        return "comparison"
    if path.suffix.lower() == ".toml":
        return "detector"
    return None


def _walk(root: Path, found: ReportInputs | None = None) -> Iterable[Path]:
    """Files under ``root``; FIFOs, devices and sockets are skipped with a note (they are
    never opened: reading a FIFO named ``*.h5`` would wait forever)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            path = Path(dirpath) / f
            if not is_regular_file(path):
                if found is not None and _classify(path) is not None and path.exists():
                    found.note(path, "skipped: not a regular file (a FIFO, device or socket)")
                continue
            yield path


def collect(inputs: Sequence[str | os.PathLike[str]], max_events: int = 5_000) -> ReportInputs:
    """Find and read the calolab outputs named by ``inputs``.

    Parameters
    ----------
    inputs:
        Files, directories (searched recursively) and detector preset names.
    max_events:
        Events read per dataset for its summary (energy range, particles, visible fraction).

    Raises
    ------
    DataError
        An input is neither an existing path nor a detector preset name, or nothing was given.
    """
    from calolab.geometry.presets import PRESETS, preset

    if not inputs:
        raise DataError("no inputs given; name dataset files, run or eval directories, or presets")
    found = ReportInputs()
    files: list[tuple[str, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            kinds = [(k, f) for f in _walk(p, found) if (k := _classify(f))]
            if not kinds:
                found.note(p, "directory holds no calolab outputs (.h5, metrics.json, history.csv)")
            files.extend(kinds)
        elif p.is_file():
            kind = _classify(p)
            if kind is None:
                found.note(
                    p,
                    "not a calolab output (expected a .h5 dataset, metrics.json, history.csv, "
                    "a detector .toml or a directory); ignored",
                )
            else:
                files.append((kind, p))
        elif p.exists():  # a FIFO, a device, a socket: never opened
            found.note(p, "skipped: not a regular file (a FIFO, device or socket)")
        elif str(item) in PRESETS:
            found.detectors.append(DetectorInput(str(item), preset(str(item))))
        else:
            raise DataError(
                f"report input '{item}' does not exist and is not a detector preset "
                f"({', '.join(PRESETS)}); check the path"
            )
    from calolab.report.optimization import add_study, inside_study

    ordered: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    files = [(k, f) for k, f in files if k == "study" or not inside_study(f)]
    for kind, f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            ordered.append((kind, f))
    for kind, f in ordered:
        if kind == "detector":
            _add_detector(found, f)
    for kind, f in ordered:
        if kind == "dataset":
            _add_dataset(found, f, max_events)
    for kind, f in ordered:
        if kind == "history":
            _add_run(found, f)
    for kind, f in ordered:
        if kind == "metrics":
            _add_eval(found, f)
        elif kind == "study":
            add_study(found, f.parent)
        elif kind == "comparison":
            from calolab.report.showers import read_comparison

            try:
                found.comparisons.append(read_comparison(f))
            except CalolabError as exc:
                found.note(f, str(exc))
    return found


def _add_detector(found: ReportInputs, path: Path) -> None:
    from calolab.geometry.io import load_detector

    try:
        found.detectors.append(DetectorInput(str(path), load_detector(str(path))))
    except CalolabError as exc:
        found.note(path, f"not a usable detector file: {exc}")
    except Exception as exc:  # TOML of something else entirely
        found.note(path, f"not a detector file ({type(exc).__name__}: {exc})")


def _add_dataset(found: ReportInputs, path: Path, max_events: int) -> None:
    from calolab.data.hdf5 import ShowerFile
    from calolab.data.summary import summarize

    try:
        summary = summarize(str(path), max_events=max_events)
        with ShowerFile(path) as f:
            det = f.detector
    except CalolabError as exc:
        found.note(path, f"dataset skipped: {exc}")
        return
    except (OSError, KeyError, ValueError) as exc:
        found.note(path, f"dataset skipped: cannot be read ({type(exc).__name__}: {exc})")
        return
    found.datasets.append(DatasetInput(path, summary, det))


def _dataset_info(found: ReportInputs, ref: object, base: Path) -> tuple[str | None, str] | None:
    """``(detector name, particles)`` of the dataset a run or evaluation refers to.

    ``ref`` is a path, absolute or relative to the working directory or to one of the
    directories above ``base``; a dataset among the inputs with the same file name is used
    when the path does not resolve. Files that are not among the inputs are opened only to
    read their detector and particles.
    """
    if not isinstance(ref, str) or not ref:
        return None
    by_path = {ds.path.resolve(): ds for ds in found.datasets}
    for cand in [Path(ref)] + [d / ref for d in (base, *base.parents)]:
        try:
            if not cand.is_file():
                continue
            resolved = cand.resolve()
        except OSError:
            continue
        ds = by_path.get(resolved)
        if ds is not None:
            return (ds.detector.name if ds.detector else None, ds.particles)
        return _peek_dataset(resolved)
    matches = [ds for ds in found.datasets if ds.path.name == Path(ref).name]
    if len(matches) == 1:
        ds = matches[0]
        return (ds.detector.name if ds.detector else None, ds.particles)
    return None


def _peek_dataset(path: Path) -> tuple[str | None, str] | None:
    import numpy as np

    from calolab.core.particles import particle_name
    from calolab.data.hdf5 import ShowerFile

    try:
        with ShowerFile(path) as f:
            name = f.detector.name if f.detector is not None else None
            pdg = f.rows("calolab/truth/pdg") if "calolab/truth/pdg" in f.f else np.zeros(0)
    except (CalolabError, OSError, KeyError, ValueError):
        return None
    names = [particle_name(int(p)) for p in np.unique(pdg) if p]
    return (name, " + ".join(names) or "unknown")


def _detector_name(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return str(value["name"])
    return None


def _add_run(found: ReportInputs, history_path: Path) -> None:
    run_dir = history_path.parent
    try:
        history = read_history(history_path)
    except DataError as exc:
        found.note(history_path, f"training curve omitted: {exc}")
        return
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for name, target in (("config.json", config), ("summary.json", summary)):
        p = run_dir / name
        if p.exists():
            try:
                target.update(read_json(p))
            except DataError as exc:
                found.note(p, f"ignored: {exc}")
    detector = (
        _detector_name(summary.get("detector"))
        or _detector_name(config.get("detector"))
        or _detector_name(config.get("detector_name"))  # calolab train writes this
    )
    inner = config.get("config")
    data = inner.get("data") if isinstance(inner, dict) else None
    if detector is None and isinstance(data, dict):
        info = _dataset_info(found, data.get("path"), run_dir)
        detector = info[0] if info else None
    for d in (config, summary):
        for key in ("data", "dataset", "train_data", "train"):
            if detector is None:
                info = _dataset_info(found, d.get(key), run_dir)
                detector = info[0] if info else None
    weights = None
    if (run_dir / "weights.csv").exists():
        try:
            weights = read_history(run_dir / "weights.csv")
        except DataError as exc:
            found.note(run_dir / "weights.csv", f"weight trajectories omitted: {exc}")
    found.runs.append(RunInput(run_dir, history, config, summary, detector, weights))


def _add_eval(found: ReportInputs, path: Path) -> None:
    try:
        result = EvaluationResult.from_json(path)
    except CalolabError as exc:
        found.note(path, f"evaluation omitted: {exc}")
        return
    info = _dataset_info(found, result.dataset, path.parent)
    detector = result.detector or (info[0] if info else None)
    particles = info[1] if info else None
    pngs = tuple(sorted(p for p in path.parent.glob("*.png")))
    found.evaluations.append(
        EvalInput(
            path,
            result,
            detector=detector,
            dataset=result.dataset or None,
            particles=particles,
            pngs=pngs,
        )
    )
