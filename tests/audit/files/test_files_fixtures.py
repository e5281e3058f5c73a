"""Each fixture's findings match its inline `# expect:` comments exactly, per rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from filerules_support import (
    FIXTURES,
    actual_findings,
    expected_findings,
    fixture_code,
    project_for_fixture,
    run,
)

from infermedic.rules import Registry

DOMAINS = ("dockerfile", "k8s", "deps", "repo")
FIXTURE_PATHS = sorted(
    p for domain in DOMAINS for p in (FIXTURES / domain).glob("*") if not p.name.startswith(".")
)


@pytest.mark.parametrize("fixture", FIXTURE_PATHS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_findings_match_expectations(fixture: Path, tmp_path: Path) -> None:
    code = fixture_code(fixture)
    rule = Registry.default().get(code)
    assert rule is not None, f"{fixture.name}: no rule {code}"
    project = project_for_fixture(fixture, tmp_path)
    findings = run(rule, project)
    expected = expected_findings(project, code)
    actual = actual_findings(findings)
    is_ok = fixture.name.split(".")[0].endswith("_ok")
    if is_ok:
        assert not expected, f"{fixture.name} is an _ok fixture but carries expectations"
    else:
        assert expected, f"{fixture.name} has no expectation; name it *_ok if it is clean"
    missing = expected - actual
    extra = actual - expected
    messages = {(f.location.path, f.location.line): f.message for f in findings}
    assert not missing and not extra, (
        f"missing: {sorted(missing, key=str)}\n"
        f"unexpected: {[(k, messages.get((k[0], k[1]))) for k in sorted(extra, key=str)]}"
    )


def test_every_file_rule_has_a_flagged_and_a_clean_fixture() -> None:
    codes = {fixture_code(p) for p in FIXTURE_PATHS}
    ok_codes = {fixture_code(p) for p in FIXTURE_PATHS if "_ok" in p.name}
    prefixes = ("DKR", "K8S", "PKG", "REP")
    ours = {r.code for r in Registry.default() if r.code.startswith(prefixes)}
    assert ours <= codes
    assert ours <= ok_codes
