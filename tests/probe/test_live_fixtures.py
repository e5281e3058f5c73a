"""Every LIVE rule judged from recorded observations, with its exact expected findings.

Each `tests/fixtures/live/LIVE<NNN>_<case>.json` holds `observations` (a
`ProbeObservations` document; fields left out take their defaults), and `expect`: the
findings (endpoint, severity, message, effect) and the notifications (level, message,
under-powered) that the rule named by the file gives when run through the rule runner, its
coverage check included. A `*_ok.json` case must give no finding. A threshold is changed
here, with a failing fixture, not by re-running a server.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from infermedic.model import Effect
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules import RULES
from infermedic.probe.rules.coverage import unjudged_reason
from infermedic.runner import run_rules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "live"
CASES = sorted(FIXTURES.glob("LIVE*.json"))
RECORDED_RUN = FIXTURES / "probe_run_healthy_fastapi.json"


def _effect(effect: Effect | None) -> dict[str, Any] | None:
    if effect is None:
        return None
    return {
        "statistic": effect.statistic,
        "value": round(effect.value, 3),
        "threshold": effect.threshold,
        "strong": "inf" if math.isinf(effect.strong) else effect.strong,
    }


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_live_rule_fixture(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    code = path.stem.split("_")[0]
    [rule] = [r for r in RULES if r.code == code]
    observations = ProbeObservations.from_json(json.dumps(data["observations"]))
    outcome = run_rules([rule], observations, unjudged=unjudged_reason)
    assert not outcome.rules_failed
    found = [
        {
            "location": f.location.endpoint or f.location.url,
            "severity": f.severity.value,
            "message": f.message,
            "effect": _effect(f.effect),
        }
        for f in outcome.findings
    ]
    notes = [
        {"level": n.level.value, "message": n.message, "underpowered": n.underpowered}
        for n in outcome.notifications
    ]
    assert found == data["expect"]["findings"]
    assert notes == data["expect"]["notifications"]
    if path.stem.endswith("_ok"):
        assert not found


def test_every_live_rule_has_a_firing_and_an_ok_fixture() -> None:
    stems = [p.stem for p in CASES]
    for rule in RULES:
        mine = [s for s in stems if s.startswith(rule.code + "_")]
        assert any(s.endswith("_ok") for s in mine), f"{rule.code} has no _ok fixture"
        assert any(not s.endswith("_ok") for s in mine), f"{rule.code} has no firing fixture"


def test_a_recorded_run_round_trips_and_judges_the_same() -> None:
    """A whole in-process probe run of a healthy FastAPI service (tests/probe/fakes.py),
    recorded with `probe(..., on_observations=...)`: JSON → observations → JSON is exact,
    and every rule judges it without a finding."""
    text = RECORDED_RUN.read_text(encoding="utf-8")
    observations = ProbeObservations.from_json(text)
    assert observations.to_json() + "\n" == text
    outcome = run_rules(RULES, observations, unjudged=unjudged_reason)
    assert outcome.findings == ()
    assert outcome.rules_run == tuple(r.code for r in RULES)


def test_another_schema_version_is_refused() -> None:
    from infermedic.errors import InputError

    with pytest.raises(InputError, match="schema version 99"):
        ProbeObservations.from_json('{"schema_version": 99}')


def test_a_crashing_live_rule_leaves_a_partial_report_that_exits_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rule made to raise (the only way to crash a correct rule on purpose) becomes an error
    notification naming it; the report is partial and the CLI's exit code says so."""
    import httpx

    from infermedic.cli.exit_codes import ExitCode
    from infermedic.cli.output import emit_report
    from infermedic.model import NotificationLevel, Severity
    from infermedic.probe import CheckName, ProbePlan, probe
    from infermedic.probe.rules.model_version_mismatch import ModelVersionMismatch
    from infermedic.report import OutputFormat
    from tests.probe import fakes

    def broken(self: object, observations: object) -> list[object]:
        raise KeyError("model_versions")

    monkeypatch.setattr(ModelVersionMismatch, "check", broken)
    transport = httpx.ASGITransport(app=fakes.fastapi_app(), raise_app_exceptions=False)
    report = probe(
        "http://svc.test",
        ProbePlan(checks=frozenset({CheckName.CONTRACT})),
        transport=transport,
    )
    assert report.measurements["rules_failed"] == ["LIVE007"]
    assert report.measurements["status"] == "partial"
    [note] = [n for n in report.notifications if n.level is NotificationLevel.ERROR]
    assert note.rule == "LIVE007" and "KeyError" in note.message
    code = emit_report(report, fmt=OutputFormat.JSON, output=None, fail_on=Severity.HIGH)
    assert code is ExitCode.ERROR
