"""`infermedic fix --apply --tests` on the demo scenarios with a static cause.

For each: the fix is applied in a clean git repo, the files compile and import, the audit
no longer reports the fixed code, a second run changes nothing, the generated regression
test fails on the code before the fix and passes after it, and the audit log records the
mode of each run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infermedic.demo.repository import write_scenario
from tests.fix.helpers import git_status, imports, log_entries, run_cli, run_pytest
from tests.fix.services import git_commit_all

# scenario -> (code fixed, file the fix edits, text the fixed file contains)
CASES = {
    "blocking-predict": ("SVC001", "app/main.py", "await run_in_threadpool(score_customer, "),
    "load-per-request": ("SVC002", "app/main.py", "model = request.app.state.model"),
    "slow-upstream": ("SVC004", "app/enrichment.py", "timeout=10"),
    "blocking-log": ("SVC003", "app/main.py", 'await asyncio.to_thread(state["sink"].write'),
    "explainer-per-request": ("XPL001", "app/main.py", "= _cached_PermutationExplainer()"),
    "cold-start": ("SVC011", "app/main.py", "    get_model()  # `infermedic fix` SVC011\n"),
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(CASES))
def test_fix_applies_verifies_and_guards(scenario: str, tmp_path: Path) -> None:
    code, edited, expected = CASES[scenario]
    repo = write_scenario(scenario, tmp_path / "repo")
    pristine = tmp_path / "pristine"
    shutil.copytree(repo, pristine)
    git_commit_all(repo)
    log = tmp_path / "ops" / "audit.jsonl"

    proposed = run_cli("fix", str(repo), "--select", code, "--audit-log", str(log))
    assert proposed.returncode == 0, proposed.stderr
    assert "mode: propose" in proposed.stdout and f"+++ b/{edited}" in proposed.stdout
    assert git_status(repo) == "", "propose must write nothing"

    applied = run_cli(
        "fix", str(repo), "--select", code, "--apply", "--tests", "--audit-log", str(log)
    )
    assert applied.returncode == 0, applied.stderr
    assert "mode: apply-in-dev" in applied.stdout and "Review before committing" in applied.stdout
    text = (repo / edited).read_text()
    assert expected in text
    compile(text, edited, "exec")
    loaded = imports(repo, edited.removesuffix(".py").replace("/", "."))
    assert loaded.returncode == 0, loaded.stderr
    # the re-audit inside `fix` finds nothing with that code left to fix or refuse
    again = run_cli("fix", str(repo), "--select", code, "--apply", "--audit-log", str(log))
    assert again.returncode == 0 and "nothing to fix" in again.stdout, again.stdout
    assert (repo / edited).read_text() == text, "a second run must change nothing"

    tests = sorted((repo / "tests" / "regression").glob(f"test_{code.lower()}_*.py"))
    assert len(tests) == 1
    relative = str(tests[0].relative_to(repo))
    after = run_pytest(repo, relative)
    assert after.returncode == 0, after.stdout + after.stderr
    (pristine / relative).parent.mkdir(parents=True)
    shutil.copy(tests[0], pristine / relative)
    before = run_pytest(pristine, relative)
    assert before.returncode == 1, before.stdout + before.stderr
    assert code in before.stdout
    if code == "SVC001":  # the behavioural test too: /health answers while predict is held
        assert "health_answers_during_predict" in tests[0].read_text()
        assert "2 passed" in after.stdout and "2 failed" in before.stdout, before.stdout
        assert "ran on the event loop thread" in before.stdout
    if code == "SVC011":  # the behavioural test too: start-up loads the model
        assert "2 passed" in after.stdout and "2 failed" in before.stdout, before.stdout
        assert "start-up never called get_model" in before.stdout

    modes = [entry["mode"] for entry in log_entries(log)]
    assert modes == ["propose", "apply-in-dev", "apply-in-dev"]
    assert log_entries(log)[1]["fixes"][0]["code"] == code  # type: ignore[index]
