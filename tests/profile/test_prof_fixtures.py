"""PROF rules judged from recorded worker results, with their exact expected findings.

Each `tests/fixtures/profile/PROF<NNN>_<case>.json` holds `results` (the worker's results,
phase by phase, as the parent receives them) and `expect`: the findings (message, severity,
fingerprint key) and notifications the rule named by the file gives through the rule runner
(with the engine's coverage: a rule none of whose phases ran is "not judged").
A `*_ok.json` case gives no finding. The base recordings are real quick profiles (a small
scikit-learn LogisticRegression and RandomForest, an eager torch MLP left in training mode)
on a busy host; the other cases change the numbers a pattern changes (README.md there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infermedic.errors import InputError
from infermedic.model import Location
from infermedic.profile.context import ProfileObservations
from infermedic.profile.engine import default_thresholds
from infermedic.profile.results import ProfileResults
from infermedic.profile.rules import RULES, unjudged_reason
from infermedic.runner import RuleOutcome, run_rules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "profile"
CASES = sorted(FIXTURES.glob("PROF*.json"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_prof_rule_fixture(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    [rule] = [r for r in RULES if r.code == path.stem.split("_")[0]]
    context = ProfileObservations(
        results=ProfileResults.from_phases(data["results"]),
        thresholds=default_thresholds(),
        location=Location(path="model.joblib"),
        action="infermedic profile model.joblib --input input.parquet --quick",
    )
    outcome = run_rules([rule], context, unjudged=unjudged_reason)
    assert not outcome.rules_failed
    # a rule whose phases did not run is not counted as judged (its note says why)
    assert (rule.code in outcome.rules_run) == (rule.code not in _unjudged_codes(outcome))
    found = [
        {"message": f.message, "severity": f.severity.value, "fingerprint_key": f.fingerprint_key}
        for f in outcome.findings
    ]
    notes = [{"level": n.level.value, "message": n.message} for n in outcome.notifications]
    assert found == data["expect"]["findings"]
    assert notes == data["expect"]["notifications"]
    assert bool(found) != path.stem.endswith("_ok")


def _unjudged_codes(outcome: RuleOutcome) -> set[str]:
    return {n.rule for n in outcome.notifications if n.underpowered and n.rule is not None}


def test_every_prof_rule_has_fixtures() -> None:
    """Each PROF rule has a firing case and an `_ok` case here, or (PROF013/PROF014, judged
    from py-spy samples) in ../live/."""
    live = {p.stem.split("_")[0] for p in (FIXTURES.parent / "live").glob("PROF*.json")}
    stems = [p.stem for p in CASES]
    covered = {
        rule.code
        for rule in RULES
        if any(s.startswith(rule.code + "_") and s.endswith("_ok") for s in stems)
        and any(s.startswith(rule.code + "_") and not s.endswith("_ok") for s in stems)
    }
    assert {r.code for r in RULES} - covered - live == set()


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_recorded_results_round_trip(path: Path) -> None:
    """The typed results hold every field the worker sent (nothing dropped at the boundary)
    and survive their own JSON form unchanged."""
    raw = json.loads(path.read_text(encoding="utf-8"))["results"]
    typed = ProfileResults.from_phases(raw)
    assert ProfileResults.from_json(typed.to_json()) == typed
    assert _present(typed.to_phases()) == _present(raw)


def _present(value: Any) -> Any:
    """`value` without the keys a recording left out and the typed form writes as empty."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_present(v) for v in value]
    return value


def test_results_of_another_schema_version_or_shape_are_an_input_error() -> None:
    text = ProfileResults().to_json().replace('"schema_version": 1', '"schema_version": 99')
    with pytest.raises(InputError, match="schema version 99"):
        ProfileResults.from_json(text)
    with pytest.raises(InputError, match="'gc' does not parse"):
        ProfileResults.from_phases({"gc": {"batch": "many"}})
    with pytest.raises(InputError, match="not an infermedic-profile-results"):
        ProfileResults.from_json('{"phases": {}}')


def test_a_saved_report_reads_back_as_typed_results() -> None:
    data = json.loads((FIXTURES / "PROF003_recorded_n_jobs.json").read_text(encoding="utf-8"))
    report = {"tool": "profile", "measurements": {"status": "complete", **data["results"]}}
    typed = ProfileResults.from_report(report)
    assert typed.threads is not None and typed.threads.cores == 2
    assert typed.batch_sweep is not None and typed.gc is None
