"""`fix --apply --tests` on services nothing in the project resembles (`services_unseen`), and
every fixer's generated regression test run against the code before and after its fix.

Each repo is fixed once (module-scoped): every changed Python file must parse and import
in a fresh interpreter, the app must serve under a real server (uvicorn, gunicorn) on
127.0.0.1, the audit must no longer report any fixed finding, a second run must change
nothing, and each refusal must say why. Then, for every fixer, the regression tests it wrote
pass on the fixed repo and fail on a pristine copy of the original; the behavioural ones
fail for the behavioural reason (the event loop blocked, the model loaded twice, the answer
waiting for the log, no readiness gate), not only because the static guard does.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from infermedic.audit import audit
from infermedic.fix.engine import plan
from infermedic.fix.regression import import_name
from infermedic.settings import Settings
from tests.fix import services_unseen as unseen
from tests.fix.helpers import git_status, run_cli, run_python
from tests.fix.services import TORCH_ROUTE, git_commit_all, write
from tests.fix.services_more import FASTAPI_STATE, PSI_MONITOR
from tests.fix.serving import serve


@dataclass(frozen=True)
class Service:
    files: dict[str, str]
    target: str  # what the server runs, `pkg.module:app`
    import_root: str  # the folder the target is imported from
    health: str
    predict: tuple[str, str, Any]  # method, path, JSON body
    fixed: frozenset[str]
    refused: tuple[tuple[str, str], ...] = ()  # (code, words of the reason)
    wsgi: bool = False
    setup: str = ""  # a script run in the repo before the first commit (artifacts)
    extra: dict[str, int] = field(default_factory=dict)  # GET path -> status once serving


SERVICES = {
    "router_src": Service(
        files=unseen.ROUTER_SRC,
        target="ranker.app:app",
        import_root="src",
        health="/health",
        predict=("POST", "/v1/rank", {"rows": [[1.0, 2.0, 0.0], [-1.0, -2.0, 0.0]]}),
        # the model (`RANKER`, loaded at import) lives in ranker/model.py, two imports
        # below the app's module: /ready reads it through that module
        fixed=frozenset({"SVC001", "SVC002", "SVC003", "SVC005", "SVC010"}),
        extra={"/ready": 200},
    ),
    "starlette_mount": Service(
        files=unseen.STARLETTE_MOUNT,
        target="scoring.server:app",
        import_root=".",
        health="/healthz",
        predict=("POST", "/api/score", {"rows": [[2.0, 2.0, 0.0]]}),
        fixed=frozenset({"SVC001", "SVC010"}),
        extra={"/ready": 200},
    ),
    "flask_blueprint": Service(
        files=unseen.FLASK_BLUEPRINT,
        target="webapp.main:app",
        import_root=".",
        health="/health",
        predict=("POST", "/p/predict", {"features": [1.0, 0.0]}),
        fixed=frozenset({"SVC002", "SVC004", "SVC005", "SVC009"}),
        refused=(
            ("SVC002", "depends on values of the request or route (name)"),
            # its body is read with `request.get_json()`: SVC006's fix is for FastAPI only
            ("SVC006", "a Flask/Quart route: validate `request.get_json()`"),
        ),
        wsgi=True,
    ),
    "deploy_set": Service(
        files=unseen.DEPLOY_SET,
        target="app.web:app",
        import_root=".",
        health="/health",
        predict=("POST", "/predict?value=2", None),
        fixed=frozenset({"DKR002", "K8S001", "K8S002", "K8S003"}),
    ),
    "refusals": Service(
        files=unseen.REFUSALS,
        target="svc.two:app",
        import_root=".",
        health="/health",
        predict=("POST", "/predict", [[0.0, 1.0]]),
        fixed=frozenset(),
        refused=(
            ("SVC001", "generated_api.py is generated code: fix its generator instead"),
            ("SVC009", "generated_api.py is generated code"),
            ("SVC001", "ambiguous: `predict` calls 2 different `predict` (first.predict, "),
        ),
    ),
}

# The fixers the unseen services do not reach, on services of the project's other tests
MIXED = {**TORCH_ROUTE, **unseen.TORCH_EXAMPLE, **PSI_MONITOR, **FASTAPI_STATE, **unseen.EXPLAINER}
MIXED_SETUP = (
    "import joblib\nfrom sklearn.tree import DecisionTreeClassifier\n"
    "from sklearn.dummy import DummyClassifier\n"
    "joblib.dump(DecisionTreeClassifier().fit([[0] * 4, [1] * 4], [0, 1]), 'server/tree.joblib')\n"
    "joblib.dump(DummyClassifier().fit([[0], [1]], [0, 1]), 'svc/model.joblib')\n"
)

# code -> the words a behavioural test's failure says on the code before the fix
BEHAVIOUR_BEFORE = {
    "SVC001": "ran on the event loop thread",
    "SVC002": "the second prediction loaded the model again",
    "SVC002 at once": "4 first requests at once loaded the model 4 times",
    "SVC005": "the answer waited for",
    "SVC010": "answers 404 once started",
}
BEHAVIOUR_TEST = {  # code -> how its behavioural test's name ends
    "SVC001": "_health_answers_during_predict",
    "SVC002": "_second_prediction_loads_nothing",
    "SVC002 at once": "_concurrent_first_requests_load_once",
    "SVC005": "_answer_does_not_wait_for_the_log",
    "SVC010": "_ready_waits_for_load_and_warm_up",
}
EVERY_FIXER = (
    *("SVC001", "SVC002", "SVC003", "SVC004", "SVC005", "SVC008", "SVC009", "SVC010"),
    *("XPL001", "K8S001", "K8S002", "K8S003", "DKR002", "MON001"),
)


@dataclass
class Fixed:
    repo: Path
    pristine: Path
    first: str  # the first run's output
    second: str  # the second run's output
    unchanged: bool  # the second run left every file as the first left it
    log: list[dict[str, Any]]


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(errors="replace")
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts and "__pycache__" not in p.parts
    }


def _fix(name: str, files: dict[str, str], setup: str, base: Path) -> Fixed:
    repo, pristine = base / name, base / f"{name}-before"
    for root in (repo, pristine):
        write(root, files)
        if setup:
            made = run_python(root, setup)
            assert made.returncode == 0, made.stderr
    git_commit_all(repo)
    log = base / f"{name}.jsonl"
    first = run_cli("fix", str(repo), "--apply", "--tests", "--audit-log", str(log))
    assert first.returncode == 0, first.stderr
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, timeout=60)
    before = _snapshot(repo)
    second = run_cli("fix", str(repo), "--apply", "--allow-dirty", "--audit-log", str(log))
    assert second.returncode == 0, second.stderr
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    return Fixed(repo, pristine, first.stdout, second.stdout, before == _snapshot(repo), lines)


@pytest.fixture(scope="module")
def fixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fixed]:
    base = tmp_path_factory.mktemp("unseen")
    repos = {name: _fix(name, s.files, s.setup, base) for name, s in SERVICES.items()}
    repos["mixed"] = _fix("mixed", MIXED, MIXED_SETUP, base)
    return repos


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_unseen_service_parses_imports_serves_and_stays_fixed(
    name: str, fixed: dict[str, Fixed]
) -> None:
    service, done = SERVICES[name], fixed[name]
    repo = done.repo
    made = {entry["code"] for entry in done.log[0]["fixes"]}
    assert made == service.fixed, done.first
    refused = [(r["code"], r["reason"]) for r in done.log[0]["refused"]]
    for code, words in service.refused:
        assert any(c == code and words in reason for c, reason in refused), done.first
    assert len(refused) == len(service.refused), refused
    # every changed Python file parses, and imports in a fresh interpreter
    changed = [
        line[3:]
        for line in git_status(repo).splitlines()
        if line[3:].endswith(".py") and not line[3:].startswith("tests/")
    ]
    for relpath in changed:
        ast.parse((repo / relpath).read_text(), relpath)
        folder, module = import_name(repo, relpath)
        loaded = run_python(repo, f"import {module}", folder)
        assert loaded.returncode == 0, f"{relpath}: {loaded.stderr}"
    # the audit no longer reports any finding that was fixed
    fixed_prints = {entry["fingerprint"] for entry in done.log[0]["fixes"]}
    assert not fixed_prints & {f.fingerprint for f in audit([repo]).findings}
    # a second run changes nothing
    assert done.unchanged, done.second
    assert not done.log[1]["fixes"], done.second
    # it serves: health, a prediction, the routes the fix added
    method, path, body = service.predict
    with serve(
        repo / service.import_root, service.target, service.health, wsgi=service.wsgi
    ) as url:
        answer = httpx.request(method, url + path, json=body, timeout=60.0)
        assert answer.status_code == 200, answer.text
        for extra, status in service.extra.items():
            assert httpx.get(url + extra, timeout=60.0).status_code == status


def _junit(root: Path, where: Path) -> dict[str, tuple[bool, str]]:
    """`test file name::test name -> (passed, failure text)` of `pytest tests/regression`."""
    report = where.with_suffix(".xml")
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/regression"]
        + [f"--junitxml={report}", "-o", "junit_family=xunit1"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    results: dict[str, tuple[bool, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        key = f"{case.get('file', case.get('classname', ''))}::{case.get('name')}"
        results[key] = (
            bad is None,
            "" if bad is None else (bad.get("message") or "") + (bad.text or ""),
        )
    return results


@pytest.fixture(scope="module")
def regression_runs(
    fixed: dict[str, Fixed], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[bool, bool, str]]:
    """`repo/test file::test -> (passed after, passed before, failure text before)`."""
    reports = tmp_path_factory.mktemp("junit")
    runs: dict[str, tuple[bool, bool, str]] = {}
    for name, done in fixed.items():
        if not (done.repo / "tests" / "regression").is_dir():
            continue  # nothing was fixed there
        for test in (done.repo / "tests" / "regression").glob("test_*.py"):
            relative = test.relative_to(done.repo)
            (done.pristine / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(test, done.pristine / relative)
        after = _junit(done.repo, reports / f"{name}-after")
        before = _junit(done.pristine, reports / f"{name}-before")
        assert after.keys() == before.keys(), (after, before)
        for key, (passed, _text) in after.items():
            runs[f"{name}/{key}"] = (passed, before[key][0], before[key][1])
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("code", EVERY_FIXER)
def test_every_generated_test_fails_before_and_passes_after(
    code: str, regression_runs: dict[str, tuple[bool, bool, str]]
) -> None:
    mine = {key: run for key, run in regression_runs.items() if f"test_{code.lower()}_" in key}
    assert mine, f"no regression test was written for {code}"
    for key, (after, before, _why) in mine.items():
        assert after, f"{key} fails on the fixed code"
        assert not before, f"{key} passes on the code before the fix"
    for kind, ending in BEHAVIOUR_TEST.items():
        if kind.split()[0] != code:
            continue
        behavioural = {k: run for k, run in mine.items() if k.endswith(ending)}
        assert behavioural, f"no behavioural test for {kind}"
        for key, (_after, _before, why) in behavioural.items():
            assert BEHAVIOUR_BEFORE[kind] in why, f"{key} failed before for another reason: {why}"


DIRECT_AND_CHAIN = {
    "two.py": """import numpy as np
from fastapi import FastAPI
from sklearn.dummy import DummyClassifier, DummyRegressor

from helpers import Judge

app = FastAPI()
classifier = DummyClassifier().fit(np.zeros((4, 2)), [0, 1, 0, 1])
judge = Judge(DummyRegressor().fit(np.zeros((4, 2)), [0.0, 1.0, 0.0, 1.0]))


@app.post("/predict")
async def predict(rows: list[list[float]]) -> dict[str, float]:
    labels = classifier.predict(rows)
    return {"score": float(judge.predict(labels))}
""",
    "helpers.py": """import numpy as np


class Judge:
    def __init__(self, model):
        self.model = model

    def predict(self, labels):
        return self.model.predict(np.asarray([[float(sum(labels)), 0.0]]))[0]
""",
}


def test_a_chain_step_named_like_a_direct_model_call_is_fixed_in_one_run(tmp_path: Path) -> None:
    """`classifier.predict` (the model, in the route) and `judge.predict` (a chain to a model)
    share a name: the direct call is wrapped first, then the chain's step is found alone, so
    the first run fixes both and a second finds nothing (it once refused, then fixed)."""
    repo = write(tmp_path, DIRECT_AND_CHAIN)
    first = plan(repo, Settings(select=("SVC001",)), ("SVC001",))
    assert not first.refusals, first.refusals
    text = first.texts["two.py"][1]
    assert "labels = await run_in_threadpool(classifier.predict, rows)" in text
    assert "float(await run_in_threadpool(judge.predict, labels))" in text
    write(repo, {"two.py": text})
    again = plan(repo, Settings(select=("SVC001",)), ("SVC001",))
    assert not again.changes and not again.refusals
