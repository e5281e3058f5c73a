"""`infermedic fix --apply` on services written unlike the demo's (see `services.py`).

Each fixed service must compile, import and serve, keep the comments and layout of the
files it edits, no longer show the fixed findings, and change nothing on a second run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infermedic.audit import audit
from tests.fix.helpers import run_cli, run_pytest, run_python
from tests.fix.services import (
    QUART_LIKE,
    QUART_STANDIN,
    STARLETTE_RAW,
    TORCH_ROUTE,
    git_commit_all,
    write,
)


def _apply(repo: Path, tmp_path: Path, *extra: str) -> str:
    result = run_cli("fix", str(repo), "--apply", "--audit-log", str(tmp_path / "log"), *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_starlette_raw_routes_helper_module_manifests_and_dockerfile(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", STARLETTE_RAW)
    git_commit_all(repo)
    codes = {"SVC001", "SVC004", "SVC009", "K8S001", "K8S002", "K8S003", "DKR002"}
    assert codes <= {f.code for f in audit([repo]).findings}

    out = _apply(repo, tmp_path)
    assert "refused" not in out, out
    app = (repo / "service/app.py").read_text()
    # three fixes composed in one file, each where the audit pointed
    assert 'scores = await run_in_threadpool(scoring.score, body["rows"])  # the model' in app
    # the audit also reports the sync call on the loop (SVC003): the timeout goes in first,
    # then the call moves to a thread with it
    assert (
        "await asyncio.to_thread(requests.get, FEATURES_URL, timeout=10)  # enrichment, best "
        "effort" in app
    )
    assert "debug=True" not in app and "    routes=[\n" in app
    manifest = (repo / "deploy/deployment.yaml").read_text()
    for comment in ("# the scoring deployment", "# same as readiness", "# scale on memory"):
        assert comment in manifest
    assert "name: cpu" in manifest and "name: memory" not in manifest
    scorer, batch = manifest.split("name: batch", 1)
    assert "readinessProbe:\n            httpGet:\n              path: /ready" in scorer
    assert (
        "livenessProbe:   # same as readiness\n            httpGet:\n              path: /health"
        in scorer
    )
    assert "path: /ready" in batch and "path: /health" in batch
    docker = (repo / "Dockerfile").read_text()
    assert docker.endswith("CMD uvicorn service.app:app --host 0.0.0.0 --port 8000\n")
    assert "# serve" in docker

    assert not codes & {f.code for f in audit([repo]).findings}
    served = run_python(
        repo,
        "from starlette.testclient import TestClient\n"
        "from service.app import app\n"
        "with TestClient(app) as client:\n"
        "    r = client.post('/predict', json={'rows': [[1, 0, 0], [-1, 0, 0]]})\n"
        "    scores = r.json()['scores']\n"
        "    assert r.status_code == 200 and scores[0] > 0.5 > scores[1], r.text\n"
        "    assert client.get('/ready').status_code == 200\n",
    )
    assert served.returncode == 0, served.stderr

    before = {p: p.read_text() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    second = _apply(repo, tmp_path)
    assert "nothing to fix" in second
    after = {p: p.read_text() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert before == after


@pytest.mark.slow
def test_non_starlette_app_gets_a_bounded_executor(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {**QUART_LIKE, **QUART_STANDIN})
    git_commit_all(repo)
    probe = (
        "import asyncio, threading, api\n"
        "out = asyncio.run(api.predict([[0.5, 1.0], [-2.0, 0.0]]))\n"
        "assert len(out['labels']) == 2\n"
        "print(api.CALLS[-1])\n"
    )
    unfixed = run_python(repo, probe)
    assert unfixed.returncode == 0 and unfixed.stdout.strip() == "MainThread", unfixed.stderr

    out = _apply(repo, tmp_path, "--select", "SVC001")
    text = (repo / "api.py").read_text()
    assert "run_in_threadpool" not in text
    assert 'ThreadPoolExecutor(max_workers=4, thread_name_prefix="model")' in text
    assert "await asyncio.get_running_loop().run_in_executor(_EXECUTOR, functools.partial(" in text
    assert "fix     SVC001" in out
    fixed = run_python(repo, probe)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.strip().startswith("model"), "the model call must leave the loop thread"
    assert not [f for f in audit([repo]).findings if f.code == "SVC001"]


@pytest.mark.slow
def test_torch_forward_and_per_request_load(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", TORCH_ROUTE)
    made = run_python(
        repo,
        "import joblib\nfrom sklearn.tree import DecisionTreeClassifier\n"
        "joblib.dump(DecisionTreeClassifier().fit([[0]*4, [1]*4], [0, 1]), "
        "'server/tree.joblib')\n",
    )
    assert made.returncode == 0, made.stderr
    git_commit_all(repo)
    out = _apply(repo, tmp_path, "--select", "SVC002,SVC008,SVC009")
    assert "refused" not in out, out
    text = (repo / "server/main.py").read_text()
    assert "    with torch.inference_mode():\n        out = net(tensor)\n" in text
    # a FastAPI app without a lifespan gets one; the model goes onto app.state
    assert "model = request.app.state.model" in text
    assert "    app.state.model = joblib.load(ARTIFACT)\n    yield\n" in text
    assert 'FastAPI(title="torch", lifespan=_lifespan)' in text
    assert "def tree(values: list[float], request: Request)" in text
    served = run_python(
        repo,
        "from fastapi.testclient import TestClient\n"
        "from server import main\n"
        "loads = []\n"
        "real = main.joblib.load\n"
        "main.joblib.load = lambda *a, **k: loads.append(a) or real(*a, **k)\n"
        "with TestClient(main.app) as client:\n"
        "    assert client.post('/score', json=[1, 2, 3, 4]).status_code == 200\n"
        "    for _ in range(3):\n"
        "        assert client.post('/tree', json=[1, 1, 1, 1]).json() == {'label': 1}\n"
        "assert len(loads) == 1, loads\n",
    )
    assert served.returncode == 0, served.stderr
    left = {f.code for f in audit([repo]).findings}
    assert not left & {"SVC002", "SVC008", "SVC009"}


@pytest.mark.slow
def test_every_generated_guard_fails_before_and_passes_after(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", STARLETTE_RAW)
    pristine = write(tmp_path / "pristine", STARLETTE_RAW)
    git_commit_all(repo)
    out = _apply(repo, tmp_path, "--tests")
    # Starlette raw routes have no request schema and no repo test posts a body: SVC001
    # gets the static guard only, said so
    assert (
        "static guard only (no request body for POST /predict: no OpenAPI schema, no repo "
        "test posts one)" in out
    ), out
    tests = sorted(p.relative_to(repo) for p in (repo / "tests/regression").glob("test_*.py"))
    codes = sorted(p.name.split("_")[1].upper() for p in tests)
    assert codes == ["DKR002", "K8S001", "K8S002", "K8S003", "SVC001", "SVC003", "SVC004", "SVC009"]
    for test in tests:
        write(pristine, {str(test): (repo / test).read_text()})
    after = run_pytest(repo, "tests/regression")
    assert after.returncode == 0 and f"{len(tests)} passed" in after.stdout, after.stdout
    before = run_pytest(pristine, "tests/regression")
    assert before.returncode == 1 and f"{len(tests)} failed" in before.stdout, before.stdout
