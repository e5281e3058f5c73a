"""The CLI shell: version, help, rules/explain, and errors that become exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infermedic._version import __version__
from infermedic.rules import Registry


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real entry point in a subprocess: exit codes and stdout/stderr as a user sees."""
    return subprocess.run(
        [sys.executable, "-m", "infermedic", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_version_and_help() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout
    help_text = run_cli("--help").stdout
    for command in ("audit", "probe", "drift", "profile", "diagnose", "demo", "rules", "explain"):
        assert command in help_text


def test_rules_json_lists_the_catalogue() -> None:
    result = run_cli("rules", "--format", "json")
    assert result.returncode == 0
    listed = json.loads(result.stdout)
    assert [r["code"] for r in listed] == [r.code for r in Registry.default()]


def test_explain_unknown_rule_is_exit_2_with_a_hint() -> None:
    result = run_cli("explain", "NOPE999")
    assert result.returncode == 2
    assert "no rule matches 'NOPE999'" in result.stderr
    assert "hint:" in result.stderr


@pytest.mark.parametrize("query", [r.code for r in list(Registry.default())[:3]] or ["-"])
def test_explain_shows_the_docstring(query: str) -> None:
    if query == "-":
        pytest.fail("the rule catalogue is empty")
    result = run_cli("explain", query)
    assert result.returncode == 0
    assert "## What it does" in result.stdout


def test_unknown_option_is_a_usage_error() -> None:
    result = run_cli("rules", "--bogus")
    assert result.returncode == 2


@pytest.mark.parametrize(
    "command",
    [
        ("probe", "http://127.0.0.1:9"),
        ("audit", "."),
        ("diagnose", "slow", "--repo", "."),
        ("profile", "model.joblib"),
        ("drift", "ref.parquet", "cur.parquet"),
    ],
)
def test_a_selection_that_matches_no_rule_is_an_error_with_a_suggestion(
    command: tuple[str, ...],
) -> None:
    """A typo in --select must never run nothing and say "No findings" (probe once did)."""
    result = run_cli(*command, "--select", "LIVE07")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "matches no rule" in result.stderr and "did you mean LIVE007" in result.stderr
    assert "Traceback" not in result.stderr
