"""The SVC005, SVC010, MON001 fixes and SVC002's lifespan form, on demo scenarios and on
services written unlike them (`services_more.py`: Flask, Starlette in a src/ layout, FastAPI
with app.state, FastAPI with on_event, PSI code).

Each fixed repo must compile, import and serve, no longer show the finding, change nothing
on a second run, and its generated regression test must fail on the code before the fix and
pass after it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infermedic.demo.repository import write_scenario
from tests.fix.helpers import findings, run_cli, run_pytest, run_python
from tests.fix.services import git_commit_all, write
from tests.fix.services_more import (
    FASTAPI_ON_EVENT,
    FASTAPI_STATE,
    FLASK_LOGGING,
    PSI_MONITOR,
    SRC_STARLETTE,
)


def _fix(repo: Path, tmp_path: Path, codes: str, *extra: str) -> str:
    done = run_cli(
        "fix", str(repo), "--select", codes, "--apply", "--audit-log", str(tmp_path / "log"), *extra
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _model(root: Path, relpath: str, kind: str, rows: str) -> None:
    """Train a small seeded model and save it where the service loads it."""
    module = "sklearn.tree" if kind.startswith("Decision") else "sklearn.dummy"
    made = run_python(
        root,
        f"import joblib\nfrom {module} import {kind}\n"
        f"joblib.dump({kind}().fit({rows}, [0, 1]), {relpath!r})\n",
    )
    assert made.returncode == 0, made.stderr


def _guarded(repo: Path, pristine: Path, code: str) -> None:
    """The regression tests written for `code` pass on `repo` and fail on `pristine`."""
    tests = sorted((repo / "tests" / "regression").glob(f"test_{code.lower()}_*.py"))
    assert tests, f"no regression test for {code}"
    for test in tests:
        relative = test.relative_to(repo)
        (pristine / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(test, pristine / relative)
        after = run_pytest(repo, str(relative))
        assert after.returncode == 0, after.stdout + after.stderr
        before = run_pytest(pristine, str(relative))
        assert before.returncode == 1 and code in before.stdout, before.stdout


def _idempotent(repo: Path, tmp_path: Path, codes: str) -> None:
    before = {p: p.read_text() for p in repo.rglob("*.py") if ".git" not in p.parts}
    again = _fix(repo, tmp_path, codes)
    assert "nothing to fix" in again, again
    assert before == {p: p.read_text() for p in repo.rglob("*.py") if ".git" not in p.parts}


@pytest.mark.slow
def test_flask_log_readiness_and_per_request_load(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", FLASK_LOGGING)
    pristine = write(tmp_path / "pristine", FLASK_LOGGING)
    git_commit_all(repo)
    out = _fix(repo, tmp_path, "SVC005,SVC010,SVC002", "--tests")
    assert "refused" not in out, out
    text = (repo / "scoring/web.py").read_text()
    assert "    _PREDICTION_LOG.submit(log_prediction, features, label)  # keep every" in text
    assert '@app.route("/ready")\ndef ready():' in text and "loaded = model is not None" in text
    # Flask has no lifespan: the per-request load gets the module-level cache
    assert "artifact = _cached_joblib_load()" in text
    for code in ("SVC005", "SVC010", "SVC002"):
        assert not findings(repo, code), code
        _guarded(repo, pristine, code)
    served = run_python(
        repo,
        "from scoring import sink, web\n"
        "client = web.app.test_client()\n"
        "assert client.get('/ready').status_code == 200\n"
        # the sink is held until the answer is back: the answer must not wait for it
        "answer = client.post('/predict', json={'features': [2.0, 0.0]})\n"
        "sink.GATE.set()\n"
        "assert answer.status_code == 200 and answer.get_json() == {'label': 1}\n"
        "web._PREDICTION_LOG.flush()\n"
        "assert sink.WAITED == [False] or sink.WAITED == [True], sink.WAITED\n"
        "assert sink.DB.execute('select count(*) from predictions').fetchone() == (1,)\n"
        "sink.FAIL.append(1)\n"
        "assert client.post('/predict', json={'features': [-2.0, 0.0]}).status_code == 200\n"
        "web._PREDICTION_LOG.flush()\n"
        "assert web._PREDICTION_LOG.failed == 1, 'a failed write is counted, not raised'\n"
        "print('gate seen open by the write:', sink.WAITED[0])\n",
    )
    assert served.returncode == 0, served.stderr
    # the write ran after the answer came back: it saw the gate the test opened afterwards
    assert "gate seen open by the write: True" in served.stdout
    _idempotent(repo, tmp_path, "SVC005,SVC010,SVC002")


@pytest.mark.slow
def test_flask_log_before_the_fix_makes_the_answer_wait(tmp_path: Path) -> None:
    """The control for the test above: unfixed, the write runs inside the request, before
    the test can open the gate, so it waits out its timeout."""
    repo = write(tmp_path / "repo", FLASK_LOGGING)
    served = run_python(
        repo,
        "from scoring import sink, web\n"
        "answer = web.app.test_client().post('/predict', json={'features': [2.0, 0.0]})\n"
        "print('gate seen open by the write:', sink.WAITED[0])\n",
    )
    assert served.returncode == 0, served.stderr
    assert "gate seen open by the write: False" in served.stdout


@pytest.mark.slow
def test_src_layout_starlette_gets_ready_gated_on_the_startup_global(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", SRC_STARLETTE)
    pristine = write(tmp_path / "pristine", SRC_STARLETTE)
    for root in (repo, pristine):
        _model(root, "src/scorer/model.joblib", "DecisionTreeClassifier", "[[0, 0], [1, 1]]")
    git_commit_all(repo)
    assert findings(repo, "SVC010")
    out = _fix(repo, tmp_path, "SVC010", "--tests")
    assert "fix     SVC010" in out, out
    text = (repo / "src/scorer/app.py").read_text()
    assert 'app.add_route("/ready", ready)' in text and "loaded = model is not None" in text
    assert "from starlette.responses import JSONResponse" in text
    assert not findings(repo, "SVC010")
    _guarded(repo, pristine, "SVC010")
    served = run_python(
        repo,
        "from starlette.testclient import TestClient\n"
        "from scorer.app import app\n"
        "cold = TestClient(app).get('/ready')\n"  # no start-up ran: no model yet
        "assert cold.status_code == 503 and cold.json() == {'ready': False}, cold.text\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/ready').status_code == 200\n"
        "    assert client.post('/score', json={'rows': [[1, 1]]}).json() == {'labels': [1]}\n",
        "src",
    )
    assert served.returncode == 0, served.stderr
    _idempotent(repo, tmp_path, "SVC010")


@pytest.mark.slow
def test_fastapi_ready_reads_app_state_and_on_event_keeps_the_cache(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {**FASTAPI_STATE, **FASTAPI_ON_EVENT})
    made = run_python(
        repo,
        "import joblib\nfrom sklearn.dummy import DummyRegressor\n"
        "model = DummyRegressor(strategy='constant', constant=0.5).fit([[0]], [0.5])\n"
        "joblib.dump(model, 'api/model.joblib')\n",
    )
    assert made.returncode == 0, made.stderr
    _model(repo, "svc/model.joblib", "DummyClassifier", "[[0], [1]]")
    git_commit_all(repo)
    out = _fix(repo, tmp_path, "SVC010,SVC002")
    assert "refused" not in out, out
    api = (repo / "svc/api.py").read_text()
    assert 'getattr(request.app.state, "model", None) is not None' in api
    main = (repo / "api/main.py").read_text()
    # a lifespan would silence the on_event hook: the module-level cache is kept
    assert "lifespan" not in main and "model = _cached_joblib_load()" in main
    served = run_python(
        repo,
        "import warnings\nwarnings.simplefilter('ignore')\n"
        "from fastapi.testclient import TestClient\n"
        "from svc.api import app\nfrom api import main\n"
        "assert TestClient(app).get('/ready').status_code == 503\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/ready').json() == {'ready': True}\n"
        "import joblib\nreal, loads = joblib.load, []\n"
        "joblib.load = lambda *a, **k: loads.append(a) or real(*a, **k)\n"
        "with TestClient(main.app) as client:\n"
        "    for _ in range(3):\n"
        "        assert client.post('/predict?value=1').json() == {'score': 0.5}\n"
        "    assert main.STARTED == [True]\n"
        "assert len(loads) == 1 and len(main._cached_joblib_load_result) == 1, loads\n",
    )
    assert served.returncode == 0, served.stderr
    assert not findings(repo, "SVC010") and not findings(repo, "SVC002")


@pytest.mark.slow
def test_psi_over_reference_quantiles(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", PSI_MONITOR)
    pristine = write(tmp_path / "pristine", PSI_MONITOR)
    git_commit_all(repo)
    assert len(findings(repo, "MON001")) == 5
    out = _fix(repo, tmp_path, "MON001", "--tests")
    assert out.count("fix     MON001") == 5 and "refused" not in out, out
    text = (repo / "monitoring/psi.py").read_text()
    assert "    edges = _quantile_edges(expected, n_bins + 1)\n" in text
    assert "np.histogram(live, bins=_quantile_edges(train, 21))" in text
    assert "pd.cut(current, bins=_quantile_edges(reference, 11))" in text
    assert "    # edges over the range of the reference\n" in text
    assert not findings(repo, "MON001")
    _guarded(repo, pristine, "MON001")
    # on a skewed reference, each quantile bin holds a tenth of it; a sample of the same
    # distribution scores near zero, a shifted one far above the usual 0.25 alarm
    check = (
        "import numpy as np, pandas as pd\nfrom monitoring import psi as m\n"
        "rng = np.random.default_rng(0)\n"
        "ref = rng.lognormal(size=5000)\nsame = rng.lognormal(size=5000)\n"
        "moved = rng.lognormal(mean=0.5, size=5000)\n"
        "print(round(m.psi(ref, same), 4), round(m.psi(ref, moved), 4),\n"
        "      round(m.population_stability(ref, same), 4),\n"
        "      round(m.psi_frame(pd.Series(ref), pd.Series(same)), 4))\n"
        "edges = m._quantile_edges(ref, 11)\n"
        "shares = np.histogram(ref, edges)[0] / len(ref)\n"
        "assert np.allclose(shares, 0.1, atol=0.002), shares\n"
    )
    fixed = run_python(repo, check)
    assert fixed.returncode == 0, fixed.stderr
    same, moved, stability, frame = (float(v) for v in fixed.stdout.split())
    assert same < 0.02 and stability < 0.05 and frame < 0.02 and moved > 0.25
    _idempotent(repo, tmp_path, "MON001")


@pytest.mark.slow
def test_blocking_log_scenario_log_goes_to_the_background(tmp_path: Path) -> None:
    repo = write_scenario("blocking-log", tmp_path / "repo")
    pristine = tmp_path / "pristine"
    shutil.copytree(repo, pristine)
    git_commit_all(repo)
    out = _fix(repo, tmp_path, "SVC005,SVC003", "--tests")
    assert "fix     SVC005" in out
    # the SVC005 fix takes the write off the loop too: SVC003 has nothing left to wrap
    assert "fix     SVC003" in out and "already hands `write` to _PREDICTION_LOG" in out
    assert "refused" not in out, out
    text = (repo / "app/main.py").read_text()
    assert '    _PREDICTION_LOG.submit(state["sink"].write, record)\n' in text
    assert not findings(repo, "SVC005") and not findings(repo, "SVC003")
    _guarded(repo, pristine, "SVC005")
    loaded = run_python(repo, "import app.main as m; assert m._PREDICTION_LOG.failed == 0")
    assert loaded.returncode == 0, loaded.stderr
    _idempotent(repo, tmp_path, "SVC005,SVC003")
