"""Every file rule's `## Example` triggers it and its `Use instead:` does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from filerules_support import make_project, run, write_files

from infermedic.audit.project import AuditProject
from infermedic.rules import Registry, Rule, code_blocks

FILE_RULES = [r for r in Registry.default() if r.code.startswith(("DKR", "K8S", "PKG", "REP"))]


def _project_for(rule: type[Rule], language: str, body: str, root: Path) -> AuditProject:
    if rule.code.startswith("REP"):
        listed = [line.strip() for line in body.splitlines() if line.strip() and "$" not in line]
        write_files(root, dict.fromkeys(listed, "{}\n"))
        return make_project(root, tracked=tuple(listed))
    name = {"dockerfile": "Dockerfile", "yaml": "deploy.yaml", "text": "requirements.txt"}
    write_files(root, {name[language]: body})
    return make_project(root)


@pytest.mark.parametrize("rule", FILE_RULES, ids=lambda r: r.code)
def test_example_triggers_and_use_instead_does_not(rule: type[Rule], tmp_path: Path) -> None:
    example = rule.sections()["Example"]
    before, _, after = example.partition("Use instead:")
    ((bad_language, bad),) = code_blocks(before)
    good_language, good = code_blocks(after)[0]
    assert bad_language == good_language
    bad_findings = run(rule, _project_for(rule, bad_language, bad, tmp_path / "bad"))
    assert bad_findings, f"{rule.code}: the Example does not trigger the rule"
    assert all(f.code == rule.code for f in bad_findings)
    good_findings = run(rule, _project_for(rule, good_language, good, tmp_path / "good"))
    assert good_findings == [], [f.message for f in good_findings]


@pytest.mark.parametrize("rule", FILE_RULES, ids=lambda r: r.code)
def test_metadata(rule: type[Rule]) -> None:
    assert rule.fix and rule.risk and rule.summary
    module = rule.__module__.rsplit(".", 1)[-1]
    assert module == rule.name.replace("-", "_")
