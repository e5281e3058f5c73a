"""`infermedic demo` subcommands through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from infermedic.cli.demo_cmd import demo
from infermedic.demo.scenarios import SCENARIOS
from infermedic.demo.service import running_scenario


def test_list_json_is_the_scenario_metadata() -> None:
    result = CliRunner().invoke(demo, ["list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [item["name"] for item in listed] == list(SCENARIOS)
    assert listed[1]["expected_codes"] == list(SCENARIOS[listed[1]["name"]].expected_codes)


def test_list_table_names_every_scenario() -> None:
    result = CliRunner().invoke(demo, ["list"])
    assert result.exit_code == 0
    for name in SCENARIOS:
        assert name in result.output


def test_write_creates_the_repository_and_refuses_to_clobber(tmp_path: Path) -> None:
    target = tmp_path / "svc"
    first = CliRunner().invoke(demo, ["write", "global-lock", str(target)])
    assert first.exit_code == 0, first.output
    assert json.loads((target / "scenario.json").read_text())["name"] == "global-lock"
    again = CliRunner().invoke(demo, ["write", "global-lock", str(target)])
    assert again.exit_code != 0
    unknown = CliRunner().invoke(demo, ["write", "no-such", str(tmp_path / "other")])
    assert unknown.exit_code == 2


@pytest.mark.server
def test_traffic_reports_what_the_service_answered(tmp_path: Path) -> None:
    with running_scenario("no-validation", tmp_path / "repo") as service:
        result = CliRunner().invoke(
            demo,
            ["traffic", "no-validation", service.url, "--requests", "12", "--concurrency", "2"],
        )
    assert result.exit_code == 0, result.output
    assert "sent 12 requests" in result.output
    assert "200: 12" in result.output
