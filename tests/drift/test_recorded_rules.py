"""Every DRIFT rule on recorded observations: exact findings, `_ok` cases, the hard cases.

Each fixture in tests/fixtures/drift/ is `CODE[_variant][_ok].json`: the typed observations
of a real comparison of seeded data (recorded by `python -m tests.drift.recorded`), and the
findings (code, column, severity, message, what the evidence observed) and notifications
that the rule named by the file gives alone. A missing and an extra finding both fail; a
threshold change shows here as a changed expectation, without reading any data.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from infermedic.drift.compare import judge, selected_rules
from infermedic.drift.observations import DriftObservations
from infermedic.drift.options import DriftOptions
from infermedic.drift.rules import RULES
from infermedic.drift.rules.base import DriftRule
from infermedic.drift.rules.new_category import NewCategory
from infermedic.errors import ConfigError, DatasetError
from infermedic.model import Finding, NotificationLevel, Severity
from tests.drift.recorded import FIXTURES, SCENARIOS, judged, observations_of

NAMES = sorted(p.name for p in FIXTURES.glob("DRIFT*.json"))


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", NAMES)
def test_recorded_observations_give_exactly_the_expected_findings(name: str) -> None:
    fixture = load(name)
    code = name.split("_")[0].removesuffix(".json")
    assert code in {r.code for r in RULES}, f"{name} names no DRIFT rule"
    assert judged(fixture, code) == fixture["expect"]
    if name.endswith("_ok.json"):
        assert not fixture["expect"]["findings"], f"{name} is an _ok fixture but expects findings"
    else:
        assert fixture["expect"]["findings"], f"{name} expects nothing: name it *_ok"
        assert {f["code"] for f in fixture["expect"]["findings"]} == {code}


@pytest.mark.parametrize("name", NAMES)
def test_recorded_observations_round_trip_through_json(name: str) -> None:
    observations = observations_of(load(name))
    text = observations.to_json()
    again = DriftObservations.from_json(text)
    assert again.to_json() == text
    assert json.loads(text)["schema_version"] == 1
    # the typed values survive, not only their text (NaN aside, which never equals itself)
    assert [c.name for c in again.columns] == [c.name for c in observations.columns]
    assert again.reference == observations.reference and again.current == observations.current


def test_every_drift_rule_has_fixtures_with_findings_and_an_ok_case() -> None:
    for rule in RULES:
        mine = [n for n in NAMES if n.startswith(f"{rule.code}_")]
        assert any(n.endswith("_ok.json") for n in mine), f"{rule.code} has no _ok fixture"
        assert any(not n.endswith("_ok.json") for n in mine), f"{rule.code} has no finding"
    assert {f"{s.name}.json" for s in SCENARIOS} == set(NAMES), "a fixture has no recipe"


def test_the_hard_cases_are_recorded() -> None:
    tiny = [n for n in NAMES if "tiny_sample" in n]
    assert {n.split("_")[0] for n in tiny} >= {"DRIFT001", "DRIFT002", "DRIFT003", "DRIFT005"}
    for name in tiny:  # under-powered: never a finding, always a warning saying so
        fixture = load(name)
        assert not fixture["expect"]["findings"]
        assert any("little power" in n for n in fixture["expect"]["notifications"])
    assert load("DRIFT001_all_null_ok.json")["expect"]["findings"] == []
    assert [f["message"] for f in load("DRIFT005_all_null.json")["expect"]["findings"]] == [
        "income missing rate 0.00% -> 100.00%",
        "plan missing rate 0.00% -> 100.00%",
    ]
    rare = observations_of(load("DRIFT003_rare_new_category_ok.json"))
    shift = rare.columns[0].categorical
    assert shift is not None and shift.shift is not None
    assert shift.shift.new_share == pytest.approx(0.001)
    assert load("DRIFT006_numbers_to_text.json")["expect"]["findings"][0]["severity"] == "high"


def test_a_threshold_change_is_a_unit_test() -> None:
    """0.1% new rows pass the test at 20000 rows; the share floor alone keeps them quiet."""
    fixture = load("DRIFT003_rare_new_category_ok.json")
    lowered = {**fixture, "options": {"category_share_threshold": 0.0005}}
    findings = judged(lowered, "DRIFT003")["findings"]
    assert [(f["code"], f["column"]) for f in findings] == [("DRIFT003", "plan")]
    assert findings[0]["message"] == "plan: 1 category new in current: 'enterprise' (0.10%)"
    # Bonferroni instead of BH: the same p-values, stricter adjustment, stated in the evidence
    strict = {**load("DRIFT003_new_category.json"), "options": {"correction": "bonferroni"}}
    observed = judged(strict, "DRIFT003")["findings"][0]["observed"][0]
    assert "Bonferroni-adjusted" in observed


def test_prediction_columns_are_judged_by_drift002_only() -> None:
    """Distribution, new class and range findings on a model output are DRIFT002 itself;
    the input rules stay silent on it."""
    for name in ("DRIFT002_new_class.json", "DRIFT002_out_of_range.json"):
        comparison = judge(observations_of(load(name)))
        assert {f.code for f in comparison.findings} == {"DRIFT002"}
        keys = [f.fingerprint_key for f in comparison.findings]
        assert len(set(keys)) == len(keys)  # each its own finding, baselines keep them apart
    found = judge(observations_of(load("DRIFT002_new_class.json"))).findings
    assert [f.message for f in found] == [
        "label (prediction) category mix shifted: Jensen-Shannon 0.17",
        "label (prediction): 1 category new in current: 'reject' (5.66%)",
    ]
    assert {f.severity for f in found} == {Severity.HIGH}


class _Broken(DriftRule):
    """## What it does
    Raises, to test isolation.

    ## Why is this bad?
    It is a test double.

    ## How it's measured
    It is not.
    """

    code = "DRIFT999"
    name = "broken"
    severity = Severity.LOW
    summary = "Raises."

    def check(self, observations: DriftObservations) -> list[Finding]:
        raise ZeroDivisionError("division by zero")


def test_a_crashing_rule_is_a_notification_and_the_comparison_is_partial() -> None:
    observations = observations_of(load("DRIFT003_new_category.json"))
    comparison = judge(observations, rules=(_Broken, NewCategory))
    assert [f.code for f in comparison.findings] == ["DRIFT003"]  # the others still judge
    errors = [n for n in comparison.notifications if n.level is NotificationLevel.ERROR]
    assert [(n.rule, n.message) for n in errors] == [
        ("DRIFT999", "rule DRIFT999 crashed: ZeroDivisionError: division by zero")
    ]
    assert errors[0].underpowered  # its silence is no evidence for diagnose
    assert comparison.measurements["status"] == "partial"
    assert comparison.measurements["rules_failed"] == ["DRIFT999"]
    assert judge(observations).measurements["status"] == "complete"


def test_selection_matches_codes_names_and_prefixes_with_did_you_mean() -> None:
    assert [r.code for r in selected_rules(("DRIFT00",), ("new-category",))] == [
        "DRIFT001",
        "DRIFT002",
        "DRIFT004",
        "DRIFT005",
        "DRIFT006",
        "DRIFT007",
    ]
    assert selected_rules(("SVC001",)) == ()  # another domain's rule: no DRIFT rule runs
    with pytest.raises(ConfigError) as error:
        selected_rules(("DRIFT08",))
    assert error.value.hint is not None and "did you mean" in error.value.hint


def test_judging_again_with_other_options_needs_no_data() -> None:
    observations = observations_of(load("DRIFT001_mean_shift.json"))
    assert [f.code for f in judge(observations).findings] == ["DRIFT001"]
    stricter = observations.with_options(DriftOptions(psi_threshold=0.5, wasserstein_threshold=1))
    assert "DRIFT001" not in {f.code for f in judge(stricter).findings}


def test_damaged_or_foreign_observations_are_one_line_errors(tmp_path: Path) -> None:
    text = observations_of(load("DRIFT001_ok.json")).to_json()
    data = json.loads(text)
    with pytest.raises(DatasetError, match="schema 2"):
        DriftObservations.from_json(json.dumps({**data, "schema_version": 2}))
    with pytest.raises(DatasetError, match="not a drift observations file"):
        DriftObservations.from_json(json.dumps({"format": "something else"}))
    with pytest.raises(DatasetError, match="not JSON"):
        DriftObservations.from_json(text[:100])
    data["columns"][0]["missing"]["rows_current"] = "many"
    with pytest.raises(DatasetError, match=r"columns\.0\.missing\.rows_current"):
        DriftObservations.from_json(json.dumps(data))
    bad_options = {**json.loads(text), "options": {"alpha": 7}}
    with pytest.raises((DatasetError, ConfigError)):
        DriftObservations.from_json(json.dumps(bad_options))


def test_replacing_observations_keeps_them_frozen() -> None:
    observations = observations_of(load("DRIFT001_ok.json"))
    with pytest.raises(AttributeError):
        observations.columns = ()  # type: ignore[misc]
    assert replace(observations, targets=("y",)).targets == ("y",)
