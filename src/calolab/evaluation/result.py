"""The result of an evaluation: a frozen dataclass saved as and loaded from ``metrics.json``.

:class:`EvaluationResult` is what ``calolab evaluate`` (:func:`calolab.evaluation.evaluate_run`)
hands to the report, the demo and the optimiser. It holds typed parts, each defined next to the
code that measures it:

* :class:`~calolab.evaluation.regression.RegressionResult` — global numbers, the
  :class:`~calolab.evaluation.regression.BinMetrics` of every bin of true energy and the
  :class:`~calolab.evaluation.fits.ResolutionFit`; once for the raw predictions and once after
  the bias correction (:class:`BiasCorrectionStatus`), and per group with ``--by``
  (:class:`GroupResult`);
* :class:`~calolab.evaluation.tracker.TrackerResult` — the combination with a toy tracker;
* :class:`~calolab.evaluation.classification.ClassificationResult` — accuracy, confusion
  matrix, AUC, working points and their energy dependence;
* :class:`EvaluationWarning` — what the sanity checks (:mod:`calolab.evaluation.checks`) found.

``metrics.json`` is indented, strict JSON (``null`` for an undefined value, never NaN) written
atomically by :func:`calolab.core.files.write_json`, with a ``format_version``
(:data:`FORMAT_VERSION`). :meth:`EvaluationResult.from_json` validates every field with
:func:`calolab.core.config.from_table` and refuses a damaged, foreign or outdated file with a
:class:`~calolab.core.errors.DataError` that names the file, the field and what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from calolab.core.config import from_table, read_json, to_table
from calolab.core.errors import CalolabError, DataError
from calolab.core.files import write_json
from calolab.evaluation.classification import ClassificationResult
from calolab.evaluation.regression import BiasCorrection, EnergyBinning, RegressionResult
from calolab.evaluation.tracker import TrackerResult

#: Version of the ``metrics.json`` layout (1: the untyped dict of calolab ≤ 0.2).
FORMAT_VERSION = 2

#: Warning codes and what each means (docs/regression.md lists them with their thresholds).
WARNING_CODES = {
    "response": "response outside the accepted range in a bin (raw predictions)",
    "energy-scale": "the median prediction does not follow the true energy",
    "bias-slope": "slope of the bias correction outside the accepted range",
    "bias-refused": "the bias correction is ill-conditioned and was not applied",
    "fit-quality": "resolution fit with χ²/ndf above the limit",
    "fit-limit": "a term of the resolution fit ends at its limit",
    "few-events": "energy bins with too few events",
    "non-physical": "a non-physical value (negative response or σ/E, combination worse than "
    "its inputs)",
}


@dataclass(frozen=True)
class EvaluationWarning:
    """A failed sanity check. ``part``: which measurement (``"raw"``, ``"corrected"``,
    ``"tracker"``, ``"bias correction"``, or a group such as ``"particle=e-"`` followed by
    one of those); ``e_lo``/``e_hi``: the energy bin (GeV) when the check is per bin;
    ``value``/``limit``: the offending number and the bound it crossed."""

    code: str
    message: str
    part: str = ""
    e_lo: float | None = None
    e_hi: float | None = None
    value: float | None = None
    limit: float | None = None

    def __post_init__(self) -> None:
        if self.code not in WARNING_CODES:
            raise DataError(
                f"unknown warning code {self.code!r}; known: {', '.join(WARNING_CODES)}"
            )

    def __str__(self) -> str:
        where = f"[{self.part}] " if self.part else ""
        return f"{where}{self.code}: {self.message}"


@dataclass(frozen=True)
class InferenceInfo:
    """Time of the model's forward passes over the test file (the feature pass that opens
    the file is not included)."""

    seconds: float
    events_per_second: float | None
    batch_size: int
    device: str
    note: str = ""


@dataclass(frozen=True)
class EnsembleSpread:
    """Mean standard deviation of the members' predictions (GeV) and relative to the
    prediction (0 for a single model)."""

    members: int
    mean_spread: float
    mean_rel_spread: float | None


@dataclass(frozen=True)
class BiasCorrectionStatus:
    """The bias correction of the run: ``fit`` (``None`` when it could not be fitted),
    whether it was ``applied`` to the test predictions, what it was fitted on (``source``)
    and, when it was not applied, why (``reason``)."""

    fit: BiasCorrection | None
    applied: bool
    source: str
    reason: str = ""


@dataclass(frozen=True)
class GroupResult:
    """The measurement of the events whose truth field ``field`` has the value ``value``
    (``--by``; ``value`` is a particle name for ``--by particle``, a range for a binned
    continuous field)."""

    field: str
    value: str
    n_events: int
    raw: RegressionResult
    corrected: RegressionResult | None = None

    @property
    def label(self) -> str:
        return f"{self.field}={self.value}"


@dataclass(frozen=True)
class EvaluationResult:
    """Everything ``calolab evaluate`` measured on one test file with one run.

    ``raw`` holds the regression numbers of the predictions as the model gives them (the sum
    of cells keeps its scale); ``corrected`` the same after the bias correction when it was
    applied; ``best`` is what comparisons use (the corrected numbers when present).
    ``warnings`` lists the failed sanity checks; :attr:`flagged` is true when there is any,
    and :attr:`passes_response_check` says whether the model may be ranked at all.
    """

    task: Literal["regression", "classification"]
    model: str
    dataset: str
    run: str
    n_events: int
    format_version: int = FORMAT_VERSION
    model_config: dict[str, Any] = field(default_factory=dict)
    detector: str | None = None
    calolab_version: str = ""
    data_hash: str | None = None
    run_config_hash: str | None = None
    members: int = 1
    inference: InferenceInfo | None = None
    peak_memory_mb: float | None = None
    binning: EnergyBinning = field(default_factory=EnergyBinning)
    warnings: tuple[EvaluationWarning, ...] = ()
    raw: RegressionResult | None = None
    corrected: RegressionResult | None = None
    bias_correction: BiasCorrectionStatus | None = None
    ensemble: EnsembleSpread | None = None
    tracker: TrackerResult | None = None
    by: str | None = None
    groups: tuple[GroupResult, ...] = ()
    classification: ClassificationResult | None = None

    def __post_init__(self) -> None:
        if self.task not in ("regression", "classification"):
            raise DataError(f"task {self.task!r} must be 'regression' or 'classification'")
        if self.task == "regression" and self.raw is None:
            raise DataError("a regression result needs its 'raw' measurement")
        if self.task == "classification" and self.classification is None:
            raise DataError("a classification result needs its 'classification' part")

    # ------------------------------------------------------------------ reading it
    @property
    def best(self) -> RegressionResult | None:
        """The numbers to compare resolutions on: after the bias correction when it was
        applied (an additive offset such as the β of α·sum + β changes σ/⟨E⟩ but not the
        energy measurement), else the raw ones."""
        return self.corrected if self.corrected is not None else self.raw

    @property
    def flagged(self) -> bool:
        return bool(self.warnings)

    @property
    def passes_response_check(self) -> bool:
        """No response, energy-scale or non-physical warning: the model measures energy, so
        its resolution may be ranked."""
        bad = {"response", "energy-scale", "non-physical"}
        return not any(w.code in bad for w in self.warnings)

    @property
    def core_resolution(self) -> float | None:
        """Mean Gaussian-core σ/E over the bins of :attr:`best` (the ranking number)."""
        b = self.best
        return b.core_resolution if b is not None else None

    def warnings_of(self, part: str) -> tuple[EvaluationWarning, ...]:
        return tuple(w for w in self.warnings if w.part == part)

    # ------------------------------------------------------------------ files
    def to_table(self) -> dict[str, Any]:
        """Plain JSON values (``format_version`` first, for a reader of the file)."""
        table = to_table(self)
        return {"format_version": table.pop("format_version"), **table}

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write ``metrics.json`` (indented strict JSON, atomically)."""
        return write_json(path, self.to_table(), ensure_ascii=False, what="metrics file")

    @staticmethod
    def from_table(table: Any, where: str = "metrics") -> EvaluationResult:
        """Build and validate a result from a JSON table (raises :class:`DataError`)."""
        if not isinstance(table, dict):
            raise DataError(f"{where} holds a JSON {type(table).__name__}, expected an object")
        version = table.get("format_version")
        if version is None:
            raise DataError(
                f"{where} has no format_version: it was written by calolab 0.2 or older, or by "
                "another tool; run 'calolab evaluate' again to rewrite it"
            )
        if version != FORMAT_VERSION:
            newer = isinstance(version, int) and version > FORMAT_VERSION
            raise DataError(
                f"{where} has format_version {version!r}; this calolab reads version "
                f"{FORMAT_VERSION}"
                + ("; update calolab" if newer else "; run 'calolab evaluate' again")
            )
        try:
            return from_table(EvaluationResult, table, where)
        except CalolabError as exc:
            raise DataError(f"{exc} (the file is damaged or edited by hand)") from None

    @staticmethod
    def from_json(path: str | os.PathLike[str]) -> EvaluationResult:
        """Read and validate ``metrics.json``."""
        where = f"metrics file '{path}'"
        try:
            table = read_json(path, "metrics file")
        except CalolabError as exc:
            raise DataError(str(exc)) from None
        return EvaluationResult.from_table(table, where)


__all__ = [
    "FORMAT_VERSION",
    "WARNING_CODES",
    "BiasCorrectionStatus",
    "EnsembleSpread",
    "EvaluationResult",
    "EvaluationWarning",
    "GroupResult",
    "InferenceInfo",
]
