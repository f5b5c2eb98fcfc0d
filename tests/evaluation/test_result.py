"""metrics.json: the typed result round-trips, stays readable, and damaged files are refused."""

from __future__ import annotations

import json

import pytest

from calolab.core.errors import DataError
from calolab.evaluation import EvaluationResult, EvaluationWarning
from calolab.evaluation.result import FORMAT_VERSION
from tests.results import classification_result, regression_metrics, regression_part


@pytest.fixture
def result():
    return regression_metrics(
        "mlp",
        0.1,
        0.02,
        0.01,
        "test.h5",
        corrected=regression_part(0.09, 0.0, 0.01),
        warnings=(EvaluationWarning("few-events", "2 bins below 50 events", "raw"),),
    )


def test_round_trip_and_readable_file(tmp_path, result):
    path = result.to_json(tmp_path / "metrics.json")
    assert EvaluationResult.from_json(path) == result
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert list(data)[0] == "format_version" and data["format_version"] == FORMAT_VERSION
    assert "\n  " in text  # indented
    assert data["raw"]["bins"][0]["e_lo"] == 2.0 and data["warnings"][0]["code"] == "few-events"
    # non-ASCII text stays readable (not \\u escapes)
    w = EvaluationWarning("fit-quality", "χ²/ndf = 153/3 > 5", "raw")
    p2 = EvaluationResult(**{**result.__dict__, "warnings": (w,)}).to_json(tmp_path / "m2.json")
    assert "χ²/ndf" in p2.read_text(encoding="utf-8")
    cls = classification_result("test.h5")
    assert EvaluationResult.from_json(cls.to_json(tmp_path / "c.json")) == cls


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("format_version"), "no format_version"),
        (lambda d: d.update(format_version=1), "format_version 1"),
        (lambda d: d.update(format_version=99), "update calolab"),
        (lambda d: d["raw"]["bins"][0].update(n="many"), r"raw\.bins\[0\]: n 'many' must be"),
        (lambda d: d["raw"].update(rmse=None), "rmse None must be a number"),
        (lambda d: d.update(colour="blue"), "unknown key"),
        (lambda d: d["warnings"][0].update(code="odd"), "unknown warning code"),
        (lambda d: d.update(task="ranking"), "must be one of regression"),
        (lambda d: d.pop("raw"), "needs its 'raw'"),
        (lambda d: d["binning"].update(edges=[5, 1]), "increase strictly"),
    ],
)
def test_damaged_files_are_refused_with_a_clear_error(tmp_path, result, edit, message):
    data = result.to_table()
    edit(data)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=message):
        EvaluationResult.from_json(path)


def test_unreadable_files(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"format_version": 2, "task": ')
    with pytest.raises(DataError, match="not valid JSON"):
        EvaluationResult.from_json(path)
    path.write_text('{"format_version": 2, "rmse": NaN}')
    with pytest.raises(DataError, match="NaN is not allowed"):
        EvaluationResult.from_json(path)
    path.write_text("[1, 2]")
    with pytest.raises(DataError, match="expected an object"):
        EvaluationResult.from_json(path)
    with pytest.raises(DataError, match="does not exist"):
        EvaluationResult.from_json(tmp_path / "missing.json")


def test_flags_and_ranking_properties(result):
    assert result.flagged and result.passes_response_check  # few events only
    assert result.best is result.corrected
    assert result.core_resolution == pytest.approx(result.corrected.core_resolution)
    bad = EvaluationResult(
        **{
            **result.__dict__,
            "warnings": (EvaluationWarning("response", "4.5 at 65 GeV", "raw", value=4.5),),
        }
    )
    assert not bad.passes_response_check
