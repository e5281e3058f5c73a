"""The DRIFT rules are in the catalogue with the measured-rule docs."""

from __future__ import annotations

from infermedic.drift.rules import RULES
from infermedic.rules import Registry


def test_drift_rules_are_registered_with_their_codes_and_names() -> None:
    registry = Registry.default()
    expected = {
        "DRIFT001": "feature-distribution-shift",
        "DRIFT002": "prediction-distribution-shift",
        "DRIFT003": "new-category",
        "DRIFT004": "vanished-category",
        "DRIFT005": "missing-rate-change",
        "DRIFT006": "schema-change",
        "DRIFT007": "out-of-range-values",
    }
    assert {r.code: r.name for r in RULES} == expected
    for code in expected:
        rule = registry.get(code)
        assert rule is not None and rule.measured
        assert "How it's measured" in rule.sections()
