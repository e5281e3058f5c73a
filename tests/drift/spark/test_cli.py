"""`infermedic drift ... --engine spark` end to end through the CLI (local mode)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from infermedic.cli.app import cli

from .conftest import PLANTED, PlantedPair


def test_spark_options_need_the_spark_engine(planted: PlantedPair) -> None:
    result = CliRunner().invoke(
        cli, ["drift", str(planted.reference), str(planted.current), "--spark-master", "local[1]"]
    )
    assert result.exit_code == 2
    assert "--spark-master need(s) --engine spark" in result.output


@pytest.mark.spark
def test_drift_engine_spark_cli_reports_the_planted_drift(
    spark_available: None, planted: PlantedPair, tmp_path: Path
) -> None:
    runner = CliRunner()
    spark = ["--engine", "spark", "--spark-master", "local[2]"]
    spark += ["--spark-conf", "spark.sql.shuffle.partitions=3"]
    result = runner.invoke(
        cli,
        ["drift", str(planted.reference), str(planted.current), *spark, "--format", "json"]
        + ["--exit-zero"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {(f["location"]["column_name"], f["code"]) for f in data["findings"]} == PLANTED
    assert data["measurements"]["engine"]["where"] == "Spark master local[2]"
    daily = tmp_path / "day0.profile"
    day = ["drift", "profile", str(planted.days[0]), *spark, "-o", str(daily)]
    result = runner.invoke(cli, day)
    assert result.exit_code == 0, result.output
    assert json.loads(daily.read_text())["engine"] == "spark"
    merged = tmp_path / "merged.profile"
    result = runner.invoke(
        cli, ["drift", "profile", "merge", str(daily), str(daily), "-o", str(merged)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(merged.read_text())["rows"] == 2 * json.loads(daily.read_text())["rows"]
