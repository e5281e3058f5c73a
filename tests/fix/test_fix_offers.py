"""`diagnose` offers the `infermedic fix` command for its root cause, only when fix really
makes a verified fix for a finding of that run (a dry run; nothing is written)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from infermedic.demo.repository import write_scenario
from tests.fix.helpers import git_status, run_cli
from tests.fix.services import git_commit_all


def _diagnose(repo: Path, symptom: str, tmp_path: Path, fmt: str) -> str:
    out = tmp_path / f"report.{fmt}"
    done = run_cli(
        "diagnose",
        symptom,
        "--repo",
        str(repo),
        "--format",
        {"md": "markdown"}.get(fmt, fmt),
        "--output",
        str(out),
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
        cwd=tmp_path,
    )
    assert done.returncode in (0, 1), done.stderr
    return out.read_text()


@pytest.mark.slow
def test_diagnose_offers_the_fix_command_in_every_format(tmp_path: Path) -> None:
    repo = write_scenario("blocking-predict", tmp_path / "repo")
    git_commit_all(repo)
    command = f"infermedic fix {shlex.quote(str(repo))} --select SVC001"
    terminal = run_cli(
        "diagnose",
        "p99 latency spikes",
        "--repo",
        str(repo),
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
        cwd=tmp_path,
    )
    assert f"mechanical fix (SVC001): {command}" in terminal.stdout.replace("\n", "")
    assert f"`{command}` — SVC001" in _diagnose(repo, "p99 latency spikes", tmp_path, "md")
    assert f"<code>{command}</code> — SVC001" in _diagnose(repo, "latency", tmp_path, "html")
    data = json.loads(_diagnose(repo, "p99 latency spikes", tmp_path, "json"))
    offers = data["measurements"]["diagnosis"]["fixes"]
    assert [o["code"] for o in offers] == ["SVC001"] and offers[0]["command"] == command
    entries = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert entries[-1]["fixes_available"] == [command]
    assert git_status(repo) == "", "the dry run must write nothing"


@pytest.mark.slow
def test_no_offer_when_fix_has_no_fix_for_the_root_cause(tmp_path: Path) -> None:
    # no-validation's root cause is SVC006 (a raw dict body): its fix is refused, as the
    # repo's tests post no example body to build the schema from, so nothing is offered
    repo = write_scenario("no-validation", tmp_path / "repo")
    data = json.loads(_diagnose(repo, "intermittent 500 errors", tmp_path, "json"))
    diagnosis = data["measurements"]["diagnosis"]
    assert diagnosis["root_cause"] is not None
    assert {e["code"] for e in diagnosis["root_cause"]["evidence"]} == {"SVC006"}
    assert diagnosis["fixes"] == []
    assert "infermedic fix" not in _diagnose(repo, "intermittent 500 errors", tmp_path, "md")
