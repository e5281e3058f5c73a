"""`infermedic drift` with a DRIFT rule that crashes, and with `--select/--ignore`.

The crash is injected by replacing one real rule's `check` with one that raises (pytest's
monkeypatch): no real rule crashes on purpose, and the runner's isolation is what is tested.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from infermedic.cli.app import cli, main
from infermedic.drift.observations import DriftObservations
from infermedic.drift.rules.missing_rate_change import MissingRateChange
from infermedic.model import Finding


def _pair(write_parquet: Callable[[str, dict[str, object]], Path]) -> tuple[Path, Path]:
    rng = np.random.default_rng(7)
    n = 3000
    ref = write_parquet("ref.parquet", {"age": rng.normal(40, 10, n)})
    cur = write_parquet("cur.parquet", {"age": rng.normal(47, 10, n)})
    return ref, cur


def test_a_crashing_rule_is_named_and_the_exit_code_says_the_run_is_partial(
    tmp_path: Path,
    write_parquet: Callable[[str, dict[str, object]], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(self: MissingRateChange, observations: DriftObservations) -> Iterable[Finding]:
        raise KeyError("missing")

    monkeypatch.setattr(MissingRateChange, "check", broken)
    ref, cur = _pair(write_parquet)
    out = tmp_path / "drift.json"
    with pytest.raises(SystemExit) as exited:  # `main` exits with the recorded code
        main(["drift", str(ref), str(cur), "--output", str(out)])
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert "drift incomplete: rule(s) DRIFT005 failed" in stderr
    assert "Traceback" not in stderr
    report = json.loads(out.read_text())  # the report is still written, and names the rule
    assert report["measurements"]["status"] == "partial"
    assert report["measurements"]["rules_failed"] == ["DRIFT005"]
    errors = [n for n in report["notifications"] if n["level"] == "error"]
    assert [(n["rule"], n["message"]) for n in errors] == [
        ("DRIFT005", "rule DRIFT005 crashed: KeyError: 'missing'")
    ]
    assert [f["code"] for f in report["findings"]] == ["DRIFT001"]  # the others still judged
    with pytest.raises(SystemExit) as exited:
        main(["drift", str(ref), str(cur), "--exit-zero"])
    assert exited.value.code == 0


def test_select_runs_only_the_chosen_rules_and_a_typo_is_a_usage_error(
    write_parquet: Callable[[str, dict[str, object]], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref, cur = _pair(write_parquet)
    runner = CliRunner()
    chosen = runner.invoke(
        cli,
        [
            "drift",
            str(ref),
            str(cur),
            "--format",
            "json",
            "--select",
            "DRIFT00",
            "--ignore",
            "feature-distribution-shift",
        ],
    )
    data = json.loads(chosen.stdout)
    assert data["rules_run"] == [
        "DRIFT002",
        "DRIFT003",
        "DRIFT004",
        "DRIFT005",
        "DRIFT006",
        "DRIFT007",
    ]
    assert data["findings"] == []
    assert data["measurements"]["status"] == "complete"
    with pytest.raises(SystemExit) as exited:
        main(["drift", str(ref), str(cur), "--select", "DRIFT0001"])
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert "matches no rule" in stderr and "did you mean DRIFT001" in stderr
