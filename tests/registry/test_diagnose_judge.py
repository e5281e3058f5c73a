""" "Predictions changed but we did not deploy", judged on a recorded registry check: the
alias move is the root cause, with the registry's timestamp as its evidence."""

from __future__ import annotations

from pathlib import Path

from infermedic.diagnose.hypotheses import CheckKind, Status, check_for_code
from infermedic.diagnose.model import CheckRun, CheckStatus
from infermedic.diagnose.plan import Inputs, plan_checks
from infermedic.diagnose.replay import judge, replay, save_observations
from infermedic.diagnose.router import route
from infermedic.registry import ServedVersion, judge_registry
from infermedic.registry.options import RegistryOptions
from infermedic.settings import Settings

from .recorded import snapshot

SYMPTOM = "predictions changed but we did not deploy"


def _registry_run(served: list[str]) -> CheckRun:
    report = judge_registry(
        snapshot(),
        served=[ServedVersion(source="X-Model-Version response header", version=v) for v in served],
        repo=None,
        options=RegistryOptions(),
        settings=Settings(),
    )
    return CheckRun(
        kind=CheckKind.REGISTRY,
        status=CheckStatus.RAN,
        command="infermedic probe http://127.0.0.1:8000 --checks contract --registry-model churn",
        report=report,
    )


def test_alias_move_is_the_root_cause(tmp_path: Path) -> None:
    diagnosis = judge(SYMPTOM, [_registry_run(["2"])], inputs={}, started_at=None, duration_s=None)
    root = diagnosis.root_cause
    assert root is not None and root.cause.key == "registry-alias-moved"
    assert root.status is Status.CONFIRMED
    (finding,) = [f for f in root.findings if f.code == "MON009"]
    timestamps = [e.values.get("creation_timestamp") for e in finding.evidence]
    assert "2026-11-30T08:26:40+00:00" in timestamps
    # a saved incident is judged the same way again
    saved = save_observations(diagnosis, tmp_path)
    again = replay(saved)
    assert again.root_cause is not None and again.root_cause.cause.key == "registry-alias-moved"


def test_registry_codes_belong_to_the_registry_check() -> None:
    assert check_for_code("MON009") is CheckKind.REGISTRY
    assert check_for_code("MON004") is CheckKind.AUDIT
    planned = plan_checks(route(SYMPTOM).categories, Inputs(model="models:/churn@champion"))
    registry = next(p for p in planned if p.kind is CheckKind.REGISTRY)
    assert registry.runnable and "give --url" in registry.reason
    planned = plan_checks(route(SYMPTOM).categories, Inputs(url="http://127.0.0.1:1"))
    registry = next(p for p in planned if p.kind is CheckKind.REGISTRY)
    assert not registry.runnable and "--registry-model" in registry.reason
