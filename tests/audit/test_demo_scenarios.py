"""Every demo scenario, written out and audited: the static faults its metadata names, and
nothing else (the healthy service audits clean)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infermedic.audit import audit
from infermedic.demo.repository import write_scenario
from infermedic.demo.scenarios import SCENARIOS
from infermedic.model import NotificationLevel


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_audit_finds_exactly_the_planted_static_faults(name: str, tmp_path: Path) -> None:
    scenario = SCENARIOS[name]
    root = write_scenario(scenario, tmp_path / name)
    report = audit([root])
    found = {f.code for f in report.findings}
    described = [
        f"{f.code} {f.location.path}:{f.location.line} {f.message}" for f in report.findings
    ]
    assert found == set(scenario.static_codes), described
    errors = [n for n in report.notifications if n.level is NotificationLevel.ERROR]
    assert not errors, errors
    for finding in report.findings:
        # Found in a file the fault was planted in, or on a call chain that starts there (a
        # blocking call in the shared `churn.py`, reached from the faulty route).
        where = [finding.location.path or "", *(e.action for e in finding.evidence)]
        assert any(f in w for f in scenario.fault_files for w in where), described


def test_healthy_service_audits_clean(tmp_path: Path) -> None:
    report = audit([write_scenario("healthy", tmp_path / "healthy")])
    assert report.findings == ()
    loud = {NotificationLevel.WARNING, NotificationLevel.ERROR}
    assert not [n for n in report.notifications if n.level in loud]
    # the instrumented app's probe routes are known, so K8S003 had something to check against
    assert {"/livez", "/readyz"} <= {r["path"] for r in report.measurements["routes"]}
