"""The drift report's first line: a dataset-level verdict, judged on recorded observations."""

from __future__ import annotations

import json
from pathlib import Path

from infermedic.drift.compare import judge
from tests.drift.recorded import FIXTURES, observations_of


def _headline(name: str) -> str:
    fixture = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return judge(observations_of(fixture)).headline


def test_a_shifted_feature_is_counted_and_named() -> None:
    line = _headline("DRIFT001_mean_shift.json")
    observations = observations_of(json.loads((FIXTURES / "DRIFT001_mean_shift.json").read_text()))
    features = [c for c in observations.columns if not c.is_output]
    assert line.startswith(f"1 of {len(features)} columns drifted ("), line


def test_a_shifted_model_output_says_predictions_shifted() -> None:
    assert "predictions shifted" in _headline("DRIFT002_new_class.json")


def test_unchanged_data_says_no_drift() -> None:
    for name in ("DRIFT001_ok.json", "DRIFT005_ok.json"):
        assert _headline(name).startswith("No drift in"), name


def test_schema_changes_are_counted_apart() -> None:
    assert "schema changed in" in _headline("DRIFT006_removed_added.json")


def test_every_format_shows_the_headline_first(tmp_path: Path) -> None:
    from infermedic.model import Report
    from infermedic.report import OutputFormat, render

    report = Report(tool="drift", headline="2 of 9 columns drifted (age, plan)")
    for fmt in (OutputFormat.TERMINAL, OutputFormat.MARKDOWN, OutputFormat.HTML):
        text = render(report, fmt)
        assert "2 of 9 columns drifted (age, plan)" in text, fmt
    data = json.loads(render(report, OutputFormat.JSON))
    assert data["headline"] == "2 of 9 columns drifted (age, plan)"
