"""The one rule runner: selection over the catalogue, per-rule isolation, coverage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infermedic.errors import ConfigError
from infermedic.model import Finding, Location, Notification, NotificationLevel, Severity
from infermedic.probe.rules import RULES as LIVE_RULES
from infermedic.rules import Rule
from infermedic.runner import run_rules, select_rules


class _Base(Rule):
    """## What it does
    Test rule.

    ## Why is this bad?
    Test.

    ## How it's measured
    Test.
    """

    severity = Severity.LOW
    summary = "test"
    measured = True


class Fires(_Base):
    code = "TST901"
    name = "fires"

    def check(self, observations: Any) -> Iterator[Finding | Notification]:
        yield self.finding(Location(url="http://x"), f"saw {observations['value']}")
        yield Notification(level=NotificationLevel.NOTE, rule=self.code, message="a note")


class Crashes(_Base):
    code = "TST902"
    name = "crashes"

    def check(self, observations: Any) -> Iterator[Finding]:
        yield self.finding(Location(url="http://x"), "half done")
        raise ZeroDivisionError("boom")


class Unjudged(_Base):
    code = "TST903"
    name = "unjudged"

    def check(self, observations: Any) -> Iterator[Finding]:
        raise AssertionError("never called: its phase did not run")


def test_a_crashing_rule_is_a_notification_and_makes_the_run_partial() -> None:
    outcome = run_rules(
        [Fires, Crashes, Unjudged],
        {"value": 3},
        unjudged=lambda code, _: "its phase did not run" if code == "TST903" else None,
    )
    assert [f.message for f in outcome.findings] == ["saw 3"]  # the crashed rule's half is gone
    assert outcome.rules_run == ("TST901", "TST902")
    assert outcome.rules_failed == ("TST902",)
    assert outcome.status() == {"status": "partial", "rules_failed": ["TST902"]}
    by_rule = {n.rule: n for n in outcome.notifications}
    assert by_rule["TST902"].level is NotificationLevel.ERROR
    assert "TST902 crashed: ZeroDivisionError: boom" in by_rule["TST902"].message
    assert by_rule["TST903"].underpowered
    assert by_rule["TST903"].message == "TST903 not judged: its phase did not run"
    assert by_rule["TST901"].message == "a note"


def test_selection_is_resolved_against_the_whole_catalogue() -> None:
    assert [r.code for r in select_rules(LIVE_RULES, ["LIVE003"])] == ["LIVE003"]
    assert select_rules(LIVE_RULES, ["SVC001"]) == []  # another domain's rule: none of ours
    assert "LIVE003" not in {r.code for r in select_rules(LIVE_RULES, ignore=["cold-start"])}
    with pytest.raises(ConfigError, match="LIVE07") as caught:
        select_rules(LIVE_RULES, ["LIVE07"])  # a typo is a usage error, not "no findings"
    assert caught.value.hint is not None and "LIVE007" in caught.value.hint
