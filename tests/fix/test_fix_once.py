"""SVC002's load-once function under concurrent first requests, on a threaded Flask service
written unlike the demo (the model file path in config, two routes loading the same file).

`functools.lru_cache` (what earlier versions wrote) is not a lock: every request that
misses runs the load. The fix's function loads under a double-checked lock, so the
generated test that sends four first requests at once (the first load held until all four
have reached the load-once function: no timing) sees one load after the fix, four on the
code before it, and four on the lru_cache form. The lru_cache form reads as fixed to the
audit; a fix of the same call in that file replaces it with the locked form.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fix.helpers import (
    apply_with_tests,
    findings,
    generated_test,
    run_cli,
    run_elsewhere,
    run_pytest,
    run_python,
)
from tests.fix.services import git_commit_all, write

SERVICE = {
    "churn/__init__.py": "",
    "churn/config.py": 'MODEL_FILE = "churn/model.joblib"\n',
    "churn/views.py": '''"""Churn scoring (Flask, threaded: requests overlap)."""

import joblib
from flask import Flask, jsonify, request

from churn import config

app = Flask(__name__)


@app.route("/healthz")
def healthz():
    return jsonify(up=True)


@app.route("/churn", methods=["POST"])
def churn():
    clf = joblib.load(config.MODEL_FILE)
    row = request.get_json()["row"]
    return jsonify(p=float(clf.predict_proba([row])[0][1]))
''',
    "tests/test_views.py": """from churn.views import app


def test_churn() -> None:
    answer = app.test_client().post("/churn", json={"row": [1.0, 0.0]})
    assert answer.status_code == 200
""",
}
_TRAIN = (
    "import joblib\nfrom sklearn.linear_model import LogisticRegression\n"
    "model = LogisticRegression().fit([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], "
    "[0, 1, 0, 1])\njoblib.dump(model, 'churn/model.joblib')\n"
)
# The form earlier versions of the fix wrote, for the same call
_OLD_FORM = '''

@functools.lru_cache(maxsize=1)
def _cached_joblib_load():
    """Runs once; every request reuses the result (`infermedic fix` SVC002)."""
    return joblib.load(config.MODEL_FILE)
'''
_CONCURRENT = "_concurrent_first_requests_load_once"


def _repo(root: Path) -> Path:
    write(root, SERVICE)
    made = run_python(root, _TRAIN)
    assert made.returncode == 0, made.stderr
    return root


def _with_old_form(text: str) -> str:
    """`churn/views.py` as the lru_cache fix left it."""
    head, _, tail = text.partition("\n\n@app.route")
    text = head.replace("import joblib\n", "import functools\n\nimport joblib\n")
    text += _OLD_FORM + "\n\n@app.route" + tail
    return text.replace("clf = joblib.load(config.MODEL_FILE)", "clf = _cached_joblib_load()")


@pytest.mark.slow
def test_concurrent_first_requests_load_once_after_the_fix_only(tmp_path: Path) -> None:
    repo, pristine, old = (_repo(tmp_path / n) for n in ("repo", "pristine", "old"))
    git_commit_all(repo)
    done = apply_with_tests(repo, "SVC002", tmp_path / "audit.jsonl")
    assert done.returncode == 0, done.stderr
    views = (repo / "churn/views.py").read_text()
    assert "clf = _cached_joblib_load()" in views
    assert "with _cached_joblib_load_lock:" in views and "lru_cache" not in views
    assert not findings(repo, "SVC002")
    relative = generated_test(repo, "SVC002")
    after = run_pytest(repo, relative)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "3 passed" in after.stdout, after.stdout
    # before the fix, and on the lru_cache form: four requests, four loads
    write(old, {"churn/views.py": _with_old_form((pristine / "churn/views.py").read_text())})
    for root, failed in ((pristine, 3), (old, 1)):
        before = run_elsewhere(repo, relative, root)
        assert f"{failed} failed" in before.stdout, before.stdout
        assert f"{_CONCURRENT} _" in before.stdout, before.stdout  # the failure's header
        assert "AssertionError: 4 first requests at once loaded the model 4 times" in (
            before.stdout
        ), before.stdout
    # a second run changes nothing
    again = run_cli(
        "fix",
        str(repo),
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
        "--select",
        "SVC002",
        "--apply",
    )
    assert "nothing to fix" in again.stdout and views == (repo / "churn/views.py").read_text()


@pytest.mark.slow
def test_the_lru_cache_form_reads_as_fixed_and_a_new_fix_upgrades_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    views = _with_old_form((repo / "churn/views.py").read_text())
    write(repo, {"churn/views.py": views})
    git_commit_all(repo)
    assert not findings(repo, "SVC002")  # a cached function: the audit reads it as fixed
    done = run_cli(
        "fix",
        str(repo),
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
        "--select",
        "SVC002",
        "--apply",
    )
    assert "nothing to fix" in done.stdout, done.stdout
    # a second route loading the same file per request: its fix replaces the old form
    views += """

@app.route("/churn/explain", methods=["POST"])
def churn_explain():
    clf = joblib.load(config.MODEL_FILE)
    return jsonify(coef=clf.coef_[0].tolist())
"""
    write(repo, {"churn/views.py": views})
    git_commit_all(repo)
    done = run_cli(
        "fix",
        str(repo),
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
        "--select",
        "SVC002",
        "--apply",
    )
    assert done.returncode == 0 and "refused" not in done.stdout, done.stdout
    fixed = (repo / "churn/views.py").read_text()
    assert "lru_cache" not in fixed and fixed.count("def _cached_joblib_load():") == 1, fixed
    assert fixed.count("clf = _cached_joblib_load()") == 2, fixed
    assert not findings(repo, "SVC002")
    served = run_python(
        repo,
        "from churn import views\nclient = views.app.test_client()\n"
        "assert client.post('/churn', json={'row': [1.0, 0.0]}).status_code == 200\n"
        "assert client.post('/churn/explain').status_code == 200\n"
        "assert len(views._cached_joblib_load_result) == 1\n",
    )
    assert served.returncode == 0, served.stderr
