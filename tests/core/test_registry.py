"""The rule catalogue: every rule is well formed, and lookups by code, name, prefix and
checklist item work."""

from __future__ import annotations

import re

import pytest

from infermedic.errors import ConfigError
from infermedic.model import Severity
from infermedic.rules import Registry, Rule, validate_rule

REGISTRY = Registry.default()


class GoodRule(Rule):
    """## What it does
    Checks for x.

    ## Why is this bad?
    Slow.

    ## Example
    ```python
    bad()
    ```

    Use instead:
    ```python
    good()
    ```
    """

    code = "TST001"
    name = "test-rule"
    severity = Severity.LOW
    summary = "a test rule"
    checklist = ("D-21/22",)


class BadRule(Rule):
    """No sections at all."""

    code = "tst2"
    name = "Bad_Name"
    severity = Severity.LOW
    summary = "bad"


def test_validation_names_each_problem() -> None:
    assert validate_rule(GoodRule) == []
    problems = " ".join(validate_rule(BadRule))
    assert "code does not look like" in problems
    assert "not kebab-case" in problems
    assert "lacks `## What it does`" in problems


def test_registry_rejects_duplicates_and_bad_docs() -> None:
    with pytest.raises(ConfigError, match="duplicate code TST001"):
        Registry((GoodRule, GoodRule))
    with pytest.raises(ConfigError, match="invalid rule catalogue"):
        Registry((BadRule,))


def test_lookup_by_code_name_prefix_and_checklist() -> None:
    registry = Registry((GoodRule,))
    assert registry.resolve("tst001") == [GoodRule]
    assert registry.resolve("test-rule") == [GoodRule]
    assert registry.resolve("TST") == [GoodRule]
    assert registry.resolve("D-22") == [GoodRule] and registry.resolve("D-21") == [GoodRule]
    assert registry.resolve("D-23") == []


def test_select_and_ignore_reject_typos() -> None:
    registry = Registry((GoodRule,))
    assert registry.select(["TST"], ["TST001"]) == []
    with pytest.raises(ConfigError, match="matches no rule"):
        registry.select(["SVX"])
    with pytest.raises(ConfigError, match="matches no rule"):
        registry.select([], ["NOPE999"])


@pytest.mark.parametrize("rule", list(REGISTRY), ids=lambda r: r.code)
def test_every_catalogued_rule_is_well_formed(rule: type[Rule]) -> None:
    assert validate_rule(rule) == []
    assert REGISTRY.resolve(rule.code) == [rule]
    for item in rule.checklist:
        first = re.match(r"D-\d{2}", item)
        assert first is not None and rule in REGISTRY.resolve(first.group(0))
